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
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import polars as pl

from featstore import registry
from featstore._version import __version__
from featstore.catalog import FORMAT_VERSION, open_catalog
from featstore.compute import (
    check_output,
    check_row_context,
    output_schema,
    source_schema,
    transform_output,
)
from featstore.config import StoreConfig, catalog_spec, prepare_directory
from featstore.definitions import Entity, FeatureService, FeatureView, Source
from featstore.dtypes import encode_schema
from featstore.engine import Engine
from featstore.engine.duckdb import Connection, DuckDBEngine
from featstore.errors import (
    CatalogError,
    ConfigError,
    DefinitionError,
    MaterializationError,
    NotFoundError,
    PointInTimeError,
    StorageError,
    did_you_mean,
)
from featstore.explain import explain_prediction
from featstore.lineage import Lineage
from featstore.materialize import MaterializationRun, ViewJob, iso, materialize_views
from featstore.offline import OfflineStore, new_id
from featstore.refs import resolve_refs
from featstore.registry import ModelVersion, PredictionBatch, TrainingSet
from featstore.retrieval import (
    RetrievalResult,
    entity_frame,
    feature_dtypes,
    file_problems,
    find_timestamp_column,
    frame_bytes,
    retrieve,
    service_spec,
    unused_name,
)
from featstore.timeutil import as_utc, timedelta_us, utc_expr, utc_now
from featstore.versioning import content_hash, function_source
from featstore.writers import exclusive

__all__ = ["FeatureStore"]

DEFINITION_KINDS = ("entity", "source", "feature_view", "feature_service")
Definition = Entity | Source | FeatureView | FeatureService


class FeatureStore:
    """A feature store in one directory: a Parquet offline store and a catalog (an SQLite
    file in the directory, or a PostgreSQL database shared by a team).

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
    catalog
        Where a new store keeps its catalog: ``"sqlite"`` (the default, ``catalog.db`` in
        the directory) or a PostgreSQL URL (``"postgresql://user@host:5432/db"``, needs
        ``featstore[postgres]``), recorded in ``featstore.json`` without its password.
        An existing store uses the recorded one; passing another is a ConfigError.
    read_only
        Open an existing store without writing anything (no directory, config, catalog
        upgrade or lock file is created); every write raises CatalogError.

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
        catalog: str | None = None,
        read_only: bool = False,
    ) -> None:
        _check_engine_options(memory_limit, threads)
        self.path = Path(path).absolute()
        found = prepare_directory(self.path, create=create, read_only=read_only)
        spec = catalog_spec(self.path, found, catalog)
        # a store whose featstore.json exists has a catalog: a missing, empty or foreign
        # one is damaged, never initialised afresh (CatalogError, nothing written)
        self.catalog = open_catalog(spec, self.path, create=found is None, read_only=read_only)
        self.offline = OfflineStore(self.path, read_only=read_only)
        # True when the store was opened read-only, or its directory cannot be written:
        # reads work, writes raise
        self.read_only = self.catalog.read_only
        if not self.read_only and (found is None or found.format_version < FORMAT_VERSION):
            # last: a store with a config has a complete catalog
            StoreConfig(FORMAT_VERSION, __version__, spec).write(self.path)
        self._memory_limit = memory_limit
        self._threads = threads
        self._engine: Engine | None = None
        self._progress = sys.stderr.isatty() if progress is None else progress
        self._views: dict[str, FeatureView] = {}
        self._lineage: Lineage | None = None

    # -- setup -----------------------------------------------------------------------

    @property
    def engine(self) -> Engine:
        """The query engine (created on first use): DuckDB in process, spilling to
        ``<path>/tmp`` past ``memory_limit``."""
        if self._engine is None:
            self._engine = DuckDBEngine(
                memory_limit=self._memory_limit,
                threads=self._threads,
                temp_directory=self.offline.tmp,
            )
        return self._engine

    @property
    def con(self) -> Connection:
        """The DuckDB engine's connection (for debugging: settings, UDFs a SqlSource calls)."""
        engine = self.engine
        if not isinstance(engine, DuckDBEngine):
            raise ConfigError(f"this store's engine is {type(engine).__name__}, not DuckDB")
        return engine.connection

    def close(self) -> None:
        """Close the engine and catalog connections."""
        if self._engine is not None:
            self._engine.close()
            self._engine = None
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
            schemas[src.name] = source_schema(src, self.engine)
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
                # same version, same definition: the body is rewritten (it repairs a
                # damaged record and keeps descriptions current); created_at is kept
                tx.put_definition(rec["kind"], rec["name"], rec["version"], body, now)
                _record_definition_lineage(tx, rec, now)
        self._views.update(views)

    def _view_record(self, view: FeatureView, schema: pl.Schema) -> dict[str, Any]:
        view.check_unchanged()
        out_schema = transform_output(view, schema).collect_schema()
        features = check_output(view, out_schema)
        check_row_context(view, schema)
        created = view.source.created_timestamp_column
        return {
            "kind": "feature_view",
            "name": view.name,
            "version": view.version,
            "entity": view.entity.name,
            "join_keys": list(view.join_keys),
            # keyed by the type the transformation outputs (it may cast the key)
            "key_dtypes": {k: _dtype_name(out_schema[k]) for k in view.join_keys},
            # without it, when a value became known is not recorded: no bitemporal reads
            "has_created": created is not None and created in out_schema,
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
            # the references as written: a FeatureService object passed to retrieval must
            # match them, and then resolves through this record like "service:NAME"
            "spec": service_spec(service),
            "description": service.description,
            "owner": service.owner,
            "tags": dict(service.tags or ()),
        }

    def _current(self, kind: str, name: str) -> dict[str, Any] | None:
        body = self.catalog.current_definition(kind, name)
        return _load_record(body, kind, name) if body is not None else None

    def _view_names(self) -> list[str]:
        return self.catalog.current_names("feature_view")

    def _view_record_of(self, name: str, version: str | None = None) -> dict[str, Any]:
        if version is None:
            rec = self._current("feature_view", name)
        else:
            body = self.catalog.definition("feature_view", name, version)
            rec = _load_record(body, "feature_view", name) if body is not None else None
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
        return [_load_record(b, kind, "?") for b in self.catalog.current_definitions(kind)]

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
        return [
            {**_load_record(body, kind, name), "registered_at": at}
            for body, at in self.catalog.definition_history(kind, name)
        ]

    # -- materialization -------------------------------------------------------------

    def _executable_views(self, views: Sequence[str | FeatureView] | None) -> list[FeatureView]:
        if isinstance(views, str | FeatureView):
            views = [views]  # one view, not its name's characters
        elif views is not None:
            if isinstance(views, bytes | bytearray) or not isinstance(views, Iterable):
                raise MaterializationError(
                    f"materialize: views must be a view name, a FeatureView or a list of "
                    f"them; found {type(views).__name__}"
                )
            views = list(views)  # an iterator is read once
        if views is not None and not all(isinstance(v, str | FeatureView) for v in views):
            bad = next(v for v in views if not isinstance(v, str | FeatureView))
            raise MaterializationError(
                f"materialize: views must be view names or FeatureView objects; found {bad!r}"
            )
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
            last = self.catalog.last_run_end(view.name, view.version)
            lo = datetime.fromisoformat(last) if last else self._first_event(view)
            if lo is None:
                continue
            if lo < hi:
                jobs.append(self._job(view, lo, hi))
        return self._run_jobs(jobs)

    def _first_event(self, view: FeatureView) -> datetime | None:
        from featstore.compute import read_start, scan_source

        frame = scan_source(view.source, self.engine)
        col = view.source.timestamp_column
        dtype = frame.collect_schema()[col]
        first = (
            frame.select(utc_expr(col, dtype, owner=f"source {view.source.name!r}").min())
            .collect()
            .item()
        )
        if not isinstance(first, datetime):
            return None
        return read_start(view, first)

    def _job(self, view: FeatureView, lo: datetime, hi: datetime) -> ViewJob:
        try:
            view.check_unchanged()
        except DefinitionError as exc:
            raise MaterializationError(str(exc)) from None
        record = self._view_record_of(view.name)
        if record["version"] != view.version:
            raise MaterializationError(
                f"feature view {view.name!r}: this process holds version {view.version}, the "
                f"catalog's current one is {record['version']}; apply it again"
            )
        features = feature_dtypes(record)
        if len(features) != len(record["features"]):
            features = output_schema(view, source_schema(view.source, self.engine))
        return ViewJob(view, features, lo, hi)

    def _run_jobs(self, jobs: list[ViewJob]) -> list[MaterializationRun]:
        if not jobs:
            return []
        kwargs: dict[str, Any] = {
            "engine": self.engine,
            "catalog": self.catalog,
            "offline": self.offline,
        }
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
        return [json.loads(body) for body in self.catalog.run_bodies(view)]

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
            self,
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
        self,
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
            self,
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
        return RetrievalResult(result.frame, manifest, result.coverage)

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
        transaction. Saving the same result again returns the existing record (and
        rewrites its file if it was lost or damaged).
        """
        if not isinstance(result, RetrievalResult):
            raise DefinitionError(
                f"save_training_set takes the RetrievalResult that get_historical_features "
                f"returned; found {type(result).__name__}"
            )
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
        return [self.get_training_set(i) for i in self.catalog.training_set_ids()]

    def verify_training_set(self, training_set: TrainingSet | str) -> dict[str, list[str]]:
        """What changed since a training set was built.

        Returns ``missing_files`` and ``changed_files`` (the saved frame and the offline
        files it read that are gone, or differ from what was recorded), ``changed_sources``
        (raw input files of its runs whose size or modification time differ) and
        ``missing_sources`` (raw input files that are gone). All empty means a rebuild is
        byte-identical.
        """
        ts = self.get_training_set(training_set) if isinstance(training_set, str) else training_set
        problems = file_problems(self, sorted({f["path"] for f in ts.manifest["files"]}))
        missing = sorted(p for p, (what, _) in problems.items() if what == "missing")
        damaged = sorted(p for p, (what, _) in problems.items() if what == "changed")
        try:
            ts.to_polars()
        except StorageError as exc:
            saved = self.offline.relative(ts.path)
            (missing if "is gone" in str(exc) else damaged).insert(0, saved)
        changed: set[str] = set()
        gone: set[str] = set()
        for run_id in sorted({f["run_id"] for f in ts.manifest["files"]}):
            for row in self.catalog.run_inputs(run_id):
                if row["size"] is None:
                    continue
                try:
                    stat = os.stat(row["path"])
                except OSError:
                    gone.add(row["path"])
                    continue
                if (stat.st_size, stat.st_mtime_ns) != (row["size"], row["mtime_ns"]):
                    changed.add(row["path"])
        return {
            "missing_files": missing,
            "changed_files": damaged,
            "changed_sources": sorted(changed),
            "missing_sources": sorted(gone),
        }

    def rebuild_training_set(self, training_set: TrainingSet | str) -> RetrievalResult:
        """Rebuild a saved training set from its manifest: the same entity rows, view
        versions and exact files. Byte-identical to the saved frame while its inputs exist;
        raises MaterializationError naming the missing inputs otherwise."""
        ts = self.get_training_set(training_set) if isinstance(training_set, str) else training_set
        saved = ts.to_polars()  # StorageError if the saved frame is gone or was changed
        report = self.verify_training_set(ts)
        if report["missing_files"]:
            raise MaterializationError(
                f"training set {ts.id!r} cannot be rebuilt: {len(report['missing_files'])} "
                f"offline file(s) it read are gone (first: {report['missing_files'][0]!r}); "
                f"re-materialize and build a new training set"
            )
        m = ts.manifest
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
        latest = m["mode"] == "latest"
        result = retrieve(
            self,
            entity,
            m["timestamp_column"],
            refs,
            full_feature_names=m["full_feature_names"],
            bitemporal=m["bitemporal"],
            include_ts=m.get("include_event_timestamps", False),
            mode=m["mode"],
            pinned=pinned,
            drop=(m["timestamp_column"],) if latest else (),
        )
        frame = result.frame
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
        for name, latest, count in self.catalog.model_summaries():
            out.append(
                {
                    "name": name,
                    "latest_version": latest,
                    "versions": count,
                    "aliases": registry.aliases(self.catalog, name),
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
        """Delete files no reader can see: expired superseded files, and what killed
        writers left (unlisted offline, training-set and prediction files, dead staging
        directories), each under the lock its writers hold. Deletes only what featstore
        wrote, never through a symbolic link (a link found raises StorageError).
        Returns the store-relative paths removed."""
        from featstore.materialize import _collect_view_garbage

        removed: list[str] = []
        for view in self.offline.names("view"):
            with exclusive(self.offline, self.catalog, view):
                removed += _collect_view_garbage(view, self.catalog, self.offline, staging=False)
        removed += registry.collect_garbage(self.catalog, self.offline)
        removed += self.offline.collect_staging()
        return removed


_REQUIRED = {
    "entity": ("name", "version", "join_keys"),
    "source": ("name", "version", "timestamp_column"),
    "feature_view": (
        "name",
        "version",
        "join_keys",
        "key_dtypes",
        "features",
        "ttl_us",
        "source",
        "entity",
    ),
    "feature_service": ("name", "version", "features"),
}


def _load_record(body: str, kind: str, name: str) -> dict[str, Any]:
    """A definition record from the catalog; a damaged one is a CatalogError."""
    try:
        rec = json.loads(body)
    except ValueError as exc:
        raise CatalogError(
            f"the catalog record of {kind} {name!r} is damaged (not JSON: {exc}); apply the "
            f"definition again to rewrite it, or restore catalog.db from a backup"
        ) from None
    missing = [k for k in _REQUIRED.get(kind, ()) if not isinstance(rec, dict) or k not in rec]
    if missing:
        raise CatalogError(
            f"the catalog record of {kind} {name!r} is damaged (it lacks {missing!r}); apply "
            f"the definition again to rewrite it, or restore catalog.db from a backup"
        )
    return rec  # type: ignore[no-any-return]


def _check_engine_options(memory_limit: object, threads: object) -> None:
    if threads is not None and (
        not isinstance(threads, int) or isinstance(threads, bool) or threads < 1
    ):
        raise ConfigError(f"threads must be a positive integer; found {threads!r}")
    if memory_limit is not None:
        if not isinstance(memory_limit, str):
            raise ConfigError(f"memory_limit must be a size such as '2GB'; found {memory_limit!r}")
        DuckDBEngine.check_memory_limit(memory_limit)


def _dtype_name(dtype: pl.DataType) -> str:
    return str(dtype)


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
