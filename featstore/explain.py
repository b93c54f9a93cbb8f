"""Explain one prediction: the model version, its training set, each feature value with
its event time, view version and materialization run, and the raw files behind them."""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
import pyarrow as pa

from featstore.aggregations import window_query
from featstore.columns import CREATED, FILE, ROW, TS
from featstore.errors import LineageError
from featstore.lineage_ids import NodeKind, node_id
from featstore.pit import ViewJoin, detail_columns, matched_column, winner_query
from featstore.records.lineage import Explanation
from featstore.registry import (
    get_model_version,
    get_prediction_batch,
    get_training_set,
    read_verified,
)
from featstore.retrieval import run_explain

if TYPE_CHECKING:
    from featstore.store import FeatureStore

__all__ = ["explain_prediction"]


def _one_row(keys: list[str], record: dict[str, Any], as_of: datetime) -> pa.Table:
    """The entity relation of one prediction row: its keys at ``as_of``."""
    return pl.DataFrame(
        {ROW: [0], **{k: [record[k]] for k in keys}, TS: [as_of]},
        schema_overrides={TS: pl.Datetime("us")},
    ).to_arrow()


def _winner(
    store: FeatureStore,
    view: dict[str, Any],
    features: list[str],
    files: list[str],
    record: dict[str, Any],
    as_of: datetime,
    bitemporal: bool,
) -> dict[str, Any] | None:
    """The feature row retrieval picks for one entity row: the same plan, SQL builder and
    contract as get_historical_features (:func:`featstore.pit.winner_query`), with the
    winner's timestamps and file."""
    keys = list(view["join_keys"])
    entity = _one_row(keys, record, as_of)
    join = ViewJoin(
        files=tuple(str(store.offline.absolute(p)) for p in files),
        keys=tuple(keys),
        features=tuple((f, f) for f in features),
        ttl_us=view["ttl_us"],
    )
    query = winner_query(join, as_of, bitemporal=bitemporal)
    out = pl.from_arrow(run_explain(store.engine, query, entity))
    assert isinstance(out, pl.DataFrame)
    row = out.row(0, named=True)
    if not row[matched_column(0)]:
        return None
    ts, created, file = detail_columns(0)
    return {**{f: row[f] for f in features}, TS: row[ts], CREATED: row[created], FILE: row[file]}


def _window_values(
    store: FeatureStore,
    view: dict[str, Any],
    features: list[str],
    files: list[str],
    record: dict[str, Any],
    as_of: datetime,
    bitemporal: bool,
) -> dict[str, Any] | None:
    """An aggregation view's values for one entity row, by the same plan as retrieval,
    and the file holding the window's latest rows (``FILE``; the window has no single
    winning row, so no event or created time)."""
    keys = list(view["join_keys"])
    entity = _one_row(keys, record, as_of)
    query = window_query(
        view,
        [(f, f) for f in features],
        tuple(str(store.offline.absolute(p)) for p in files),
        matched=matched_column(0),
        bitemporal=bitemporal,
        max_entity_ts=as_of,
    )
    out = pl.from_arrow(store.engine.windows(query, entity))
    assert isinstance(out, pl.DataFrame)
    row = out.row(0, named=True)
    if not row[matched_column(0)]:
        return None
    rows = store.catalog.files(files)
    held = [p for p in files if p in rows and str(rows[p]["min_ts"]) <= as_of.isoformat()]
    latest = max(held, key=lambda p: str(rows[p]["max_ts"]), default=None)
    return {
        **{f: row[f] for f in features},
        TS: None,
        CREATED: None,
        FILE: str(store.offline.absolute(latest)) if latest else None,
    }


def explain_prediction(store: FeatureStore, batch_ref: str, row: int) -> Explanation:
    """See :meth:`featstore.lineage.Lineage.explain`; the dict it always was, which shows
    itself as tables in a notebook."""
    batch = get_prediction_batch(store.catalog, batch_ref)
    frame = read_verified(
        store.offline.absolute(batch["path"]),
        batch.get("content_hash"),
        f"prediction batch {batch_ref!r}",
    )
    if not 0 <= row < frame.height:
        raise LineageError(
            f"prediction batch {batch_ref!r} has {frame.height} rows; row {row} is out of range"
        )
    record = frame.row(row, named=True)
    model = get_model_version(store.catalog, batch["model"], batch["model_version"])
    training = (
        get_training_set(store.catalog, store.offline, model.training_set)
        if model.training_set
        else None
    )
    retrieval = batch.get("retrieval") or (training.manifest.to_json() if training else None)
    if retrieval is None:
        raise LineageError(
            f"prediction batch {batch_ref!r}: its model {model.id} has no training set and the "
            f"batch was logged without features=...; nothing to explain"
        )
    as_of = record["as_of"]
    bitemporal = bool(retrieval.get("bitemporal"))
    features = []
    runs: dict[str, dict[str, Any]] = {}
    for item in retrieval["features"]:
        view = store.definitions.view_record(item["view"], item["version"])
        keys = list(view["join_keys"])
        missing = [k for k in keys if k not in record]
        if missing:
            raise LineageError(
                f"prediction batch {batch_ref!r} lacks join key {missing[0]!r} of view "
                f"{item['view']!r}; log predictions with their entity keys"
            )
        pinned = [
            f["path"]
            for f in retrieval["files"]
            if f["view"] == item["view"] and f["version"] == item["version"]
        ]
        if not pinned and batch.get("retrieval") is None:
            pinned = [f["path"] for f in store.catalog.active_files(item["view"], item["version"])]
        existing = [p for p in pinned if store.offline.absolute(p).exists()]
        found = None
        if existing and all(record[k] is not None for k in keys):
            lookup = _window_values if view.get("aggregations") else _winner
            found = lookup(store, view, item["features"], existing, record, as_of, bitemporal)
        run_id = None
        file_rel = None
        if found is not None and found[FILE] is not None:
            file_rel = store.offline.relative(Path(found[FILE]))
            file_row = store.catalog.files([file_rel]).get(file_rel)
            run_id = file_row["run_id"] if file_row else None
            if run_id and run_id not in runs:
                run_body = store.catalog.run_body(run_id)
                runs[run_id] = json.loads(run_body) if run_body else {}
        for name in item["features"]:
            features.append(
                {
                    "view": item["view"],
                    "view_version": item["version"],
                    "view_node": node_id(NodeKind.FEATURE_VIEW, item["view"], item["version"]),
                    "feature": name,
                    "value": found[name] if found else None,
                    "event_timestamp": found[TS] if found else None,
                    "created_timestamp": found[CREATED] if found else None,
                    "file": file_rel,
                    "run": node_id(NodeKind.MATERIALIZATION_RUN, run_id) if run_id else None,
                    "missing_files": sorted(set(pinned) - set(existing)),
                }
            )
    source_files = {}
    run_files: dict[str, list[str]] = {}
    for run_key, run in runs.items():
        paths = run_files.setdefault(node_id(NodeKind.MATERIALIZATION_RUN, run_key), [])
        for item in run.get("inputs", []):
            source_files[item["path"]] = {**item, "unchanged": _unchanged(item)}
            paths.append(item["path"])
    data = {
        "prediction_batch": node_id(NodeKind.PREDICTION_BATCH, batch["batch_id"]),
        "row": row,
        "prediction": dict(record),
        "as_of": as_of,
        "model_version": model.to_record() | {"id": model.id},
        "training_set": training.id if training else None,
        "features": features,
        "runs": {
            node_id(NodeKind.MATERIALIZATION_RUN, k): {
                "view": v.get("view"),
                "start": v.get("start"),
                "end": v.get("end"),
            }
            for k, v in runs.items()
        },
        "source_files": list(source_files.values()),
    }
    return Explanation(data, run_files=run_files)


def _unchanged(item: dict[str, Any]) -> bool | None:
    path = item["path"]
    if item.get("size") is None or not os.path.isfile(path):
        return None if item.get("size") is None else False
    stat = os.stat(path)
    return bool(stat.st_size == item["size"] and stat.st_mtime_ns == item["mtime_ns"])
