"""featstore: a feature store and data lineage library for offline ML work.

Feature definitions are Polars code, materialized to Parquet through DuckDB; training sets
come from point-in-time joins with no future data leaking in.

>>> import featstore as fs
>>> fs.Entity("customer", join_keys=["customer_id"]).join_keys
('customer_id',)
"""

from __future__ import annotations

from featstore._version import __version__
from featstore.aggregations import Aggregation
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
from featstore.engine import Engine
from featstore.errors import (
    CatalogError,
    ConfigError,
    CoverageError,
    CoverageWarning,
    DefinitionError,
    EngineError,
    EngineInputError,
    EngineMemoryError,
    FeatstoreError,
    GateError,
    LineageError,
    MaterializationError,
    MonitoringError,
    NotFoundError,
    PointInTimeError,
    SchemaError,
    StorageError,
)
from featstore.lineage import Lineage
from featstore.materialize import MaterializationRun
from featstore.monitoring.drift import DriftReport, FeatureDrift
from featstore.monitoring.evaluation import Comparison, Evaluation
from featstore.monitoring.labels import LabelBatch
from featstore.monitoring.performance import PerformanceReport
from featstore.monitoring.skew import FeatureSkew, SkewReport
from featstore.monitoring.stats import ColumnStatistics, Histogram, Statistics
from featstore.monitoring.targets import Window
from featstore.records import (
    AliasEvent,
    CodeVersion,
    DefinitionVersion,
    EntityRecord,
    Explanation,
    FrozenMap,
    ManifestFile,
    ModelSummary,
    ModelVersion,
    Node,
    NodeList,
    PredictionBatch,
    Record,
    RetrievedFeatures,
    Run,
    RunInput,
    ServiceRecord,
    ServiceRef,
    SourceRecord,
    TrainingSet,
    TrainingSetCheck,
    TrainingSetManifest,
    ViewRecord,
    ViewSelection,
)
from featstore.retrieval import RetrievalResult
from featstore.store import FeatureStore

__all__ = [
    # definitions
    "Aggregation",
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
    "Engine",
    "SparkEngine",
    "Lineage",
    "MaterializationRun",
    "RetrievalResult",
    "ViewCoverage",
    # records: what the catalog stores and the store's methods return
    "Record",
    "FrozenMap",
    "EntityRecord",
    "SourceRecord",
    "ViewRecord",
    "ServiceRecord",
    "ViewSelection",
    "DefinitionVersion",
    "Run",
    "RunInput",
    "TrainingSet",
    "TrainingSetManifest",
    "TrainingSetCheck",
    "RetrievedFeatures",
    "ManifestFile",
    "ServiceRef",
    "ModelVersion",
    "ModelSummary",
    "CodeVersion",
    "AliasEvent",
    "PredictionBatch",
    "Node",
    "NodeList",
    "Explanation",
    # monitoring: statistics, drift, skew, labels, performance, evaluation
    "Statistics",
    "ColumnStatistics",
    "Histogram",
    "Window",
    "DriftReport",
    "FeatureDrift",
    "SkewReport",
    "FeatureSkew",
    "LabelBatch",
    "PerformanceReport",
    "Evaluation",
    "Comparison",
    # errors
    "CatalogError",
    "ConfigError",
    "CoverageError",
    "CoverageWarning",
    "DefinitionError",
    "EngineError",
    "EngineInputError",
    "EngineMemoryError",
    "FeatstoreError",
    "GateError",
    "LineageError",
    "MaterializationError",
    "MonitoringError",
    "NotFoundError",
    "PointInTimeError",
    "SchemaError",
    "StorageError",
    "__version__",
]


def __getattr__(name: str) -> object:
    """``fs.SparkEngine``, imported on first use: PySpark is an optional extra."""
    if name == "SparkEngine":
        try:
            from featstore.engine.spark import SparkEngine
        except ImportError as exc:
            raise ImportError(
                f"fs.SparkEngine needs PySpark ({exc}); install it with "
                f"pip install 'featstore[spark]'"
            ) from exc
        return SparkEngine
    raise AttributeError(f"module 'featstore' has no attribute {name!r}")
