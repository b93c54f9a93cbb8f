"""The Spark engine: the same plans as the embedded DuckDB engine, run on Apache Spark.

The only module of featstore, with :mod:`featstore.engine.spark_pit`, that imports
PySpark (``pip install 'featstore[spark]'``). What runs where:

- **Point-in-time joins** (``get_historical_features``, latest values, explain) run as
  Spark DataFrame operations over the view's files (:mod:`featstore.engine.spark_pit`),
  one view at a time; the result is collected and put in entity-row order.
- **Window aggregations**: Spark partitions the entity rows and the stored rows by a hash
  of the join keys, and each partition runs featstore's window kernel there
  (:class:`featstore.engine.spark_tasks.WindowTask`: the code the DuckDB engine runs). So
  both engines give the same float to the last bit: a Spark SQL aggregate adds its rows
  in whatever order the partitions arrive.
- **SQL sources** run as Spark SQL, so a query names the cluster's tables.
- **Writing a month's file** (rank, merge, window index) runs featstore's bucket kernel
  in this process, as with DuckDB, so either engine reads what the other wrote.

The offline store must be a path every executor sees (docs/spark.md). Instants go to
Spark as epoch microseconds, and each call runs with the session time zone set to UTC
(restored afterwards), so neither the cluster's nor the caller's zone changes an answer.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import urllib.parse
import warnings
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.errors import AnalysisException, PySparkException, PythonException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import from_arrow_schema, to_arrow_schema

from featstore import errors
from featstore.aggregations import WindowQuery, index_columns, join_window_parts, window_plans
from featstore.columns import CREATED, FILE, INTERNAL, RANK, ROW, TS
from featstore.engine import spark_views
from featstore.engine.base import BucketStats, BucketWrite, PitByQuery, TimeRange, ViewRows
from featstore.engine.duckdb import DuckDBEngine, source_schema_sql
from featstore.engine.spark_pit import AT, column, view_frame
from featstore.engine.spark_tasks import WindowTask
from featstore.errors import ConfigError, EngineError, EngineInputError, EngineMemoryError
from featstore.pit import PitQuery, detail_columns, join_parts, matched_column, split_query

if TYPE_CHECKING:
    from featstore.definitions import FeatureView

__all__ = ["SparkEngine", "local_session", "to_spark"]

_BUCKET = f"{INTERNAL}bucket"  # which partition of the keys a row belongs to
_TASK_ERROR = re.compile(r"featstore\.errors\.(\w+): (.+)")
_GLOB = re.compile(r"([\\*?\[\]{}])")


def local_session(
    master: str = "local[*]", *, remote: str | None = None, conf: Mapping[str, str] | None = None
) -> SparkSession:
    """A Spark session for featstore: ``remote`` (a Spark Connect URL, ``sc://host:15002``)
    or ``master`` (``local[2]``, ``spark://host:7077``, ``yarn``), with ``conf`` applied.
    A local master binds to 127.0.0.1 with the UI off, and its Python workers run this
    interpreter."""
    builder = SparkSession.builder.appName("featstore")
    if remote is not None:
        builder = builder.remote(remote)
    else:
        builder = builder.master(master)
        if master.startswith("local"):
            builder = (
                builder.config("spark.pyspark.python", sys.executable)
                .config("spark.pyspark.driver.python", sys.executable)
                .config("spark.driver.host", "127.0.0.1")
                .config("spark.driver.bindAddress", "127.0.0.1")
                .config("spark.ui.enabled", "false")
                .config("spark.ui.showConsoleProgress", "false")
            )
    # Spark's warnings (large tasks, native libraries) are noise in a notebook; conf
    # {"spark.log.level": "WARN"} brings them back
    builder = builder.config("spark.sql.session.timeZone", "UTC").config("spark.log.level", "ERROR")
    for key, value in (conf or {}).items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


@contextlib.contextmanager
def _translated() -> Iterator[None]:
    """Spark's exceptions as featstore's (see :mod:`featstore.engine.base`); a featstore
    error raised inside a task is raised again here, as the same class."""
    try:
        yield
    except PythonException as exc:
        found = _TASK_ERROR.findall(str(exc))
        if found:
            name, message = found[-1]
            kind = getattr(errors, name, None)
            if isinstance(kind, type) and issubclass(kind, errors.FeatstoreError):
                raise kind(message.strip()) from exc
        raise EngineError(str(exc)) from exc
    except AnalysisException as exc:
        raise EngineInputError(str(exc)) from exc
    except PySparkException as exc:
        if "OutOfMemoryError" in str(exc):
            raise EngineMemoryError(str(exc)) from exc
        raise EngineError(str(exc)) from exc
    except Exception as exc:  # py4j's errors: a JVM failure outside Spark's own classes
        if type(exc).__module__.startswith("py4j"):
            if "OutOfMemoryError" in str(exc):
                raise EngineMemoryError(str(exc)) from exc
            raise EngineError(str(exc)) from exc
        raise


def _range_sql(query: str, where: TimeRange) -> str:
    """A SQL source's query restricted to ``where``, in Spark SQL (naive-UTC bounds, read
    in the session zone, UTC)."""
    ts = "`" + where.column.replace("`", "``") + "`"
    low, high = (t.isoformat(sep=" ") for t in (where.start, where.end))
    return f"SELECT * FROM ({query}) AS q WHERE {ts} >= TIMESTAMP '{low}' AND {ts} < TIMESTAMP '{high}'"


def _us(table: pa.Table, name: str) -> pa.Array:
    """A timestamp column as epoch microseconds."""
    ts = table.column(name)
    kind = ts.type
    if pa.types.is_timestamp(kind) and kind.unit != "us":
        ts = pc.cast(ts, pa.timestamp("us", kind.tz))
    return pc.cast(ts, pa.int64())


def _for_spark(table: pa.Table) -> pa.Table:
    """``table`` with its unsigned integer columns (Spark has none) widened: to 64-bit
    integers, and 64-bit ones to ``decimal(20, 0)`` (as Spark reads them from Parquet)."""
    for i, field in enumerate(table.schema):
        if pa.types.is_unsigned_integer(field.type):
            wide = pa.decimal128(20, 0) if field.type == pa.uint64() else pa.int64()
            table = table.set_column(i, field.name, pc.cast(table.column(i), wide))
    return table


def to_spark(table: pa.Table, spark: SparkSession | None = None) -> DataFrame:
    """``table`` as a DataFrame of ``spark`` (default: the active session); naive
    timestamps stay naive (``timestamp_ntz``)."""
    session = spark if spark is not None else SparkSession.getActiveSession()
    if session is None:
        raise ConfigError(
            "to_spark: no active Spark session; pass one (result.to_spark(spark)) or start "
            "one first"
        )
    table = _for_spark(table)
    with _translated():
        return session.createDataFrame(table, schema=from_arrow_schema(table.schema))


def _in_order(table: pa.Table, rows: pa.ChunkedArray) -> pa.Table:
    """A result in entity-row order, its ``__fs_row`` of the entity's type again."""
    table = table.sort_by(ROW)
    return table.set_column(0, ROW, pc.cast(table.column(ROW), rows.type))


class SparkEngine(PitByQuery):
    """The :class:`~featstore.engine.base.Engine` on a Spark session.

    Parameters
    ----------
    spark
        The session to run on (left open by :meth:`close`); default: the session already
        active in this process, else one made by :func:`local_session` from ``master``,
        ``remote`` and ``conf`` and stopped by :meth:`close`.
    partitions
        How many partitions of the join keys the window aggregations and the per-key
        transformations run in (each runs the window kernel or the transformation once,
        over its keys' rows); default: twice the session's cores.
    """

    name = "spark"

    def __init__(
        self,
        spark: SparkSession | None = None,
        *,
        master: str | None = None,
        remote: str | None = None,
        conf: Mapping[str, str] | None = None,
        partitions: int | None = None,
    ) -> None:
        if partitions is not None and (
            not isinstance(partitions, int) or isinstance(partitions, bool) or partitions < 1
        ):
            raise ConfigError(f"partitions must be a positive integer; found {partitions!r}")
        # a session made here is stopped by close(); one already running in this process
        # (getOrCreate returns it) is left as it is
        self._owned = spark is None and SparkSession.getActiveSession() is None
        if spark is None:
            with _translated():
                spark = local_session(master or "local[*]", remote=remote, conf=conf)
        self._spark: SparkSession | None = spark
        self._partitions = partitions
        self._local: DuckDBEngine | None = None

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> SparkEngine:
        """An engine from a store config's ``"spark"`` object: ``master``, ``remote``,
        ``conf`` (strings) and ``partitions``."""
        unknown = sorted(set(config) - {"master", "remote", "conf", "partitions"})
        if unknown:
            raise ConfigError(
                f"unknown Spark setting {unknown[0]!r}: use master, remote, conf or partitions"
            )
        for key in ("master", "remote"):
            if config.get(key) is not None and not isinstance(config[key], str):
                raise ConfigError(f"Spark setting {key!r} must be a string; found {config[key]!r}")
        conf = config.get("conf") or {}
        if not isinstance(conf, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in conf.items()
        ):
            raise ConfigError(f"Spark setting 'conf' must map strings to strings; found {conf!r}")
        return cls(
            master=config.get("master"),
            remote=config.get("remote"),
            conf=conf,
            partitions=config.get("partitions"),
        )

    @property
    def spark(self) -> SparkSession:
        """The Spark session."""
        if self._spark is None:
            raise EngineError("the Spark engine is closed; open the FeatureStore again")
        return self._spark

    def __repr__(self) -> str:
        return f"SparkEngine(open={self._spark is not None})"

    @contextlib.contextmanager
    def _session(self) -> Iterator[SparkSession]:
        """The session with its time zone set to UTC for the call, errors translated."""
        spark = self.spark
        with _translated(), warnings.catch_warnings():
            # PySpark's notice about pandas 3, which featstore's Arrow calls do not use
            warnings.filterwarnings("ignore", "PySpark does not yet fully", FutureWarning)
            before = spark.conf.get("spark.sql.session.timeZone") or "UTC"
            spark.conf.set("spark.sql.session.timeZone", "UTC")
            try:
                yield spark
            finally:
                spark.conf.set("spark.sql.session.timeZone", before)

    def _kernel(self) -> DuckDBEngine:
        if self._local is None:
            self._local = DuckDBEngine()
        return self._local

    # -- sources -----------------------------------------------------------------------

    def scan_query(self, query: str, *, where: TimeRange | None = None) -> pl.LazyFrame:
        sql = query if where is None else _range_sql(query, where)
        with self._session() as spark:
            table = spark.sql(sql).toArrow()
        return _polars(table).lazy()

    def query_schema(self, query: str) -> pl.Schema:
        with self._session() as spark:
            table = spark.sql(source_schema_sql(query)).toArrow()
        return _polars(table).schema

    # -- materialization ---------------------------------------------------------------

    def transform_plan(self, view: FeatureView) -> tuple[str, str]:
        """Where materialization evaluates ``view``'s transformation on this engine, and
        why: ``"rows"`` (Spark tasks, any split of the rows), ``"keys"`` (Spark tasks,
        each over all the rows of some keys: ``per_key=True``) or ``"driver"`` (this
        process, in Polars). See docs/spark.md."""
        return spark_views.plan(view, self)

    def write_view(
        self,
        job: ViewRows,
        months: Mapping[str, bool],
        plan: Callable[[str, pl.Schema], BucketWrite],
        counted: tuple[datetime, datetime],
    ) -> dict[str, tuple[int, BucketStats]] | None:
        """The view's transformation and its month files in Spark tasks, where it can run
        there (:mod:`featstore.engine.spark_views`); else None, and it runs in the driver."""
        with self._session() as spark:
            partitions = self._partitions or _cores(spark) * 2
            local = self._kernel()
            return spark_views.write(spark, job, months, plan, counted, self, local, partitions)

    def write_bucket(self, rows: pl.DataFrame, bucket: BucketWrite) -> BucketStats:
        return self._kernel().write_bucket(rows, bucket)

    # -- retrieval ---------------------------------------------------------------------

    def _read(self, files: tuple[str, ...], with_file: bool) -> DataFrame:
        """The stored rows of ``files`` (with ``__fs_file``, the file's URI, when asked:
        :func:`_paths` turns it back into the path given)."""
        frame = self.spark.read.parquet(*(_GLOB.sub(r"\\\1", f) for f in files))
        return frame.withColumn(FILE, F.input_file_name()) if with_file else frame

    def _run_pit(self, query: PitQuery, entity: pa.Table) -> pa.Table:
        """One Spark job per view (:func:`~featstore.pit.split_query` per view), each
        collected and put in entity-row order, side by side."""
        probes = _for_spark(entity.drop_columns([TS]).append_column(AT, _us(entity, TS)))
        results = []
        with self._session() as spark:
            frame = spark.createDataFrame(probes) if entity.num_rows else None
            for part, index in split_query(query, per_view=True):
                results.append((part, index, self._view(part, frame, entity.column(ROW))))
        return join_parts(query, results)

    def _view(self, part: PitQuery, frame: DataFrame | None, rows: pa.ChunkedArray) -> pa.Table:
        """A one-view part's result in entity-row order."""
        (v,) = part.views
        names = [ROW, *(out for _, out in v.features), matched_column(0)]
        if part.detail:
            names += detail_columns(0)
        if frame is None or not v.files:
            n = len(rows)
            arrays = [rows, *(pa.nulls(n) for _ in v.features), pa.array([False] * n)]
            arrays += [pa.nulls(n) for _ in detail_columns(0)] if part.detail else []
            return pa.Table.from_arrays(arrays, names=names)
        table = _in_order(view_frame(part, 0, frame, self._read).toArrow(), rows)
        if part.detail:
            for name in detail_columns(0)[:2]:
                i = table.column_names.index(name)
                stamps = pc.cast(pc.cast(table.column(i), pa.int64()), pa.timestamp("us"))
                table = table.set_column(i, name, stamps)
            i = table.column_names.index(detail_columns(0)[2])
            table = table.set_column(i, table.field(i).name, _paths(table.column(i), v.files))
        return table.rename_columns(names)

    def windows(self, query: WindowQuery, entity: pa.Table) -> pa.Table:
        """Each plan part in Spark partitions of the keys (see the module docs)."""
        parts = []
        for plan, part in window_plans(query):
            if plan == "empty" or entity.num_rows == 0:
                parts.append((part, self._kernel().window_part("empty", part, entity)))
                continue
            with self._session() as spark:
                parts.append((part, self._window_part(spark, plan, part, entity)))
        return join_window_parts(query, parts)

    def _window_part(
        self, spark: SparkSession, plan: str, part: WindowQuery, entity: pa.Table
    ) -> pa.Table:
        keys = list(part.keys)
        probes = spark.createDataFrame(_for_spark(entity))
        key_types = {f.name: f.dataType for f in probes.schema.fields}
        columns = sorted({a.column for a, _ in part.aggregations})
        if plan == "index":
            index = index_columns(part.aggregations_only)
            last = sorted({a.column for a, _ in part.aggregations if a.fn == "last"})
            columns = [*(c.name for c in index), *last]
        stored = self._read(part.files, False)
        stored = stored.select(
            *(column(k).try_cast(key_types[k]).alias(k) for k in keys),
            column(TS),
            column(CREATED),
            column(RANK),
            *(column(c) for c in columns),
        ).where(" AND ".join(f"`{k.replace('`', '``')}` IS NOT NULL" for k in keys))
        n = self._partitions or _cores(spark) * 2
        bucket = F.pmod(F.xxhash64(*(column(k) for k in keys)), F.lit(n)).alias(_BUCKET)
        probes = probes.withColumn(_BUCKET, bucket)
        stored = stored.withColumn(_BUCKET, bucket)
        # the result's types: the kernel's answer to no rows of these frames' types
        empty = [
            to_arrow_schema(f.schema, timezone="UTC", prefers_large_types=True).empty_table()
            for f in (probes, stored)
        ]
        kernel = WindowTask(plan, part, ignore=(_BUCKET,))(*empty).schema
        spark_schema = from_arrow_schema(kernel)
        # the Arrow types Spark takes back for that schema (its strings are not large)
        schema = to_arrow_schema(spark_schema, timezone="UTC")
        task = WindowTask(plan, part, schema, ignore=(_BUCKET,))
        result = (
            probes.groupBy(_BUCKET)
            .cogroup(stored.groupBy(_BUCKET))
            .applyInArrow(task.run, spark_schema)
            .toArrow()
        )
        return _in_order(result.cast(schema), entity.column(ROW))

    def close(self) -> None:
        if self._local is not None:
            self._local.close()
            self._local = None
        if self._spark is not None and self._owned:
            self._spark.stop()
        self._spark = None


def _cores(spark: SparkSession) -> int:
    """The session's default parallelism (its cores), or its shuffle partitions where it
    has no SparkContext (Spark Connect)."""
    try:
        return int(spark.sparkContext.defaultParallelism)
    except Exception:  # Spark Connect has no SparkContext
        return int(spark.conf.get("spark.sql.shuffle.partitions") or "200")


def _paths(uris: pa.ChunkedArray, files: tuple[str, ...]) -> pa.Array:
    """The files' URIs Spark reports (``file:///...``, percent-encoded) as the paths given."""
    given = {os.path.abspath(f): f for f in files}

    def path(uri: str | None) -> str | None:
        if uri is None:
            return None
        parsed = urllib.parse.urlparse(uri)
        local = urllib.parse.unquote(parsed.path) if parsed.scheme in ("", "file") else uri
        return given.get(os.path.abspath(local), uri)

    return pa.array([path(u) for u in uris.to_pylist()], pa.string())


def _polars(table: pa.Table) -> pl.DataFrame:
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame
