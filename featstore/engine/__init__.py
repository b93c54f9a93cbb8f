"""Query engines behind one protocol (:class:`Engine`).

Backends: :class:`~featstore.engine.duckdb.DuckDBEngine`, the embedded default, and
:class:`~featstore.engine.spark.SparkEngine` (``featstore[spark]``). The SQL
text an engine runs is built by pure functions (:mod:`featstore.engine.sql_pit`,
:mod:`featstore.engine.sql_bucket`), golden-tested.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from featstore.engine.base import BucketStats, BucketWrite, Engine, TimeRange
from featstore.errors import ConfigError

ENGINES = ("duckdb", "spark")
"""The query engines a store's config or ``FeatureStore(engine=...)`` may name."""

__all__ = [
    "ENGINES",
    "BucketStats",
    "BucketWrite",
    "Engine",
    "TimeRange",
    "as_engine",
    "engine_name",
    "make_engine",
]


def engine_name(engine: Engine) -> str:
    """What lineage records of an engine: its ``name`` (``"duckdb"``, ``"spark"``), else
    its class name."""
    name = getattr(engine, "name", None)
    return name if isinstance(name, str) else type(engine).__name__


def make_engine(
    name: str,
    *,
    spark: Mapping[str, Any] | None = None,
    memory_limit: str | None = None,
    threads: int | None = None,
    temp_directory: Path | None = None,
) -> Engine:
    """The engine a store's config names: ``"duckdb"`` (in this process, with
    ``memory_limit``, ``threads`` and spilling to ``temp_directory``) or ``"spark"`` (from
    the config's ``"spark"`` settings, docs/spark.md)."""
    if name == "duckdb":
        from featstore.engine.duckdb import DuckDBEngine

        return DuckDBEngine(
            memory_limit=memory_limit, threads=threads, temp_directory=temp_directory
        )
    if name == "spark":
        try:
            from featstore.engine.spark import SparkEngine
        except ImportError as exc:
            raise ConfigError(
                f"the Spark engine needs PySpark ({exc}); install it with "
                f"pip install 'featstore[spark]', or use engine='duckdb'"
            ) from exc
        return SparkEngine.from_config(spark or {})
    raise ConfigError(f"unknown engine {name!r}: use one of {', '.join(ENGINES)}")


def as_engine(engine: Engine | Any) -> Engine:
    """``engine`` itself, or a DuckDB connection wrapped as a (borrowing) DuckDBEngine."""
    if isinstance(engine, Engine):
        return engine
    from featstore.engine.duckdb import Connection, DuckDBEngine

    if isinstance(engine, Connection):
        return DuckDBEngine.from_connection(engine)
    raise TypeError(f"expected a featstore Engine; found {type(engine).__name__}")
