"""featstore: a feature store and data lineage library for offline ML work.

Feature definitions are Polars code, materialized to Parquet through DuckDB; training sets
come from point-in-time joins with no future data leaking in.

>>> import featstore as fs
>>> fs.Entity("customer", join_keys=["customer_id"]).join_keys
('customer_id',)
"""

from __future__ import annotations

from featstore._version import __version__
from featstore.coverage import ViewCoverage
from featstore.definitions import (
    CsvSource,
    DataFrameSource,
    Entity,
    FeatureSelection,
    FeatureService,
    FeatureView,
    ParquetSource,
    Source,
    SqlSource,
    feature_view,
)
from featstore.errors import (
    CatalogError,
    ConfigError,
    CoverageError,
    CoverageWarning,
    DefinitionError,
    FeatstoreError,
    LineageError,
    MaterializationError,
    NotFoundError,
    PointInTimeError,
    SchemaError,
    StorageError,
)
from featstore.materialize import MaterializationRun
from featstore.retrieval import RetrievalResult
from featstore.store import FeatureStore

__all__ = [
    # definitions
    "CsvSource",
    "DataFrameSource",
    "Entity",
    "FeatureSelection",
    "FeatureService",
    "FeatureView",
    "ParquetSource",
    "Source",
    "SqlSource",
    "feature_view",
    # store and results
    "FeatureStore",
    "MaterializationRun",
    "RetrievalResult",
    "ViewCoverage",
    # errors
    "CatalogError",
    "ConfigError",
    "CoverageError",
    "CoverageWarning",
    "DefinitionError",
    "FeatstoreError",
    "LineageError",
    "MaterializationError",
    "NotFoundError",
    "PointInTimeError",
    "SchemaError",
    "StorageError",
    "__version__",
]
