"""Training sets, model versions with aliases, and prediction batches.

Each operation writes its Parquet file (if any) first, then records the catalog rows and
lineage nodes and edges in one transaction, so a failure records nothing and a reader
never sees a row whose file is missing. A writer holds the lock of its training-set name
or model from publishing its file until its commit; :func:`collect_garbage` (run by
``FeatureStore.gc``) takes the same lock and removes the files a killed writer left.
"""

from __future__ import annotations

import json
import numbers
import os
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from featstore.catalog import Catalog, ReadOps
from featstore.compute import file_sha256
from featstore.dtypes import file_metadata, write_frame
from featstore.errors import (
    CatalogError,
    DefinitionError,
    NotFoundError,
    StorageError,
    did_you_mean,
)
from featstore.lineage_ids import EdgeKind, NodeKind, node_id, strip_prefix
from featstore.monitoring.recording import frame_statistics
from featstore.names import validate_name
from featstore.offline import OfflineStore, new_id
from featstore.records import (
    AliasEvent,
    CodeVersion,
    ModelVersion,
    PredictionBatch,
    TrainingSet,
    TrainingSetManifest,
    read_verified,
)
from featstore.timeutil import iso, utc_now
from featstore.versioning import frame_digest
from featstore.writers import exclusive, prediction_metadata, training_set_metadata

# the records are featstore.records' (re-exported: the names this module always had)
__all__ = [
    "ModelVersion",
    "PredictionBatch",
    "TrainingSet",
    "code_version",
    "collect_garbage",
    "read_verified",
]


def code_version(cwd: str | None = None) -> dict[str, Any]:
    """The git commit and dirty flag of the working tree at ``cwd``, if it is one."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return {"git_commit": None, "git_dirty": None}
    return {"git_commit": commit, "git_dirty": bool(status.strip())}


@contextmanager
def write_parquet_atomically(
    frame: pl.DataFrame,
    offline: OfflineStore,
    catalog: Catalog,
    *,
    lock: tuple[str, str],
    metadata: dict[str, str] | None = None,
) -> Iterator[Callable[[Path], None]]:
    """Write ``frame`` in staging, then run the block holding ``offline.lock(name,
    kind=kind)`` for ``lock = (kind, name)``; the block calls the given ``publish(final)``
    (fsync and rename into place) and commits. gc takes the same lock, so it never
    deletes a file between its publication and its commit; a writer killed in between
    leaves a file that gc removes."""
    kind, name = lock
    with offline.staging(new_id()) as stage:
        staged = stage / "data.parquet"
        write_frame(frame, staged, metadata or file_metadata())  # timestamps UTC-adjusted
        with exclusive(offline, catalog, name, kind=kind):
            yield lambda final: offline.publish(staged, final)


def collect_garbage(catalog: Catalog, offline: OfflineStore) -> list[str]:
    """Delete training-set and prediction files that the catalog does not list (left by
    a writer killed before its commit), each name under its writers' lock. Returns the
    store-relative paths removed."""
    removed: list[str] = []
    live_paths: dict[str, Callable[[str], set[str]]] = {
        "training_set": catalog.training_set_paths,
        "predictions": catalog.prediction_paths,
        "labels": catalog.label_paths,
        "evaluations": lambda _name: catalog.report_paths(),
    }
    for kind, live_of in live_paths.items():
        for name in offline.names(kind):
            with exclusive(offline, catalog, name, kind=kind):
                removed += offline.collect_orphans(name, live_of(name), kind=kind)
    return removed


# -- training sets ---------------------------------------------------------------------


def save_training_set(
    catalog: Catalog,
    offline: OfflineStore,
    frame: pl.DataFrame,
    manifest: dict[str, Any],
    name: str,
    *,
    record_statistics: bool = True,
    engine: str | None = None,
) -> TrainingSet:
    validate_name(name, "training set")
    content_id = str(manifest.get("content_id"))
    if not (0 < len(content_id) <= 64 and all(c in "0123456789abcdef" for c in content_id)):
        raise DefinitionError(
            f"training set {name!r}: content id {content_id!r} is not a hex digest; save "
            f"the RetrievalResult that get_historical_features returned, unmodified"
        )
    record = _manifest_record(manifest, f"training set {name!r}")
    ref = node_id(NodeKind.TRAINING_SET, name, content_id)
    existing = get_training_set(catalog, offline, ref, missing_ok=True)
    if existing is not None and _intact(existing):
        return _refresh_provenance(catalog, existing, manifest, record)
    final = offline.root / "training_sets" / name / f"{content_id}.parquet"
    with write_parquet_atomically(
        frame,
        offline,
        catalog,
        lock=("training_set", name),
        metadata=training_set_metadata(name, manifest),
    ) as publish:
        # again, under the lock: another process may have saved it since the check above
        existing = get_training_set(catalog, offline, ref, missing_ok=True)
        if existing is not None:
            if not _intact(existing):  # a lost or damaged file: the same content again
                publish(existing.path)
            return _refresh_provenance(catalog, existing, manifest, record)
        publish(final)
        return _commit_training_set(
            catalog, offline, frame, manifest, record, name, final, record_statistics, engine
        )


def _intact(ts: TrainingSet) -> bool:
    try:
        ts.to_polars()
    except StorageError:
        return False
    return True


def _commit_training_set(
    catalog: Catalog,
    offline: OfflineStore,
    frame: pl.DataFrame,
    manifest: dict[str, Any],
    record: TrainingSetManifest,
    name: str,
    final: Path,
    record_statistics: bool = True,
    engine: str | None = None,
) -> TrainingSet:
    """Record a published training-set file (holding its name's lock); ``record`` is
    ``manifest`` decoded."""
    content_id = str(manifest["content_id"])
    statistics = frame_statistics(frame) if record_statistics else None
    now = iso(utc_now())
    ts = TrainingSet(
        name=name,
        content_id=content_id,
        relative_path=offline.relative(final),
        rows=frame.height,
        created_at=now,
        manifest=record,
        root=offline.root,
    )
    raced = False
    try:
        with catalog.transaction() as tx:
            # another process may have saved the same training set since the check above
            raced = not tx.add_training_set(
                id=ts.id,
                name=name,
                content_id=content_id,
                path=offline.relative(final),
                rows=frame.height,
                created_at=now,
                manifest=manifest,
            )
            if not raced:
                tx.add_node(
                    ts.id,
                    NodeKind.TRAINING_SET,
                    name,
                    now,
                    {
                        "content_id": content_id,
                        "rows": frame.height,
                        "path": offline.relative(final),
                        "mode": manifest.get("mode"),
                        "bitemporal": manifest.get("bitemporal"),
                        "entity_hash": manifest.get("entity_hash"),
                        **({"engine": engine} if engine else {}),
                    },
                )
                tx.add_edges(_retrieval_edges(manifest, ts.id))
                if statistics is not None:
                    tx.add_statistics(ts.id, "training_set", statistics)
    except BaseException:
        # never delete the file of a training set another process committed
        try:
            committed = catalog.training_set(ts.id) is not None
        except Exception:  # cannot tell: keep the old behaviour; the original error matters more
            committed = False
        if not committed:
            final.unlink(missing_ok=True)
        raise
    if raced:
        found = get_training_set(catalog, offline, ts.id)
        assert found is not None
        return found
    return ts


def _refresh_provenance(
    catalog: Catalog, existing: TrainingSet, manifest: dict[str, Any], record: TrainingSetManifest
) -> TrainingSet:
    """The same training set (same content id: same request, same frame) rebuilt from
    other files, e.g. after re-materialization: point its manifest at the files just read,
    so it stays rebuildable after the old ones are collected. Old edges stay as history."""
    if existing.manifest.files == record.files:
        return existing
    with catalog.transaction() as tx:
        tx.set_training_set_manifest(existing.id, manifest)
        tx.add_edges(_retrieval_edges(manifest, existing.id))
    return replace(existing, manifest=record)


def _manifest_record(manifest: dict[str, Any], what: str) -> TrainingSetManifest:
    """The record of a retrieval's manifest, refused (before anything is written) if it
    is not one a retrieval makes; ``what`` is what it was given for."""
    try:
        return TrainingSetManifest.from_json(manifest)
    except CatalogError as exc:
        problem = str(exc).partition(" is damaged: ")[2].partition("; ")[0] or str(exc)
        raise DefinitionError(
            f"{what}: the retrieval's manifest is not one featstore made ({problem}); pass "
            f"the RetrievalResult that get_historical_features returned, unmodified"
        ) from None


def _retrieval_edges(manifest: dict[str, Any], target: str) -> list[tuple[str, str, str]]:
    edges: list[tuple[str, str, str]] = [
        (node_id(NodeKind.FEATURE_VIEW, f["view"], f["version"]), target, EdgeKind.FEATURES_OF)
        for f in manifest["features"]
    ]
    edges += sorted(
        {
            (node_id(NodeKind.MATERIALIZATION_RUN, f["run_id"]), target, EdgeKind.READ_BY)
            for f in manifest["files"]
        }
    )
    service = manifest.get("feature_service")
    if service:
        service_node = node_id(NodeKind.FEATURE_SERVICE, service["name"], service["version"])
        edges.append((service_node, target, EdgeKind.SELECTED_BY))
    return edges


def get_training_set(
    catalog: Catalog, offline: OfflineStore, ref: str, *, missing_ok: bool = False
) -> TrainingSet | None:
    """A saved training set by id (``training_set:name@cid``), or by name (the newest)."""
    row = catalog.training_set(ref)
    if row is None:
        if missing_ok:
            return None
        names = catalog.training_set_names()
        raise NotFoundError(
            f"unknown training set {ref!r}"
            + did_you_mean(strip_prefix(NodeKind.TRAINING_SET, ref).partition("@")[0], names)
        )
    ts = TrainingSet.from_row(row, root=offline.root)
    _ = ts.path  # StorageError now if the catalog's path leads outside the store
    return ts


# -- models ------------------------------------------------------------------------------


def check_model_args(name: str, metrics: dict[str, float] | None) -> dict[str, float]:
    """Validate a model name and its metrics (before anything is written); the metrics."""
    validate_name(name, "model")
    metrics = dict(metrics or {})
    for key, value in metrics.items():
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise DefinitionError(
                f"model {name!r}: metric {key!r} must be a number; found {value!r}"
            )
    return metrics


def register_model(
    catalog: Catalog,
    name: str,
    training_set: TrainingSet | None,
    *,
    artifact: str | os.PathLike[str] | None,
    params: dict[str, Any] | None,
    metrics: dict[str, float] | None,
    tags: dict[str, str] | None,
) -> ModelVersion:
    metrics = check_model_args(name, metrics)
    artifact_str = str(artifact) if artifact is not None else None
    artifact_sha = None
    if artifact_str and os.path.isfile(artifact_str):
        artifact_str = os.path.abspath(artifact_str)
        artifact_sha = file_sha256(artifact_str)
    manifest = training_set.manifest if training_set else None
    code = CodeVersion.from_json(code_version())  # runs git: not under the write lock
    now = iso(utc_now())
    with catalog.transaction() as tx:
        version = tx.next_model_version(name)
        mv = ModelVersion(
            name=name,
            version=version,
            training_set=training_set.id if training_set else None,
            artifact=artifact_str,
            params=json.loads(json.dumps(params or {}, default=str)),
            metrics=metrics,
            tags={str(k): str(v) for k, v in (tags or {}).items()},
            code_version=code,
            features=manifest.features if manifest else (),
            feature_service=manifest.feature_service if manifest else None,
            created_at=now,
            artifact_sha256=artifact_sha,
        )
        tx.add_model_version(name, version, mv.training_set, now, mv.dumps())
        tx.add_node(
            mv.id,
            NodeKind.MODEL_VERSION,
            name,
            now,
            {
                "version": version,
                "metrics": metrics,
                "artifact": artifact_str,
                "git_commit": mv.code_version.git_commit,
            },
        )
        if training_set:
            tx.add_edges([(training_set.id, mv.id, EdgeKind.TRAINED)])
    return mv


_MAX_VERSION = 2**63 - 1  # SQLite's INTEGER


def check_version(name: str, version: object) -> int:
    """A model version argument as an int: a whole number (not a bool, not a float such
    as 1.9, which must never quietly mean version 1)."""
    if isinstance(version, bool) or not isinstance(version, numbers.Integral):
        raise DefinitionError(
            f"model {name!r}: version must be a whole number such as 1; found {version!r} "
            f"({type(version).__name__})"
        )
    return int(version)


def _check_text(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise DefinitionError(f"{what} must be a string; found {value!r} ({type(value).__name__})")
    return value


def _model_names(catalog: Catalog) -> list[str]:
    return catalog.model_names()


def get_model_version(
    catalog: Catalog, name: str, version: int | None = None, alias: str | None = None
) -> ModelVersion:
    _check_text(name, "model name")
    if version is not None:
        version = check_version(name, version)
    if alias is not None:
        _check_text(alias, f"alias of model {name!r}")
        version = current_alias(catalog, name, alias)
        if version is None:
            raise NotFoundError(f"model {name!r} has no alias {alias!r}; set it with set_alias")
    if version is not None and not 1 <= version <= _MAX_VERSION:
        body = None  # versions count up from 1
    else:
        body = catalog.model_version_body(name, version)
    if body is None:
        if version is not None and name in _model_names(catalog):
            known = [mv.version for mv in list_model_versions(catalog, name)]
            raise NotFoundError(
                f"model {name!r} has no version {version}; its versions are {known}"
                + ("" if version >= 1 else " (versions count up from 1)")
            )
        raise NotFoundError(f"unknown model {name!r}" + did_you_mean(name, _model_names(catalog)))
    return ModelVersion.loads(body)


def list_model_versions(catalog: Catalog, name: str | None = None) -> list[ModelVersion]:
    return [ModelVersion.loads(b) for b in catalog.model_version_bodies(name)]


def alias_stack(events: list[Any]) -> list[int]:
    """Replay alias events: 'set' pushes a version, 'rollback' pops one."""
    stack: list[int] = []
    for event in events:
        if event["action"] == "set":
            stack.append(int(event["version"]))
        elif stack:
            stack.pop()
    return stack


def _alias_events(tx: ReadOps, name: str, alias: str) -> list[dict[str, Any]]:
    return tx.alias_events(name, alias)


def current_alias(catalog: Catalog, name: str, alias: str) -> int | None:
    stack = alias_stack(_alias_events(catalog, name, alias))
    return stack[-1] if stack else None


def set_alias(catalog: Catalog, name: str, alias: str, version: int) -> None:
    validate_name(alias, "alias")
    version = check_version(name, version)
    get_model_version(catalog, name, version)
    with catalog.transaction() as tx:
        tx.add_alias_event(name, alias, "set", int(version), iso(utc_now()))


def rollback(catalog: Catalog, name: str, alias: str) -> ModelVersion:
    _check_text(name, "model name")
    _check_text(alias, f"alias of model {name!r}")
    with catalog.transaction() as tx:
        stack = alias_stack(_alias_events(tx, name, alias))
        if len(stack) < 2:
            where = "was never set" if not stack else f"has no earlier version than {stack[-1]}"
            raise NotFoundError(
                f"cannot roll back alias {alias!r} of model {name!r}: it {where}; point it at "
                f"a version with set_alias instead"
            )
        tx.add_alias_event(name, alias, "rollback", stack[-2], iso(utc_now()))
    return get_model_version(catalog, name, stack[-2])


def alias_history(catalog: Catalog, name: str, alias: str) -> list[AliasEvent]:
    """Every change of an alias, oldest first: action, the version it then pointed to, time."""
    out = []
    stack: list[int] = []
    for row in _alias_events(catalog, name, alias):
        event = AliasEvent.from_json(row)
        if event.action == "set":
            stack.append(event.version)
        elif stack:
            stack.pop()
        # a rollback records the version it moves back to: the replay agrees
        out.append(replace(event, version=stack[-1]) if stack else event)
    return out


def aliases(catalog: Catalog, name: str) -> dict[str, int]:
    """Current aliases of a model: alias -> version."""
    names = catalog.alias_names(name)
    out = {}
    for alias in names:
        version = current_alias(catalog, name, alias)
        if version is not None:
            out[alias] = version
    return out


# -- predictions -------------------------------------------------------------------------

# the columns log_predictions adds to each row (no statistics are recorded for them)
ADDED_COLUMNS = ("prediction_id", "model_name", "model_version", "as_of")


def log_predictions(
    catalog: Catalog,
    offline: OfflineStore,
    model: ModelVersion,
    frame: pl.DataFrame,
    *,
    batch_id: str,
    retrieval: dict[str, Any] | None,
    as_of: datetime | None,
    record_statistics: bool = True,
    extra: dict[str, Any] | None = None,
) -> PredictionBatch:
    if retrieval is not None:
        _manifest_record(retrieval, f"predictions of model {model.id!r}")
    final = offline.root / "predictions" / model.name / str(model.version) / f"{batch_id}.parquet"
    with write_parquet_atomically(
        frame,
        offline,
        catalog,
        lock=("predictions", model.name),
        metadata=prediction_metadata(model.name, model.version, batch_id, retrieval),
    ) as publish:
        publish(final)
        return _commit_predictions(
            catalog,
            offline,
            model,
            frame,
            batch_id,
            retrieval,
            as_of,
            final,
            record_statistics,
            extra or {},
        )


def _commit_predictions(
    catalog: Catalog,
    offline: OfflineStore,
    model: ModelVersion,
    frame: pl.DataFrame,
    batch_id: str,
    retrieval: dict[str, Any] | None,
    as_of: datetime | None,
    final: Path,
    record_statistics: bool,
    extra: dict[str, Any],
) -> PredictionBatch:
    """Record a published prediction file (holding its model's lock); ``extra`` adds
    keys to its record (``served_features``)."""
    now = iso(utc_now())
    digest = frame_digest(frame)
    statistics = frame_statistics(frame, skip=ADDED_COLUMNS) if record_statistics else None
    body = {
        "content_hash": digest,
        "batch_id": batch_id,
        "model": model.name,
        "model_version": model.version,
        "path": offline.relative(final),
        "rows": frame.height,
        "created_at": now,
        "as_of": iso(as_of) if as_of else None,
        "retrieval": retrieval,
        "columns": frame.columns,
        **extra,
    }
    try:
        batch = PredictionBatch.from_json(body, root=offline.root)
        with catalog.transaction() as tx:
            tx.add_prediction_batch(
                batch_id=batch_id,
                model=model.name,
                model_version=model.version,
                path=offline.relative(final),
                rows=frame.height,
                created_at=now,
                body=json.dumps(body, sort_keys=True),
            )
            tx.add_node(
                batch.id,
                NodeKind.PREDICTION_BATCH,
                model.name,
                now,
                {
                    "model_version": model.version,
                    "rows": frame.height,
                    "path": offline.relative(final),
                },
            )
            edges: list[tuple[str, str, str]] = [(model.id, batch.id, EdgeKind.PREDICTED)]
            if retrieval:
                edges += _retrieval_edges(retrieval, batch.id)
            tx.add_edges(edges)
            if statistics is not None:
                tx.add_statistics(batch.id, "prediction_batch", statistics)
    except BaseException:
        final.unlink(missing_ok=True)
        raise
    return batch


def get_prediction_batch(catalog: Catalog, ref: str) -> dict[str, Any]:
    """A prediction batch's stored body (a plain dict; ``FeatureStore.get_prediction_batch``
    decodes it to a PredictionBatch)."""
    batch_id = strip_prefix(NodeKind.PREDICTION_BATCH, ref)
    body = catalog.prediction_batch_body(batch_id)
    if body is None:
        raise NotFoundError(f"unknown prediction batch {ref!r}")
    return dict(json.loads(body))
