"""The engine seam: one protocol for everything that executes queries.

An :class:`Engine` runs a SQL source's query (and its description), the rank-and-merge
write of one materialized month, the point-in-time joins of retrieval, latest values and
explain, all from engine-neutral plans (:class:`featstore.pit.PitQuery`,
:class:`BucketWrite`). Polars evaluates feature-view transformations, in this process or,
where the engine takes a view's whole materialization (:meth:`Engine.write_view`), in the
engine's workers. DuckDB is
the embedded default (:class:`featstore.engine.duckdb.DuckDBEngine`); another engine
(Spark) implements the same methods.

An engine raises featstore errors only: :class:`~featstore.errors.EngineMemoryError`
when a query does not fit its memory limit, :class:`~featstore.errors.EngineInputError`
when a query's input cannot be read or bound (a missing, corrupt or truncated file, a
missing column), :class:`~featstore.errors.EngineError` for any other failure; the
engine's own exception is chained. Callers say what failed in their own terms.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import polars as pl
import pyarrow as pa

from featstore.aggregations import IndexColumn, WindowQuery
from featstore.errors import EngineError
from featstore.pit import PitQuery

if TYPE_CHECKING:
    from featstore.definitions import FeatureView

__all__ = ["BucketStats", "BucketWrite", "Engine", "PitByQuery", "TimeRange", "ViewRows"]


@dataclass(frozen=True, slots=True)
class TimeRange:
    """Rows whose ``column`` lies in ``[start, end)`` (naive UTC bounds)."""

    column: str
    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class BucketWrite:
    """The plan of one materialized month's file.

    The new rows (keys, ``__fs_ts``, ``__fs_created``, ``features``) are merged with the
    rows of ``old_files`` outside ``[start, end)``, ranked within ``(keys, __fs_ts)``
    (``__fs_rank`` 1 is the winner: latest created time, then the largest feature values
    in feature-name order), sorted by keys, time and rank, and written to ``target`` as
    one Parquet file.
    """

    keys: tuple[str, ...]
    features: tuple[str, ...]
    old_files: tuple[str, ...]
    start: datetime
    end: datetime
    target: str
    utc_columns: tuple[str, ...] = ()
    """Naive-UTC timestamp columns, written UTC-adjusted (``isAdjustedToUTC=true``)."""
    metadata: tuple[tuple[str, str], ...] = ()
    """Key-value metadata of the written file."""
    index: tuple[IndexColumn, ...] = ()
    """An aggregation view's window-index columns (docs/windows.md), computed per piece."""
    index_kinds: tuple[tuple[str, str], ...] = ()
    """``(column, kind)`` of the aggregated columns: ``int``, ``float``, ``bool`` or ``other``."""


@dataclass(frozen=True, slots=True)
class ViewRows:
    """The rows to store of ``view`` with event time in ``[lo, hi)``: its transformation
    over the source rows from ``read_from`` (``lo`` less the view's lookback), evaluated
    over each of ``pieces`` (consecutive ranges covering ``[lo, hi)``) from the piece's
    start less the lookback, and normalised by :func:`featstore.compute.stored_rows` to
    ``features``. Featstore evaluates those pieces in this process; an engine that
    evaluates a view itself evaluates the same ones, so the rows are the same to the
    last bit."""

    view: FeatureView
    lo: datetime
    hi: datetime
    read_from: datetime
    features: Mapping[str, pl.DataType]
    pieces: tuple[tuple[datetime, datetime], ...]


@dataclass(frozen=True, slots=True)
class BucketStats:
    """What a bucket write produced: its row count and event-time range (None if empty)."""

    rows: int
    min_ts: datetime | None
    max_ts: datetime | None


@runtime_checkable
class Engine(Protocol):
    """What featstore asks of a query engine."""

    def scan_query(self, query: str, *, where: TimeRange | None = None) -> pl.LazyFrame:
        """The rows of a SQL source's ``query`` (only those in ``where``, pushed into the
        query, when given), run once; the frame holds them in memory."""
        ...

    def query_schema(self, query: str) -> pl.Schema:
        """The columns and dtypes of ``query``'s result, without running it over its rows."""
        ...

    def write_bucket(self, rows: pl.DataFrame, bucket: BucketWrite) -> BucketStats:
        """Write one month's file as :class:`BucketWrite` describes, merging ``rows``."""
        ...

    def write_view(
        self,
        job: ViewRows,
        months: Mapping[str, bool],
        plan: Callable[[str, pl.Schema], BucketWrite],
        counted: tuple[datetime, datetime],
    ) -> dict[str, tuple[int, BucketStats]] | None:
        """Evaluate ``job`` and write each of its ``months`` (``YYYY-MM``, which cover
        ``[job.lo, job.hi)``) as ``plan(month, schema of the rows)`` describes: a month with
        new rows, and one whose flag is set (it has old rows or replaces a damaged file)
        even without. Returns, for each month written, its new rows in ``counted`` and
        the write's stats; or None, and featstore evaluates the view in this process with
        Polars and writes each month with :meth:`write_bucket`."""
        ...

    def point_in_time(self, query: PitQuery, entity: pa.Table) -> pa.Table:
        """Run a point-in-time query against ``entity`` (``__fs_row``, keys, ``__fs_ts``);
        one row per entity row, in entity order."""
        ...

    def latest_values(self, query: PitQuery, entity: pa.Table) -> pa.Table:
        """A point-in-time query whose entity rows all carry one instant (latest values
        for batch scoring): the same contract and result as :meth:`point_in_time`."""
        ...

    def windows(self, query: WindowQuery, entity: pa.Table) -> pa.Table:
        """Window aggregations of one view at each entity row (``__fs_row``, the
        outputs, the matched flag), in entity-row order (docs/windows.md)."""
        ...

    def explain(self, query: PitQuery, entity: pa.Table) -> pa.Table:
        """Explain's lookup: a ``detail`` point-in-time query (see
        :func:`featstore.pit.winner_query`), with the winners' timestamps and files."""
        ...

    def close(self) -> None:
        """Release the engine's resources; the engine is unusable afterwards."""
        ...


class PitByQuery:
    """The three point-in-time methods of :class:`Engine` for an engine that runs them
    all the same way, by its ``_run_pit``: latest values are a point-in-time query whose
    entity rows share one instant, and explain's is a ``detail`` query."""

    def _run_pit(self, query: PitQuery, entity: pa.Table) -> pa.Table:
        raise NotImplementedError

    def point_in_time(self, query: PitQuery, entity: pa.Table) -> pa.Table:
        return self._run_pit(query, entity)

    def latest_values(self, query: PitQuery, entity: pa.Table) -> pa.Table:
        return self._run_pit(query, entity)

    def explain(self, query: PitQuery, entity: pa.Table) -> pa.Table:
        if not query.detail:
            raise EngineError("internal error: explain needs a detail query; please report it")
        return self._run_pit(query, entity)
