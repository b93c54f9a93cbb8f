"""The data behind the UI's pages: plain JSON-able dicts read from a store's public API
and catalog, one function per ``/api/`` endpoint (:mod:`featstore.ui.server` routes
them). Nothing here writes.

Every object carries ``lineage_id``, its lineage node id built by
:func:`featstore.lineage_ids.node_id`, so that a page can link to the explorer.
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import polars as pl

from featstore._version import __version__
from featstore.errors import DefinitionError, MonitoringError, NotFoundError, did_you_mean
from featstore.lineage_ids import NodeKind, node_id, strip_prefix
from featstore.records import PredictionBatch, Run, TrainingSet, ViewRecord
from featstore.timeutil import iso

if TYPE_CHECKING:
    from featstore.store import FeatureStore

__all__ = [
    "batches",
    "jsonable",
    "model",
    "models",
    "run",
    "runs",
    "summary",
    "training_set",
    "training_sets",
    "view",
    "view_diff",
    "views",
]


def _actions() -> ModuleType:
    """:mod:`featstore.cli.actions`, imported on first use: the CLI's package imports
    its commands, which may import the UI, so a module-level import could run in a cycle."""
    from featstore.cli import actions

    return actions


# -- JSON ---------------------------------------------------------------------------


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON data: mappings and sequences as dicts and lists, instants
    as ISO text, paths as text, and NaN or infinite floats as None (JSON has neither)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        return [jsonable(v) for v in items]
    to_json = getattr(value, "to_json", None)
    if callable(to_json):
        return jsonable(to_json())
    return str(value)


def _duration(us: int | None) -> str | None:
    """A TTL or lookback in microseconds as readable text (``"30 days, 0:00:00"``)."""
    return None if us is None else str(timedelta(microseconds=us))


# -- overview -----------------------------------------------------------------------


def summary(store: FeatureStore) -> dict[str, Any]:
    """How many views, runs, training sets, models and prediction batches the store
    holds, its path and the featstore version."""
    models_ = store.list_models()
    return {
        "store": str(store.path),
        "name": store.path.name,
        "featstore_version": __version__,
        "read_only": store.read_only,
        "catalog": store.catalog.location,
        "counts": {
            "views": len(store.list_definitions("feature_view")),
            "runs": len(store.runs()),
            "training_sets": len(store.catalog.training_set_ids()),
            "models": len(models_),
            "model_versions": sum(m.versions for m in models_),
            "batches": len(store.catalog.prediction_batches()),
        },
    }


# -- feature views ------------------------------------------------------------------


def _view_id(name: str, version: str) -> str:
    return node_id(NodeKind.FEATURE_VIEW, name, version)


def views(store: FeatureStore) -> dict[str, Any]:
    """The current version of every feature view, sorted by name."""
    out = []
    for rec in store.list_feature_views():
        out.append(
            {
                "name": rec.name,
                "version": rec.version,
                "entity": rec.entity,
                "source": rec.source,
                "features": len(rec.features),
                "versions": len(store.versions("feature_view", rec.name)),
                "owner": rec.owner,
                "description": rec.description,
                "lineage_id": _view_id(rec.name, rec.version),
            }
        )
    return {"views": out}


def _definition(rec: ViewRecord) -> dict[str, Any]:
    """What defines one version of a view, in reading order."""
    return {
        "entity": rec.entity,
        "join_keys": list(rec.join_keys),
        "key_dtypes": dict(rec.key_dtypes),
        "source": rec.source,
        "source_version": rec.source_version,
        "source_lineage_id": node_id(NodeKind.SOURCE, rec.source),
        "timestamp_column": rec.timestamp_column,
        "created_timestamp_column": rec.created_timestamp_column,
        "features": [{"name": f, "dtype": rec.features[f]} for f in rec.feature_order],
        "ttl": _duration(rec.ttl_us),
        "lookback": _duration(rec.lookback_us),
        "selection": list(rec.selection) if rec.selection is not None else None,
        "transform_source": rec.transform_source,
        "description": rec.description,
        "owner": rec.owner,
        "tags": dict(rec.tags),
    }


def view(store: FeatureStore, name: str) -> dict[str, Any]:
    """A feature view: its current version, what is materialized of it, and every
    registered version (oldest first) with its full definition and its runs."""
    details = _actions().view_details(store, name)  # NotFoundError for an unknown name
    run_counts: dict[str, int] = {}
    for r in store.runs(name):
        run_counts[r.view_version] = run_counts.get(r.view_version, 0) + 1
    versions = []
    for v in store.versions("feature_view", name):
        rec = v.definition
        assert isinstance(rec, ViewRecord)
        versions.append(
            {
                "version": rec.version,
                "registered_at": v.registered_at,
                "current": rec.version == details["version"],
                "runs": run_counts.get(rec.version, 0),
                "lineage_id": _view_id(name, rec.version),
                "definition": _definition(rec),
            }
        )
    return {
        "name": name,
        "version": details["version"],
        "lineage_id": _view_id(name, details["version"]),
        "materialized": details["materialized"],
        "versions": versions,
    }


def _definition_text(rec: ViewRecord) -> list[str]:
    """One version's definition as lines to diff: the record as pretty-printed JSON
    (without its encoded Arrow schema), then its transformation source, if recorded."""
    body = rec.to_json()
    body.pop("arrow_schema", None)
    source = body.pop("transform_source", None)
    lines = json.dumps(body, indent=2, sort_keys=True).splitlines()
    if source:
        lines += ["", "# transformation", *str(source).splitlines()]
    return lines


def view_diff(store: FeatureStore, name: str, a: str | None, b: str | None) -> dict[str, Any]:
    """A line diff of versions ``a`` and ``b`` of view ``name`` (their definitions as
    text, :func:`difflib.unified_diff`) and what changed in its features."""
    if not a or not b:
        raise DefinitionError(
            f"a diff of feature view {name!r} needs two versions: pass ?a=VERSION&b=VERSION "
            f"(parameter {'a' if not a else 'b'!r} is missing)"
        )
    old = store.get_feature_view(name, a)  # NotFoundError listing the versions
    new = store.get_feature_view(name, b)
    diff = list(
        difflib.unified_diff(
            _definition_text(old),
            _definition_text(new),
            fromfile=f"{name}@{a}",
            tofile=f"{name}@{b}",
            lineterm="",
        )
    )
    before, after = dict(old.features), dict(new.features)
    old_json, new_json = old.to_json(), new.to_json()
    fields = sorted(
        k
        for k in set(old_json) | set(new_json)
        if k not in ("version", "arrow_schema") and old_json.get(k) != new_json.get(k)
    )
    return {
        "name": name,
        "a": a,
        "b": b,
        "a_lineage_id": _view_id(name, a),
        "b_lineage_id": _view_id(name, b),
        "identical": a == b,
        "diff": "\n".join(diff),
        "summary": {
            "added": [{"name": f, "dtype": after[f]} for f in after if f not in before],
            "removed": [{"name": f, "dtype": before[f]} for f in before if f not in after],
            "changed_dtype": [
                {"name": f, "from": before[f], "to": after[f]}
                for f in before
                if f in after and before[f] != after[f]
            ],
            "fields_changed": fields,
        },
    }


# -- materialization runs -----------------------------------------------------------


def _run_row(r: Run) -> dict[str, Any]:
    return {
        "run_id": r.run_id,
        "view": r.view,
        "view_version": r.view_version,
        "start": iso(r.start),
        "end": iso(r.end),
        "rows": r.rows,
        "files": len(r.files),
        "started_at": iso(r.started_at),
        "finished_at": iso(r.finished_at),
        "lineage_id": node_id(NodeKind.MATERIALIZATION_RUN, r.run_id),
        "view_lineage_id": _view_id(r.view, r.view_version),
    }


def runs(store: FeatureStore) -> dict[str, Any]:
    """Every materialization run, newest first."""
    return {"runs": [_run_row(r) for r in store.runs()]}


def run(store: FeatureStore, ref: str) -> dict[str, Any]:
    """One run (``<run_id>`` or ``run:<run_id>``): its files as the catalog lists them,
    the raw inputs it read, and its column statistics when they were recorded."""
    run_id = strip_prefix(NodeKind.MATERIALIZATION_RUN, ref)
    body = store.catalog.run_body(run_id)
    if body is None:
        known = [r.run_id for r in store.runs()]
        raise NotFoundError(f"unknown materialization run {ref!r}" + did_you_mean(run_id, known))
    r = Run.loads(body)
    listed = store.catalog.files(list(r.files))
    files = []
    for path in r.files:
        row = listed.get(path, {})
        files.append(
            {
                "path": path,
                "bucket": row.get("bucket"),
                "rows": row.get("rows"),
                "bytes": row.get("bytes"),
                "min_ts": row.get("min_ts"),
                "max_ts": row.get("max_ts"),
                "active": bool(row["active"]) if "active" in row else None,
            }
        )
    statistics: dict[str, Any] | None
    missing: str | None
    try:
        stats = store.statistics(r.id)
    except MonitoringError as exc:  # statistics off, or a run from before they existed
        statistics, missing = None, str(exc)
    else:
        statistics, missing = {"rows": stats.rows, "columns": _stat_rows(stats.to_polars())}, None
    return {
        **_run_row(r),
        "file_list": files,
        "inputs": [i.to_json() for i in r.inputs],
        "statistics": statistics,
        "statistics_missing": missing,
    }


_STAT_COLUMNS = (
    "column",
    "dtype",
    "count",
    "nulls",
    "null_rate",
    "min",
    "max",
    "mean",
    "std",
    "distinct",
    "p50",
)


def _stat_rows(frame: pl.DataFrame) -> list[dict[str, Any]]:
    keep = [c for c in _STAT_COLUMNS if c in frame.columns]
    return [jsonable(row) for row in frame.select(keep).to_dicts()]


# -- training sets ------------------------------------------------------------------


def _training_set_id(ts: TrainingSet) -> str:
    return node_id(NodeKind.TRAINING_SET, ts.name, ts.content_id)


def training_sets(store: FeatureStore) -> dict[str, Any]:
    """Every saved training set, newest first."""
    out = []
    for ts in reversed(store.list_training_sets()):
        out.append(
            {
                "id": _training_set_id(ts),
                "name": ts.name,
                "content_id": ts.content_id,
                "rows": ts.rows,
                "created_at": ts.created_at,
                "mode": ts.manifest.mode,
                "views": [f"{f.view}@{f.version}" for f in ts.manifest.features],
                "lineage_id": _training_set_id(ts),
            }
        )
    return {"training_sets": out}


def training_set(store: FeatureStore, ref: str) -> dict[str, Any]:
    """One training set (its id, or a name for the newest of that name): rows, columns,
    and its manifest (views, versions, runs read, features), and the models trained on it."""
    ts = store.get_training_set(ref)  # NotFoundError for an unknown one
    manifest = ts.manifest
    columns: list[dict[str, str]] | None
    missing: str | None
    try:
        schema = pl.read_parquet_schema(ts.path)
    except (OSError, pl.exceptions.PolarsError) as exc:
        columns, missing = None, f"cannot read the saved frame {ts.relative_path!r}: {exc}"
    else:
        columns, missing = [{"name": c, "dtype": str(d)} for c, d in schema.items()], None
    runs_read = sorted({f.run_id for f in manifest.files})
    tid = _training_set_id(ts)
    trained = [
        {
            "name": mv.name,
            "version": mv.version,
            "lineage_id": node_id(NodeKind.MODEL_VERSION, mv.name, mv.version),
        }
        for mv in store.list_model_versions()
        if mv.training_set == tid
    ]
    return {
        "id": tid,
        "name": ts.name,
        "content_id": ts.content_id,
        "rows": ts.rows,
        "created_at": ts.created_at,
        "path": ts.relative_path,
        "lineage_id": tid,
        "columns": columns,
        "columns_missing": missing,
        "mode": manifest.mode,
        "bitemporal": manifest.bitemporal,
        "timestamp_column": manifest.timestamp_column,
        "entity_rows": manifest.entity_rows,
        "feature_service": jsonable(manifest.feature_service),
        "features": [
            {
                "view": f.view,
                "version": f.version,
                "features": list(f.features),
                "columns": list(f.columns),
                "lineage_id": _view_id(f.view, f.version),
            }
            for f in manifest.features
        ],
        "runs": [
            {"run_id": r, "lineage_id": node_id(NodeKind.MATERIALIZATION_RUN, r)} for r in runs_read
        ],
        "files": [jsonable(f) for f in manifest.files],
        "models": trained,
    }


# -- models -------------------------------------------------------------------------


def models(store: FeatureStore) -> dict[str, Any]:
    """One entry per model name: its latest version, how many, and its aliases."""
    out = []
    for m in store.list_models():
        latest = store.get_model(m.name, m.latest_version)
        out.append(
            {
                "name": m.name,
                "latest_version": m.latest_version,
                "versions": m.versions,
                "aliases": dict(m.aliases),
                "metrics": jsonable(latest.metrics),
                "created_at": latest.created_at,
                "lineage_id": node_id(NodeKind.MODEL_VERSION, m.name, m.latest_version),
            }
        )
    return {"models": out}


def model(store: FeatureStore, name: str) -> dict[str, Any]:
    """A model's versions (oldest first) with metrics, params, training set and
    aliases, its current aliases and each alias's history."""
    details = _actions().model_details(store, name)  # NotFoundError for an unknown name
    versions = []
    for v in details["versions"]:
        ts = v.get("training_set")
        versions.append(
            {
                **jsonable(v),
                "lineage_id": node_id(NodeKind.MODEL_VERSION, name, v["version"]),
                "training_set_lineage_id": ts,
            }
        )
    return {
        "name": name,
        "aliases": details["aliases"],
        "alias_history": jsonable(details["alias_history"]),
        "versions": versions,
        "lineage_id": node_id(NodeKind.MODEL_VERSION, name, versions[-1]["version"]),
    }


# -- prediction batches -------------------------------------------------------------


def batches(store: FeatureStore) -> dict[str, Any]:
    """Every prediction batch, newest first."""
    out = []
    for row in reversed(store.catalog.prediction_batches()):
        b = PredictionBatch.loads(row["body"])
        out.append(
            {
                "batch_id": b.batch_id,
                "model": b.model,
                "model_version": b.model_version,
                "rows": b.rows,
                "logged_at": b.created_at,
                "as_of": b.as_of,
                "lineage_id": node_id(NodeKind.PREDICTION_BATCH, b.batch_id),
                "model_lineage_id": node_id(NodeKind.MODEL_VERSION, b.model, b.model_version),
            }
        )
    return {"batches": out}
