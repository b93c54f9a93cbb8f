"""Reading sources and evaluating feature-view transformations with Polars.

Pure data-plane code: it knows definitions, not the catalog or the offline store.
"""

from __future__ import annotations

import glob
import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

import polars as pl
import pyarrow.parquet as pq

from featstore.aggregations import NUMERIC_ONLY
from featstore.columns import CREATED, TS
from featstore.definitions import (
    CsvSource,
    DataFrameSource,
    FeatureView,
    ParquetSource,
    Source,
    SqlSource,
)
from featstore.errors import (
    DefinitionError,
    EngineError,
    MaterializationError,
    NotFoundError,
    SchemaError,
)
from featstore.names import case_twins, quote_ident, reserved
from featstore.records import RunInput as InputFile  # a run's input: one record class
from featstore.timeutil import utc_expr
from featstore.versioning import frame_digest

if TYPE_CHECKING:
    from featstore.engine.base import Engine

__all__ = [
    "InputFile",
    "SourceKind",
    "apply_transform",
    "evaluate_view",
    "evaluation_error",
    "output_schema",
    "reads_once",
    "register_source_kind",
    "resolve_files",
    "row_local",
    "scan_range",
    "scan_source",
    "source_inputs",
    "source_kind",
    "source_range",
    "source_schema",
    "stored_rows",
]


def resolve_files(source: ParquetSource | CsvSource) -> list[str]:
    """The files a file source reads, as sorted absolute paths; raises NotFoundError if
    none. Reading and lineage both use this list, so lineage names exactly the files read.

    A path that exists is literal (a file, or a directory read recursively for
    ``*.parquet`` / ``*.csv`` files), glob characters in its name included; only a path
    that does not exist and has glob magic is a glob. A relative path or glob is taken
    from the source's ``base_dir`` (whose own name is never a pattern).
    """
    path = str(source.path)
    resolved = source.resolved_path
    suffix = source.suffix
    problem = f"path {path!r} matches no file"
    if os.path.isdir(resolved):
        pattern = os.path.join(glob.escape(resolved), "**", f"*.{suffix}")
        files = glob.glob(pattern, recursive=True)
        problem = f"directory {path!r} holds no *.{suffix} file"
    elif os.path.exists(resolved):
        files = [resolved]
    elif glob.has_magic(path):
        base = glob.escape(str(source.base_dir))
        pattern = path if os.path.isabs(path) else os.path.join(base, path)
        files = glob.glob(pattern, recursive=True)
    else:
        files = []
    files = sorted(os.path.abspath(f) for f in files if os.path.isfile(f))
    if not files:
        where = (
            ""
            if os.path.isabs(path)
            else f" (a relative path, resolved against {str(source.base_dir)!r}: the "
            f"directory of the file that defines the source, or its base_dir)"
        )
        raise NotFoundError(f"source {source.name!r}: {problem}{where}; check the path")
    return files


def file_sha256(path: str) -> str:
    """SHA-256 of a file's bytes."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def fingerprint_file(
    path: str, cached: dict[tuple[str, int, int], tuple[int | None, str]]
) -> InputFile:
    """Path, size, mtime, row count and content hash; reuses ``cached`` hashes."""
    stat = os.stat(path)
    key = (path, stat.st_size, stat.st_mtime_ns)
    if key in cached:
        rows, digest = cached[key]
    else:
        rows = _row_count(path)
        digest = file_sha256(path)
    return InputFile(path, stat.st_size, stat.st_mtime_ns, rows, digest)


def _row_count(path: str) -> int | None:
    """Rows in a Parquet file (its footer) or a CSV file (a scan, header excluded)."""
    if path.endswith(".parquet"):
        return int(pq.ParquetFile(path).metadata.num_rows)
    try:
        return int(pl.scan_csv(path, glob=False).select(pl.len()).collect().item())
    except pl.exceptions.PolarsError:
        return None


S = TypeVar("S", bound=Source)


class SourceKind(Generic[S]):
    """How featstore reads one kind of source: its rows, its schema, and the fingerprints
    a run records of what it read.

    Every rule that depends on a source's kind lives in its SourceKind, registered for
    its Source class with :func:`register_source_kind`: a new kind of source is a Source
    subclass (in :mod:`featstore.definitions`) and one SourceKind here. File and frame
    sources are read by Polars, lazily; a kind that needs the engine (a SQL query) asks
    it through the :class:`~featstore.engine.base.Engine` methods.
    """

    reads_once: ClassVar[bool] = False
    """Whether reading runs a query (its rows are produced, not scanned lazily):
    materialization then reads a job's whole range once, never once per chunk or month."""

    def scan(self, source: S, engine: Engine) -> pl.LazyFrame:
        """A lazy frame over the source's rows, with its original column names and dtypes."""
        raise NotImplementedError

    def scan_range(self, source: S, engine: Engine, lo: datetime, hi: datetime) -> pl.LazyFrame:
        """The rows with event time in ``[lo, hi)`` (naive UTC bounds): by default the
        scan, filtered lazily (Polars pushes the filter down)."""
        frame = self.scan(source, engine)
        schema = frame.collect_schema()
        ts_col = source.timestamp_column
        return frame.filter(_range_filter(ts_col, schema[ts_col], lo, hi))

    def schema(self, source: S, engine: Engine) -> pl.Schema:
        """The source's columns and dtypes, reading no rows."""
        return self.scan(source, engine).collect_schema()

    def inputs(self, source: S) -> list[InputFile]:
        """Fingerprints of what a run reads, taken at the run's start."""
        raise NotImplementedError


_KINDS: dict[type[Source], SourceKind[Any]] = {}


def register_source_kind(cls: type[S], kind: SourceKind[S]) -> None:
    """Read sources of class ``cls`` (and its subclasses) with ``kind``."""
    _KINDS[cls] = kind


def source_kind(source: S) -> SourceKind[S]:
    """The SourceKind that reads ``source``; DefinitionError for an unknown class."""
    for cls in type(source).__mro__:
        kind = _KINDS.get(cls)
        if kind is not None:
            return kind
    raise DefinitionError(f"source {source.name!r}: unsupported kind {type(source).__name__}")


class _ParquetKind(SourceKind[ParquetSource]):
    def scan(self, source: ParquetSource, engine: Engine) -> pl.LazyFrame:
        files = resolve_files(source)
        try:
            return pl.scan_parquet(
                files, missing_columns="insert", extra_columns="ignore", glob=False
            )
        except (pl.exceptions.PolarsError, OSError) as exc:
            raise SchemaError(f"source {source.name!r}: cannot read Parquet: {exc}") from exc

    def inputs(self, source: ParquetSource) -> list[InputFile]:
        # no cache: a same-size rewrite with its mtime restored is still seen
        return [fingerprint_file(f, {}) for f in resolve_files(source)]


class _CsvKind(SourceKind[CsvSource]):
    def scan(self, source: CsvSource, engine: Engine) -> pl.LazyFrame:
        return pl.scan_csv(resolve_files(source), try_parse_dates=True, glob=False)

    def inputs(self, source: CsvSource) -> list[InputFile]:
        return [fingerprint_file(f, {}) for f in resolve_files(source)]


class _FrameKind(SourceKind[DataFrameSource]):
    def scan(self, source: DataFrameSource, engine: Engine) -> pl.LazyFrame:
        frame: pl.DataFrame = source.data
        return frame.lazy()

    def inputs(self, source: DataFrameSource) -> list[InputFile]:
        frame: pl.DataFrame = source.data
        return [InputFile(f"memory:{source.name}", None, None, frame.height, frame_digest(frame))]


class _SqlKind(SourceKind[SqlSource]):
    """A query the engine runs: once per materialization job, with the range pushed into
    the SQL; its schema is the engine's description of the query, not a run of it."""

    reads_once = True

    def scan(self, source: SqlSource, engine: Engine) -> pl.LazyFrame:
        with _query_errors(source):
            return engine.scan_query(source.query)

    def scan_range(
        self, source: SqlSource, engine: Engine, lo: datetime, hi: datetime
    ) -> pl.LazyFrame:
        from featstore.engine.base import TimeRange

        with _query_errors(source):
            return engine.scan_query(source.query, where=TimeRange(source.timestamp_column, lo, hi))

    def schema(self, source: SqlSource, engine: Engine) -> pl.Schema:
        with _query_errors(source):
            return engine.query_schema(source.query)

    def inputs(self, source: SqlSource) -> list[InputFile]:
        digest = hashlib.sha256(source.query.encode()).hexdigest()
        return [InputFile(f"sql:{source.name}", None, None, None, digest)]


@contextmanager
def _query_errors(source: SqlSource) -> Iterator[None]:
    """An engine failure running a SQL source's query, as a DefinitionError naming it."""
    try:
        yield
    except EngineError as exc:
        raise DefinitionError(
            f"source {source.name!r}: its SQL query failed: {exc}; fix the query"
        ) from exc


register_source_kind(ParquetSource, _ParquetKind())
register_source_kind(CsvSource, _CsvKind())
register_source_kind(DataFrameSource, _FrameKind())
register_source_kind(SqlSource, _SqlKind())


def scan_source(source: Source, engine: Engine) -> pl.LazyFrame:
    """A lazy frame over a source's rows, with its original column names and dtypes."""
    return source_kind(source).scan(source, engine)


def scan_range(source: Source, engine: Engine, lo: datetime, hi: datetime) -> pl.LazyFrame:
    """The source's rows with event time in ``[lo, hi)`` (naive UTC bounds), lazily.

    A SqlSource runs its query once, with the range pushed into the SQL, instead of once
    per month; file and frame sources are scanned lazily (Polars pushes the filter down).
    """
    return source_kind(source).scan_range(source, engine, lo, hi)


def reads_once(source: Source) -> bool:
    """Whether reading ``source`` runs a query (see :attr:`SourceKind.reads_once`)."""
    return source_kind(source).reads_once


def source_inputs(source: Source) -> list[InputFile]:
    """Fingerprints of what a run of a view over ``source`` reads."""
    return source_kind(source).inputs(source)


def source_schema(source: Source, engine: Engine) -> pl.Schema:
    """The source's columns and dtypes, checked for its timestamp columns (reads no rows:
    a SqlSource's query is described by the engine, not run)."""
    try:
        schema = source_kind(source).schema(source, engine)
    except pl.exceptions.PolarsError as exc:
        raise SchemaError(f"source {source.name!r}: cannot read its schema: {exc}") from exc
    for column in (source.timestamp_column, source.created_timestamp_column):
        if column is None:
            continue
        if column not in schema:
            raise SchemaError(
                f"source {source.name!r} has no column {column!r}; found {list(schema)!r}. "
                f"Fix timestamp_column / created_timestamp_column"
            )
        utc_expr(column, schema[column], owner=f"source {source.name!r}")
    return schema


def _range_filter(column: str, dtype: pl.DataType, lo: datetime, hi: datetime) -> pl.Expr:
    """``lo <= column < hi`` for naive-UTC bounds, written so Polars can push it down."""
    if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None:
        lo_lit = pl.lit(lo.replace(tzinfo=UTC)).dt.convert_time_zone(dtype.time_zone)
        hi_lit = pl.lit(hi.replace(tzinfo=UTC)).dt.convert_time_zone(dtype.time_zone)
        return (pl.col(column) >= lo_lit) & (pl.col(column) < hi_lit)
    if dtype == pl.Date:
        return (pl.col(column) >= pl.lit(lo.date())) & (pl.col(column).cast(pl.Datetime("us")) < hi)
    return (pl.col(column) >= lo) & (pl.col(column) < hi)


def apply_transform(view: FeatureView, frame: pl.LazyFrame) -> pl.LazyFrame:
    """The view's transformation of ``frame`` (the frame itself without one), checked to
    be a LazyFrame; its failure a featstore error naming the view."""
    where = f"feature view {view.name!r}"
    if view.transform is None:
        return frame
    try:
        out = view.transform(frame)
    except Exception as exc:
        raise MaterializationError(
            f"{where}: its transform raised {type(exc).__name__}: {exc}"
        ) from exc
    if isinstance(out, pl.DataFrame):
        out = out.lazy()
    if not isinstance(out, pl.LazyFrame):
        raise DefinitionError(
            f"{where}: transform must return a polars LazyFrame; found {type(out).__name__}"
        )
    return out


def output_schema(view: FeatureView, source_cols: pl.Schema) -> dict[str, pl.DataType]:
    """Infer and check a view's feature columns and dtypes (no data is read).

    Returns ``{feature: dtype}``; raises DefinitionError / SchemaError naming the view.
    """
    return check_output(view, transform_output(view, source_cols).collect_schema())


def transform_output(view: FeatureView, source_cols: pl.Schema) -> pl.LazyFrame:
    """The view's transformation applied to an empty frame of the source's columns: its
    output schema and plan, without reading data."""
    where = f"feature view {view.name!r}"
    empty = pl.DataFrame(schema=source_cols).lazy()
    try:
        out = apply_transform(view, empty)
        out.collect_schema()
    except pl.exceptions.PolarsError as exc:
        raise DefinitionError(f"{where}: its transform fails on the source schema: {exc}") from exc
    except MaterializationError as exc:  # the transform raised: here a bad definition, not a run
        raise DefinitionError(
            f"{exc}; it must also run on an empty frame of the source's columns"
        ) from exc.__cause__
    return out


def check_row_context(view: FeatureView, source_cols: pl.Schema) -> None:
    """Refuse a transformation that looks at other rows (rolling windows, group_by,
    over(), shift, cumulative functions, joins, ...) but declares no ``lookback``.

    Materialization evaluates a view over source rows from ``range_start - lookback``;
    without the declared context such a transformation would give results that depend on
    how a range was split into runs. ``lookback=timedelta(0)`` declares that no earlier
    rows are needed. A transformation that computes eagerly (returns a DataFrame) cannot
    be inspected and needs a declared lookback too.
    """
    if view.transform is None or view.lookback is not None:
        return
    from featstore.plan import row_context

    raw = view.transform(pl.DataFrame(schema=source_cols).lazy())
    if isinstance(raw, pl.LazyFrame):
        reasons = row_context(raw)
    else:
        reasons = ["it returns an eager DataFrame, whose plan cannot be inspected"]
    if not reasons and _collects_inside(view, source_cols):
        reasons = ["it collects its input inside the transform, so its plan cannot be inspected"]
    if reasons:
        raise DefinitionError(
            f"feature view {view.name!r}: its transform looks at other rows ({', '.join(reasons)})"
            f" but declares no lookback, so its values would depend on how materialization "
            f"splits the time range. Declare how much history one output row needs, e.g. "
            f"lookback=timedelta(days=30) for a 30-day window (lookback=timedelta(0) if rows "
            f"before the range never matter)"
        )


class _Collected(Exception):
    """Raised by the trap frame when a transformation executes its input while building
    its plan (``df.collect()``, ``.item()``, a pandas round trip ...)."""


def _trap(_: pl.DataFrame) -> pl.DataFrame:
    raise _Collected


def _collects_inside(view: FeatureView, source_cols: pl.Schema) -> bool:
    """Whether the transform runs its input while it is being defined: then the plan it
    returns holds finished rows, not the computation, and cannot be inspected."""
    assert view.transform is not None
    trap = pl.LazyFrame(schema=source_cols).map_batches(_trap, schema=source_cols)
    try:
        view.transform(trap)
    except _Collected:
        return True
    except Exception as exc:  # a Polars error wrapping the trap's signal
        return isinstance(exc.__cause__, _Collected) or "_Collected" in str(exc)
    return False


def _aggregated(view: FeatureView, available: dict[str, pl.DataType]) -> dict[str, pl.DataType]:
    """The columns an aggregation view stores, checked against what its aggregations do."""
    where = f"feature view {view.name!r}"
    out = {}
    for a in view.aggregations or ():
        dtype = available.get(a.column)
        if dtype is None:
            raise SchemaError(
                f"{where}: aggregation {a.name!r} reads column {a.column!r}, which is not a "
                f"column of {'its transform output' if view.transform else 'its source'}; "
                f"found {sorted(available)!r}"
            )
        numeric = dtype.is_numeric() or dtype == pl.Boolean
        if a.fn in NUMERIC_ONLY and (not numeric or isinstance(dtype, pl.Decimal)):
            raise SchemaError(
                f"{where}: aggregation {a.name!r} ({a.fn}) needs a numeric column; "
                f"{a.column!r} is {dtype}. Cast it in a transform, e.g. "
                f"pl.col({a.column!r}).cast(pl.Float64)"
            )
        if a.fn in ("min", "max", "last", "count_distinct") and not _orderable(dtype):
            raise SchemaError(
                f"{where}: aggregation {a.name!r} ({a.fn}) needs a column of numbers, strings, "
                f"dates or times; {a.column!r} is {dtype}"
            )
        out[a.column] = dtype
    return out


def _orderable(dtype: pl.DataType) -> bool:
    return (
        dtype.is_numeric() or dtype.is_temporal() or dtype in (pl.String, pl.Boolean)
    ) and not isinstance(dtype, pl.Decimal)


def check_output(view: FeatureView, schema: pl.Schema) -> dict[str, pl.DataType]:
    """Check a view's output schema (keys, timestamp, features, declared dtypes); returns
    ``{feature: dtype}``."""
    where = f"feature view {view.name!r}"
    source = view.source
    needed = [*view.join_keys, source.timestamp_column]
    missing = [c for c in needed if c not in schema]
    if missing:
        what = "its transform dropped" if view.transform else "its source lacks"
        is_key = missing[0] in view.join_keys
        owner = f"entity {view.entity.name!r}" if is_key else f"source {source.name!r}"
        fix = (
            "keep it in the transform's output"
            if view.transform
            else "rename the source column or fix the entity's join_keys"
            if is_key
            else "fix the source's timestamp_column"
        )
        raise DefinitionError(
            f"{where}: {what} {'join key' if is_key else 'timestamp column'}"
            f" {missing[0]!r} of {owner}; found columns {list(schema)!r}; {fix}"
        )
    utc_expr(source.timestamp_column, schema[source.timestamp_column], owner=where)
    for key in view.join_keys:
        if isinstance(schema[key], pl.Float32 | pl.Float64):
            raise SchemaError(
                f"{where}: join key {key!r} is {schema[key]}; keys must be integers, strings "
                f"or other exact types. Cast it, e.g. pl.col({key!r}).cast(pl.Int64)"
            )
    exclude = {*needed, source.created_timestamp_column}
    available = {c: d for c, d in schema.items() if c not in exclude}
    if view.features is not None:
        unknown = [f for f in view.features if f not in available]
        if unknown:
            raise SchemaError(
                f"{where}: feature {unknown[0]!r} is not a column of "
                f"{'its transform output' if view.transform else f'source {source.name!r}'}; "
                f"found {sorted(available)!r}; list only existing columns in features"
            )
        features = {f: available[f] for f in view.features}
    elif view.aggregations:
        features = _aggregated(view, available)
    else:
        features = available
    if not features:
        raise DefinitionError(f"{where}: produces no feature columns besides keys and timestamps")
    nul = [c for c in schema if "\x00" in c]
    if nul:
        raise DefinitionError(
            f"{where}: column name {nul[0]!r} contains a null byte, which no SQL engine or "
            f"file format can carry; rename the column"
        )
    bad = reserved([*view.join_keys, *features])
    if bad:
        raise DefinitionError(
            f"{where}: column names starting with '__fs_' (in any case) are reserved for "
            f"featstore's own columns: {bad!r}; rename them"
        )
    twins = case_twins([*view.join_keys, *features])
    if twins:
        raise DefinitionError(
            f"{where}: columns {twins!r} differ only in case, which SQL engines do not "
            f"distinguish; rename one of them"
        )
    created = source.created_timestamp_column
    if created is not None and created in schema:
        utc_expr(created, schema[created], owner=where)  # a created column must be a time
    if view.schema is not None:
        for column, dtype in view.schema.items():
            if column not in features:
                raise SchemaError(
                    f"{where}: declared feature {column!r} is not produced; found {sorted(features)!r}"
                )
            if features[column] != dtype:
                raise SchemaError(
                    f"{where}: feature {column!r} is {features[column]}, declared {dtype}; "
                    f"cast it in the transform or fix the declared schema"
                )
    return dict(features)


def month_counts(
    view: FeatureView,
    engine: Engine,
    lo: datetime,
    hi: datetime,
    scanned: pl.LazyFrame | None = None,
) -> dict[str, int]:
    """Source rows per ``YYYY-MM`` month with event time in ``[lo, hi)``: one pass over
    the timestamp column, to size the chunks materialization evaluates at once."""
    source = view.source
    frame = scan_source(source, engine) if scanned is None else scanned
    ts_col = source.timestamp_column
    dtype = frame.collect_schema()[ts_col]
    ts = utc_expr(ts_col, dtype, owner=f"source {source.name!r}")
    counts = (
        frame.filter(_range_filter(ts_col, dtype, lo, hi))
        .select(ts.dt.strftime("%Y-%m").alias("month"))
        .group_by("month")
        .len()
        .collect()
    )
    return dict(zip(counts["month"].to_list(), counts["len"].to_list(), strict=True))


def read_start(view: FeatureView, lo: datetime) -> datetime:
    """The first source instant a view's rows from ``lo`` on need: ``lo - lookback``,
    clamped at the first representable instant."""
    if not view.lookback:
        return lo
    try:
        return lo - view.lookback
    except OverflowError:
        return datetime.min


def evaluate_view(
    view: FeatureView,
    engine: Engine,
    lo: datetime,
    hi: datetime,
    features: dict[str, pl.DataType],
    scanned: pl.LazyFrame | None = None,
) -> pl.DataFrame:
    """Feature rows with event time in ``[lo, hi)``, normalised for storage.

    Reads source rows from ``lo - lookback`` (out of ``scanned``, the rows of a wider
    range read once, when given); returns keys, ``__fs_ts``, ``__fs_created`` and the
    feature columns; rows with a null key or timestamp are dropped (they can match
    nothing). Raises SchemaError if the output no longer matches ``features``.
    """
    frame = scan_source(view.source, engine) if scanned is None else scanned
    frame = source_range(view, frame, read_start(view, lo), hi)
    result = stored_rows(view, apply_transform(view, frame), lo, hi, features)
    try:
        return result.collect(engine="streaming")
    except Exception as exc:  # Polars errors and user code (map_batches UDFs) raising at collect
        raise evaluation_error(view, exc) from exc


def source_range(
    view: FeatureView, frame: pl.LazyFrame, lo: datetime, hi: datetime
) -> pl.LazyFrame:
    """``frame``'s source rows with event time in ``[lo, hi)`` (naive-UTC bounds)."""
    ts_col = view.source.timestamp_column
    return frame.filter(_range_filter(ts_col, frame.collect_schema()[ts_col], lo, hi))


def evaluation_error(view: FeatureView, exc: Exception) -> MaterializationError:
    """Evaluating a view's rows failed (Polars, or the user's code while it ran)."""
    return MaterializationError(
        f"feature view {view.name!r}: evaluating its rows failed: {type(exc).__name__}: {exc}; "
        f"fix the transform (or the source rows it fails on) and materialize again"
    )


def stored_rows(
    view: FeatureView,
    out: pl.LazyFrame,
    lo: datetime,
    hi: datetime,
    features: dict[str, pl.DataType],
) -> pl.LazyFrame:
    """The rows to store out of a view's transformed rows ``out``: keys, ``__fs_ts``,
    ``__fs_created`` and ``features`` (checked against the output), with event time in
    ``[lo, hi)``, rows with a null key or timestamp dropped."""
    out_schema = out.collect_schema()
    got = check_output(view, out_schema)
    if view.features is None and set(got) != set(features):
        raise SchemaError(
            f"feature view {view.name!r}: output columns changed from {sorted(features)!r} "
            f"to {sorted(got)!r} since it was applied; re-apply the view"
        )
    changed = {f: (features[f], got[f]) for f in features if got.get(f) != features[f]}
    if changed:
        f, (old, new) = next(iter(changed.items()))
        raise SchemaError(
            f"feature view {view.name!r}: feature {f!r} is {new}, registered as {old}; "
            f"re-apply the view or cast the column"
        )
    ts_col = view.source.timestamp_column
    created = view.source.created_timestamp_column
    where = f"feature view {view.name!r}"
    columns = [
        *(pl.col(k) for k in view.join_keys),
        utc_expr(ts_col, out_schema[ts_col], owner=where).alias(TS),
        (
            utc_expr(created, out_schema[created], owner=where)
            if created and created in out_schema
            else pl.lit(None, dtype=pl.Datetime("us"))
        ).alias(CREATED),
        *(pl.col(f) for f in features),
    ]
    return (
        out.select(columns)
        .filter((pl.col(TS) >= lo) & (pl.col(TS) < hi))
        .drop_nulls([*view.join_keys, TS])
    )


def row_local(view: FeatureView, source_cols: pl.Schema) -> bool:
    """Whether each output row of the view's transformation is a function of one source
    row (no transformation, or one :func:`featstore.plan.row_context` finds nothing in):
    then any split of the source rows gives the same rows."""
    if view.transform is None:
        return True
    from featstore.plan import row_context

    try:
        raw = view.transform(pl.DataFrame(schema=source_cols).lazy())
    except Exception:
        return False
    if not isinstance(raw, pl.LazyFrame) or row_context(raw):
        return False
    return not _collects_inside(view, source_cols)


def sql_columns(names: list[str]) -> str:
    """A comma-separated list of quoted identifiers."""
    return ", ".join(quote_ident(n) for n in names)


def parquet_rows(path: str | Path) -> int:
    """The row count in a Parquet file's footer."""
    return int(pq.ParquetFile(path).metadata.num_rows)
