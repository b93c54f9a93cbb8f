"""FeatureStore: the facade that orchestrates definitions, materialization and retrieval.

It delegates: :mod:`featstore.compute` evaluates transformations,
:mod:`featstore.materialize` writes and publishes Parquet, :mod:`featstore.pit` builds
the point-in-time SQL, :mod:`featstore.retrieval` runs it, and
:mod:`featstore.catalog` records everything.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from featstore import __version__
from featstore.catalog import FORMAT_VERSION, Catalog
from featstore.compute import TS, output_schema, source_schema
from featstore.definitions import Entity, FeatureService, FeatureView, Source
from featstore.errors import (
    ConfigError,
    DefinitionError,
    MaterializationError,
    NotFoundError,
    PointInTimeError,
    did_you_mean,
)
from featstore.materialize import MaterializationRun, iso, materialize_view
from featstore.names import quote_literal
from featstore.offline import OfflineStore
from featstore.pit import PitQuery, ViewJoin
from featstore.refs import Requested, flatten, resolve_refs
from featstore.retrieval import (
    RetrievalResult,
    entity_frame,
    find_timestamp_column,
    frame_hash,
    make_manifest,
    prepare_entity,
    run_query,
)
from featstore.timeutil import as_utc, timedelta_us, utc_now
from featstore.versioning import content_hash, function_source

__all__ = ["FeatureStore"]

CONFIG_FILE = "featstore.json"
Definition = Entity | Source | FeatureView | FeatureService


class FeatureStore:
    """An embedded feature store in one directory: Parquet offline store + SQLite catalog.

    Parameters
    ----------
    path
        The store directory; created if missing.
    memory_limit
        DuckDB's memory limit (e.g. ``"2GB"``); past it, joins and writes spill to
        ``<path>/tmp``. Default: DuckDB's (80% of RAM).
    threads
        DuckDB worker threads; default: all cores.
    progress
        Show progress bars while materializing; default: when stderr is a terminal.

    A FeatureStore is used from one thread; any number of processes may open the same
    directory at once.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        memory_limit: str | None = None,
        threads: int | None = None,
        progress: bool | None = None,
    ) -> None:
        self.path = Path(path).absolute()
        self.path.mkdir(parents=True, exist_ok=True)
        self._check_config()
        self.offline = OfflineStore(self.path)
        self.catalog = Catalog(self.path / "catalog.db")
        self._memory_limit = memory_limit
        self._threads = threads
        self._con: duckdb.DuckDBPyConnection | None = None
        self._progress = sys.stderr.isatty() if progress is None else progress
        self._views: dict[str, FeatureView] = {}

    # -- setup -----------------------------------------------------------------------

    def _check_config(self) -> None:
        config = self.path / CONFIG_FILE
        if config.exists():
            try:
                data = json.loads(config.read_text())
                found = int(data["format_version"])
            except (ValueError, KeyError, TypeError) as exc:
                raise ConfigError(
                    f"store {str(self.path)!r}: {CONFIG_FILE} is not a featstore config "
                    f"({exc}); is this the right directory?"
                ) from exc
            if found > FORMAT_VERSION:
                raise ConfigError(
                    f"store {str(self.path)!r} was written by featstore "
                    f"{data.get('created_by', '?')} (format {found}); this featstore "
                    f"{__version__} reads format {FORMAT_VERSION}: upgrade featstore"
                )
            return
        tmp = config.with_name(f".{CONFIG_FILE}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"format_version": FORMAT_VERSION, "created_by": __version__}))
        os.replace(tmp, config)

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        """The in-process DuckDB connection (created on first use)."""
        if self._con is None:
            con = duckdb.connect(config={"threads": self._threads} if self._threads else {})
            settings = [
                "SET TimeZone = 'UTC'",
                f"SET temp_directory = {quote_literal(self.offline.tmp.as_posix())}",
            ]
            if self._memory_limit:
                settings.append(f"SET memory_limit = {quote_literal(self._memory_limit)}")
            for statement in settings:
                con.execute(statement).fetchall()
            self._con = con
        return self._con

    def close(self) -> None:
        """Close the DuckDB and catalog connections."""
        if self._con is not None:
            self._con.close()
            self._con = None
        self.catalog.close()

    def __enter__(self) -> FeatureStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"FeatureStore({str(self.path)!r})"

    # -- registry --------------------------------------------------------------------

    def apply(self, objects: Sequence[Definition]) -> None:
        """Validate and register definitions, all or nothing.

        Sources referenced by views are registered with them. A view's entity must be in
        ``objects`` or already registered. Checks the source columns and the view's
        output schema (reading only schemas, not data).
        """
        entities: dict[str, Entity] = {}
        sources: dict[str, Source] = {}
        views: dict[str, FeatureView] = {}
        services: dict[str, FeatureService] = {}
        for obj in objects:
            bucket: dict[str, Any]
            if isinstance(obj, Entity):
                bucket = entities
            elif isinstance(obj, Source):
                bucket = sources
            elif isinstance(obj, FeatureView):
                bucket = views
            elif isinstance(obj, FeatureService):
                bucket = services
            else:
                raise DefinitionError(
                    f"cannot apply {obj!r}: expected Entity, a Source, FeatureView or "
                    f"FeatureService"
                )
            other = bucket.get(obj.name)
            if other is not None and other is not obj:
                kind = type(obj).__name__
                raise DefinitionError(f"two different {kind}s are named {obj.name!r}; rename one")
            bucket[obj.name] = obj
        for view in views.values():
            src = sources.setdefault(view.source.name, view.source)
            if src is not view.source and src.version != view.source.version:
                raise DefinitionError(
                    f"feature view {view.name!r} uses source {view.source.name!r}, but a "
                    f"different source of that name is being applied"
                )
            ent = entities.get(view.entity.name)
            if ent is None:
                registered = self._current("entity", view.entity.name)
                if registered is None or registered["version"] != view.entity.version:
                    raise DefinitionError(
                        f"feature view {view.name!r} uses entity {view.entity.name!r}, which is "
                        f"not registered; apply it together with the view"
                    )
            elif ent.version != view.entity.version:
                raise DefinitionError(
                    f"feature view {view.name!r} uses an entity {view.entity.name!r} that "
                    f"differs from the one being applied"
                )
        records: list[dict[str, Any]] = [e.to_record() for e in entities.values()]
        schemas = {}
        for src in sources.values():
            schemas[src.name] = source_schema(src, self.con)
            records.append(src.to_record())
        view_records = {v.name: self._view_record(v, schemas[v.source.name]) for v in views.values()}
        records += view_records.values()
        for service in services.values():
            records.append(self._service_record(service, view_records))
        now = iso(utc_now())
        with self.catalog.transaction() as tx:
            for rec in records:
                body = json.dumps(rec, sort_keys=True)
                tx.execute(
                    "INSERT OR IGNORE INTO definitions (kind, name, version, body, created_at) "
                    "VALUES (?,?,?,?,?)",
                    (rec["kind"], rec["name"], rec["version"], body, now),
                )
                tx.execute(
                    "INSERT OR REPLACE INTO current_definitions (kind, name, version, applied_at) "
                    "VALUES (?,?,?,?)",
                    (rec["kind"], rec["name"], rec["version"], now),
                )
                _record_definition_lineage(tx, rec, now)
        self._views.update(views)

    def _view_record(self, view: FeatureView, schema: pl.Schema) -> dict[str, Any]:
        features = output_schema(view, schema, self.con)
        return {
            "kind": "feature_view",
            "name": view.name,
            "version": view.version,
            "entity": view.entity.name,
            "join_keys": list(view.join_keys),
            "key_dtypes": {k: _dtype_name(schema[k]) for k in view.join_keys if k in schema},
            "source": view.source.name,
            "source_version": view.source.version,
            "timestamp_column": view.source.timestamp_column,
            "created_timestamp_column": view.source.created_timestamp_column,
            "features": {f: _dtype_name(d) for f, d in features.items()},
            "ttl_us": timedelta_us(view.ttl) if view.ttl else None,
            "lookback_us": timedelta_us(view.lookback) if view.lookback else None,
            "selection": list(view.features) if view.features is not None else None,
            "transform_source": function_source(view.transform) if view.transform else None,
            "description": view.description,
            "owner": view.owner,
            "tags": dict(view.tags or ()),
        }

    def _service_record(self, service: FeatureService, applying: dict[str, dict[str, Any]]) -> dict[str, Any]:
        def lookup(name: str, version: str | None) -> dict[str, Any]:
            rec = applying.get(name)
            if rec is not None and version in (None, rec["version"]):
                return rec
            return self._view_record_of(name, version)

        try:
            resolved = resolve_refs(service, lookup, self._view_names)
        except NotFoundError as exc:
            raise DefinitionError(f"feature service {service.name!r}: {exc}") from exc
        items = [{"view": r.view, "version": r.version, "features": list(r.features)} for r in resolved]
        return {
            "kind": "feature_service",
            "name": service.name,
            "version": content_hash({"name": service.name, "features": items}),
            "features": items,
            "description": service.description,
            "owner": service.owner,
            "tags": dict(service.tags or ()),
        }

    def _current(self, kind: str, name: str) -> dict[str, Any] | None:
        row = self.catalog.one(
            "SELECT d.body FROM current_definitions c JOIN definitions d USING (kind, name, version) "
            "WHERE c.kind = ? AND c.name = ?",
            (kind, name),
        )
        return json.loads(row["body"]) if row else None

    def _view_names(self) -> list[str]:
        rows = self.catalog.all("SELECT name FROM current_definitions WHERE kind = 'feature_view'")
        return [r["name"] for r in rows]

    def _view_record_of(self, name: str, version: str | None = None) -> dict[str, Any]:
        if version is None:
            rec = self._current("feature_view", name)
        else:
            row = self.catalog.one(
                "SELECT body FROM definitions WHERE kind = 'feature_view' AND name = ? AND version = ?",
                (name, version),
            )
            rec = json.loads(row["body"]) if row else None
        if rec is None:
            what = f"feature view {name!r}" + (f" at version {version!r}" if version else "")
            raise NotFoundError(f"unknown {what}" + did_you_mean(name, self._view_names()))
        return rec

    def list(self, kind: str = "feature_view") -> list[dict[str, Any]]:
        """Current definitions of a kind (``entity``, ``source``, ``feature_view``,
        ``feature_service``) as catalog records, sorted by name."""
        rows = self.catalog.all(
            "SELECT d.body FROM current_definitions c JOIN definitions d USING (kind, name, version) "
            "WHERE c.kind = ? ORDER BY c.name",
            (kind,),
        )
        return [json.loads(r["body"]) for r in rows]

    def list_feature_views(self) -> list[dict[str, Any]]:
        """Current feature views as catalog records."""
        return self.list("feature_view")

    def get_feature_view(self, name: str, version: str | None = None) -> dict[str, Any]:
        """A feature view's catalog record (current version unless ``version``)."""
        return self._view_record_of(name, version)

    def get_feature_service(self, name: str) -> dict[str, Any]:
        """A feature service's catalog record."""
        rec = self._current("feature_service", name)
        if rec is None:
            names = [r["name"] for r in self.list("feature_service")]
            raise NotFoundError(f"unknown feature service {name!r}" + did_you_mean(name, names))
        return rec

    def versions(self, kind: str, name: str) -> list[dict[str, Any]]:
        """Every registered version of a definition, oldest first."""
        rows = self.catalog.all(
            "SELECT body, created_at FROM definitions WHERE kind = ? AND name = ? "
            "ORDER BY created_at, version",
            (kind, name),
        )
        return [{**json.loads(r["body"]), "registered_at": r["created_at"]} for r in rows]

    # -- materialization -------------------------------------------------------------

    def _executable_views(self, views: Sequence[str | FeatureView] | None) -> list[FeatureView]:
        if views is None:
            names = self._view_names()
        else:
            names = [v.name if isinstance(v, FeatureView) else v for v in views]
        out = []
        for name in names:
            view = self._views.get(name)
            if view is None:
                self._view_record_of(name)  # raises NotFoundError with a suggestion
                raise MaterializationError(
                    f"feature view {name!r} is registered, but its definition is code and is "
                    f"never loaded from storage: call store.apply([...]) with it in this "
                    f"process first"
                )
            out.append(view)
        return out

    def materialize(
        self,
        start: datetime | date | str,
        end: datetime | date | str,
        views: Sequence[str | FeatureView] | None = None,
    ) -> list[MaterializationRun]:
        """Compute and store feature rows with event time in ``[start, end)``.

        Re-running a range replaces it. Each view is one run, committed atomically.
        """
        lo, hi = as_utc(start, "start"), as_utc(end, "end")
        if lo >= hi:
            raise MaterializationError(
                f"materialize: start {lo} is not before end {hi}; swap them or widen the range"
            )
        return [self._materialize_one(v, lo, hi) for v in self._executable_views(views)]

    def materialize_incremental(
        self,
        end: datetime | date | str,
        views: Sequence[str | FeatureView] | None = None,
    ) -> list[MaterializationRun]:
        """Materialize each view from where its last run ended (or its first row) to ``end``."""
        hi = as_utc(end, "end")
        runs = []
        for view in self._executable_views(views):
            row = self.catalog.one(
                "SELECT max(end_ts) AS e FROM runs WHERE view = ? AND view_version = ?",
                (view.name, view.version),
            )
            if row and row["e"]:
                lo = datetime.fromisoformat(row["e"])
            else:
                lo = self._first_event(view)
                if lo is None:
                    continue
            if lo < hi:
                runs.append(self._materialize_one(view, lo, hi))
        return runs

    def _first_event(self, view: FeatureView) -> datetime | None:
        from featstore.compute import scan_source
        from featstore.timeutil import utc_expr

        frame = scan_source(view.source, self.con)
        col = view.source.timestamp_column
        dtype = frame.collect_schema()[col]
        first = frame.select(utc_expr(col, dtype, owner=f"source {view.source.name!r}").min()).collect().item()
        if first is None:
            return None
        return first - view.lookback if view.lookback else first

    def _materialize_one(self, view: FeatureView, lo: datetime, hi: datetime) -> MaterializationRun:
        record = self._view_record_of(view.name)
        if record["version"] != view.version:
            raise MaterializationError(
                f"feature view {view.name!r}: this process holds version {view.version}, the "
                f"catalog's current one is {record['version']}; apply it again"
            )
        features = {f: _parse_dtype_name(d) for f, d in record["features"].items()}
        features = {f: d for f, d in features.items() if d is not None}
        if len(features) != len(record["features"]):
            features = output_schema(view, source_schema(view.source, self.con), self.con)
        if not self._progress:
            return materialize_view(
                view=view, features=features, start=lo, end=hi, con=self.con,
                catalog=self.catalog, offline=self.offline,
            )
        from rich.progress import Progress

        months = _month_count(lo, hi)
        with Progress(transient=False) as bar:
            task = bar.add_task(f"materialize {view.name}", total=months)
            return materialize_view(
                view=view, features=features, start=lo, end=hi, con=self.con,
                catalog=self.catalog, offline=self.offline,
                on_bucket=lambda _b: bar.advance(task),
            )

    def runs(self, view: str | None = None) -> list[dict[str, Any]]:
        """Recorded materialization runs (newest first), optionally of one view."""
        sql = "SELECT body FROM runs" + (" WHERE view = ?" if view else "") + " ORDER BY finished_at DESC"
        return [json.loads(r["body"]) for r in self.catalog.all(sql, (view,) if view else ())]

    # -- retrieval ---------------------------------------------------------------------

    def get_historical_features(
        self,
        entity_df: Any,
        features: Sequence[Any] | FeatureService,
        *,
        full_feature_names: bool = False,
        bitemporal: bool = False,
        timestamp_column: str | None = None,
        include_event_timestamps: bool = False,
    ) -> RetrievalResult:
        """A point-in-time-correct training set.

        Every entity row appears once, in order, with all its columns, followed by the
        requested features as they were known at the row's timestamp (see
        docs/point-in-time.md). ``bitemporal=True`` also hides values created after the
        entity timestamp.
        """
        frame = entity_frame(entity_df)
        ts_col = find_timestamp_column(frame, timestamp_column)
        return self._retrieve(frame, ts_col, features, full_feature_names=full_feature_names,
                              bitemporal=bitemporal, include_ts=include_event_timestamps,
                              mode="historical")

    def get_latest_features(
        self,
        entity_df_or_keys: Any,
        features: Sequence[Any] | FeatureService,
        *,
        as_of: datetime | date | str | None = None,
        full_feature_names: bool = False,
        bitemporal: bool = False,
        include_event_timestamps: bool = False,
    ) -> RetrievalResult:
        """Each key's latest feature values as of ``as_of`` (default: now), for batch scoring.

        ``entity_df_or_keys`` is a frame of join keys or a dict ``{key: [values]}``.
        The same contract as get_historical_features, with one timestamp for all rows.
        """
        frame = entity_frame(entity_df_or_keys)
        moment = as_utc(as_of, "as_of") if as_of is not None else utc_now()
        column = "__fs_as_of"
        with_ts = frame.with_columns(pl.lit(moment, dtype=pl.Datetime("us")).alias(column))
        result = self._retrieve(with_ts, column, features, full_feature_names=full_feature_names,
                                bitemporal=bitemporal, include_ts=include_event_timestamps,
                                mode="latest")
        manifest = {**result.manifest, "as_of": iso(moment)}
        return RetrievalResult(result.frame.drop(column), manifest)

    def _retrieve(
        self,
        frame: pl.DataFrame,
        ts_col: str,
        features: Sequence[Any] | FeatureService,
        *,
        full_feature_names: bool,
        bitemporal: bool,
        include_ts: bool,
        mode: str,
    ) -> RetrievalResult:
        if isinstance(features, str):
            features = [features]
        service = features if isinstance(features, FeatureService) else None
        requested = resolve_refs(flatten(features), self._view_record_of, self._view_names)
        outputs = _output_names(requested, frame.columns, full_feature_names, include_ts)
        keys: list[str] = []
        key_dtypes: dict[str, str] = {}
        for req in requested:
            for k in req.record["join_keys"]:
                if k not in keys:
                    keys.append(k)
                key_dtypes.setdefault(k, req.record["key_dtypes"].get(k))
        try:
            entity, lo, hi = prepare_entity(frame, keys, key_dtypes, ts_col)
        except PointInTimeError as exc:
            raise PointInTimeError(f"{exc} (requested views: {[r.view for r in requested]})") from None
        joins = []
        files_read: list[dict[str, Any]] = []
        for req, names in zip(requested, outputs, strict=True):
            files = self._files_in_reach(req, lo, hi) if entity.num_rows else []
            files_read += [{"view": req.view, "version": req.version, **f} for f in files]
            cols = [(f, n) for f, n in zip(req.features, names, strict=False)]
            if include_ts:
                cols.append((TS, names[-1]))
            joins.append(ViewJoin(
                files=tuple(str(self.offline.absolute(f["path"])) for f in files),
                keys=tuple(req.record["join_keys"]),
                features=tuple(cols),
                ttl_us=req.record["ttl_us"],
            ))
        query = PitQuery(tuple(joins), bitemporal=bitemporal, min_entity_ts=lo, max_entity_ts=hi)
        table = run_query(self.con, query, entity)
        result = pl.from_arrow(table)
        assert isinstance(result, pl.DataFrame)
        result = result.drop("__fs_row")
        casts = {}
        for req, names in zip(requested, outputs, strict=True):
            for f, n in zip(req.features, names, strict=False):
                dtype = _parse_dtype_name(req.record["features"][f])
                if dtype is not None and result.schema[n] != dtype:
                    casts[n] = dtype
            if include_ts and result.schema[names[-1]] != pl.Datetime("us"):
                casts[names[-1]] = pl.Datetime("us")
        if casts:
            result = result.with_columns(pl.col(n).cast(d) for n, d in casts.items())
        out = pl.concat([frame, result], how="horizontal")
        manifest = make_manifest(
            mode=mode,
            bitemporal=bitemporal,
            full_feature_names=full_feature_names,
            entity_hash=frame_hash(frame),
            entity_rows=frame.height,
            timestamp_column=ts_col,
            features=[
                {"view": r.view, "version": r.version, "features": list(r.features)} for r in requested
            ],
            feature_service=(
                {"name": service.name, "version": self.get_feature_service(service.name)["version"]}
                if service is not None else None
            ),
            files=files_read,
        )
        return RetrievalResult(out, manifest)

    def _files_in_reach(self, req: Requested, lo: datetime | None, hi: datetime | None) -> list[dict[str, Any]]:
        """Active files of a view version whose time range the entity rows can reach."""
        sql = ("SELECT path, rows, min_ts, max_ts, run_id FROM files WHERE view = ? AND "
               "view_version = ? AND active = 1")
        params: list[Any] = [req.view, req.version]
        if hi is not None:
            sql += " AND min_ts <= ?"
            params.append(iso(hi))
        ttl = req.record["ttl_us"]
        if ttl is not None and lo is not None:
            sql += " AND max_ts >= ?"
            params.append(iso(lo - timedelta(microseconds=ttl)))
        return [dict(r) for r in self.catalog.all(sql + " ORDER BY path", tuple(params))]

    # -- maintenance -------------------------------------------------------------------

    def gc(self) -> list[str]:
        """Delete files no reader can see: dead runs' leftovers, expired superseded files."""
        from featstore.materialize import _collect_view_garbage

        removed: list[str] = []
        for folder in sorted(p.name for p in self.offline.offline.iterdir() if p.is_dir()):
            with self.offline.lock(folder):
                _collect_view_garbage(folder, self.catalog, self.offline)
        removed += self.offline.collect_staging()
        return removed


def _output_names(
    requested: list[Requested], entity_columns: list[str], full: bool, include_ts: bool
) -> list[list[str]]:
    """Output column names per view; a clash with the entity frame or another view is an
    error naming both sides."""
    seen: dict[str, str] = {c: "the entity frame" for c in entity_columns}
    out = []
    for req in requested:
        names = [(f"{req.view}__{f}" if full else f, f"feature {req.view}:{f}") for f in req.features]
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


def _dtype_name(dtype: pl.DataType) -> str:
    return str(dtype)


_SIMPLE_DTYPES = {
    name: getattr(pl, name)()
    for name in (
        "Int8", "Int16", "Int32", "Int64", "UInt8", "UInt16", "UInt32", "UInt64", "Float32",
        "Float64", "String", "Boolean", "Date", "Binary", "Time",
    )
}
_SIMPLE_DTYPES["Datetime(time_unit='us', time_zone=None)"] = pl.Datetime("us")
_SIMPLE_DTYPES["Datetime(time_unit='ns', time_zone=None)"] = pl.Datetime("ns")
_SIMPLE_DTYPES["Datetime(time_unit='ms', time_zone=None)"] = pl.Datetime("ms")


def _parse_dtype_name(name: str) -> pl.DataType | None:
    """The dtype a catalog record names, for the common dtypes; None for the rest."""
    return _SIMPLE_DTYPES.get(name)


def _month_count(lo: datetime, hi: datetime) -> int:
    return (hi.year - lo.year) * 12 + hi.month - lo.month + 1


def _record_definition_lineage(tx: Any, rec: dict[str, Any], now: str) -> None:
    kind = rec["kind"]
    if kind == "source":
        tx.add_node(f"source:{rec['name']}", "source", rec["name"], now,
                    {k: rec.get(k) for k in ("source_kind", "path", "query", "timestamp_column")})
    elif kind == "feature_view":
        node = f"view:{rec['name']}@{rec['version']}"
        tx.add_node(node, "feature_view", rec["name"], now,
                    {"version": rec["version"], "features": rec["features"],
                     "entity": rec["entity"], "source_version": rec["source_version"]})
        tx.add_edges([(f"source:{rec['source']}", node, "feeds")])
    elif kind == "feature_service":
        node = f"service:{rec['name']}@{rec['version']}"
        tx.add_node(node, "feature_service", rec["name"], now, {"features": rec["features"]})
        tx.add_edges([(f"view:{i['view']}@{i['version']}", node, "selected_by") for i in rec["features"]])
