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

from featstore import __version__, registry
from featstore.catalog import FORMAT_VERSION, Catalog
from featstore.compute import TS, output_schema, source_schema
from featstore.definitions import Entity, FeatureService, FeatureView, Source
from featstore.dtypes import decode_schema, encode_schema, restore_dtypes
from featstore.errors import (
    ConfigError,
    DefinitionError,
    MaterializationError,
    NotFoundError,
    PointInTimeError,
    did_you_mean,
)
from featstore.explain import explain_prediction
from featstore.lineage import Lineage
from featstore.materialize import MaterializationRun, ViewJob, iso, materialize_views
from featstore.names import quote_literal
from featstore.offline import OfflineStore, new_id
from featstore.pit import PitQuery, ViewJoin
from featstore.refs import Requested, flatten, resolve_refs
from featstore.registry import ModelVersion, PredictionBatch, TrainingSet
from featstore.retrieval import (
    RetrievalResult,
    entity_frame,
    find_timestamp_column,
    frame_bytes,
    frame_hash,
    make_manifest,
    prepare_entity,
    run_query,
)
from featstore.timeutil import as_utc, timedelta_us, utc_expr, utc_now
from featstore.versioning import content_hash, function_source

__all__ = ["FeatureStore"]

CONFIG_FILE = "featstore.json"
DEFINITION_KINDS = ("entity", "source", "feature_view", "feature_service")
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
    create
        Create the store if the directory holds none (default); with ``False``, a missing
        store is a ConfigError.

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
        create: bool = True,
    ) -> None:
        self.path = Path(path).absolute()
        if not create and not (self.path / CONFIG_FILE).exists():
            raise ConfigError(
                f"no feature store at {str(self.path)!r}; create one with "
                f"FeatureStore(path) or `featstore init`"
            )
        self.path.mkdir(parents=True, exist_ok=True)
        found = self._check_config()
        self.offline = OfflineStore(self.path)
        self.catalog = Catalog(self.path / "catalog.db")  # upgrades an older catalog
        if found < FORMAT_VERSION:
            self._write_config()
        self._memory_limit = memory_limit
        self._threads = threads
        self._con: duckdb.DuckDBPyConnection | None = None
        self._progress = sys.stderr.isatty() if progress is None else progress
        self._views: dict[str, FeatureView] = {}
        self._lineage: Lineage | None = None

    # -- setup -----------------------------------------------------------------------

    def _check_config(self) -> int:
        """The store's format version; a new store gets a config file."""
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
            return found
        self._write_config()
        return FORMAT_VERSION

    def _write_config(self) -> None:
        config = self.path / CONFIG_FILE
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
        buckets: list[tuple[type, dict[str, Any]]] = [
            (Entity, entities),
            (Source, sources),
            (FeatureView, views),
            (FeatureService, services),
        ]
        for obj in objects:
            bucket = next((b for kind, b in buckets if isinstance(obj, kind)), None)
            if bucket is None:
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
                    f"different source of that name is being applied; rename one of them"
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
        view_records = {
            v.name: self._view_record(v, schemas[v.source.name]) for v in views.values()
        }
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
            "arrow_schema": encode_schema(features),
            "feature_names": list(features),
            "ttl_us": timedelta_us(view.ttl) if view.ttl else None,
            "lookback_us": timedelta_us(view.lookback) if view.lookback else None,
            "selection": list(view.features) if view.features is not None else None,
            "transform_source": function_source(view.transform) if view.transform else None,
            "description": view.description,
            "owner": view.owner,
            "tags": dict(view.tags or ()),
        }

    def _service_record(
        self, service: FeatureService, applying: dict[str, dict[str, Any]]
    ) -> dict[str, Any]:
        def lookup(name: str, version: str | None) -> dict[str, Any]:
            rec = applying.get(name)
            if rec is not None and version in (None, rec["version"]):
                return rec
            return self._view_record_of(name, version)

        try:
            resolved = resolve_refs(service, lookup, self._view_names)
        except NotFoundError as exc:
            raise DefinitionError(f"feature service {service.name!r}: {exc}") from exc
        items = [
            {"view": r.view, "version": r.version, "features": list(r.features)} for r in resolved
        ]
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
            known = [v["version"] for v in self.versions("feature_view", name)] if version else []
            if known:
                raise NotFoundError(
                    f"unknown {what}; its versions are {known!r}: use one of them, or omit "
                    f"'@{version}' for the current one"
                )
            raise NotFoundError(f"unknown {what}" + did_you_mean(name, self._view_names()))
        return rec

    def list_definitions(self, kind: str = "feature_view") -> list[dict[str, Any]]:
        """Current definitions of a kind (``entity``, ``source``, ``feature_view``,
        ``feature_service``) as catalog records, sorted by name."""
        if kind not in DEFINITION_KINDS:
            raise NotFoundError(
                f"unknown definition kind {kind!r}" + did_you_mean(kind, DEFINITION_KINDS)
            )
        rows = self.catalog.all(
            "SELECT d.body FROM current_definitions c JOIN definitions d USING (kind, name, version) "
            "WHERE c.kind = ? ORDER BY c.name",
            (kind,),
        )
        return [json.loads(r["body"]) for r in rows]

    def list_feature_views(self) -> list[dict[str, Any]]:
        """Current feature views as catalog records."""
        return self.list_definitions("feature_view")

    def get_feature_view(self, name: str, version: str | None = None) -> dict[str, Any]:
        """A feature view's catalog record (current version unless ``version``)."""
        return self._view_record_of(name, version)

    def get_feature_service(self, name: str) -> dict[str, Any]:
        """A feature service's catalog record."""
        rec = self._current("feature_service", name)
        if rec is None:
            names = [r["name"] for r in self.list_definitions("feature_service")]
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
            # a view named twice is materialized once (two jobs would collect each
            # other's uncommitted files)
            names = list(dict.fromkeys(v.name if isinstance(v, FeatureView) else v for v in views))
        # a FeatureView passed in is the one to run (never silently another version of it);
        # _job refuses it unless it is the catalog's current version
        given = {v.name: v for v in views or () if isinstance(v, FeatureView)}
        out = []
        for name in names:
            view = given.get(name) or self._views.get(name)
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

        Re-running a range replaces it. Each view is one run; the runs of one call are
        committed together, so readers see all of the views' new rows or none.
        """
        lo, hi = as_utc(start, "start"), as_utc(end, "end")
        if lo >= hi:
            raise MaterializationError(
                f"materialize: start {lo} is not before end {hi}; swap them or widen the range"
            )
        return self._run_jobs([self._job(v, lo, hi) for v in self._executable_views(views)])

    def materialize_incremental(
        self,
        end: datetime | date | str,
        views: Sequence[str | FeatureView] | None = None,
    ) -> list[MaterializationRun]:
        """Materialize each view from where its last run ended (or its first row) to ``end``."""
        hi = as_utc(end, "end")
        jobs = []
        for view in self._executable_views(views):
            row = self.catalog.one(
                "SELECT max(end_ts) AS e FROM runs WHERE view = ? AND view_version = ?",
                (view.name, view.version),
            )
            lo = datetime.fromisoformat(row["e"]) if row and row["e"] else self._first_event(view)
            if lo is None:
                continue
            if lo < hi:
                jobs.append(self._job(view, lo, hi))
        return self._run_jobs(jobs)

    def _first_event(self, view: FeatureView) -> datetime | None:
        from featstore.compute import scan_source
        from featstore.timeutil import utc_expr

        frame = scan_source(view.source, self.con)
        col = view.source.timestamp_column
        dtype = frame.collect_schema()[col]
        first = (
            frame.select(utc_expr(col, dtype, owner=f"source {view.source.name!r}").min())
            .collect()
            .item()
        )
        if not isinstance(first, datetime):
            return None
        return first - view.lookback if view.lookback else first

    def _job(self, view: FeatureView, lo: datetime, hi: datetime) -> ViewJob:
        record = self._view_record_of(view.name)
        if record["version"] != view.version:
            raise MaterializationError(
                f"feature view {view.name!r}: this process holds version {view.version}, the "
                f"catalog's current one is {record['version']}; apply it again"
            )
        features = _feature_dtypes(record)
        if len(features) != len(record["features"]):
            features = output_schema(view, source_schema(view.source, self.con), self.con)
        return ViewJob(view, features, lo, hi)

    def _run_jobs(self, jobs: list[ViewJob]) -> list[MaterializationRun]:
        if not jobs:
            return []
        kwargs: dict[str, Any] = {"con": self.con, "catalog": self.catalog, "offline": self.offline}
        if not self._progress:
            return materialize_views(jobs, **kwargs)
        from rich.progress import Progress

        with Progress(transient=False) as bar:
            tasks = {
                job.view.name: bar.add_task(
                    f"materialize {job.view.name}", total=_month_count(job.start, job.end)
                )
                for job in jobs
            }
            return materialize_views(
                jobs, on_bucket=lambda view, _month: bar.advance(tasks[view]), **kwargs
            )

    def runs(self, view: str | None = None) -> list[dict[str, Any]]:
        """Recorded materialization runs (newest first), optionally of one view."""
        sql = (
            "SELECT body FROM runs"
            + (" WHERE view = ?" if view else "")
            + " ORDER BY finished_at DESC"
        )
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

        ``features``: references ``"view:feature"``, ``"view:*"``, ``"view@version:feature"``,
        ``"service:NAME"`` (a registered service), FeatureView objects,
        ``view[["a", "b"]]``, or a FeatureService.
        ``include_event_timestamps`` adds ``<view>__event_timestamp`` columns.
        """
        frame = entity_frame(entity_df)
        ts_col = find_timestamp_column(frame, timestamp_column)
        return self._retrieve(
            frame,
            ts_col,
            features,
            full_feature_names=full_feature_names,
            bitemporal=bitemporal,
            include_ts=include_event_timestamps,
            mode="historical",
        )

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
        result = self._retrieve(
            with_ts,
            column,
            features,
            full_feature_names=full_feature_names,
            bitemporal=bitemporal,
            include_ts=include_event_timestamps,
            mode="latest",
        )
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
        pinned: dict[tuple[str, str], list[dict[str, Any]]] | None = None,
    ) -> RetrievalResult:
        if isinstance(features, str):
            features = [features]
        service: dict[str, Any] | None = None
        if isinstance(features, FeatureService):
            service = self.get_feature_service(features.name)
            refs: list[Any] = flatten(features)
        else:
            refs = []
            for ref in features:
                if isinstance(ref, str) and ref.startswith("service:"):
                    service = self.get_feature_service(ref.removeprefix("service:"))
                    refs += [
                        f"{i['view']}@{i['version']}:{f}"
                        for i in service["features"]
                        for f in i["features"]
                    ]
                else:
                    refs.append(ref)
        requested = resolve_refs(refs, self._view_record_of, self._view_names)
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
            raise PointInTimeError(
                f"{exc} (requested views: {[r.view for r in requested]})"
            ) from None
        joins = []
        files_read: list[dict[str, Any]] = []
        for req, names in zip(requested, outputs, strict=True):
            if pinned is not None:
                files = pinned.get((req.view, req.version), [])
            else:
                files = self._files_in_reach(req, lo, hi) if entity.num_rows else []
            files_read += [{**f, "view": req.view, "version": req.version} for f in files]
            cols = [(f, n) for f, n in zip(req.features, names, strict=False)]
            if include_ts:
                cols.append((TS, names[-1]))
            joins.append(
                ViewJoin(
                    files=tuple(str(self.offline.absolute(f["path"])) for f in files),
                    keys=tuple(req.record["join_keys"]),
                    features=tuple(cols),
                    ttl_us=req.record["ttl_us"],
                )
            )
        query = PitQuery(tuple(joins), bitemporal=bitemporal, min_entity_ts=lo, max_entity_ts=hi)
        table = run_query(self.con, query, entity)
        result = pl.from_arrow(table)
        assert isinstance(result, pl.DataFrame)
        result = result.drop("__fs_row")
        targets: dict[str, pl.DataType] = {}
        for req, names in zip(requested, outputs, strict=True):
            dtypes = _feature_dtypes(req.record)
            targets.update(
                {n: dtypes[f] for f, n in zip(req.features, names, strict=False) if f in dtypes}
            )
            if include_ts:
                targets[names[-1]] = pl.Datetime("us")
        result = restore_dtypes(result, targets)
        out = pl.concat([frame, result], how="horizontal")
        manifest = make_manifest(
            mode=mode,
            bitemporal=bitemporal,
            full_feature_names=full_feature_names,
            entity_hash=frame_hash(frame),
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
        return RetrievalResult(out, manifest)

    def _files_in_reach(
        self, req: Requested, lo: datetime | None, hi: datetime | None
    ) -> list[dict[str, Any]]:
        """Active files of a view version whose time range the entity rows can reach."""
        sql = (
            "SELECT path, rows, min_ts, max_ts, run_id FROM files WHERE view = ? AND "
            "view_version = ? AND active = 1"
        )
        params: list[Any] = [req.view, req.version]
        if hi is not None:
            sql += " AND min_ts <= ?"
            params.append(iso(hi))
        ttl = req.record["ttl_us"]
        if ttl is not None and lo is not None and lo - datetime.min > timedelta(microseconds=ttl):
            sql += " AND max_ts >= ?"
            params.append(iso(lo - timedelta(microseconds=ttl)))
        return [dict(r) for r in self.catalog.all(sql + " ORDER BY path", tuple(params))]

    # -- lineage, training sets, models, predictions -----------------------------------

    @property
    def lineage(self) -> Lineage:
        """Lineage queries and exports (see :class:`featstore.lineage.Lineage`)."""
        if self._lineage is None:
            self._lineage = Lineage(
                self.catalog,
                namespace=f"featstore://{self.path.as_posix()}",
                explainer=lambda batch, row: explain_prediction(self, batch, row),
            )
        return self._lineage

    def save_training_set(self, result: RetrievalResult, name: str) -> TrainingSet:
        """Save a retrieval result as a named, reproducible training set.

        Writes its frame to ``training_sets/<name>/<content_id>.parquet`` and records its
        manifest and lineage (feature view versions, materialization runs read) in one
        transaction. Saving the same result again returns the existing record.
        """
        return registry.save_training_set(
            self.catalog, self.offline, result.frame, result.manifest, name
        )

    def get_training_set(self, ref: str) -> TrainingSet:
        """A saved training set by id (``training_set:name@cid``) or name (the newest)."""
        found = registry.get_training_set(self.catalog, self.offline, ref)
        assert found is not None
        return found

    def list_training_sets(self) -> list[TrainingSet]:
        """Every saved training set, oldest first."""
        rows = self.catalog.all("SELECT id FROM training_sets ORDER BY created_at, id")
        return [self.get_training_set(r["id"]) for r in rows]

    def verify_training_set(self, training_set: TrainingSet | str) -> dict[str, list[str]]:
        """What changed since a training set was built.

        Returns ``missing_files`` (offline-store files it read that are gone) and
        ``changed_sources`` (raw input files of its runs whose size or modification time
        differ, or that are gone). Both empty means a rebuild is byte-identical.
        """
        ts = self.get_training_set(training_set) if isinstance(training_set, str) else training_set
        missing = sorted(
            f["path"] for f in ts.manifest["files"] if not self.offline.absolute(f["path"]).exists()
        )
        changed: set[str] = set()
        for run_id in sorted({f["run_id"] for f in ts.manifest["files"]}):
            for row in self.catalog.all(
                "SELECT path, size, mtime_ns FROM run_inputs WHERE run_id = ?", (run_id,)
            ):
                if row["size"] is None:
                    continue
                try:
                    stat = os.stat(row["path"])
                except OSError:
                    changed.add(row["path"])
                    continue
                if (stat.st_size, stat.st_mtime_ns) != (row["size"], row["mtime_ns"]):
                    changed.add(row["path"])
        return {"missing_files": missing, "changed_sources": sorted(changed)}

    def rebuild_training_set(self, training_set: TrainingSet | str) -> RetrievalResult:
        """Rebuild a saved training set from its manifest: the same entity rows, view
        versions and exact files. Byte-identical to the saved frame while its inputs exist;
        raises MaterializationError naming the missing inputs otherwise."""
        ts = self.get_training_set(training_set) if isinstance(training_set, str) else training_set
        report = self.verify_training_set(ts)
        if report["missing_files"]:
            raise MaterializationError(
                f"training set {ts.id!r} cannot be rebuilt: {len(report['missing_files'])} "
                f"offline file(s) it read are gone (first: {report['missing_files'][0]!r}); "
                f"re-materialize and build a new training set"
            )
        m = ts.manifest
        saved = ts.to_polars()
        feature_columns = [c for item in m["features"] for c in item["columns"]]
        entity = saved.drop(feature_columns)
        pinned: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for f in m["files"]:
            pinned.setdefault((f["view"], f["version"]), []).append(
                {k: v for k, v in f.items() if k not in ("view", "version")}
            )
        refs = [
            f"{i['view']}@{i['version']}:{name}" for i in m["features"] for name in i["features"]
        ]
        if m["mode"] == "latest":
            entity = entity.with_columns(
                pl.lit(datetime.fromisoformat(m["as_of"]), dtype=pl.Datetime("us")).alias(
                    m["timestamp_column"]
                )
            )
        result = self._retrieve(
            entity,
            m["timestamp_column"],
            refs,
            full_feature_names=m["full_feature_names"],
            bitemporal=m["bitemporal"],
            include_ts=m.get("include_event_timestamps", False),
            mode=m["mode"],
            pinned=pinned,
        )
        frame = result.frame.drop(m["timestamp_column"]) if m["mode"] == "latest" else result.frame
        if frame_bytes(frame) != frame_bytes(saved):
            raise MaterializationError(
                f"training set {ts.id!r}: the rebuilt frame differs from the saved one although "
                f"its files exist; changed sources: {report['changed_sources'] or 'none found'}"
            )
        return RetrievalResult(frame, dict(m))

    def register_model(
        self,
        name: str,
        training_set: TrainingSet | RetrievalResult | str | None,
        *,
        artifact: str | os.PathLike[str] | None = None,
        params: dict[str, Any] | None = None,
        metrics: dict[str, float] | None = None,
        tags: dict[str, str] | None = None,
    ) -> ModelVersion:
        """Register a new version of model ``name`` (versions count up from 1 per name).

        Records the training set (a RetrievalResult is saved first, named after the
        model), params, metrics, tags, the artifact location and hash, the features used
        and the git commit of the working directory.
        """
        registry.check_model_args(name, metrics)  # before the training set is saved
        if isinstance(training_set, RetrievalResult):
            training_set = self.save_training_set(training_set, f"{name}_training")
        elif isinstance(training_set, str):
            training_set = self.get_training_set(training_set)
        return registry.register_model(
            self.catalog,
            name,
            training_set,
            artifact=artifact,
            params=params,
            metrics=metrics,
            tags=tags,
        )

    def get_model(
        self, name: str, version: int | None = None, *, alias: str | None = None
    ) -> ModelVersion:
        """A model version: the latest, a given ``version``, or the one an ``alias`` names."""
        return registry.get_model_version(self.catalog, name, version, alias)

    def list_models(self) -> list[dict[str, Any]]:
        """One summary per model name: latest version, version count and aliases."""
        out = []
        for row in self.catalog.all(
            "SELECT name, max(version) AS latest, count(*) AS n FROM model_versions GROUP BY name ORDER BY name"
        ):
            out.append(
                {
                    "name": row["name"],
                    "latest_version": row["latest"],
                    "versions": row["n"],
                    "aliases": registry.aliases(self.catalog, row["name"]),
                }
            )
        return out

    def list_model_versions(self, name: str | None = None) -> list[ModelVersion]:
        """Every version of a model (or of all models)."""
        return registry.list_model_versions(self.catalog, name)

    def search_model_versions(
        self,
        name: str | None = None,
        *,
        tags: dict[str, str] | None = None,
        order_by: str | None = None,
        descending: bool = True,
        limit: int | None = None,
    ) -> list[ModelVersion]:
        """Model versions matching ``name`` and all ``tags``, ordered by a metric
        (``order_by="auc"``); versions without that metric come last."""
        found = [
            mv
            for mv in registry.list_model_versions(self.catalog, name)
            if all(mv.tags.get(k) == str(v) for k, v in (tags or {}).items())
        ]
        if order_by is not None:
            with_metric = [mv for mv in found if order_by in mv.metrics]
            with_metric.sort(key=lambda mv: mv.metrics[order_by], reverse=descending)
            found = with_metric + [mv for mv in found if order_by not in mv.metrics]
        return found[:limit] if limit is not None else found

    def set_alias(self, name: str, alias: str, version: int) -> None:
        """Point ``alias`` (e.g. ``production``) of model ``name`` at ``version``; the
        previous target is kept in the alias history for :meth:`rollback`."""
        registry.set_alias(self.catalog, name, alias, version)

    def rollback(self, name: str, alias: str) -> ModelVersion:
        """Move ``alias`` back to the version it named before its latest change."""
        return registry.rollback(self.catalog, name, alias)

    def aliases(self, name: str) -> dict[str, int]:
        """Current aliases of model ``name``: alias -> version."""
        return registry.aliases(self.catalog, name)

    def alias_history(self, name: str, alias: str) -> list[dict[str, Any]]:
        """Every change of an alias, oldest first."""
        return registry.alias_history(self.catalog, name, alias)

    def log_predictions(
        self,
        model_version: ModelVersion | str,
        frame: Any,
        *,
        features: RetrievalResult | None = None,
        timestamp_column: str | None = None,
        as_of: datetime | date | str | None = None,
    ) -> PredictionBatch:
        """Write predictions to Parquet and record a prediction batch.

        ``frame`` holds the entity keys and the predictions. Each row gets
        ``prediction_id``, ``model_name``, ``model_version`` and ``as_of`` (the moment its
        features describe: ``as_of``, else ``timestamp_column``, else the ``as_of`` of
        ``features`` from get_latest_features, else an ``event_timestamp`` column).
        ``features``, the retrieval the predictions were computed from, pins the exact
        feature files for :meth:`Lineage.explain`.
        """
        if isinstance(model_version, str):
            name, _, version = model_version.removeprefix("model:").partition("@")
            if version and not version.isdecimal():
                raise NotFoundError(
                    f"log_predictions: model reference {model_version!r} is not "
                    f"'model:<name>@<version>' with a version number, e.g. 'model:{name}@1'"
                )
            model_version = self.get_model(name, int(version) if version else None)
        table = entity_frame(frame)
        clash = [
            c
            for c in ("prediction_id", "model_name", "model_version", "as_of")
            if c in table.columns
        ]
        if clash:
            raise PointInTimeError(
                f"log_predictions: the frame already has column {clash[0]!r}, which featstore "
                f"adds; rename it"
            )
        retrieval = features.manifest if features is not None else None
        keys = {
            k
            for item in (retrieval or {}).get("features", model_version.features)
            for k in self.get_feature_view(item["view"], item["version"])["join_keys"]
        }
        missing = sorted(k for k in keys if k not in table.columns)
        if missing:
            raise PointInTimeError(
                f"log_predictions: the frame lacks entity key {missing[0]!r} of the features "
                f"model {model_version.id} uses; include the keys next to the predictions"
            )
        moment: datetime | None = None
        if as_of is not None:
            moment = as_utc(as_of, "as_of")
            moment_expr = pl.lit(moment, dtype=pl.Datetime("us"))
        elif timestamp_column is not None or (retrieval or {}).get("as_of") is None:
            column = find_timestamp_column(table, timestamp_column)
            moment_expr = utc_expr(column, table.schema[column], owner="log_predictions frame")
        else:
            moment = datetime.fromisoformat(retrieval["as_of"])  # type: ignore[index]
            moment_expr = pl.lit(moment, dtype=pl.Datetime("us"))
        batch_id = new_id()
        batch_rows = table.with_columns(
            pl.format(f"{batch_id}:{{}}", pl.int_range(pl.len())).alias("prediction_id"),
            pl.lit(model_version.name).alias("model_name"),
            pl.lit(model_version.version).alias("model_version"),
            moment_expr.alias("as_of"),
        )
        return registry.log_predictions(
            self.catalog,
            self.offline,
            model_version,
            batch_rows,
            batch_id=batch_id,
            retrieval=retrieval,
            as_of=moment,
        )

    def get_prediction_batch(self, ref: str) -> dict[str, Any]:
        """A prediction batch's record by id (``prediction_batch:<id>``) or batch id."""
        return registry.get_prediction_batch(self.catalog, ref)

    # -- maintenance -------------------------------------------------------------------

    def gc(self) -> list[str]:
        """Delete files no reader can see: dead runs' leftovers, expired superseded files."""
        from featstore.materialize import _collect_view_garbage

        removed: list[str] = []
        for folder in sorted(p.name for p in self.offline.offline.iterdir() if p.is_dir()):
            with self.offline.lock(folder):
                removed += _collect_view_garbage(folder, self.catalog, self.offline)
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


def _dtype_name(dtype: pl.DataType) -> str:
    return str(dtype)


def _feature_dtypes(record: dict[str, Any]) -> dict[str, pl.DataType]:
    """A view record's feature dtypes, in output order (exact, from its Arrow schema)."""
    if "arrow_schema" in record:
        return decode_schema(record["arrow_schema"])
    simple = {"Float64": pl.Float64(), "Int64": pl.Int64(), "String": pl.String()}
    return {f: simple[d] for f, d in record["features"].items() if d in simple}


def _month_count(lo: datetime, hi: datetime) -> int:
    return (hi.year - lo.year) * 12 + hi.month - lo.month + 1


def _record_definition_lineage(tx: Any, rec: dict[str, Any], now: str) -> None:
    kind = rec["kind"]
    if kind == "source":
        tx.add_node(
            f"source:{rec['name']}",
            "source",
            rec["name"],
            now,
            {k: rec.get(k) for k in ("source_kind", "path", "query", "timestamp_column")},
        )
    elif kind == "feature_view":
        node = f"view:{rec['name']}@{rec['version']}"
        tx.add_node(
            node,
            "feature_view",
            rec["name"],
            now,
            {
                "version": rec["version"],
                "features": rec["features"],
                "entity": rec["entity"],
                "source_version": rec["source_version"],
            },
        )
        tx.add_edges([(f"source:{rec['source']}", node, "feeds")])
    elif kind == "feature_service":
        node = f"service:{rec['name']}@{rec['version']}"
        tx.add_node(node, "feature_service", rec["name"], now, {"features": rec["features"]})
        tx.add_edges(
            [(f"view:{i['view']}@{i['version']}", node, "selected_by") for i in rec["features"]]
        )
