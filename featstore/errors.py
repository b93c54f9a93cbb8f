"""The featstore exception hierarchy.

Every error featstore raises derives from :class:`FeatstoreError`. Messages name the
object, the column or value, what was expected, and what to do. This module imports
only the standard library so that any layer may depend on it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
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
    "did_you_mean",
]


class FeatstoreError(Exception):
    """Base class of every error featstore raises."""


class DefinitionError(FeatstoreError, ValueError):
    """Raised when an entity, source, feature view or service is malformed or inconsistent."""


class SchemaError(FeatstoreError):
    """Raised when data does not match what was declared (columns, dtypes, keys)."""


class NotFoundError(FeatstoreError, LookupError):
    """Raised when a name (view, feature, entity, run, model) is unknown."""


class PointInTimeError(FeatstoreError, ValueError):
    """Raised when an entity frame cannot be used for a point-in-time join."""


class MaterializationError(FeatstoreError):
    """Raised when a materialization run fails; the cause is chained."""


class LineageError(FeatstoreError):
    """Raised for an unknown lineage node or an inconsistent lineage graph."""


class ConfigError(FeatstoreError, ValueError):
    """Raised for a bad store directory or configuration (for example, a newer format)."""


class StorageError(FeatstoreError):
    """Raised when a file in the offline store is unreadable (corrupt, truncated, gone)."""


class EngineError(FeatstoreError):
    """Raised when the query engine (DuckDB by default) fails to run a query; the message
    is the engine's own, the engine's exception is chained. Callers that know what the
    query was for (materialization, retrieval) raise their own error from it."""


class EngineInputError(EngineError):
    """Raised when the engine cannot read or bind a query's input: a file that is gone,
    corrupt or truncated, or that lacks a column the query names."""


class EngineMemoryError(EngineError):
    """Raised when a query does not fit in the engine's memory limit."""


class CatalogError(FeatstoreError):
    """Raised when the catalog database cannot complete a transaction."""


class CoverageError(PointInTimeError):
    """Raised by a ``strict=True`` retrieval when a requested view gave no values: nothing
    materialized in reach of the entity rows, or no entity row matched."""


class MonitoringError(FeatstoreError, ValueError):
    """Raised when statistics, drift, skew, labels, performance or an evaluation cannot be
    computed from what was given (no rows, a feature missing on one side, labels that
    match no prediction, a metric an evaluation lacks); nothing is written."""


class GateError(MonitoringError):
    """Raised when a promotion gate refuses to move an alias: the version's recorded
    evaluation fails a requirement."""


class CoverageWarning(UserWarning):
    """Warned when a requested view gave every entity row a null: nothing materialized in
    reach, or no row matched. Pass ``strict=True`` to raise CoverageError instead."""


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """Return a ``"; did you mean 'x'?"`` suffix for ``name``, or a list of what exists.

    >>> did_you_mean("spend", ["spending", "stats"])
    "; did you mean 'spending'?"
    """
    options = sorted(set(candidates))
    close = difflib.get_close_matches(name, options, n=1, cutoff=0.5)
    if close:
        return f"; did you mean {close[0]!r}?"
    if options:
        shown = ", ".join(repr(o) for o in options[:10])
        more = "" if len(options) <= 10 else f" and {len(options) - 10} more"
        return f"; known: {shown}{more}"
    return "; nothing is registered yet"
