"""What Spark's Python workers run for the Spark engine: featstore's own kernels over one
partition of the work, so both engines compute the same values the same way.

This module imports no Spark: it is shipped to the workers with the tasks, which need
only featstore and its core dependencies there.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from featstore.aggregations import WindowQuery
from featstore.columns import CREATED, INTERNAL, TS
from featstore.engine.base import BucketWrite

if TYPE_CHECKING:
    from featstore.definitions import FeatureView

__all__ = [
    "PARTITION",
    "SOURCE_FILE",
    "SOURCE_ROW",
    "TransformTask",
    "WindowTask",
    "naive",
    "widened",
]


def naive(table: pa.Table, columns: tuple[str, ...]) -> pa.Table:
    """``table`` with its zoned timestamp ``columns`` as naive UTC (the same instants)."""
    for name in columns:
        if name not in table.column_names:
            continue
        i = table.column_names.index(name)
        kind = table.schema.field(i).type
        if pa.types.is_timestamp(kind) and kind.tz is not None:
            table = table.set_column(i, name, pc.cast(table.column(i), pa.timestamp(kind.unit)))
    return table


@dataclass(frozen=True)
class WindowTask:
    """One window plan (``"index"``, ``"distinct"`` or ``"range"``) of ``part`` over a partition of the
    entity rows and the stored rows of the same keys: the result rows of those entity
    rows (``__fs_row``, the outputs, the matched flag), ``schema`` typed."""

    plan: str
    part: WindowQuery
    schema: pa.Schema | None = None
    ignore: tuple[str, ...] = ()
    """Columns of both inputs the kernel does not read (the partition column)."""

    def __call__(self, entity: pa.Table, rows: pa.Table) -> pa.Table:
        from featstore.engine.duckdb import DuckDBEngine

        entity = entity.drop_columns([c for c in self.ignore if c in entity.column_names])
        rows = rows.drop_columns([c for c in self.ignore if c in rows.column_names])
        if self.schema is not None and entity.num_rows == 0:
            return self.schema.empty_table()
        entity = naive(entity, (TS,))
        rows = naive(rows, (TS, CREATED))
        engine = DuckDBEngine(threads=1)
        try:
            out = engine.window_part(self.plan, self.part, entity, rows)
        finally:
            engine.close()
        return out if self.schema is None else out.cast(self.schema)

    @property
    def run(self) -> Callable[[pa.Table, pa.Table], pa.Table]:
        """The task as a function of two tables (Spark reads a callable's arity to tell
        whether it takes the group's key)."""

        def run(entity: pa.Table, rows: pa.Table) -> pa.Table:
            return self(entity, rows)

        return run


SOURCE_FILE = f"{INTERNAL}source_file"  # the Parquet file a source row was read from
SOURCE_ROW = f"{INTERNAL}source_row"  # the row's position in that file
PARTITION = f"{INTERNAL}partition"  # which hash partition of the join keys a row is in
MONTH = f"{INTERNAL}month"  # the month (``YYYY-MM``) whose file a row goes to
MONTH_STATS = "month string, new long, rows long, min_ts long, max_ts long"
EPOCH = datetime(1970, 1, 1)
BATCH_ROWS = 256_000  # rows a row-by-row task evaluates at once


def widened(schema: pa.Schema) -> pa.Schema:
    """``schema`` with its unsigned integers (Spark has none) widened: to 64-bit integers,
    and 64-bit ones to ``decimal(20, 0)`` (as Spark reads them from Parquet)."""
    fields = []
    for field in schema:
        if pa.types.is_unsigned_integer(field.type):
            wide = pa.decimal128(20, 0) if field.type == pa.uint64() else pa.int64()
            field = field.with_type(wide)
        fields.append(field)
    return pa.schema(fields)


@dataclass(frozen=True)
class TransformTask:
    """A view's transformation over a share of its source rows (``plan`` ``"rows"``:
    any; ``"keys"``: all the rows of some keys), in Polars, exactly as in the driver: the
    rows cast back to the ``source`` dtypes (and, per key, put in the source's order),
    then for each of ``pieces`` (the ranges the driver evaluates one at a time), its
    source rows from ``lo - lookback`` transformed and normalised by
    :func:`featstore.compute.stored_rows`, with the month of each row's file
    (``__fs_month``); the result typed ``schema``. Evaluating the driver's pieces keeps
    even a rolling sum's last bits the same: Polars adds and subtracts as it goes, so they
    depend on where the evaluated rows start."""

    view: FeatureView
    plan: str
    pieces: tuple[tuple[datetime, datetime], ...]
    features: dict[str, pl.DataType]
    source: dict[str, pl.DataType]
    schema: pa.Schema

    def __call__(self, table: pa.Table) -> pa.Table:
        from featstore.compute import (
            apply_transform,
            evaluation_error,
            read_start,
            source_range,
            stored_rows,
        )
        from featstore.errors import FeatstoreError

        frame = pl.from_arrow(table)
        assert isinstance(frame, pl.DataFrame)
        if self.plan == "keys":  # the source's order: by file path, then row
            uris = frame[SOURCE_FILE].unique().to_list()
            paths = pl.col(SOURCE_FILE).replace_strict({u: _path(u) for u in uris})
            frame = frame.sort(paths, pl.col(SOURCE_ROW)).drop(SOURCE_FILE, SOURCE_ROW, PARTITION)
        frame = frame.cast(self.source)  # type: ignore[arg-type]
        view = self.view
        results = []
        for lo, hi in self.pieces:
            rows = source_range(view, frame.lazy(), read_start(view, lo), hi)
            try:
                out = stored_rows(view, apply_transform(view, rows), lo, hi, self.features)
                results.append(out.collect())
            except FeatstoreError:
                raise
            except Exception as exc:  # Polars errors and the user's code raising as it runs
                raise evaluation_error(view, exc) from exc
        result = pl.concat(results)
        if self.plan == "keys" and frame.height:
            self._check_keys(frame, result)
        result = result.with_columns(pl.col(TS).dt.strftime("%Y-%m").alias(MONTH))
        arrow = result.to_arrow(compat_level=pl.CompatLevel.oldest())
        return arrow.cast(widened(arrow.schema)).cast(self.schema)

    def _check_keys(self, source: pl.DataFrame, result: pl.DataFrame) -> None:
        """Every output row's key is a key of the task's source rows (the task's share of
        the keys), else the transformation is not per key: it changed a key column."""
        from featstore.errors import MaterializationError

        keys = list(self.view.join_keys)
        given = source.select(keys).unique()
        made = result.select(keys).unique()
        made = made.cast(dict(given.schema), strict=False)  # type: ignore[arg-type]
        strange = made.join(given, on=keys, how="anti", nulls_equal=True)
        if strange.height:
            found = ", ".join(f"{k}={v!r}" for k, v in strange.row(0, named=True).items())
            raise MaterializationError(
                f"feature view {self.view.name!r} declares per_key=True, but its transform "
                f"changed the key columns {keys!r}: it gave an output row with {found}, a key "
                f"none of its source rows has. Keep the join keys as they are, or drop "
                f"per_key=True"
            )

    def batches(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        """The task over Spark's batches of a partition (``mapInArrow``), evaluated about
        :data:`BATCH_ROWS` rows at a time (one evaluation per small batch would cost more
        in planning than in work)."""
        pending: list[pa.RecordBatch] = []
        size = 0
        for batch in batches:
            pending.append(batch)
            size += batch.num_rows
            if size >= BATCH_ROWS:
                yield from self(pa.Table.from_batches(pending)).to_batches()
                pending, size = [], 0
        if pending:
            yield from self(pa.Table.from_batches(pending)).to_batches()

    @property
    def group(self) -> Callable[[pa.Table], pa.Table]:
        """The task over one partition's rows (``applyInArrow``), as a function of one table
        (Spark reads a callable's arity to tell whether it takes the group's key)."""

        def group(table: pa.Table) -> pa.Table:
            return self(table)

        return group


def _path(uri: str) -> str:
    """A file URI as Spark reports it (``file:/a%20b.parquet``) as its local path."""
    parsed = urllib.parse.urlparse(uri)
    return urllib.parse.unquote(parsed.path) if parsed.scheme in ("", "file") else uri


@dataclass(frozen=True)
class MonthTask:
    """One month's file: its rows (of ``schema``, widened for Spark, and ``__fs_month``)
    written as the month's plan in ``plans`` says, with featstore's bucket kernel (the
    code the DuckDB engine runs). Returns one row (:data:`MONTH_STATS`): the month, its
    new rows with event time in ``counted``, and the write's stats."""

    plans: dict[str, BucketWrite]
    schema: dict[str, pl.DataType]
    counted: tuple[datetime, datetime]

    def __call__(self, table: pa.Table) -> pa.Table:
        from featstore.engine.duckdb import DuckDBEngine

        frame = pl.from_arrow(table)
        assert isinstance(frame, pl.DataFrame)
        month = frame[MONTH][0]
        rows = frame.drop(MONTH).cast(self.schema)  # type: ignore[arg-type]
        lo, hi = self.counted
        new = rows.filter((pl.col(TS) >= lo) & (pl.col(TS) < hi)).height
        engine = DuckDBEngine(threads=1)
        try:
            stats = engine.write_bucket(rows, self.plans[month])
        finally:
            engine.close()
        instants = [
            None if t is None else (t - EPOCH) // timedelta(microseconds=1)
            for t in (stats.min_ts, stats.max_ts)
        ]
        return pa.table(
            {
                "month": [month],
                "new": pa.array([new], pa.int64()),
                "rows": pa.array([stats.rows], pa.int64()),
                "min_ts": pa.array([instants[0]], pa.int64()),
                "max_ts": pa.array([instants[1]], pa.int64()),
            }
        )

    @property
    def group(self) -> Callable[[pa.Table], pa.Table]:
        """The task over one month's rows (``applyInArrow``), as a function of one table."""

        def group(table: pa.Table) -> pa.Table:
            return self(table)

        return group
