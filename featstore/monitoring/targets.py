"""What monitoring looks at: a saved training set, a prediction batch, a feature view over
a time window, a materialization run, or a frame in memory, each resolved to its rows,
its recorded statistics (when there are some) and its lineage node."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import polars as pl

from featstore.columns import RANK, TS
from featstore.dtypes import scan_frames
from featstore.errors import MonitoringError, NotFoundError
from featstore.lineage_ids import NodeKind, has_prefix, node_id, strip_prefix
from featstore.monitoring import stats
from featstore.records import PredictionBatch, Run, TrainingSet
from featstore.timeutil import as_utc, iso

if TYPE_CHECKING:
    from featstore.store import FeatureStore

__all__ = ["ADDED_COLUMNS", "Side", "Window", "resolve", "statistics_of"]

# the columns log_predictions adds to every prediction row
ADDED_COLUMNS = ("prediction_id", "model_name", "model_version", "as_of")


@dataclass(frozen=True, slots=True)
class Window:
    """A feature view's rows with event time in ``[start, end)`` (of ``version``, or the
    current one), for :meth:`FeatureStore.drift` and :meth:`FeatureStore.statistics`."""

    view: str
    start: datetime
    end: datetime
    version: str | None = None

    def __repr__(self) -> str:
        at = f"@{self.version}" if self.version else ""
        return f"Window({self.view}{at}, {iso(self.start)} .. {iso(self.end)})"


def window(
    store: FeatureStore,
    view: str,
    start: datetime | date | str,
    end: datetime | date | str,
    *,
    version: str | None = None,
) -> Window:
    lo, hi = as_utc(start, "start"), as_utc(end, "end")
    if not lo < hi:
        raise MonitoringError(
            f"window of feature view {view!r}: start {iso(lo)} is not before end {iso(hi)}"
        )
    record = store.definitions.view_record(view, version)  # NotFoundError if unknown
    return Window(view, lo, hi, str(record["version"]))


@dataclass(slots=True)
class Side:
    """One side of a comparison (or the subject of statistics).

    ``label`` names it in messages and reports; ``node`` is its lineage node (None for a
    frame in memory); ``stored`` its recorded statistics when they describe exactly its
    rows; ``read`` gives its rows; ``skip`` the columns that are not features (keys,
    timestamps, columns featstore adds)."""

    label: str
    node: str | None
    read: Callable[[], pl.LazyFrame]
    stored: stats.Statistics | None = None
    skip: frozenset[str] = frozenset()
    rows: int | None = None
    nodes: tuple[str, ...] = field(default=())

    def schema(self) -> pl.Schema:
        return self.read().collect_schema()


def resolve(store: FeatureStore, obj: Any, role: str) -> Side:
    """The side ``obj`` names; ``role`` (``reference``, ``current``) is for messages."""
    from featstore.retrieval import RetrievalResult

    if isinstance(obj, Window):
        return _window_side(store, obj)
    if isinstance(obj, TrainingSet):
        return _training_set_side(store, obj)
    if isinstance(obj, PredictionBatch):
        return _batch_side(store, obj)
    if isinstance(obj, RetrievalResult):
        frame = obj.frame
        return Side(
            label=f"the {role} retrieval result",
            node=None,
            read=frame.lazy,
            skip=frozenset(_manifest_skips(store, obj.manifest)),
            rows=frame.height,
        )
    if isinstance(obj, pl.DataFrame):
        return Side(label=f"the {role} frame", node=None, read=obj.lazy, rows=obj.height)
    if isinstance(obj, pl.LazyFrame):
        return Side(label=f"the {role} frame", node=None, read=lambda: obj)
    if isinstance(obj, str):
        if has_prefix(NodeKind.PREDICTION_BATCH, obj):
            return _batch_side(store, store.get_prediction_batch(obj))
        if has_prefix(NodeKind.TRAINING_SET, obj) or obj in store.catalog.training_set_names():
            return _training_set_side(store, store.get_training_set(obj))
        if store.catalog.prediction_batch_body(obj) is not None:
            return _batch_side(store, store.get_prediction_batch(obj))
        raise NotFoundError(
            f"{role} {obj!r} is not a saved training set (name or id) or a prediction batch "
            f"id; for a feature view pass store.window({obj!r}, start, end), for a frame "
            f"pass the frame"
        )
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is optional
        pd = None
    if pd is not None and isinstance(obj, pd.DataFrame):
        frame = pl.from_pandas(obj)
        return Side(label=f"the {role} frame", node=None, read=frame.lazy, rows=frame.height)
    raise MonitoringError(
        f"{role}: cannot compare a {type(obj).__name__}; pass a saved training set (or its "
        f"name), a prediction batch, store.window(view, start, end), or a Polars or pandas "
        f"frame"
    )


def _manifest_skips(store: FeatureStore, manifest: Any) -> set[str]:
    """The join keys and the timestamp column of a retrieval (not features)."""
    skip: set[str] = set()
    if not manifest:
        return skip
    ts = manifest.get("timestamp_column")
    if ts:
        skip.add(str(ts))
    for item in manifest.get("features", ()):
        try:
            record = store.definitions.view_record(item["view"], item["version"])
        except NotFoundError:
            continue
        skip.update(record["join_keys"])
        if manifest.get("include_event_timestamps"):
            skip.add(item["columns"][-1])
    return skip


def _recorded(store: FeatureStore, subject: str, target: str) -> stats.Statistics | None:
    body = store.catalog.statistics_bodies([subject]).get(subject)
    if body is None:
        return None
    import json

    return stats.Statistics.from_json({**json.loads(body), "target": target})


def _once(read: Callable[[], pl.LazyFrame]) -> Callable[[], pl.LazyFrame]:
    """``read`` run on the first call only: a saved file is read and checked against its
    hash once, however often a check asks for its schema or rows."""
    return functools.cache(read)


def _training_set_side(store: FeatureStore, ts: TrainingSet) -> Side:
    manifest = ts.manifest.to_json()
    return Side(
        label=f"training set {ts.id!r}",
        node=ts.id,
        read=_once(lambda: ts.to_polars().lazy()),
        stored=_recorded(store, ts.id, ts.id),
        skip=frozenset(_manifest_skips(store, manifest)),
        rows=ts.rows,
    )


def _batch_side(store: FeatureStore, batch: PredictionBatch) -> Side:
    skip = set(ADDED_COLUMNS)
    model = store.get_model(batch.model, batch.model_version)
    for item in model.features:
        try:
            skip.update(store.definitions.view_record(item.view, item.version)["join_keys"])
        except NotFoundError:
            continue
    if batch.retrieval is not None:
        skip |= _manifest_skips(store, batch.retrieval.to_json())
    return Side(
        label=f"prediction batch {batch.id!r}",
        node=batch.id,
        read=_once(lambda: batch.to_polars().lazy()),
        stored=_recorded(store, batch.id, batch.id),
        skip=frozenset(skip),
        rows=batch.rows,
    )


def _window_files(store: FeatureStore, w: Window) -> tuple[list[dict[str, Any]], list[str]]:
    files = store.catalog.active_files(
        w.view, w.version or "", min_ts_at_most=iso(w.end), max_ts_at_least=iso(w.start)
    )
    files = [f for f in files if f["min_ts"] < iso(w.end) and f["max_ts"] >= iso(w.start)]
    features = list(store.definitions.view_record(w.view, w.version)["features"])
    return files, features


def _window_side(store: FeatureStore, w: Window) -> Side:
    files, features = _window_files(store, w)
    view_node = node_id(NodeKind.FEATURE_VIEW, w.view, w.version or "")
    label = f"feature view {w.view!r}@{w.version} over [{iso(w.start)}, {iso(w.end)})"
    paths = [str(store.offline.absolute(f["path"])) for f in files]
    keys = store.definitions.view_record(w.view, w.version)["join_keys"]

    def read() -> pl.LazyFrame:
        if not paths:
            return pl.LazyFrame(schema={f: pl.Null for f in features})
        return (
            scan_frames(paths)
            .filter((pl.col(RANK) == 1) & (pl.col(TS) >= w.start) & (pl.col(TS) < w.end))
            .select(features)
        )

    stored = None
    if len(files) == 1 and _inside(files[0], w):
        stored = _recorded(store, files[0]["path"], label)
    runs = sorted({str(f["run_id"]) for f in files})
    return Side(
        label=label,
        node=view_node,
        read=read,
        stored=stored,
        skip=frozenset(keys),
        nodes=tuple(node_id(NodeKind.MATERIALIZATION_RUN, r) for r in runs),
    )


def _inside(file: dict[str, Any], w: Window) -> bool:
    return bool(file["min_ts"] >= iso(w.start) and file["max_ts"] < iso(w.end))


# -- statistics of a target --------------------------------------------------------------


def statistics_of(
    store: FeatureStore,
    target: Any,
    *,
    version: str | None = None,
    start: datetime | date | str | None = None,
    end: datetime | date | str | None = None,
) -> stats.Statistics:
    """Recorded statistics of a view (merged over its files, optionally of a version and
    a time range), a run, a training set or a prediction batch."""
    from featstore.definitions import FeatureView

    if isinstance(target, FeatureView):
        target = target.name
    if isinstance(target, Window):
        return _view_statistics(store, target)
    if isinstance(target, Run):
        return _run_statistics(store, target.run_id)
    if isinstance(target, TrainingSet | PredictionBatch):
        return _stored_or_fail(store, target.id, target.id)
    if not isinstance(target, str):
        raise MonitoringError(
            f"statistics: cannot describe a {type(target).__name__}; pass a feature view "
            f"(name or object), a run, a training set or a prediction batch"
        )
    if has_prefix(NodeKind.MATERIALIZATION_RUN, target):
        return _run_statistics(store, strip_prefix(NodeKind.MATERIALIZATION_RUN, target))
    if has_prefix(NodeKind.PREDICTION_BATCH, target):
        batch = store.get_prediction_batch(target)
        return _stored_or_fail(store, batch.id, batch.id)
    if has_prefix(NodeKind.TRAINING_SET, target):
        ts = store.get_training_set(target)
        return _stored_or_fail(store, ts.id, ts.id)
    views = {r["name"] for r in store.definitions.of_kind("feature_view")}
    sets = set(store.catalog.training_set_names())
    if target in views and target in sets:
        raise MonitoringError(
            f"statistics: {target!r} is both a feature view and a training set; pass "
            f"{node_id(NodeKind.TRAINING_SET, target, '<content_id>')!r} or the training "
            f"set object for the training set"
        )
    if target in views:
        record = store.definitions.view_record(target, version)
        lo = as_utc(start, "start") if start is not None else datetime(1, 1, 1)
        hi = as_utc(end, "end") if end is not None else datetime(9999, 12, 31)
        return _view_statistics(store, Window(target, lo, hi, str(record["version"])))
    if target in sets:
        ts = store.get_training_set(target)
        return _stored_or_fail(store, ts.id, ts.id)
    if store.catalog.run_body(target) is not None:
        return _run_statistics(store, target)
    if store.catalog.prediction_batch_body(target) is not None:
        batch = store.get_prediction_batch(target)
        return _stored_or_fail(store, batch.id, batch.id)
    raise NotFoundError(
        f"statistics: {target!r} is not a feature view, training set, run or prediction batch"
    )


def _stored_or_fail(store: FeatureStore, subject: str, label: str) -> stats.Statistics:
    found = _recorded(store, subject, label)
    if found is None:
        raise MonitoringError(
            f"no statistics are recorded for {label!r}: it was written with statistics "
            f"off (FeatureStore(statistics=False)) or by a featstore before 0.2; compute "
            f"them from its rows with store.drift, or save it again"
        )
    return found


def _view_statistics(store: FeatureStore, w: Window) -> stats.Statistics:
    files, features = _window_files(store, w)
    label = f"feature view {w.view!r}@{w.version}"
    if w.start > datetime(1, 1, 1) or w.end < datetime(9999, 12, 31):
        label += f" over [{iso(w.start)}, {iso(w.end)})"
    if not files:
        raise MonitoringError(
            f"statistics of {label}: no materialized rows in reach; materialize the range "
            f"first (store.materialize)"
        )
    inside = [f for f in files if _inside(f, w)]
    recorded = store.catalog.statistics_bodies([f["path"] for f in inside])
    parts: list[stats.Statistics] = []
    unread = [f for f in files if f not in inside or f["path"] not in recorded]
    import json

    for f in inside:
        if f["path"] in recorded:
            parts.append(stats.Statistics.from_json(json.loads(recorded[f["path"]])))
    if unread:  # partial months (or files recorded without statistics): read their rows
        paths = [str(store.offline.absolute(f["path"])) for f in unread]
        rows = (
            scan_frames(paths)
            .filter((pl.col(RANK) == 1) & (pl.col(TS) >= w.start) & (pl.col(TS) < w.end))
            .select(features)
            .collect()
        )
        if rows.height:
            parts.append(stats.compute(rows, label))
    if not parts:
        raise MonitoringError(f"statistics of {label}: no rows in the range")
    return stats.merge(parts, label)


def _run_statistics(store: FeatureStore, run_id: str) -> stats.Statistics:
    body = store.catalog.run_body(run_id)
    if body is None:
        raise NotFoundError(f"unknown materialization run {run_id!r}")
    run = Run.loads(body)
    label = node_id(NodeKind.MATERIALIZATION_RUN, run_id)
    if not run.files:
        raise MonitoringError(f"statistics of {label}: the run wrote no rows")
    recorded = store.catalog.statistics_bodies(list(run.files))
    missing = [f for f in run.files if f not in recorded]
    if missing:
        raise MonitoringError(
            f"statistics of {label}: {len(missing)} of its {len(run.files)} files have none "
            f"recorded (collected by gc after being superseded, or written with statistics "
            f"off); statistics of the view cover the rows that are current"
        )
    import json

    return stats.merge(
        [stats.Statistics.from_json(json.loads(recorded[f])) for f in run.files], label
    )


def features_of(sides: Sequence[Side]) -> list[str]:
    """The columns every side has, in the first side's order, that are features: not a
    key, timestamp or featstore column on any side, and not temporal."""
    schemas = [s.schema() for s in sides]
    skip = set().union(*(s.skip for s in sides))
    return [
        c
        for c, dtype in schemas[0].items()
        if c not in skip
        and all(c in other for other in schemas[1:])
        and stats.column_kind(dtype) in (stats.NUMERIC, stats.CATEGORICAL)
    ]
