"""Executing point-in-time queries and the result object users get back."""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
import pyarrow as pa
import pyarrow.dataset as pa_dataset

from featstore.aggregations import WindowQuery, window_query
from featstore.columns import INTERNAL, ROW, TS
from featstore.coverage import ViewCoverage, report
from featstore.definitions import FeatureService
from featstore.dtypes import decode_schema, restore_dtypes, write_frame
from featstore.engine import Engine, as_engine, engine_name
from featstore.errors import (
    ConfigError,
    EngineInputError,
    EngineMemoryError,
    FeatstoreError,
    PointInTimeError,
    SchemaError,
    StorageError,
)
from featstore.lineage_ids import NodeKind, has_prefix, strip_prefix
from featstore.names import reserved
from featstore.pit import PitQuery, ViewJoin, matched_column
from featstore.refs import Requested, flatten, resolve_refs
from featstore.timeutil import as_utc, is_temporal, iso, utc_expr, utc_now
from featstore.versioning import content_hash, frame_digest
from featstore.writers import retrieval_metadata

if TYPE_CHECKING:
    import pandas as pd

    from featstore.store import FeatureStore

__all__ = [
    "RetrievalResult",
    "entity_frame",
    "prepare_entity",
    "run_explain",
    "run_latest",
    "run_query",
]


ACCEPTED_INPUTS = (
    "a Polars DataFrame or LazyFrame, a pandas DataFrame, a pyarrow Table, RecordBatch, "
    "RecordBatchReader or Dataset, a DuckDB relation, a Spark DataFrame, any object with "
    "__arrow_c_stream__ "
    "(the Arrow PyCapsule stream interface), a dict of columns, or a Parquet file path"
)
"""What :func:`entity_frame` accepts, as its error message lists it (docs/files.md)."""


def entity_frame(entity_df: Any) -> pl.DataFrame:
    """The one place an entity or keys frame is normalised: accepts what
    :data:`ACCEPTED_INPUTS` lists; anything else, or a frame that cannot be one (ragged
    columns, duplicate column names, a LazyFrame that fails), is a PointInTimeError."""
    try:
        frame = _entity_frame(entity_df)
    except FeatstoreError:
        raise
    except Exception as exc:  # Polars, Arrow and pandas errors on malformed input
        raise PointInTimeError(
            f"entity frame ({type(entity_df).__name__}) cannot be read as a table: "
            f"{type(exc).__name__}: {exc}; pass a frame with one column per name and equal "
            f"column lengths"
        ) from exc
    return frame


def _entity_frame(entity_df: Any) -> pl.DataFrame:
    if isinstance(entity_df, pl.DataFrame):
        return entity_df
    if isinstance(entity_df, pl.LazyFrame):
        return entity_df.collect()
    if isinstance(entity_df, str | Path):
        path = Path(entity_df)
        if not path.is_file():
            raise PointInTimeError(
                f"entity frame path {str(path)!r} is not a file; check the path (relative "
                f"paths are read from the current directory {os.getcwd()!r})"
            )
        with open(path, "rb") as handle:
            magic = handle.read(4)
        if magic != b"PAR1":
            raise PointInTimeError(
                f"entity frame path {str(path)!r} is not a Parquet file; read it yourself "
                f"(e.g. pl.read_csv({str(path)!r}, try_parse_dates=True)) and pass the frame"
            )
        return pl.read_parquet(path)
    if isinstance(entity_df, dict):
        lengths = {k: len(v) for k, v in entity_df.items() if hasattr(v, "__len__")}
        if len(set(lengths.values())) > 1:
            raise PointInTimeError(
                f"entity frame: its columns have different lengths {lengths!r}; give every "
                f"column one value per row"
            )
        return pl.DataFrame(entity_df)
    if type(entity_df).__module__.split(".")[0] == "pandas":
        names = [str(c) for c in entity_df.columns]
        _check_unique(names)
        return pl.from_pandas(entity_df)
    table = _arrow_table(entity_df)
    if table is not None:
        _check_unique(list(table.schema.names))
        out = pl.from_arrow(table)
        assert isinstance(out, pl.DataFrame)
        return out
    kind = type(entity_df)
    raise PointInTimeError(
        f"entity frame: cannot read a {kind.__module__}.{kind.__qualname__} as a table; "
        f"pass {ACCEPTED_INPUTS}"
    )


def _arrow_table(value: Any) -> pa.Table | None:
    """``value`` as an Arrow table when it is an Arrow object, a DuckDB relation or an
    Arrow stream (``__arrow_c_stream__``); None otherwise."""
    if isinstance(value, pa.Table):
        return value
    if isinstance(value, pa.RecordBatch):
        return pa.Table.from_batches([value])
    if isinstance(value, pa.RecordBatchReader):
        return value.read_all()
    if isinstance(value, pa_dataset.Dataset):
        return value.to_table()
    if type(value).__module__.split(".")[0] == "duckdb" and hasattr(value, "to_arrow_table"):
        table = value.to_arrow_table()  # a relation: runs its query once
        return table if isinstance(table, pa.Table) else None
    if type(value).__module__.split(".")[0] == "pyspark" and hasattr(value, "toArrow"):
        table = value.toArrow()  # a Spark DataFrame, collected in the order Spark gives
        return table if isinstance(table, pa.Table) else None
    if hasattr(value, "__arrow_c_stream__"):
        return pa.table(value)
    return None


def _check_unique(names: list[str]) -> None:
    seen: set[str] = set()
    dupes = sorted({n for n in names if n in seen or seen.add(n)})  # type: ignore[func-returns-value]
    if dupes:
        raise PointInTimeError(
            f"entity frame has duplicate column names {dupes!r}; rename them so each column "
            f"has its own name"
        )


def find_timestamp_column(frame: pl.DataFrame, given: str | None) -> str:
    """The entity frame's timestamp column: ``given``, else ``event_timestamp``, else the
    only Datetime column."""
    if given is not None:
        if given not in frame.columns:
            raise PointInTimeError(
                f"entity frame has no timestamp column {given!r}; found {frame.columns!r}; "
                f"pass timestamp_column= naming one of them"
            )
        return given
    if "event_timestamp" in frame.columns:
        return "event_timestamp"
    temporal = [c for c, d in frame.schema.items() if is_temporal(d)]
    if len(temporal) == 1:
        return temporal[0]
    raise PointInTimeError(
        "entity frame: cannot tell which column is the timestamp "
        f"({temporal or 'none'} of {frame.columns!r} are Datetime); "
        "name it event_timestamp or pass timestamp_column=..."
    )


def prepare_entity(
    frame: pl.DataFrame,
    keys: list[str],
    key_dtypes: dict[str, str],
    ts_column: str,
) -> tuple[pa.Table, datetime | None, datetime | None]:
    """The ``(__fs_row, keys..., __fs_ts)`` table DuckDB joins, and its time range."""
    missing = [k for k in keys if k not in frame.columns]
    if missing:
        raise PointInTimeError(
            f"entity frame lacks join key {missing[0]!r} needed by the requested features; "
            f"found columns {frame.columns!r}; add the column (or rename yours to it)"
        )
    dtype = frame.schema[ts_column]
    ts = utc_expr(ts_column, dtype, owner="entity frame")
    exprs: list[pl.Expr] = [
        pl.int_range(pl.len(), dtype=pl.UInt32 if frame.height < 2**32 else pl.UInt64).alias(ROW)
    ]
    for key in keys:
        exprs.append(_key_expr(key, frame.schema[key], key_dtypes.get(key)))
    exprs.append(ts.alias(TS))
    slim = frame.select(exprs)
    if slim.height and slim[TS].null_count():
        first = slim[TS].is_null().arg_true()[0]
        raise PointInTimeError(
            f"entity frame: timestamp column {ts_column!r} has {slim[TS].null_count()} null "
            f"value(s), first at row {first}; drop or fill them (a row needs a moment in time)"
        )
    try:
        lo, hi = (slim[TS].min(), slim[TS].max()) if slim.height else (None, None)
    except (ValueError, OverflowError):  # an instant outside years 1..9999 once in UTC
        raise PointInTimeError(
            f"entity frame: timestamp column {ts_column!r} holds an instant outside the years "
            f"1 to 9999 once converted to UTC; keep entity timestamps inside that range"
        ) from None
    return slim.to_arrow(), lo, hi  # type: ignore[return-value]


def _key_expr(key: str, dtype: pl.DataType, stored: str | None) -> pl.Expr:
    col = pl.col(key)
    if isinstance(dtype, pl.Categorical | pl.Enum):
        col, dtype = col.cast(pl.String), pl.String()
    if stored is None:
        return col
    if stored.startswith(("Categorical", "Enum")):
        stored = "String"  # stored as dictionary-encoded strings; they join as strings
    entity_int = dtype.is_integer()
    stored_int = stored.startswith(("Int", "UInt"))
    if entity_int and stored_int:
        return col.cast(pl.Int64) if dtype != pl.UInt64 else col
    same_kind = (dtype == pl.String) == (stored == "String") and entity_int == stored_int
    if same_kind and dtype != pl.String and not entity_int:
        # other types match only their own kind: a Date never joins a Datetime
        same_kind = str(dtype).split("(")[0] == stored.split("(")[0]
    if not same_kind:
        hint = f"pl.col({key!r}).cast(pl.{stored})" if stored.isalnum() else "a cast"
        raise SchemaError(
            f"entity frame: join key {key!r} is {dtype} but the feature rows store it as "
            f"{stored}; cast it with {hint}"
        )
    return col


@contextmanager
def _read_errors() -> Iterator[None]:
    """The engine's failures reading the offline store, as StorageErrors with the remedy."""
    try:
        yield
    except EngineMemoryError as exc:
        raise StorageError(
            f"the point-in-time query ran out of memory ({exc}); raise "
            f"FeatureStore(memory_limit=...) or retrieve fewer entity rows at a time"
        ) from exc
    except EngineInputError as exc:
        raise StorageError(
            f"reading the offline store failed: {exc}. A file may be corrupt, truncated or "
            f"rewritten without a column: re-materialize the affected view over its range "
            f"(it replaces damaged files), then run store.gc()"
        ) from exc


def run_query(engine: Engine, query: PitQuery, entity: pa.Table) -> pa.Table:
    """Execute a point-in-time query against ``entity``; rows come back in entity order.
    (A DuckDB connection is accepted for ``engine`` too, and borrowed.)"""
    with _read_errors():
        return as_engine(engine).point_in_time(query, entity)


def run_latest(engine: Engine, query: PitQuery, entity: pa.Table) -> pa.Table:
    """:func:`run_query` for latest values: every entity row carries the same instant."""
    with _read_errors():
        return as_engine(engine).latest_values(query, entity)


def run_explain(engine: Engine, query: PitQuery, entity: pa.Table) -> pa.Table:
    """:func:`run_query` for explain's ``detail`` lookup (:func:`featstore.pit.winner_query`)."""
    with _read_errors():
        return as_engine(engine).explain(query, entity)


def frame_hash(frame: pl.DataFrame) -> str:
    """SHA-256 of a frame's content (schema and values), from a canonical byte encoding
    (:func:`featstore.versioning.frame_digest`)."""
    return frame_digest(frame)


def frame_bytes(frame: pl.DataFrame) -> bytes:
    """A canonical byte serialisation of a frame (uncompressed Parquet): equal frames
    give equal bytes, whatever lies under their null slots."""
    sink = io.BytesIO()
    frame.write_parquet(sink, compression="uncompressed", statistics=False)
    return sink.getvalue()


@dataclass(frozen=True)
class RetrievalResult:
    """A point-in-time training set (or latest-values frame) with its manifest.

    The manifest records the entity input hash, the feature references with the exact
    view versions, every offline-store file read, the mode and the row count;
    ``content_id`` is a hash of it (schemas/training_set_manifest.schema.json).
    """

    frame: pl.DataFrame
    manifest: dict[str, Any] = field(repr=False)
    coverage: tuple[ViewCoverage, ...] = field(default=(), repr=False)
    """Per requested view: how many entity rows matched, and the materialized time range
    against the one the entity rows reach (:class:`featstore.ViewCoverage`)."""
    engine: str | None = field(default=None, repr=False, compare=False)
    """The engine that computed the frame (``"duckdb"``, ``"spark"``); a saved training
    set's lineage node records it. Not part of the manifest: both engines give the same
    frame, hence the same ``content_id``."""

    @property
    def content_id(self) -> str:
        """A hash of the manifest: same inputs, same features, same files, same id."""
        return str(self.manifest["content_id"])

    def to_polars(self) -> pl.DataFrame:
        return self.frame

    def to_arrow(self) -> pa.Table:
        return self.frame.to_arrow()

    def to_pandas(self, **kwargs: Any) -> pd.DataFrame:
        """The frame as pandas; ``kwargs`` go to Polars' ``to_pandas`` and from there to
        pyarrow's (e.g. ``types_mapper=pd.ArrowDtype``,
        ``use_pyarrow_extension_array=True``)."""
        return self.frame.to_pandas(**kwargs)

    def to_spark(self, spark: Any = None) -> Any:
        """The frame as a Spark DataFrame in ``spark`` (default: the active session), for
        training on Spark (``featstore[spark]``). Unsigned integers widen to signed ones
        (to ``decimal(20, 0)`` for 64 bits): Spark has none."""
        try:
            from featstore.engine.spark import to_spark
        except ImportError as exc:
            raise ConfigError(
                f"to_spark needs PySpark ({exc}); install it with pip install 'featstore[spark]'"
            ) from exc
        return to_spark(self.frame.to_arrow(), spark)

    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object:
        """The Arrow PyCapsule stream interface: ``pa.table(result)``,
        ``pl.DataFrame(result)`` and DuckDB's replacement scans read the frame directly."""
        return self.frame.to_arrow().__arrow_c_stream__(requested_schema)

    def to_parquet(self, path: str | Path) -> Path:
        """Write the frame to ``path`` atomically (a temporary file, then a rename), with
        timestamps UTC-adjusted and featstore's metadata (docs/files.md)."""
        target = Path(path)
        tmp = target.with_name(f".{target.name}.tmp")
        write_frame(self.frame, tmp, retrieval_metadata(self.manifest))
        tmp.replace(target)
        return target

    def __len__(self) -> int:
        return self.frame.height

    def __repr__(self) -> str:
        from featstore.display import one_line

        matched = ", ".join(f"{c.view} {c.matched_rows}/{c.entity_rows}" for c in self.coverage)
        return one_line(
            f"RetrievalResult({self.frame.height:,} rows x {self.frame.width} columns, "
            f"content_id={self.manifest.get('content_id')!r}"
            + (f", matched: {matched})" if matched else ")")
        )

    def _repr_html_(self) -> str:
        """The shape, how many rows got a value from each view, and the first 10 rows
        (only those are read)."""
        from featstore import display

        mode = self.manifest.get("mode", "retrieval")
        coverage = display.table(
            ["view", "version", "rows with a value", "of rows", "share", "files"],
            (
                (
                    c.view,
                    c.version,
                    c.matched_rows,
                    c.entity_rows,
                    None if c.matched_share is None else f"{c.matched_share:.1%}",
                    c.files,
                )
                for c in self.coverage
            ),
        )
        return display.block(
            [
                display.title(
                    "RetrievalResult",
                    display.shape_line(self.frame.height, self.frame.width),
                    f"{mode}, content id {self.manifest.get('content_id')}",
                ),
                display.section("coverage per view", coverage) if self.coverage else "",
                display.section("first rows", display.frame_table(self.frame, 10)),
            ]
        )


def make_manifest(**parts: Any) -> dict[str, Any]:
    """A manifest with its ``content_id``: a hash of what was asked (mode, features and
    their view versions) and of the resulting frame, not of where the rows were stored,
    so the same inputs and definitions give the same id in a rebuilt store."""
    manifest = dict(parts)
    identity = {k: v for k, v in parts.items() if k != "files"}
    manifest["content_id"] = content_hash(identity, length=16)
    return manifest


def feature_dtypes(record: dict[str, Any]) -> dict[str, pl.DataType]:
    """A view record's feature dtypes, in output order (exact, from its Arrow schema)."""
    if "arrow_schema" in record:
        context = f"feature view {record['name']!r} at version {record['version']!r}"
        return decode_schema(record["arrow_schema"], context=context)
    simple = {"Float64": pl.Float64(), "Int64": pl.Int64(), "String": pl.String()}
    return {f: simple[d] for f, d in record["features"].items() if d in simple}


def stored_dtypes(record: dict[str, Any]) -> dict[str, pl.DataType]:
    """The dtypes of the columns a view's files store: its features, or for an aggregation
    view the columns its aggregations read."""
    if "stored_schema" in record:
        context = f"feature view {record['name']!r} at version {record['version']!r}"
        return decode_schema(record["stored_schema"], context=context)
    return feature_dtypes(record)


def unused_name(base: str, taken: list[str]) -> str:
    """``base``, or ``base`` with a numeric suffix, so that it is not in ``taken``."""
    name, n, used = base, 0, set(taken)
    while name in used:
        n += 1
        name = f"{base}_{n}"
    return name


def output_names(
    requested: list[Requested], entity_columns: list[str], full: bool, include_ts: bool
) -> list[list[str]]:
    """Output column names per view; a clash with the entity frame or another view is an
    error naming both sides."""
    seen: dict[str, str] = {c: "the entity frame" for c in entity_columns}
    out = []
    for req in requested:
        names = [
            (f"{req.view}__{f}" if full else f, f"feature {req.view}:{f}") for f in req.features
        ]
        if include_ts:
            names.append((f"{req.view}__event_timestamp", f"the event time of {req.view!r}"))
        for name, owner in names:
            if name in seen:
                hint = "" if full else "pass full_feature_names=True or "
                raise PointInTimeError(
                    f"output column {name!r} would come from both {seen[name]} and {owner}; "
                    f"{hint}rename one"
                )
            seen[name] = owner
        out.append([n for n, _ in names])
    return out


def _service_refs(
    store: FeatureStore, service: FeatureService | str
) -> tuple[dict[str, Any], list[str]]:
    """A service's registered record and its pinned references.

    A FeatureService object and ``"service:NAME"`` resolve the same way: through the
    registered record, with the view versions pinned when the service was applied. An
    object that differs from what was registered under its name is an error (apply it).
    """
    name = service.name if isinstance(service, FeatureService) else service
    record = store.definitions.service_record(name)  # the plain dict, not the record
    if isinstance(service, FeatureService) and "spec" in record:
        spec = service_spec(service)
        if spec != record["spec"]:
            raise PointInTimeError(
                f"feature service {name!r}: the object passed lists {spec!r}, but the "
                f"registered service lists {record['spec']!r}; apply it (store.apply([...])) "
                f"or pass '{NodeKind.FEATURE_SERVICE.prefix}{name}' for the registered one"
            )
    refs = [f"{i['view']}@{i['version']}:{f}" for i in record["features"] for f in i["features"]]
    return record, refs


def service_spec(service: FeatureService) -> list[str]:
    """A service's references as written: what identifies the object a user passes."""
    from featstore.definitions import FeatureSelection, FeatureView

    out = []
    for ref in service.features:
        if isinstance(ref, FeatureView):
            out.append(f"{ref.name}@{ref.version}:*")
        elif isinstance(ref, FeatureSelection):
            out += [f"{ref.view.name}@{ref.view.version}:{f}" for f in ref.features]
        else:
            out.append(str(ref))
    return out


def _requested(store: FeatureStore, features: Any) -> tuple[list[Requested], dict[str, Any] | None]:
    if isinstance(features, str | FeatureService):
        features = [features]
    service: dict[str, Any] | None = None
    refs: list[Any] = []
    for ref in flatten(features) if not isinstance(features, FeatureService) else [features]:
        if isinstance(ref, FeatureService) or (
            isinstance(ref, str) and has_prefix(NodeKind.FEATURE_SERVICE, ref)
        ):
            if service is not None:
                raise PointInTimeError(
                    "request one feature service at a time (or list the features themselves)"
                )
            service, pinned = _service_refs(
                store,
                ref
                if isinstance(ref, FeatureService)
                else strip_prefix(NodeKind.FEATURE_SERVICE, ref),
            )
            refs += pinned
        else:
            refs.append(ref)
    defs = store.definitions
    return resolve_refs(refs, defs.view_record, defs.view_names, defs.view_records), service


def _key_dtypes(requested: list[Requested]) -> tuple[list[str], dict[str, str]]:
    keys: list[str] = []
    dtypes: dict[str, str] = {}
    owner: dict[str, str] = {}
    for req in requested:
        for k in req.record["join_keys"]:
            if reserved([k]):
                raise PointInTimeError(
                    f"feature view {req.view!r}: join key {k!r} starts with {INTERNAL!r}, which "
                    f"featstore reserves; rename the key in its entity and re-apply"
                )
            if k not in keys:
                keys.append(k)
            stored = req.record["key_dtypes"].get(k)
            if stored is None:
                continue
            if k in dtypes and not _same_key_type(dtypes[k], stored):
                raise SchemaError(
                    f"join key {k!r} is {dtypes[k]} in feature view {owner[k]!r} but {stored} "
                    f"in {req.view!r}; keys match by value and type: cast one view's key in "
                    f"its transform (e.g. pl.col({k!r}).cast(pl.{dtypes[k]})) and re-apply it"
                )
            dtypes.setdefault(k, stored)
            owner.setdefault(k, req.view)
    return keys, dtypes


def _same_key_type(a: str, b: str) -> bool:
    ints = ("Int", "UInt")
    text = ("String", "Categorical", "Enum")
    return (
        a == b
        or (a.startswith(ints) and b.startswith(ints))
        or (a.startswith(text) and b.startswith(text))
    )


def retrieve(
    store: FeatureStore,
    frame: pl.DataFrame,
    ts_col: str,
    features: Any,
    *,
    full_feature_names: bool,
    bitemporal: bool,
    include_ts: bool,
    mode: str,
    strict: bool = False,
    pinned: dict[tuple[str, str], list[dict[str, Any]]] | None = None,
    drop: tuple[str, ...] = (),
) -> RetrievalResult:
    """Resolve ``features``, list each view's files in reach, check them, and run one
    point-in-time query; see FeatureStore.get_historical_features.

    Every catalog read (definitions, services, files, runs) happens in one read
    transaction, so the result reflects one catalog state even while another process
    commits a materialization. ``pinned`` (a rebuild) gives each view version's files.
    ``drop`` names entity columns added by the caller, left out of the result.
    """
    with store.catalog.snapshot():
        requested, service = _requested(store, features)
        if bitemporal:
            blind = [r.view for r in requested if r.record.get("has_created") is False]
            if blind:
                raise PointInTimeError(
                    f"feature view {blind[0]!r} cannot be read bitemporally: its output has no "
                    f"created-timestamp column, so when each value became known is not recorded. "
                    f"Keep the created column in its transform (e.g. pl.col('created').max() in "
                    f"an aggregation) and re-apply, or retrieve without bitemporal=True"
                )
        outputs = output_names(requested, frame.columns, full_feature_names, include_ts)
        keys, key_dtypes = _key_dtypes(requested)
        try:
            entity, lo, hi = prepare_entity(frame, keys, key_dtypes, ts_col)
        except (PointInTimeError, SchemaError) as exc:
            raise type(exc)(f"{exc} (requested views: {[r.view for r in requested]})") from None
        joins: list[ViewJoin | WindowQuery] = []
        renames: dict[str, str] = {}
        files_read: list[dict[str, Any]] = []
        reach: list[tuple[datetime | None, datetime | None, int]] = []
        for n, (req, names) in enumerate(zip(requested, outputs, strict=True)):
            if pinned is not None:
                files = pinned.get((req.view, req.version), [])
            else:
                files = _files_in_reach(store, req, lo, hi) if entity.num_rows else []
            files_read += [{**f, "view": req.view, "version": req.version} for f in files]
            paths = tuple(str(store.offline.absolute(f["path"])) for f in files)
            # the SQL names every output column itself; user names are put back after
            if req.record.get("aggregations"):
                joins.append(
                    _window_query(req, names, paths, renames, n, bitemporal, include_ts, hi)
                )
                reach.append(_materialized(store, req))
                continue
            stored = [*req.features, TS] if include_ts else list(req.features)
            cols = []
            for col, name in zip(stored, names, strict=True):
                alias = f"{INTERNAL}o{len(renames)}"
                renames[alias] = name
                cols.append((col, alias))
            joins.append(
                ViewJoin(
                    files=paths,
                    keys=tuple(req.record["join_keys"]),
                    features=tuple(cols),
                    ttl_us=req.record["ttl_us"],
                )
            )
            reach.append(_materialized(store, req))
        check_files(store, [f for f in files_read])
    result = _run_joins(store.engine, joins, entity, lo, hi, bitemporal, mode)
    coverage = []
    for n, (req, join) in enumerate(zip(requested, joins, strict=True)):
        # how far back a row can reach: the view's TTL, or its longest window
        ttl = (
            max(a.window_us for a, _ in join.aggregations)
            if isinstance(join, WindowQuery)
            else req.record.get("ttl_us")
        )
        start, end, _ = reach[n]
        coverage.append(
            ViewCoverage(
                view=req.view,
                version=req.version,
                entity_rows=frame.height,
                matched_rows=int(result[matched_column(n)].sum() or 0),
                files=len(join.files),
                requested_start=(_minus(lo, ttl) if lo is not None and ttl is not None else None),
                requested_end=hi,
                materialized_start=start,
                materialized_end=end,
                other_versions_materialized=_other_versions(store, req) if start is None else (),
            )
        )
    result = result.select(pl.col(alias).alias(name) for alias, name in renames.items())
    targets: dict[str, pl.DataType] = {}
    # event times carry the entity timestamp column's time zone (naive UTC when it is naive)
    entity_ts = frame.schema[ts_col]
    zone = entity_ts.time_zone if isinstance(entity_ts, pl.Datetime) else None
    for req, names in zip(requested, outputs, strict=True):
        dtypes = feature_dtypes(req.record)
        targets.update(
            {n: dtypes[f] for f, n in zip(req.features, names, strict=False) if f in dtypes}
        )
        if include_ts:
            targets[names[-1]] = pl.Datetime("us", zone)
    result = restore_dtypes(result, targets)
    base = frame.drop(drop) if drop else frame
    out = pl.concat([base, result], how="horizontal")
    manifest = make_manifest(
        mode=mode,
        bitemporal=bitemporal,
        full_feature_names=full_feature_names,
        entity_hash=frame_hash(base),
        result_hash=frame_hash(out),
        entity_rows=frame.height,
        timestamp_column=ts_col,
        features=[
            {
                "view": r.view,
                "version": r.version,
                "features": list(r.features),
                "columns": names,
            }
            for r, names in zip(requested, outputs, strict=True)
        ],
        include_event_timestamps=include_ts,
        feature_service=(
            {"name": service["name"], "version": service["version"]} if service else None
        ),
        files=files_read,
    )
    report(coverage, strict=strict)
    return RetrievalResult(out, manifest, tuple(coverage), engine_name(store.engine))


def _window_query(
    req: Requested,
    names: list[str],
    paths: tuple[str, ...],
    renames: dict[str, str],
    n: int,
    bitemporal: bool,
    include_ts: bool,
    hi: datetime | None,
) -> WindowQuery:
    """The plan of an aggregation view's requested aggregations."""
    if include_ts:
        raise PointInTimeError(
            f"feature view {req.view!r} holds window aggregations, which have no single event "
            f"timestamp; request it without include_event_timestamps=True"
        )
    outputs = []
    for feature, name in zip(req.features, names, strict=True):
        alias = f"{INTERNAL}o{len(renames)}"
        renames[alias] = name
        outputs.append((feature, alias))
    return window_query(
        req.record,
        outputs,
        paths,
        matched=matched_column(n),
        bitemporal=bitemporal,
        max_entity_ts=hi,
    )


def _run_joins(
    engine: Engine,
    joins: list[ViewJoin | WindowQuery],
    entity: pa.Table,
    lo: datetime | None,
    hi: datetime | None,
    bitemporal: bool,
    mode: str,
) -> pl.DataFrame:
    """One point-in-time query for the plain views and one window query per aggregation
    view, side by side in entity-row order: ``__fs_row``, every output alias and per
    requested view ``n`` its :func:`~featstore.pit.matched_column`."""
    plain = [(n, j) for n, j in enumerate(joins) if isinstance(j, ViewJoin)]
    frames: list[pl.DataFrame] = []
    if plain or not joins:
        query = PitQuery(
            tuple(j for _, j in plain), bitemporal=bitemporal, min_entity_ts=lo, max_entity_ts=hi
        )
        run = run_latest if mode == "latest" else run_query
        table = run(engine, query, entity)
        frame = pl.from_arrow(table)
        assert isinstance(frame, pl.DataFrame)
        frames.append(
            frame.rename({matched_column(k): matched_column(n) for k, (n, _) in enumerate(plain)})
        )
    for join in joins:
        if isinstance(join, WindowQuery):
            with _read_errors():
                table = as_engine(engine).windows(join, entity)
            frame = pl.from_arrow(table)
            assert isinstance(frame, pl.DataFrame)
            frames.append(frame if not frames else frame.drop(ROW))
    return pl.concat(frames, how="horizontal")


def _minus(ts: datetime, us: int) -> datetime | None:
    try:
        return ts - timedelta(microseconds=us)
    except OverflowError:
        return None  # reaches before year 1: all history


def _files_in_reach(
    store: FeatureStore, req: Requested, lo: datetime | None, hi: datetime | None
) -> list[dict[str, Any]]:
    """Active files of a view version whose time range the entity rows can reach."""
    ttl = req.record["ttl_us"]
    start = _minus(lo, ttl) if lo is not None and ttl is not None else None
    files = store.catalog.active_files(
        req.view,
        req.version,
        min_ts_at_most=iso(hi) if hi is not None else None,
        max_ts_at_least=iso(start) if start is not None else None,
    )
    keys = ("path", "rows", "min_ts", "max_ts", "run_id")
    return [{k: f[k] for k in keys} for f in sorted(files, key=lambda f: f["path"])]


def _materialized(
    store: FeatureStore, req: Requested
) -> tuple[datetime | None, datetime | None, int]:
    lo, hi, n = store.catalog.run_span(req.view, req.version)
    if lo is None or hi is None:
        return None, None, 0
    return datetime.fromisoformat(lo), datetime.fromisoformat(hi), n


def _other_versions(store: FeatureStore, req: Requested) -> tuple[str, ...]:
    return tuple(store.catalog.other_run_versions(req.view, req.version))


def file_problems(store: FeatureStore, paths: list[str]) -> dict[str, tuple[str, Any]]:
    """Offline files (store-relative paths) that are not what the catalog recorded when
    they were published: ``{path: ("missing" | "changed", catalog row or None)}``."""
    recorded: dict[str, Any] = store.catalog.files(paths)
    problems: dict[str, tuple[str, Any]] = {}
    for rel in paths:
        path = store.offline.absolute(rel)
        row = recorded.get(rel)
        try:
            stat = os.stat(path)
        except OSError:
            problems[rel] = ("missing", row)
            continue
        if row is not None and not _unchanged(path, stat, row):
            problems[rel] = ("changed", row)
    return problems


def check_files(store: FeatureStore, files: list[dict[str, Any]]) -> None:
    """What was written is what is read: each offline file must exist with the size (and
    modification time, or content) the catalog recorded when it was published; else
    StorageError naming the file, its view and month, and the remedy."""
    if not files:
        return
    problems = file_problems(store, sorted({f["path"] for f in files}))
    for rel, (problem, row) in problems.items():
        what = (
            f"offline file {rel!r} of feature view {row['view']!r} (version "
            f"{row['view_version']}, month {row['bucket']})"
            if row is not None
            else f"offline file {rel!r}"
        )
        fix = (
            f"re-materialize that month (store.materialize(start, end, views=[{row['view']!r}]) "
            f"over a range covering {row['bucket']}), which replaces the damaged file, then "
            f"run store.gc()"
            if row is not None
            else "re-materialize the view and build the training set again"
        )
        if problem == "missing":
            raise StorageError(f"{what} is missing; {fix}")
        raise StorageError(
            f"{what} was changed after featstore wrote it (recorded {row['bytes']} bytes; its "
            f"size, modification time or content differs); featstore does not serve rows it "
            f"did not write: {fix}"
        )


def _unchanged(path: Path, stat: os.stat_result, row: Any) -> bool:
    """Same size, and the same modification time, or (a copied store) the same content."""
    if stat.st_size != row["bytes"]:
        return False
    if row["mtime_ns"] is None or stat.st_mtime_ns == row["mtime_ns"]:
        return True
    if row["sha256"] is None:
        return False
    with open(path, "rb") as handle:
        return bool(hashlib.file_digest(handle, "sha256").hexdigest() == row["sha256"])


# -- the public retrieval entry points ------------------------------------------------


def get_historical_features(
    store: FeatureStore,
    entity_df: Any,
    features: Sequence[Any] | FeatureService,
    *,
    full_feature_names: bool = False,
    bitemporal: bool = False,
    timestamp_column: str | None = None,
    include_event_timestamps: bool = False,
    strict: bool = False,
) -> RetrievalResult:
    """A point-in-time-correct training set.

    Every entity row appears once, in order, with all its columns, followed by the
    requested features as they were known at the row's timestamp (see
    docs/point-in-time.md). ``bitemporal=True`` also hides values created after the
    entity timestamp.

    ``features``: references ``"view:feature"``, ``"view:*"``, ``"view@version:feature"``,
    ``"service:NAME"`` (a registered service), FeatureView objects,
    ``view[["a", "b"]]``, or a FeatureService.
    ``include_event_timestamps`` adds ``<view>__event_timestamp`` columns.

    ``result.coverage`` tells, per view, how many entity rows matched and which time
    range is materialized. A view that gives every row a null (nothing materialized
    in reach, or no row matched) warns with CoverageWarning; ``strict=True`` raises
    CoverageError instead.
    """
    frame = entity_frame(entity_df)
    ts_col = find_timestamp_column(frame, timestamp_column)
    return retrieve(
        store,
        frame,
        ts_col,
        features,
        full_feature_names=full_feature_names,
        bitemporal=bitemporal,
        include_ts=include_event_timestamps,
        mode="historical",
        strict=strict,
    )


def get_latest_features(
    store: FeatureStore,
    entity_df_or_keys: Any,
    features: Sequence[Any] | FeatureService,
    *,
    as_of: datetime | date | str | None = None,
    full_feature_names: bool = False,
    bitemporal: bool = False,
    include_event_timestamps: bool = False,
    strict: bool = False,
) -> RetrievalResult:
    """Each key's latest feature values as of ``as_of`` (default: now), for batch scoring.

    ``entity_df_or_keys`` is a frame of join keys or a dict ``{key: [values]}``.
    The same contract as get_historical_features, with one timestamp for all rows;
    every column of the frame is kept. Coverage warnings and ``strict`` as there.
    """
    frame = entity_frame(entity_df_or_keys)
    moment = as_utc(as_of, "as_of") if as_of is not None else utc_now()
    column = unused_name("__fs_as_of", frame.columns)
    with_ts = frame.with_columns(pl.lit(moment, dtype=pl.Datetime("us")).alias(column))
    result = retrieve(
        store,
        with_ts,
        column,
        features,
        full_feature_names=full_feature_names,
        bitemporal=bitemporal,
        include_ts=include_event_timestamps,
        mode="latest",
        strict=strict,
        drop=(column,),
    )
    manifest = {**result.manifest, "as_of": iso(moment)}
    return RetrievalResult(result.frame, manifest, result.coverage, result.engine)
