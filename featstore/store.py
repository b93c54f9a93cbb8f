"""FeatureStore: the facade. It wires the catalog, the offline store and the engine
together and delegates every operation; docs/architecture.md says which module owns what.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

from featstore import garbage, models, predictions, records, registry, retrieval, training_sets
from featstore.config import ENGINES, StoreConfig, open_store
from featstore.definitions import FeatureService, FeatureView
from featstore.engine import Engine, make_engine
from featstore.engine.duckdb import Connection, DuckDBEngine
from featstore.errors import ConfigError
from featstore.explain import explain_prediction
from featstore.lineage import Lineage
from featstore.lineage_events import store_emitter
from featstore.materialize import MaterializationRun
from featstore.monitoring.api import MonitoringMethods
from featstore.monitoring.evaluation import check_gate
from featstore.offline import OfflineStore
from featstore.planning import Materializer
from featstore.progress import wanted as progress_wanted
from featstore.registration import Definition, Definitions
from featstore.retrieval import RetrievalResult

__all__ = ["FeatureStore"]


class FeatureStore(MonitoringMethods):
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
        Show progress while materializing; default: when stderr is a terminal or in a
        notebook (an HTML progress line there, kept by an exported notebook).
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
    engine
        The query engine: ``"duckdb"`` (the default: DuckDB in this process, configured
        by ``memory_limit`` and ``threads``), ``"spark"`` (Apache Spark, set up by the
        ``"spark"`` settings of ``featstore.json``; needs ``featstore[spark]``:
        docs/spark.md), or an :class:`featstore.engine.Engine` such as
        ``fs.SparkEngine(spark)``. Default: the ``"engine"`` of ``featstore.json``,
        else DuckDB.
    statistics
        Record column statistics of every materialized file, saved training set and
        logged prediction batch (the default; see docs/monitoring.md). ``False`` writes
        faster, and drift then reads the reference's rows.
    openlineage
        OpenLineage config over the ``"openlineage"`` of ``featstore.json``: a
        ``namespace`` and a ``transport`` (the client's, e.g. ``{"type": "http", "url":
        ...}``) to send events live as operations run (docs/openlineage.md).

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
        engine: Engine | str | None = None,
        statistics: bool = True,
        openlineage: dict[str, Any] | None = None,
    ) -> None:
        DuckDBEngine.check_options(memory_limit, threads)
        if isinstance(engine, str) and engine not in ENGINES:
            raise ConfigError(f"unknown engine {engine!r}: use one of {', '.join(ENGINES)}")
        self.record_statistics = bool(statistics)
        self.path = Path(path).absolute()
        self.lineage_events = store_emitter(self.path, openlineage)  # checked first
        self.catalog = open_store(self.path, create=create, read_only=read_only, catalog=catalog)
        self.lineage_events.catalog = self.catalog
        self.offline = OfflineStore(self.path, read_only=read_only)
        # True when opened read-only, or the store directory cannot be written
        self.read_only = self.catalog.read_only
        self._memory_limit = memory_limit
        self._threads = threads
        self._engine: Engine | None = None if isinstance(engine, str) else engine
        self._engine_name = engine if isinstance(engine, str) else None
        # an engine passed in is the caller's to close
        self._owns_engine = not isinstance(self._engine, Engine)
        self.definitions = Definitions(self.catalog, lambda: self.engine)
        self._materializer = Materializer(
            self.catalog,
            self.offline,
            self.definitions,
            lambda: self.engine,
            progress=progress_wanted() if progress is None else progress,
            statistics=self.record_statistics,
            emitter=self.lineage_events,
        )
        self._lineage: Lineage | None = None

    # -- setup -----------------------------------------------------------------------

    @property
    def engine(self) -> Engine:
        """The query engine (created on first use): DuckDB in process, spilling to
        ``<path>/tmp`` past ``memory_limit``."""
        if self._engine is None:
            config = StoreConfig.read(self.path)
            self._engine = make_engine(
                self._engine_name or (config.engine if config else None) or "duckdb",
                spark=config.spark if config else None,
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
        if self._engine is not None and self._owns_engine:
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
        self.definitions.apply(objects)

    def list_definitions(self, kind: str = "feature_view") -> list[records.DefinitionRecord]:
        """Current definitions of a kind (``entity``, ``source``, ``feature_view``,
        ``feature_service``) as their records (EntityRecord, SourceRecord, ViewRecord,
        ServiceRecord), sorted by name."""
        return [records.definition_from_json(rec) for rec in self.definitions.of_kind(kind)]

    def list_feature_views(self) -> list[records.ViewRecord]:
        """Current feature views' records, sorted by name."""
        return [
            records.ViewRecord.from_json(rec) for rec in self.definitions.of_kind("feature_view")
        ]

    def get_feature_view(self, name: str, version: str | None = None) -> records.ViewRecord:
        """A feature view's record (the current version unless ``version``)."""
        return records.ViewRecord.from_json(self.definitions.view_record(name, version))

    def get_feature_service(self, name: str) -> records.ServiceRecord:
        """A feature service's record."""
        return records.ServiceRecord.from_json(self.definitions.service_record(name))

    def versions(self, kind: str, name: str) -> list[records.DefinitionVersion]:
        """Every registered version of a definition, oldest first: its record and when
        it was registered (``registered_at``)."""
        return [
            records.DefinitionVersion.from_json(v) for v in self.definitions.versions(kind, name)
        ]

    # -- materialization -------------------------------------------------------------

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
        return self._materializer.run(start, end, views)

    def materialize_incremental(
        self,
        end: datetime | date | str,
        views: Sequence[str | FeatureView] | None = None,
    ) -> list[MaterializationRun]:
        """Materialize each view from where its last run ended (or its first row) to ``end``."""
        return self._materializer.incremental(end, views)

    def runs(self, view: str | None = None) -> list[records.Run]:
        """Recorded materialization runs (newest first), optionally of one view."""
        return [records.Run.loads(body) for body in self.catalog.run_bodies(view)]

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
        return retrieval.get_historical_features(
            self,
            entity_df,
            features,
            full_feature_names=full_feature_names,
            bitemporal=bitemporal,
            timestamp_column=timestamp_column,
            include_event_timestamps=include_event_timestamps,
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
        return retrieval.get_latest_features(
            self,
            entity_df_or_keys,
            features,
            as_of=as_of,
            full_feature_names=full_feature_names,
            bitemporal=bitemporal,
            include_event_timestamps=include_event_timestamps,
            strict=strict,
        )

    # -- lineage, training sets, models, predictions -----------------------------------

    @property
    def lineage(self) -> Lineage:
        """Lineage queries and exports (see :class:`featstore.lineage.Lineage`)."""
        if self._lineage is None:
            self._lineage = Lineage(
                self.catalog,
                namespace=self.lineage_events.namespace,
                explainer=lambda batch, row: explain_prediction(self, batch, row),
            )
        return self._lineage

    def save_training_set(self, result: RetrievalResult, name: str) -> records.TrainingSet:
        """Save a retrieval result as a named, reproducible training set.

        Writes its frame to ``training_sets/<name>/<content_id>.parquet`` and records its
        manifest and lineage (feature view versions, materialization runs read) in one
        transaction. Saving the same result again returns the existing record (and
        rewrites its file if it was lost or damaged).
        """
        saved = training_sets.save_training_set(self, result, name)
        return self.lineage_events.training_set_saved(saved)

    def get_training_set(self, ref: str) -> records.TrainingSet:
        """A saved training set by id (``training_set:name@cid``) or name (the newest)."""
        found = registry.get_training_set(self.catalog, self.offline, ref)
        assert found is not None
        return found

    def list_training_sets(self) -> list[records.TrainingSet]:
        """Every saved training set, oldest first."""
        return [self.get_training_set(i) for i in self.catalog.training_set_ids()]

    def verify_training_set(
        self, training_set: records.TrainingSet | str
    ) -> records.TrainingSetCheck:
        """What changed since a training set was built.

        Returns ``missing_files`` and ``changed_files`` (the saved frame and the offline
        files it read that are gone, or differ from what was recorded), ``changed_sources``
        (raw input files of its runs whose size or modification time differ) and
        ``missing_sources`` (raw input files that are gone). All empty (``.ok``) means a
        rebuild is byte-identical.
        """
        return training_sets.verify_training_set(self, training_set)

    def rebuild_training_set(self, training_set: records.TrainingSet | str) -> RetrievalResult:
        """Rebuild a saved training set from its manifest: the same entity rows, view
        versions and exact files. Byte-identical to the saved frame while its inputs exist;
        raises MaterializationError naming the missing inputs otherwise."""
        return training_sets.rebuild_training_set(self, training_set)

    def register_model(
        self,
        name: str,
        training_set: records.TrainingSet | RetrievalResult | str | None,
        *,
        artifact: str | os.PathLike[str] | None = None,
        params: dict[str, Any] | None = None,
        metrics: dict[str, float] | None = None,
        tags: dict[str, str] | None = None,
    ) -> records.ModelVersion:
        """Register a new version of model ``name`` (versions count up from 1 per name).

        Records the training set (a RetrievalResult is saved first, named after the
        model), params, metrics, tags, the artifact location and hash, the features used
        and the git commit of the working directory.
        """
        model = models.register_model(
            self, name, training_set, artifact=artifact, params=params, metrics=metrics, tags=tags
        )
        return self.lineage_events.model_registered(model)

    def get_model(
        self, name: str, version: int | None = None, *, alias: str | None = None
    ) -> records.ModelVersion:
        """A model version: the latest, a given ``version``, or the one an ``alias`` names."""
        return registry.get_model_version(self.catalog, name, version, alias)

    def list_models(self) -> list[records.ModelSummary]:
        """One summary per model name: latest version, version count and aliases."""
        return models.list_models(self)

    def list_model_versions(self, name: str | None = None) -> list[records.ModelVersion]:
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
    ) -> list[records.ModelVersion]:
        """Model versions matching ``name`` and all ``tags``, ordered by a metric
        (``order_by="auc"``); versions without that metric come last."""
        return models.search_model_versions(
            self, name, tags=tags, order_by=order_by, descending=descending, limit=limit
        )

    def set_alias(
        self,
        name: str,
        alias: str,
        version: int,
        *,
        require: dict[str, str] | None = None,
        eval_set: Any = None,
    ) -> None:
        """Point ``alias`` (e.g. ``production``) of model ``name`` at ``version``; the
        previous target is kept in the alias history for :meth:`rollback`.

        ``require`` is a promotion gate, e.g. ``{"auc": ">= 0.80"}``: the version's
        latest recorded evaluation (on ``eval_set``, when given) must meet every
        requirement, or GateError says which fails and the alias does not move."""
        if require:
            check_gate(self, name, registry.check_version(name, version), require, eval_set)
        registry.set_alias(self.catalog, name, alias, version)

    def rollback(self, name: str, alias: str) -> records.ModelVersion:
        """Move ``alias`` back to the version it named before its latest change."""
        return registry.rollback(self.catalog, name, alias)

    def aliases(self, name: str) -> dict[str, int]:
        """Current aliases of model ``name``: alias -> version."""
        return registry.aliases(self.catalog, name)

    def alias_history(self, name: str, alias: str) -> list[records.AliasEvent]:
        """Every change of an alias, oldest first: its action (``set`` or ``rollback``),
        the version the alias named after it, and when."""
        return registry.alias_history(self.catalog, name, alias)

    def log_predictions(
        self,
        model_version: records.ModelVersion | str,
        frame: Any,
        *,
        features: RetrievalResult | None = None,
        timestamp_column: str | None = None,
        as_of: datetime | date | str | None = None,
    ) -> records.PredictionBatch:
        """Write predictions to Parquet and record a prediction batch.

        ``frame`` holds the entity keys and the predictions. Each row gets
        ``prediction_id``, ``model_name``, ``model_version`` and ``as_of`` (the moment its
        features describe: ``as_of``, else ``timestamp_column``, else the ``as_of`` of
        ``features`` from get_latest_features, else an ``event_timestamp`` column).
        ``features``, the retrieval the predictions were computed from, pins the exact
        feature files for :meth:`Lineage.explain`.
        """
        batch = predictions.log_predictions(
            self,
            model_version,
            frame,
            features=features,
            timestamp_column=timestamp_column,
            as_of=as_of,
        )
        return self.lineage_events.predictions_logged(batch)

    def get_prediction_batch(self, ref: str) -> records.PredictionBatch:
        """A prediction batch's record by id (``prediction_batch:<id>``) or batch id."""
        body = registry.get_prediction_batch(self.catalog, ref)
        return records.PredictionBatch.from_json(body, root=self.offline.root)

    # -- maintenance -------------------------------------------------------------------

    def gc(self) -> list[str]:
        """Delete files no reader can see: expired superseded files, and what killed
        writers left (unlisted offline, training-set and prediction files, dead staging
        directories), each under the lock its writers hold. Deletes only what featstore
        wrote, never through a symbolic link (a link found raises StorageError).
        Returns the store-relative paths removed."""
        return garbage.gc(self)
