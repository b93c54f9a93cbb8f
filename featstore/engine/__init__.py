"""Query engines behind one protocol (:class:`Engine`).

Backends: :class:`~featstore.engine.duckdb.DuckDBEngine`, the embedded default. The SQL
text an engine runs is built by pure functions (:mod:`featstore.engine.sql_pit`,
:mod:`featstore.engine.sql_bucket`), golden-tested.
"""

from __future__ import annotations

from typing import Any

from featstore.engine.base import BucketStats, BucketWrite, Engine, TimeRange

__all__ = ["BucketStats", "BucketWrite", "Engine", "TimeRange", "as_engine"]


def as_engine(engine: Engine | Any) -> Engine:
    """``engine`` itself, or a DuckDB connection wrapped as a (borrowing) DuckDBEngine."""
    if isinstance(engine, Engine):
        return engine
    from featstore.engine.duckdb import Connection, DuckDBEngine

    if isinstance(engine, Connection):
        return DuckDBEngine.from_connection(engine)
    raise TypeError(f"expected a featstore Engine; found {type(engine).__name__}")
