"""A view's materialization in Spark's Python workers (the Spark engine's
:meth:`~featstore.engine.base.Engine.write_view`).

Spark reads the source's Parquet files (the range pushed down as a coarse filter), and
each task runs the view's Polars transformation over a share of the rows
(:class:`featstore.engine.spark_tasks.TransformTask`), with the columns cast back to the
dtypes Polars reads, so the transformation sees what it sees in this process. Spark then
gathers the rows by month, and a task per month writes the month's file with featstore's
bucket kernel (:class:`featstore.engine.spark_tasks.MonthTask`), into the run's staging
directory: the driver only publishes and records the files. Which share of the rows a
transformation task gets depends on the transformation:

- **one row at a time** (no transformation, or one whose output rows each depend on one
  source row, as :func:`featstore.compute.row_local` reads its plan): any split of the
  rows, Spark's own (``mapInArrow``, no shuffle);
- **per key** (the view declares ``per_key=True``): all rows in the range, lookback
  included, of the keys in one of ``partitions`` hash partitions of the join keys, in the
  source's order (``groupBy(partition).applyInArrow``): a per-key transformation gives
  each key the rows it gives it over all keys at once. Each task checks that every
  output row carries a key of its own source rows.

Any other view, a source other than Parquet files, or a column type Spark cannot carry
back exactly (nanosecond timestamps, durations, lists, categoricals ...) is evaluated in
the driver, as on DuckDB: :func:`plan` says why.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timedelta

import polars as pl
import pyarrow as pa
from pyspark import cloudpickle
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import from_arrow_schema, to_arrow_schema

from featstore.columns import INTERNAL
from featstore.compute import apply_transform, resolve_files, row_local, scan_source, stored_rows
from featstore.definitions import FeatureView, ParquetSource
from featstore.engine.base import BucketStats, BucketWrite, Engine, ViewRows
from featstore.engine.spark_tasks import (
    EPOCH,
    MONTH,
    MONTH_STATS,
    PARTITION,
    SOURCE_FILE,
    SOURCE_ROW,
    MonthTask,
    TransformTask,
    widened,
)

__all__ = ["plan", "write"]

_EXACT = (
    pl.Boolean,
    pl.Int8,
    pl.Int16,
    pl.Int32,
    pl.Int64,
    pl.UInt8,
    pl.UInt16,
    pl.UInt32,
    pl.UInt64,
    pl.Float32,
    pl.Float64,
    pl.String,
    pl.Binary,
    pl.Date,
    pl.Decimal,
)


def _exact(dtype: pl.DataType) -> bool:
    """Whether a column of ``dtype`` goes through Spark and back unchanged."""
    if isinstance(dtype, pl.Datetime):
        return dtype.time_unit in ("us", "ms")
    return isinstance(dtype, _EXACT)


def plan(view: FeatureView, engine: Engine) -> tuple[str, str]:
    """``("rows", why)``, ``("keys", why)`` or ``("driver", why)``: how the Spark engine
    evaluates ``view``'s transformation, and why."""
    source = view.source
    if not isinstance(source, ParquetSource):
        return "driver", f"its source is a {source.kind} source, not Parquet files"
    schema = scan_source(source, engine).collect_schema()
    for name, dtype in schema.items():
        if name.startswith(INTERNAL):
            return "driver", f"its source has a column named {name!r}"
        if not _exact(dtype):
            return "driver", f"its source column {name!r} is {dtype}, which Spark cannot carry"
    if row_local(view, schema):
        return "rows", "its output rows each depend on one source row"
    if not view.per_key:
        return "driver", (
            "its transformation looks at other rows and the view does not declare per_key=True"
        )
    missing = [k for k in view.join_keys if k not in schema]
    if missing:
        return "driver", f"it is per key, but the source has no join key column {missing[0]!r}"
    return "keys", "it is per key"


def write(
    spark: SparkSession,
    job: ViewRows,
    months: Mapping[str, bool],
    plan_of: Callable[[str, pl.Schema], BucketWrite],
    counted: tuple[datetime, datetime],
    engine: Engine,
    local: Engine,
    partitions: int,
) -> dict[str, tuple[int, BucketStats]] | None:
    """Evaluate ``job`` in Spark tasks (per key: in ``partitions`` hash partitions of the
    join keys) and write each month's file in a Spark task of its own, with featstore's
    bucket kernel (as :meth:`Engine.write_view` says); ``local`` writes a month that must
    be written but has no new rows. None where the view is evaluated in the driver (see
    :func:`plan`)."""
    how, _ = plan(job.view, engine)
    if how == "driver":
        return None
    view = job.view
    assert isinstance(view.source, ParquetSource)
    files = resolve_files(view.source)
    source = scan_source(view.source, engine).collect_schema()
    empty = pl.DataFrame(schema=source).lazy()
    target = stored_rows(
        view, apply_transform(view, empty), job.lo, job.hi, dict(job.features)
    ).collect_schema()
    try:
        with_month = pl.Schema([*target.items(), (MONTH, pl.String())])
        out_schema = from_arrow_schema(widened(_arrow_schema(with_month)))
        in_schema = from_arrow_schema(widened(_arrow_schema(source)))
    except (TypeError, ValueError, NotImplementedError):  # a type Spark has no form of
        return None
    frame = spark.read.schema(in_schema).parquet(*(_escape(f) for f in files))
    ts = view.source.timestamp_column
    frame = frame.where(_coarse_range(frame, ts, job.read_from, job.hi))
    pieces = job.pieces if how == "keys" else ((job.lo, job.hi),)  # rows: any split is exact
    task = TransformTask(
        view,
        how,
        pieces,
        dict(job.features),
        dict(source),
        to_arrow_schema(out_schema, timezone="UTC"),
    )
    plans = {month: plan_of(month, target) for month in months}
    writer = MonthTask(plans, dict(target), counted)
    with _by_value(view):
        if how == "rows":
            rows = frame.mapInArrow(task.batches, out_schema)
        else:
            keys = [F.col(_quoted(k)) for k in view.join_keys]
            ordered = frame.select(
                "*",
                F.col("_metadata.file_path").alias(SOURCE_FILE),
                F.col("_metadata.row_index").alias(SOURCE_ROW),
                F.pmod(F.xxhash64(*keys), F.lit(partitions)).alias(PARTITION),
            )
            rows = ordered.groupBy(PARTITION).applyInArrow(task.group, out_schema)
        stats = rows.groupBy(MONTH).applyInArrow(writer.group, MONTH_STATS).toArrow()
    done = {}
    for row in stats.to_pylist():
        min_ts, max_ts = (_instant(row[c]) for c in ("min_ts", "max_ts"))
        done[row["month"]] = (row["new"], BucketStats(row["rows"], min_ts, max_ts))
    for month, must in months.items():
        if must and month not in done:
            done[month] = (0, local.write_bucket(pl.DataFrame(schema=target), plans[month]))
    return done


def _instant(us: int | None) -> datetime | None:
    return None if us is None else EPOCH + timedelta(microseconds=us)


def _arrow_schema(schema: pl.Schema) -> pa.Schema:
    return pl.DataFrame(schema=schema).to_arrow(compat_level=pl.CompatLevel.oldest()).schema


def _quoted(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _escape(path: str) -> str:
    """A path as Spark reads it literally (its glob characters escaped)."""
    for ch in "\\*?[]{}":
        path = path.replace(ch, "\\" + ch)
    return path


def _coarse_range(frame: DataFrame, column: str, lo: datetime, hi: datetime) -> Column:
    """A filter Spark can push into the Parquet scan that keeps every source row with event
    time in ``[lo, hi)`` (a day wider on each side; each task then filters exactly)."""
    kind = frame.schema[column].dataType.simpleString()
    literal = {"timestamp": "TIMESTAMP", "timestamp_ntz": "TIMESTAMP_NTZ", "date": "DATE"}[kind]
    ts = F.col(_quoted(column))
    keep = F.lit(True)
    with contextlib.suppress(OverflowError):
        low = lo - timedelta(days=1)
        text = low.date().isoformat() if literal == "DATE" else low.isoformat(sep=" ")
        keep = keep & (ts >= F.expr(f"{literal} '{text}'"))
    with contextlib.suppress(OverflowError):
        high = hi + timedelta(days=1)
        text = high.date().isoformat() if literal == "DATE" else high.isoformat(sep=" ")
        keep = keep & (ts < F.expr(f"{literal} '{text}'"))
    return keep


@contextlib.contextmanager
def _by_value(view: object) -> Iterator[None]:
    """Ship the module that defines the view's transformation by value while Spark
    serializes the task: Spark's workers need not be able to import the user's module (a
    notebook's, a script's or a test's)."""
    transform = getattr(view, "transform", None)
    module = sys.modules.get(getattr(transform, "__module__", "") or "")
    name = getattr(module, "__name__", "")
    ship = (
        module is not None
        and name != "__main__"
        and not name.startswith("featstore")
        and name not in cloudpickle.list_registry_pickle_by_value()  # type: ignore[no-untyped-call]
    )
    if ship:
        cloudpickle.register_pickle_by_value(module)  # type: ignore[no-untyped-call]
    try:
        yield
    finally:
        if ship:
            cloudpickle.unregister_pickle_by_value(module)  # type: ignore[no-untyped-call]
