"""Saved training sets: checking what changed since one was built, and rebuilding it
from its manifest (the same entity rows, view versions and exact files)."""

from __future__ import annotations

import os
from datetime import datetime
from typing import TYPE_CHECKING, Any

import polars as pl

from featstore import registry
from featstore.dtypes import restore_dtypes
from featstore.engine import engine_name
from featstore.errors import DefinitionError, MaterializationError, StorageError
from featstore.records import TrainingSet, TrainingSetCheck
from featstore.retrieval import (
    RetrievalResult,
    file_problems,
    frame_bytes,
    retrieve,
)

if TYPE_CHECKING:
    from featstore.store import FeatureStore

__all__ = ["save_training_set", "rebuild_training_set", "verify_training_set"]


def verify_training_set(store: FeatureStore, training_set: TrainingSet | str) -> TrainingSetCheck:
    """What changed since a training set was built.

    Returns ``missing_files`` and ``changed_files`` (the saved frame and the offline
    files it read that are gone, or differ from what was recorded), ``changed_sources``
    (raw input files of its runs whose size or modification time differ) and
    ``missing_sources`` (raw input files that are gone). All empty (``.ok``) means a
    rebuild is byte-identical.
    """
    ts = store.get_training_set(training_set) if isinstance(training_set, str) else training_set
    problems = file_problems(store, sorted({f.path for f in ts.manifest.files}))
    missing = sorted(p for p, (what, _) in problems.items() if what == "missing")
    damaged = sorted(p for p, (what, _) in problems.items() if what == "changed")
    try:
        ts.to_polars()
    except StorageError as exc:
        saved = store.offline.relative(ts.path)
        (missing if "is gone" in str(exc) else damaged).insert(0, saved)
    changed: set[str] = set()
    gone: set[str] = set()
    for run_id in sorted({f.run_id for f in ts.manifest.files}):
        for row in store.catalog.run_inputs(run_id):
            if row["size"] is None:
                continue
            try:
                stat = os.stat(row["path"])
            except OSError:
                gone.add(row["path"])
                continue
            if (stat.st_size, stat.st_mtime_ns) != (row["size"], row["mtime_ns"]):
                changed.add(row["path"])
    return TrainingSetCheck(
        missing_files=tuple(missing),
        changed_files=tuple(damaged),
        changed_sources=tuple(sorted(changed)),
        missing_sources=tuple(sorted(gone)),
    )


def rebuild_training_set(store: FeatureStore, training_set: TrainingSet | str) -> RetrievalResult:
    """Rebuild a saved training set from its manifest: the same entity rows, view
    versions and exact files. Byte-identical to the saved frame while its inputs exist;
    raises MaterializationError naming the missing inputs otherwise."""
    ts = store.get_training_set(training_set) if isinstance(training_set, str) else training_set
    saved = ts.to_polars()  # StorageError if the saved frame is gone or was changed
    report = store.verify_training_set(ts)
    if report.missing_files:
        raise MaterializationError(
            f"training set {ts.id!r} cannot be rebuilt: {len(report.missing_files)} "
            f"offline file(s) it read are gone (first: {report.missing_files[0]!r}); "
            f"re-materialize and build a new training set"
        )
    m = ts.manifest.to_json()  # the manifest as the retrieval made it, a plain dict
    feature_columns = [c for item in m["features"] for c in item["columns"]]
    entity = saved.drop(feature_columns)
    pinned: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for f in m["files"]:
        pinned.setdefault((f["view"], f["version"]), []).append(
            {k: v for k, v in f.items() if k not in ("view", "version")}
        )
    refs = [f"{i['view']}@{i['version']}:{name}" for i in m["features"] for name in i["features"]]
    if m["mode"] == "latest":
        entity = entity.with_columns(
            pl.lit(datetime.fromisoformat(m["as_of"]), dtype=pl.Datetime("us")).alias(
                m["timestamp_column"]
            )
        )
    latest = m["mode"] == "latest"
    result = retrieve(
        store,
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
    # a training set saved before event times took the entity column's time zone holds
    # them naive: rebuilt, they are given the saved frame's dtype again
    frame = restore_dtypes(
        result.frame,
        {
            c: saved.schema[c]
            for c, d in result.frame.schema.items()
            if isinstance(d, pl.Datetime) and isinstance(saved.schema.get(c), pl.Datetime)
        },
    )
    if frame_bytes(frame) != frame_bytes(saved):
        raise MaterializationError(
            f"training set {ts.id!r}: the rebuilt frame differs from the saved one although "
            f"its files exist; changed sources: {list(report.changed_sources) or 'none found'}"
        )
    return RetrievalResult(frame, dict(m), engine=engine_name(store.engine))


def save_training_set(store: FeatureStore, result: RetrievalResult, name: str) -> TrainingSet:
    """Save a retrieval result as a named training set (see FeatureStore)."""
    if not isinstance(result, RetrievalResult):
        raise DefinitionError(
            f"save_training_set takes the RetrievalResult that get_historical_features "
            f"returned; found {type(result).__name__}"
        )
    return registry.save_training_set(
        store.catalog,
        store.offline,
        result.frame,
        result.manifest,
        name,
        record_statistics=store.record_statistics,
        engine=result.engine,
    )
