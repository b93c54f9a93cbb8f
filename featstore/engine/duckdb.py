"""The embedded default engine: one in-process DuckDB connection.

The only module of featstore that imports DuckDB. It renders the engine-neutral plans
with the pure SQL builders (:mod:`featstore.engine.sql_pit`,
:mod:`featstore.engine.sql_bucket`), runs them, and translates DuckDB's exceptions into
featstore's (see :mod:`featstore.engine.base`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeAlias

import duckdb
import polars as pl
import pyarrow as pa

from featstore.aggregations import WindowQuery, join_window_parts, window_plans
from featstore.columns import ENTITY, INTERNAL
from featstore.engine.base import BucketStats, BucketWrite, PitByQuery, TimeRange, ViewRows
from featstore.engine.distinct_windows import distinct_frame
from featstore.engine.frame_windows import fast_frame
from featstore.engine.sql_bucket import NEW_ROWS, bucket_sql, bucket_stats_sql
from featstore.engine.sql_pit import build_sql
from featstore.engine.sql_windows import empty_sql, range_sql
from featstore.errors import (
    ConfigError,
    DefinitionError,
    EngineError,
    EngineInputError,
    EngineMemoryError,
)
from featstore.names import quote_ident, quote_literal
from featstore.pit import PitQuery, join_parts, split_query

__all__ = ["Connection", "DuckDBEngine", "source_range_sql", "source_schema_sql"]

Connection: TypeAlias = duckdb.DuckDBPyConnection
"""DuckDB's connection type, for code that holds the engine's connection."""

# DuckDB exceptions meaning "a query's input cannot be read or bound": a file gone,
# corrupt or truncated, or lacking a column the query names
_INPUT_ERRORS = (duckdb.IOException, duckdb.InvalidInputException, duckdb.BinderException)


@contextmanager
def _translated() -> Iterator[None]:
    """DuckDB's exceptions as featstore's, with the same message and the cause chained."""
    try:
        yield
    except duckdb.OutOfMemoryException as exc:
        raise EngineMemoryError(str(exc)) from exc
    except _INPUT_ERRORS as exc:
        raise EngineInputError(str(exc)) from exc
    except duckdb.Error as exc:
        raise EngineError(str(exc)) from exc


def source_range_sql(query: str, where: TimeRange) -> str:
    """A SQL source's query restricted to ``where`` (naive-UTC bounds).

    A zoned column compares against these naive literals in the session zone, UTC;
    evaluation filters each month exactly again.
    """
    ts = quote_ident(where.column)
    low, high = (quote_literal(t.isoformat(sep=" ")) for t in (where.start, where.end))
    return f"SELECT * FROM ({query}) AS q WHERE {ts} >= {low} AND {ts} < {high}"


def source_schema_sql(query: str) -> str:
    """A SQL source's query reduced to its description: no row is produced, so DuckDB
    plans it (and learns its columns) without running it over the rows."""
    return f"SELECT * FROM ({query}) AS q LIMIT 0"


_ROWS = f"{INTERNAL}rows"  # the stored rows given to :meth:`DuckDBEngine.window_part`


def _naive_utc(value: datetime | None) -> datetime | None:
    """A UTC-adjusted timestamp read back from a written file, as naive UTC."""
    if value is None or value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


class DuckDBEngine(PitByQuery):
    """The :class:`~featstore.engine.base.Engine` on an in-process DuckDB connection.

    Parameters
    ----------
    memory_limit
        DuckDB's memory limit (e.g. ``"2GB"``); past it, joins and writes spill to
        ``temp_directory``. Default: DuckDB's (80% of RAM).
    threads
        DuckDB worker threads; default: all cores.
    temp_directory
        Where DuckDB spills; default: DuckDB's.

    The session time zone is UTC.
    """

    name = "duckdb"

    def __init__(
        self,
        *,
        memory_limit: str | None = None,
        threads: int | None = None,
        temp_directory: str | Path | None = None,
    ) -> None:
        settings = ["SET TimeZone = 'UTC'"]
        if temp_directory is not None:
            settings.append(
                f"SET temp_directory = {quote_literal(Path(temp_directory).as_posix())}"
            )
        if memory_limit:
            settings.append(f"SET memory_limit = {quote_literal(memory_limit)}")
        with _translated():
            con = duckdb.connect(config={"threads": threads} if threads else {})
            try:
                for statement in settings:
                    con.execute(statement).fetchall()
            except BaseException:
                con.close()
                raise
        self._con: Connection | None = con
        self._owned = True

    @classmethod
    def from_connection(cls, con: Connection) -> DuckDBEngine:
        """An engine over an existing connection, used as it is (no settings applied) and
        left open by :meth:`close`."""
        engine = cls.__new__(cls)
        engine._con = con
        engine._owned = False
        return engine

    @staticmethod
    def check_options(memory_limit: object, threads: object) -> None:
        """Raise ConfigError unless ``threads`` is a positive integer and ``memory_limit``
        a size DuckDB understands (both may be None)."""
        if threads is not None and (
            not isinstance(threads, int) or isinstance(threads, bool) or threads < 1
        ):
            raise ConfigError(f"threads must be a positive integer; found {threads!r}")
        if memory_limit is not None:
            if not isinstance(memory_limit, str):
                raise ConfigError(
                    f"memory_limit must be a size such as '2GB'; found {memory_limit!r}"
                )
            DuckDBEngine.check_memory_limit(memory_limit)

    @staticmethod
    def check_memory_limit(memory_limit: str) -> None:
        """Raise ConfigError unless DuckDB understands ``memory_limit`` as a size."""
        probe = duckdb.connect()
        try:
            probe.execute(f"SET memory_limit = {quote_literal(memory_limit)}")
        except (duckdb.Error, DefinitionError) as exc:
            raise ConfigError(
                f"memory_limit {memory_limit!r} is not a size DuckDB understands; give one "
                f"such as '512MB' or '2GB'"
            ) from exc
        finally:
            probe.close()

    @property
    def connection(self) -> Connection:
        """The DuckDB connection (for debugging and tests: UDFs, settings)."""
        if self._con is None:
            raise EngineError("the DuckDB engine is closed; open the FeatureStore again")
        return self._con

    def __repr__(self) -> str:
        return f"DuckDBEngine(open={self._con is not None})"

    # -- sources -----------------------------------------------------------------------

    def scan_query(self, query: str, *, where: TimeRange | None = None) -> pl.LazyFrame:
        sql = query if where is None else source_range_sql(query, where)
        return self._frame(sql).lazy()

    def query_schema(self, query: str) -> pl.Schema:
        return self._frame(source_schema_sql(query)).schema

    def _frame(self, sql: str) -> pl.DataFrame:
        with _translated():
            table = self.connection.sql(sql).to_arrow_table()
        frame = pl.from_arrow(table)
        assert isinstance(frame, pl.DataFrame)
        return frame

    # -- materialization ---------------------------------------------------------------

    def write_view(
        self,
        job: ViewRows,
        months: Mapping[str, bool],
        plan: Callable[[str, pl.Schema], BucketWrite],
        counted: tuple[datetime, datetime],
    ) -> dict[str, tuple[int, BucketStats]] | None:
        """None: featstore evaluates the view in chunks and writes each month here."""
        return None

    def write_bucket(self, rows: pl.DataFrame, bucket: BucketWrite) -> BucketStats:
        con = self.connection
        with _translated():
            con.register(NEW_ROWS, rows.to_arrow())
            try:
                con.execute(bucket_sql(bucket)).fetchall()
                found = con.execute(bucket_stats_sql(bucket.target)).fetchall()
            except duckdb.ConversionException as exc:
                if not bucket.index:
                    raise
                # the window index's integer sums are 64-bit, summed per tile
                ints = {c for c, kind in bucket.index_kinds if kind == "int"}
                summed = sorted({i.column for i in bucket.index if i.stat in ("sum", "sq")} & ints)
                which = ", ".join(repr(c) for c in summed) or "an integer column"
                raise EngineInputError(
                    f"the sum of {which} over one window tile does not fit a 64-bit "
                    f"integer ({str(exc).splitlines()[0]}): cast the column to Float64 (or "
                    f"keep its values smaller) in the view's transform, then re-apply and "
                    f"materialize again"
                ) from exc
            finally:
                con.unregister(NEW_ROWS)
        count, lo_ts, hi_ts = found[0]
        return BucketStats(int(count), _naive_utc(lo_ts), _naive_utc(hi_ts))

    # -- retrieval ---------------------------------------------------------------------

    def windows(self, query: WindowQuery, entity: pa.Table) -> pa.Table:
        """The index plan's lookups run in Polars (:mod:`featstore.engine.frame_windows`:
        as-of joins of keys and instants only, the statistics gathered by position, which
        DuckDB's ASOF JOIN cannot do without carrying every payload column through its
        sort), and so do the distinct counts (:mod:`featstore.engine.distinct_windows`);
        the range join and the empty plan in DuckDB SQL."""
        return join_window_parts(
            query,
            [(part, self.window_part(plan, part, entity)) for plan, part in window_plans(query)],
        )

    def window_part(
        self, plan: str, part: WindowQuery, entity: pa.Table, rows: pa.Table | None = None
    ) -> pa.Table:
        """One part of :func:`~featstore.aggregations.window_plans` (``"index"``,
        ``"distinct"``, ``"range"`` or ``"empty"``) for ``entity``, over the part's files, or over
        ``rows`` when given (the stored rows of the entity rows' keys, in any order: how
        another engine runs a partition of the entity rows here)."""
        if plan in ("index", "distinct"):
            frame = fast_frame if plan == "index" else distinct_frame
            try:
                return frame(part, entity, rows)
            except (pl.exceptions.PolarsError, OSError) as exc:
                raise EngineInputError(str(exc)) from exc
        con = self.connection
        sql = (
            empty_sql(part) if plan == "empty" else range_sql(part, None if rows is None else _ROWS)
        )
        with _translated():
            con.register(ENTITY, entity)
            if rows is not None:
                con.register(_ROWS, rows)
            try:
                return con.sql(sql).to_arrow_table()
            finally:
                con.unregister(ENTITY)
                if rows is not None:
                    con.unregister(_ROWS)

    def _run_pit(self, query: PitQuery, entity: pa.Table) -> pa.Table:
        """Rendered and run as :func:`~featstore.pit.split_query` parts side by side: one
        query per view, so DuckDB holds one view's candidate rows at a time (at 1M entity
        rows x 3 views x 10M rows, the peak RSS halves and the time drops a little:
        benchmarks/README.md), and several per view when it is wide (DuckDB's ASOF join
        costs more per column the wider its rows)."""
        con = self.connection
        with _translated():
            con.register(ENTITY, entity)
            try:
                parts = split_query(query, per_view=True)
                if len(parts) == 1:
                    return con.sql(build_sql(query)).to_arrow_table()
                results = [(p, n, con.sql(build_sql(p)).to_arrow_table()) for p, n in parts]
            finally:
                con.unregister(ENTITY)
        return join_parts(query, results)

    def close(self) -> None:
        if self._con is not None and self._owned:
            self._con.close()
        self._con = None
