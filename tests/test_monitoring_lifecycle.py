"""The monitoring lifecycle on a real store: labels matched to logged predictions,
performance over time, repeatable evaluations, comparisons, the promotion gate and
training/serving skew.

Each result is checked against a slow, obviously correct reference written here: a
Python loop for the as-of matching of labels, per-bucket grouping by hand with
scikit-learn's metrics for performance, a row-by-row comparison for skew. Every failure
path is checked to leave the catalog (label batches, reports, lineage, aliases) and the
directories these operations write to as they were. One store is built per module (and
catalog backend); each test uses model names of its own.
"""

from __future__ import annotations

import itertools
import json
import math
import operator
import platform
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from helpers import BOTH_CATALOGS, files_under
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

import featstore as fs
from featstore.errors import GateError, MonitoringError, NotFoundError
from featstore.lineage_ids import NodeKind, node_id
from featstore.monitoring import metrics as fm
from featstore.monitoring.evaluation import Evaluation
from featstore.monitoring.labels import labels_of
from featstore.monitoring.skew import SkewReport

pytestmark = BOTH_CATALOGS

PROPERTY = settings(
    max_examples=30,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
FEW = settings(PROPERTY, max_examples=15)

START, END = datetime(2024, 1, 1), datetime(2024, 4, 1)
CUSTOMERS = 30  # customer ids 0..29 have transactions; 40.. have none
BIG = 2**60  # Int64 feature values far beyond float64's 2**53 integers
SCORED = datetime(2024, 3, 4)  # a Monday: predictions are made from here on
GRID = [0.05, 0.1, 0.25, 0.4, 0.5, 0.6, 0.75, 0.9, 0.95]  # scores: ties, ties at 0.5
FEATURES = ("amount", "plan", "n_items", "big")
CLASSIFICATION = ("auc", "log_loss", "accuracy", "precision", "recall", "f1")
REGRESSION = ("rmse", "mae", "r2")


# -- the store ------------------------------------------------------------------------------


@dataclass
class World:
    store: fs.FeatureStore
    txns: pl.DataFrame
    eval_set: fs.records.TrainingSet  # label (0/1) and target (real) columns
    other_set: fs.records.TrainingSet  # other rows, same columns
    version: str  # of lc_stats
    names: Iterator[int]

    def model(self, metrics: dict[str, float] | None = None) -> fs.records.ModelVersion:
        """Version 1 of a model no other test uses."""
        return self.store.register_model(
            f"m{next(self.names)}", self.eval_set, metrics=metrics or {}
        )

    def again(self, mv: fs.records.ModelVersion, **kw: Any) -> fs.records.ModelVersion:
        """The next version of ``mv``'s model."""
        return self.store.register_model(mv.name, self.eval_set, **kw)

    def ref(self, feature: str) -> str:
        return f"lc_stats@{self.version}:{feature}"

    def __repr__(self) -> str:  # short, for failing examples
        return f"World({self.store.path})"


def make_txns(seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    n = 900
    minutes = rng.choice(60 * 24 * 90, size=n, replace=False)
    return pl.DataFrame(
        {
            "customer_id": rng.integers(0, CUSTOMERS, n),
            "ts": [START + timedelta(minutes=int(m)) for m in minutes],
            "amount": np.round(rng.gamma(2.0, 10.0, n), 6),
            "plan": rng.choice(["basic", "plus", "pro"], n),
            "n_items": rng.integers(0, 20, n),
            "big": BIG + rng.integers(0, 1000, n),
        },
        schema_overrides={"ts": pl.Datetime("us")},
    ).sort("ts")


def eval_frame(seed: int, rows: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    return pl.DataFrame(
        {
            "customer_id": rng.integers(0, CUSTOMERS, rows),
            "event_timestamp": [
                datetime(2024, 2, 1) + timedelta(hours=int(h)) for h in rng.integers(0, 1200, rows)
            ],
            "label": rng.integers(0, 2, rows),
            "target": np.round(rng.normal(0.0, 3.0, rows), 3),
        },
        schema_overrides={"event_timestamp": pl.Datetime("us")},
    )


def build_world(path: Path, catalog: str | None) -> World:
    """A store with one feature view over random transactions, materialized for
    January to March 2024, and two saved eval sets."""
    txns = make_txns()
    customer = fs.Entity("customer", join_keys=["customer_id"])
    src = fs.DataFrameSource("lc_txns", txns, timestamp_column="ts")
    view = fs.FeatureView(
        "lc_stats", entity=customer, source=src, ttl=timedelta(days=30), features=list(FEATURES)
    )
    store = fs.FeatureStore(path / "store", catalog=catalog, progress=False)
    try:
        store.apply([customer, src, view])
        store.materialize(START, END)
        features = [f"lc_stats:{f}" for f in ("amount", "n_items")]
        eval_set = store.save_training_set(
            store.get_historical_features(eval_frame(1, 120), features), "lc_eval"
        )
        other = store.save_training_set(
            store.get_historical_features(eval_frame(2, 80), features), "lc_other"
        )
    except BaseException:
        store.close()
        raise
    version = str(store.get_feature_view("lc_stats")["version"])
    return World(store, txns, eval_set, other, version, itertools.count())


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, module_catalog: str | None) -> Iterator[World]:
    w = build_world(tmp_path_factory.mktemp("lifecycle"), module_catalog)
    yield w
    w.store.close()


# -- looking at a store from the outside ------------------------------------------------------


def state(store: fs.FeatureStore) -> dict[str, Any]:
    """What a failed call must not change: label batches, reports of every kind, lineage
    nodes and edges, prediction batches, aliases and their history, and the files where
    labels, evaluations and predictions are written or staged."""
    cat = store.catalog
    aliases = {
        (name, alias): (store.aliases(name).get(alias), len(store.alias_history(name, alias)))
        for name in cat.model_names()
        for alias in cat.alias_names(name)
    }
    return {
        "label_batches": cat.label_batch_bodies(),
        "reports": {k: cat.report_bodies(k) for k in ("evaluation", "skew", "drift")},
        "nodes": len(cat.lineage_all_nodes()),
        "edges": len(cat.lineage_all_edges()),
        "batches": len(cat.prediction_batches()),
        "aliases": aliases,
        # where labels, evaluations and reports would be written (or staged)
        "files": {
            f"{top}/{p}"
            for top in ("labels", "evaluations", "predictions", "staging", "tmp")
            for p in files_under(store.path / top)
        },
    }


def direct_edges(store: fs.FeatureStore) -> set[tuple[str, str, str]]:
    """Every lineage edge as (source id, destination id, kind)."""
    ids = {nid: node_id for nid, node_id, *_ in store.catalog.lineage_all_nodes()}
    return {(ids[src], ids[dst], kind) for src, dst, kind in store.catalog.lineage_all_edges()}


_DEFERRED: list[fs.FeatureStore] = []  # stores inside nothing_written blocks


@contextmanager
def nothing_written(store: fs.FeatureStore) -> Iterator[None]:
    """A block of failing calls (``unchanged``) that together change nothing: the state
    is compared once, around the block."""
    before = state(store)
    _DEFERRED.append(store)
    try:
        yield
    finally:
        _DEFERRED.pop()
    assert state(store) == before


def unchanged(store: fs.FeatureStore, call: Callable[[], Any], error: type, match: str) -> None:
    """``call`` raises ``error`` matching ``match`` and changes nothing."""
    if store in _DEFERRED:
        with pytest.raises(error, match=match):
            call()
        return
    before = state(store)
    with pytest.raises(error, match=match):
        call()
    assert state(store) == before


def log_batch(
    store: fs.FeatureStore,
    mv: fs.records.ModelVersion,
    rows: Sequence[tuple[int, float, datetime]],
) -> fs.records.PredictionBatch:
    """A prediction batch of (customer_id, score, scored_at) rows; as_of is scored_at."""
    frame = pl.DataFrame(
        rows,
        schema={"customer_id": pl.Int64, "score": pl.Float64, "scored_at": pl.Datetime("us")},
        orient="row",
    )
    return store.log_predictions(mv, frame, timestamp_column="scored_at")


def pids(batch: fs.records.PredictionBatch) -> list[str]:
    return [f"{batch.batch_id}:{i}" for i in range(batch.rows)]


def labels_by_id(frame_rows: dict[str, Any]) -> pl.DataFrame:
    return pl.DataFrame(
        {"prediction_id": list(frame_rows), "label": list(frame_rows.values())},
        schema={"prediction_id": pl.String, "label": pl.Int64},
    )


def stored_labels(store: fs.FeatureStore, model: str) -> dict[str, Any]:
    frame = labels_of(store, model)
    return dict(zip(frame["prediction_id"].to_list(), frame["label"].to_list(), strict=True))


def close(expected: float | None) -> Any:
    return None if expected is None else pytest.approx(expected, rel=1e-12, abs=1e-12)


# == 1. log_labels ===========================================================================


def test_labels_by_prediction_id_and_relogged_labels_win(world: World) -> None:
    store = world.store
    mv = world.model()
    hour = timedelta(hours=1)
    batch = log_batch(store, mv, [(1, 0.2, SCORED), (2, 0.7, SCORED + hour), (3, 0.9, SCORED)])
    ids = pids(batch)
    first = store.log_labels(labels_by_id({ids[0]: 0, ids[1]: 0, ids[2]: 1}))
    assert (first.model, first.rows, first.unmatched, first.label_column) == (
        mv.name,
        3,
        0,
        "label",
    )
    assert first.batches == (batch.batch_id,)
    assert first.id == node_id(NodeKind.LABEL_BATCH, first.batch_id)
    assert first.relative_path == f"labels/{mv.name}/{first.batch_id}.parquet"
    assert stored_labels(store, mv.name) == {ids[0]: 0, ids[1]: 0, ids[2]: 1}
    # a later label of the same prediction wins, the others stay
    store.log_labels(labels_by_id({ids[1]: 1}))
    assert stored_labels(store, mv.name) == {ids[0]: 0, ids[1]: 1, ids[2]: 1}
    store.log_labels(labels_by_id({ids[1]: 0, ids[0]: 1}))
    assert stored_labels(store, mv.name) == {ids[0]: 1, ids[1]: 0, ids[2]: 1}
    # each call is recorded, with its file, and is a lineage node after the batch
    bodies = [json.loads(b) for b in store.catalog.label_batch_bodies(mv.name)]
    assert [b["rows"] for b in bodies] == [3, 1, 2]
    assert bodies[0] == first.to_json()
    for body in bodies:
        assert (store.path / body["path"]).is_file()
        edge = (batch.id, node_id(NodeKind.LABEL_BATCH, body["batch_id"]), "labeled_by")
        assert edge in direct_edges(store)
    downstream = {n.id for n in store.lineage.downstream(batch.id, kinds=["label_batch"])}
    assert downstream == {node_id(NodeKind.LABEL_BATCH, b["batch_id"]) for b in bodies}
    # the model may be named; another column may hold the labels
    named = store.log_labels(
        pl.DataFrame({"prediction_id": [ids[2]], "truth": [0]}), model=mv.name, label_column="truth"
    )
    assert (named.label_column, named.rows) == ("truth", 1)
    assert stored_labels(store, mv.name)[ids[2]] == 0
    # a pandas frame works too
    store.log_labels(labels_by_id({ids[2]: 1}).to_pandas())
    assert stored_labels(store, mv.name)[ids[2]] == 1


def test_labels_by_keys_and_time(world: World) -> None:
    store = world.store
    mv = world.model()
    day = timedelta(days=1)
    early = log_batch(store, mv, [(1, 0.1, SCORED), (2, 0.2, SCORED), (1, 0.3, SCORED + 2 * day)])
    late = log_batch(store, mv, [(1, 0.4, SCORED + 4 * day)])
    frame = pl.DataFrame(
        {
            "customer_id": [1, 1, 2, 1],
            "event_timestamp": [SCORED + day, SCORED + 3 * day, SCORED + 9 * day, SCORED + 4 * day],
            "label": [1, 0, 1, 1],
        }
    )
    lb = store.log_labels(frame, model=mv.name)
    assert (lb.rows, lb.unmatched) == (4, 0)
    assert lb.batches == tuple(sorted([early.batch_id, late.batch_id]))
    e, late_ids = pids(early), pids(late)
    # at or before the label time: exactly at the prediction's as_of counts
    assert stored_labels(store, mv.name) == {e[0]: 1, e[2]: 0, e[1]: 1, late_ids[0]: 1}


def test_labels_by_keys_at_one_instant_go_to_the_prediction_logged_last(world: World) -> None:
    store = world.store
    mv = world.model()
    first = log_batch(store, mv, [(1, 0.1, SCORED), (1, 0.2, SCORED), (2, 0.3, SCORED)])
    second = log_batch(store, mv, [(2, 0.4, SCORED)])
    frame = pl.DataFrame(
        {"customer_id": [1, 2], "event_timestamp": [SCORED, SCORED], "label": [1, 0]}
    )
    store.log_labels(frame, model=mv.name)
    assert stored_labels(store, mv.name) == {pids(first)[1]: 1, pids(second)[0]: 0}


def test_labels_by_keys_with_a_named_tz_aware_timestamp(world: World) -> None:
    store = world.store
    mv = world.model()
    batch = log_batch(store, mv, [(5, 0.5, SCORED)])
    frame = pl.DataFrame(
        {
            "customer_id": [5],
            # 01:00+02:00 is 23:00 UTC the day before: before the prediction
            "seen": [datetime(2024, 3, 4, 1, 0)],
            "label": [1],
        }
    ).with_columns(pl.col("seen").dt.replace_time_zone("Etc/GMT-2"))
    unchanged(
        store,
        lambda: store.log_labels(frame, model=mv.name, timestamp_column="seen"),
        MonitoringError,
        r"1 of 1 labels match no logged prediction of model",
    )
    later = frame.with_columns(pl.col("seen") + timedelta(hours=2))
    lb = store.log_labels(later, model=mv.name, timestamp_column="seen")
    assert lb.rows == 1
    assert stored_labels(store, mv.name) == {pids(batch)[0]: 1}


def test_labels_by_keys_of_another_integer_type(world: World) -> None:
    store = world.store
    mv = world.model()
    batch = log_batch(store, mv, [(7, 0.5, SCORED)])
    frame = pl.DataFrame(
        {"customer_id": [7], "event_timestamp": [SCORED], "label": [0]},
        schema={"customer_id": pl.Int32, "event_timestamp": pl.Datetime("us"), "label": pl.Int8},
    )
    assert store.log_labels(frame, model=mv.name).rows == 1
    assert stored_labels(store, mv.name) == {pids(batch)[0]: 0}


# the reference: a Python loop over every prediction -------------------------------------------


@dataclass(frozen=True)
class Logged:
    pid: str
    customer_id: int
    as_of: datetime


def as_of_reference(predictions: Sequence[Logged], customer_id: int, at: datetime) -> str | None:
    """The prediction a label of ``customer_id`` at ``at`` belongs to: the latest at or
    before ``at``; of several at the same instant, the one logged last."""
    best: Logged | None = None
    for p in predictions:  # in logging order
        if (
            p.customer_id == customer_id
            and p.as_of <= at
            and (best is None or p.as_of >= best.as_of)
        ):
            best = p
    return None if best is None else best.pid


HOURS = st.integers(0, 8)


@PROPERTY
@given(
    batches=st.lists(
        st.lists(st.tuples(st.integers(0, 3), HOURS), min_size=1, max_size=6),
        min_size=1,
        max_size=3,
    ),
    labels=st.lists(
        st.tuples(st.integers(0, 4), st.integers(-1, 10), st.integers(0, 1)), min_size=1, max_size=8
    ),
    skip=st.booleans(),
)
def test_labels_by_keys_match_the_reference(
    world: World,
    batches: list[list[tuple[int, int]]],
    labels: list[tuple[int, int, int]],
    skip: bool,
) -> None:
    store = world.store
    mv = world.model()
    at = [SCORED + timedelta(hours=h) for h in range(-1, 11)]
    logged: list[Logged] = []
    batch_of: dict[str, str] = {}
    for rows in batches:
        batch = log_batch(store, mv, [(c, 0.5, at[h + 1]) for c, h in rows])
        for pid, (c, h) in zip(pids(batch), rows, strict=True):
            logged.append(Logged(pid, c, at[h + 1]))
            batch_of[pid] = batch.batch_id
    frame = pl.DataFrame(
        [(c, at[h + 1], y) for c, h, y in labels],
        schema={"customer_id": pl.Int64, "labeled_at": pl.Datetime("us"), "label": pl.Int64},
        orient="row",
    )
    expected = [as_of_reference(logged, c, at[h + 1]) for c, h, _ in labels]
    matched = [(pid, y) for pid, (_, _, y) in zip(expected, labels, strict=True) if pid]
    unmatched = len(labels) - len(matched)

    def call() -> Any:
        return store.log_labels(
            frame, model=mv.name, timestamp_column="labeled_at", skip_unmatched=skip
        )

    if unmatched and not skip:
        unchanged(store, call, MonitoringError, rf"{unmatched} of {len(labels)} labels match no")
    elif not matched:
        unchanged(store, call, MonitoringError, "none of the")
    elif len({pid for pid, _ in matched}) < len(matched):
        unchanged(store, call, MonitoringError, "labels in this frame; give each prediction one")
    else:
        lb = call()
        assert (lb.rows, lb.unmatched) == (len(matched), unmatched)
        assert lb.batches == tuple(sorted({batch_of[pid] for pid, _ in matched}))
        assert stored_labels(store, mv.name) == dict(matched)


# errors -------------------------------------------------------------------------------------


def test_unmatched_prediction_ids_write_nothing(world: World) -> None:
    store = world.store
    mv = world.model()
    batch = log_batch(store, mv, [(1, 0.1, SCORED), (2, 0.2, SCORED)])
    ids = pids(batch)
    bad = [
        f"{batch.batch_id}:2",  # past the last row
        f"{batch.batch_id}:-1",
        f"{batch.batch_id}:01",  # not the id of row 1
        f"{batch.batch_id}:+1",
        f"{batch.batch_id}: 1",
        f"{batch.batch_id}:1.0",
        "00000000000000000000000000000000:0",  # no such batch
        "nonsense",
    ]
    many = labels_by_id({ids[0]: 1, **{w: 0 for w in bad}})
    with nothing_written(store):
        for wrong in bad:
            frame = labels_by_id({ids[0]: 1, wrong: 0})
            unchanged(
                store,
                lambda f=frame: store.log_labels(f),  # type: ignore[misc]
                MonitoringError,
                r"1 of 2 labels match no logged prediction.*nothing was written.*"
                r"skip_unmatched=True to log the 1 that match",
            )
        unchanged(store, lambda: store.log_labels(many), MonitoringError, r"\b8 of 9 labels")
    # skip_unmatched writes the matched and counts the others
    lb = store.log_labels(many, skip_unmatched=True)
    assert (lb.rows, lb.unmatched) == (1, 8)
    assert stored_labels(store, mv.name) == {ids[0]: 1}
    assert json.loads(store.catalog.label_batch_bodies(mv.name)[-1])["unmatched"] == 8
    unchanged(
        store,
        lambda: store.log_labels(labels_by_id(dict.fromkeys(bad, 1)), skip_unmatched=True),
        MonitoringError,
        "none of the 8 labels match a prediction",
    )


def test_unmatched_keys_write_nothing(world: World) -> None:
    store = world.store
    mv = world.model()
    log_batch(store, mv, [(1, 0.1, SCORED)])
    frame = pl.DataFrame(
        {
            "customer_id": [1, 1, 2],
            "event_timestamp": [SCORED, SCORED - timedelta(seconds=1), SCORED],
            "label": [1, 0, 1],
        }
    )
    unchanged(
        store,
        lambda: store.log_labels(frame, model=mv.name),
        MonitoringError,
        rf"2 of 3 labels match no logged prediction of model '{mv.name}'",
    )
    lb = store.log_labels(frame, model=mv.name, skip_unmatched=True)
    assert (lb.rows, lb.unmatched) == (1, 2)


def test_duplicate_labels_in_one_frame_are_refused(world: World) -> None:
    store = world.store
    mv = world.model()
    batch = log_batch(store, mv, [(1, 0.1, SCORED), (2, 0.2, SCORED), (3, 0.3, SCORED)])
    ids = pids(batch)
    frame = pl.DataFrame({"prediction_id": [ids[0], ids[1], ids[0], ids[1], ids[2]]}).with_columns(
        label=pl.Series([1, 0, 1, 0, 1])
    )
    unchanged(
        store,
        lambda: store.log_labels(frame),
        MonitoringError,
        rf"prediction '{ids[0]}' has 2 labels in this frame",
    )
    # by keys: two labels after the same prediction
    by_keys = pl.DataFrame(
        {
            "customer_id": [1, 1],
            "event_timestamp": [SCORED, SCORED + timedelta(days=1)],
            "label": [1, 0],
        }
    )
    unchanged(
        store,
        lambda: store.log_labels(by_keys, model=mv.name),
        MonitoringError,
        rf"prediction '{ids[0]}' has 2 labels in this frame",
    )


def test_labels_spanning_two_models_are_refused(world: World) -> None:
    store = world.store
    a, b = world.model(), world.model()
    batch_a = log_batch(store, a, [(1, 0.1, SCORED)])
    batch_b = log_batch(store, b, [(1, 0.1, SCORED)])
    frame = labels_by_id({pids(batch_a)[0]: 1, pids(batch_b)[0]: 0})
    unchanged(
        store,
        lambda: store.log_labels(frame),
        MonitoringError,
        rf"models {re.escape(str(sorted([a.name, b.name])))}; log the labels of each model",
    )
    # naming one model makes the other's labels unmatched
    unchanged(
        store,
        lambda: store.log_labels(frame, model=a.name),
        MonitoringError,
        rf"1 of 2 labels match no logged prediction of model '{a.name}'",
    )


def test_label_frame_errors_write_nothing(world: World) -> None:
    store = world.store
    mv = world.model()
    batch = log_batch(store, mv, [(1, 0.1, SCORED)])
    pid = pids(batch)[0]
    two = log_batch(store, mv, [(1, 0.1, SCORED), (2, 0.2, SCORED)])
    silent = world.model()  # a model without predictions
    keys = pl.DataFrame({"customer_id": [1], "event_timestamp": [SCORED], "label": [1]})
    with nothing_written(store):
        unchanged(
            store,
            lambda: store.log_labels(labels_by_id({pid: 1}), model="no_such_model"),
            NotFoundError,
            "no_such_model",
        )
        unchanged(
            store,
            lambda: store.log_labels(pl.DataFrame({"prediction_id": [pid], "y": [1]})),
            MonitoringError,
            r"no label column 'label'.*\['prediction_id', 'y'\].*label_column=",
        )
        unchanged(
            store,
            lambda: store.log_labels(labels_by_id({pid: 1}), label_column="truth"),
            MonitoringError,
            "no label column 'truth'",
        )
        unchanged(
            store,
            lambda: store.log_labels(labels_by_id({})),
            MonitoringError,
            "the frame has no rows",
        )
        unchanged(
            store, lambda: store.log_labels(keys), MonitoringError, r"which needs model=<name>"
        )
        unchanged(
            store,
            lambda: store.log_labels(keys.drop("customer_id"), model=mv.name),
            MonitoringError,
            r"neither 'prediction_id' nor entity key 'customer_id'",
        )
        unchanged(
            store,
            lambda: store.log_labels(keys, model=silent.name),
            MonitoringError,
            rf"no predictions are logged for model '{silent.name}'",
        )
        strings = pl.DataFrame({"prediction_id": pids(two), "label": ["1", "0"]})
        unchanged(
            store,
            lambda: store.log_labels(strings),
            MonitoringError,
            "the labels are String values; log numbers",
        )
        # a null or NaN label is no ground truth
        for bad in (pl.Series("label", [1, None]), pl.Series("label", [1.0, float("nan")])):
            frame = pl.DataFrame({"prediction_id": pids(two)}).with_columns(bad)
            unchanged(
                store, lambda f=frame: store.log_labels(f), MonitoringError, r"1 of 2 labels are"
            )


def test_labels_as_booleans_ints_and_floats(world: World) -> None:
    store = world.store
    mv = world.model()
    batch = log_batch(store, mv, [(1, 0.9, SCORED), (2, 0.2, SCORED), (3, 0.7, SCORED)])
    ids = pids(batch)
    store.log_labels(pl.DataFrame({"prediction_id": ids, "label": [True, False, False]}))
    store.log_labels(pl.DataFrame({"prediction_id": ids[1:2], "label": [1]}))
    store.log_labels(pl.DataFrame({"prediction_id": ids[2:], "label": [1.0]}))
    assert stored_labels(store, mv.name) == {ids[0]: 1.0, ids[1]: 1.0, ids[2]: 1.0}
    report = store.performance(mv.name, metrics=["accuracy", "recall"])
    assert report.to_polars().select("accuracy", "recall").rows() == [(2 / 3, 2 / 3)]


# == 2. performance ============================================================================


def truncate(t: datetime, every: str) -> datetime:
    day = datetime(t.year, t.month, t.day)
    if every == "1d":
        return day
    assert every == "1w"
    return day - timedelta(days=day.weekday())  # weeks start on Monday


def reference_metrics(names: Sequence[str], y: list[float], p: list[float]) -> dict[str, Any]:
    """scikit-learn's values, None where a metric is undefined."""
    ya, pa = np.asarray(y, dtype=np.float64), np.asarray(p, dtype=np.float64)
    out: dict[str, Any] = {}
    if {"precision", "recall", "f1"} & set(names):
        hard = (pa >= 0.5).astype(int)
        precision, recall, f1, _ = skm.precision_recall_fscore_support(
            ya.astype(int), hard, average="binary", zero_division=0
        )
        out.update(precision=float(precision), recall=float(recall), f1=float(f1))
    for name in names:
        if name == "auc":
            out[name] = None if len(set(y)) < 2 else float(skm.roc_auc_score(ya, pa))
        elif name == "log_loss":
            out[name] = float(skm.log_loss(ya, pa, labels=[0, 1]))
        elif name == "accuracy":
            out[name] = float(skm.accuracy_score(ya, (pa >= 0.5).astype(int)))
        elif name == "rmse":
            out[name] = math.sqrt(skm.mean_squared_error(ya, pa))
        elif name == "mae":
            out[name] = float(skm.mean_absolute_error(ya, pa))
        elif name == "r2":
            if len(y) < 2:
                out[name] = None
            elif len(set(y)) == 1:  # constant labels: the force_finite convention
                out[name] = 1.0 if np.array_equal(ya, pa) else 0.0
            else:
                out[name] = float(skm.r2_score(ya, pa))
    return {n: out[n] for n in names}


def performance_reference(
    rows: Sequence[tuple[int, datetime, float, str]],
    labels: dict[str, float],
    every: str,
    names: Sequence[str],
) -> list[dict[str, Any]]:
    """(version, as_of, prediction, id) rows grouped by hand per version and bucket."""
    groups: dict[tuple[int, datetime], tuple[list[float], list[float]]] = {}
    for version, as_of, pred, pid in rows:
        if pid in labels:
            ys, ps = groups.setdefault((version, truncate(as_of, every)), ([], []))
            ys.append(labels[pid])
            ps.append(pred)
    out = []
    for (version, bucket), (ys, ps) in sorted(groups.items()):
        row: dict[str, Any] = {"model_version": version, "bucket": bucket, "rows": len(ys)}
        row.update(reference_metrics(names, ys, ps))
        out.append(row)
    return out


def check_report(
    report: Any, expected: list[dict[str, Any]], names: Sequence[str], registered: dict[int, float]
) -> None:
    frame = report.to_polars()
    assert frame.columns == [
        "model_version",
        "bucket",
        "rows",
        *names,
        *([f"registered_{names[0]}"] if registered else []),
        "notes",
    ]
    got = frame.to_dicts()
    assert [(r["model_version"], r["bucket"], r["rows"]) for r in got] == [
        (r["model_version"], r["bucket"], r["rows"]) for r in expected
    ]
    for g, e in zip(got, expected, strict=True):
        for n in names:
            assert g[n] == close(e[n]), (n, g, e)
        missing = [n for n in names if e[n] is None]
        if missing:
            assert g["notes"] is not None
            for n in missing:
                assert f"{n}: metric '{n}' " in g["notes"]
        else:
            assert g["notes"] is None
        if registered:
            assert g[f"registered_{names[0]}"] == registered.get(g["model_version"])


@st.composite
def scored_batches(draw: st.DrawFn, values: st.SearchStrategy[float]) -> Any:
    """Per version (two), one or two batches of (customer, score, hours after SCORED)."""
    row = st.tuples(st.integers(0, CUSTOMERS - 1), values, st.integers(0, 24 * 10 - 1))
    batch = st.lists(row, min_size=1, max_size=10)
    return [draw(st.lists(batch, min_size=1, max_size=2)) for _ in range(2)]


def log_versions(
    world: World, batches: Any, registered: dict[int, float], metric: str
) -> tuple[str, list[tuple[int, datetime, float, str]]]:
    """Two versions of a new model, each with its batches; the rows logged."""
    v1 = world.model(metrics={metric: registered[1], "unrelated": 3.0})
    versions = [v1, world.again(v1)]
    logged = []
    for mv, version_batches in zip(versions, batches, strict=True):
        for rows in version_batches:
            shaped = [(c, s, SCORED + timedelta(hours=h)) for c, s, h in rows]
            batch = log_batch(world.store, mv, shaped)
            for pid, (_, s, t) in zip(pids(batch), shaped, strict=True):
                logged.append((mv.version, t, s, pid))
    return v1.name, logged


@PROPERTY
@given(
    batches=scored_batches(st.sampled_from(GRID)),
    choose=st.data(),
    every=st.sampled_from(["1d", "1w"]),
)
def test_classification_performance_matches_sklearn(
    world: World, batches: Any, choose: st.DataObject, every: str
) -> None:
    store = world.store
    name, logged = log_versions(world, batches, {1: 0.75}, "auc")
    all_ids = [pid for *_, pid in logged]
    first = choose.draw(st.lists(st.sampled_from(all_ids), min_size=1, unique=True), "labelled")
    labels = {pid: choose.draw(st.integers(0, 1)) for pid in first}
    store.log_labels(labels_by_id(labels))
    relabel = choose.draw(st.lists(st.sampled_from(first), unique=True), "relabelled")
    if relabel:
        again = {pid: 1 - labels[pid] for pid in relabel}
        store.log_labels(labels_by_id(again))
        labels.update(again)
    report = store.performance(name, every=every)
    assert (report.task, report.metrics, report.every) == ("classification", CLASSIFICATION, every)
    assert (report.labelled, report.unlabelled) == (len(labels), len(logged) - len(labels))
    expected = performance_reference(logged, labels, every, CLASSIFICATION)
    check_report(report, expected, CLASSIFICATION, {1: 0.75})
    # one version only
    if any(version == 2 and pid in labels for version, _, _, pid in logged):
        only = store.performance(name, every=every, versions=[2])
        second = [row for row in expected if row["model_version"] == 2]
        check_report(only, second, CLASSIFICATION, {1: 0.75})
    else:
        unchanged(
            store,
            lambda: store.performance(name, every=every, versions=[2]),
            MonitoringError,
            "has a label",
        )


REAL = st.integers(-20, 20).map(lambda k: k / 4 + 0.1)


@FEW
@given(batches=scored_batches(REAL), choose=st.data())
def test_regression_performance_matches_sklearn(
    world: World, batches: Any, choose: st.DataObject
) -> None:
    store = world.store
    name, logged = log_versions(world, batches, {1: 1.5}, "rmse")
    all_ids = [pid for *_, pid in logged]
    chosen = choose.draw(st.lists(st.sampled_from(all_ids), min_size=1, unique=True), "labelled")
    labels = {pid: choose.draw(REAL) for pid in chosen}
    store.log_labels(pl.DataFrame({"prediction_id": list(labels), "label": list(labels.values())}))
    report = store.performance(name, every="1d")
    assert (report.task, report.metrics) == ("regression", REGRESSION)
    expected = performance_reference(logged, labels, "1d", REGRESSION)
    check_report(report, expected, REGRESSION, {1: 1.5})


def test_performance_single_class_bucket_and_registered_metrics(world: World) -> None:
    store = world.store
    v1 = world.model(metrics={"auc": 0.8, "f1": 0.5})
    v2 = world.again(v1, metrics={"f1": 0.25})
    day = timedelta(days=1)
    b1 = log_batch(store, v1, [(1, 0.9, SCORED), (2, 0.1, SCORED), (3, 0.8, SCORED + day)])
    b2 = log_batch(store, v2, [(1, 0.3, SCORED)])
    i1, i2 = pids(b1), pids(b2)
    store.log_labels(labels_by_id({i1[0]: 1, i1[1]: 0, i1[2]: 1, i2[0]: 0}))
    report = store.performance(v1.name, every="1d", metrics=["auc", "accuracy", "rmse"])
    frame = report.to_polars()
    assert frame.columns == [
        "model_version",
        "bucket",
        "rows",
        "auc",
        "accuracy",
        "rmse",
        "registered_auc",
        "notes",
    ]
    assert frame.rows() == [
        (1, SCORED, 2, 1.0, 1.0, pytest.approx(math.sqrt((0.01 + 0.01) / 2)), 0.8, None),
        (
            1,
            SCORED + day,
            1,
            None,
            1.0,
            pytest.approx(0.2),
            0.8,
            "auc: metric 'auc' is undefined: y_true holds 1 row of class 1 and none of class 0",
        ),
        (
            2,
            SCORED,
            1,
            None,
            1.0,
            pytest.approx(0.3),
            None,
            "auc: metric 'auc' is undefined: y_true holds no rows of class 1 and 1 of class 0",
        ),
    ]
    assert dict(report.registered) == {1: {"auc": 0.8, "f1": 0.5}, 2: {"f1": 0.25}}
    both = store.performance(v1.name, every="1d", metrics=["f1"]).to_polars()
    assert both["registered_f1"].to_list() == [0.5, 0.5, 0.25]
    assert "PerformanceReport(" in repr(report)


def test_performance_prediction_column(world: World) -> None:
    store = world.store
    mv = world.model()
    frame = pl.DataFrame(
        {
            "customer_id": [1, 2],
            "score": [0.9, 0.2],
            "other": [0.1, 0.8],
            "event_timestamp": [SCORED, SCORED],
        }
    )
    batch = store.log_predictions(mv, frame)
    store.log_labels(labels_by_id(dict(zip(pids(batch), [1, 0], strict=True))))
    unchanged(
        store,
        lambda: store.performance(mv.name),
        MonitoringError,
        r"cannot tell which column holds the predictions among \['score', 'other'\]; pass "
        r"prediction_column=",
    )
    good = store.performance(mv.name, prediction_column="score", metrics=["accuracy"])
    bad = store.performance(mv.name, prediction_column="other", metrics=["accuracy"])
    assert good.to_polars()["accuracy"].to_list() == [1.0]
    assert bad.to_polars()["accuracy"].to_list() == [0.0]
    unchanged(
        store,
        lambda: store.performance(mv.name, prediction_column="nope"),
        MonitoringError,
        "has no column 'nope'",
    )


def test_performance_errors(world: World) -> None:
    store = world.store
    mv = world.model()
    unchanged(store, lambda: store.performance("no_such_model"), NotFoundError, "no_such_model")
    unchanged(
        store,
        lambda: store.performance(mv.name),
        MonitoringError,
        rf"no predictions are logged for model '{mv.name}'",
    )
    v2 = world.again(mv)
    batch = log_batch(store, mv, [(1, 0.5, SCORED), (2, 0.4, SCORED)])
    log_batch(store, v2, [(1, 0.5, SCORED)])
    unchanged(
        store,
        lambda: store.performance(mv.name),
        MonitoringError,
        "has a label; log them with store.log_labels|no labels are logged",
    )
    store.log_labels(labels_by_id({pids(batch)[0]: 1}))
    with nothing_written(store):
        unchanged(
            store,
            lambda: store.performance(mv.name, versions=[2]),
            MonitoringError,
            rf"none of model '{mv.name}'.?s 1 logged predictions has a label",
        )
        unchanged(
            store,
            lambda: store.performance(mv.name, versions=[3]),
            MonitoringError,
            r"no predictions are logged .* version\(s\) \[3\]",
        )
        unchanged(
            store,
            lambda: store.performance(mv.name, metrics=["auc", "acuracy"]),
            MonitoringError,
            "unknown metric 'acuracy'",
        )
        for every in ("", "1x", "abc", "0d", "-1d", "1i", "d1"):
            unchanged(
                store,
                lambda e=every: store.performance(mv.name, every=e),  # type: ignore[misc]
                MonitoringError,
                rf"every='{every}' is not a Polars interval",
            )
    report = store.performance(mv.name, every="1mo")
    assert report.to_polars()["bucket"].to_list() == [datetime(2024, 3, 1)]
    assert (report.labelled, report.unlabelled) == (1, 2)


def test_performance_without_labels_is_a_monitoring_error(world: World) -> None:
    store = world.store
    mv = world.model()
    log_batch(store, mv, [(1, 0.5, SCORED)])
    unchanged(store, lambda: store.performance(mv.name), MonitoringError, "label")


# == 3. evaluate ===============================================================================


def predictions_for(world: World, seed: int) -> np.ndarray:  # type: ignore[type-arg]
    rng = np.random.default_rng(seed)
    # strictly inside (0, 1): scikit-learn clips log loss at another epsilon
    return np.round(0.01 + 0.98 * rng.random(world.eval_set.rows), 2)


def test_evaluate_matches_sklearn_and_records_what_it_needs(world: World) -> None:
    store, ts = world.store, world.eval_set
    mv = world.model()
    p = predictions_for(world, 3)
    ev = store.evaluate(mv, ts, predictions=p, label_column="label")
    y = ts.to_polars()["label"].to_list()
    want = reference_metrics(CLASSIFICATION, y, list(p))
    for name in CLASSIFICATION:
        assert ev.metrics[name] == close(want[name])
    assert ev.to_polars().columns == ["metric", "value"]
    assert ev.to_polars()["metric"].to_list() == list(CLASSIFICATION)
    assert (ev.model, ev.model_version, ev.model_id) == (mv.name, 1, mv.id)
    assert (ev.eval_set, ev.eval_content_id) == (ts.id, ts.content_id)
    assert (ev.label_column, ev.threshold, ev.task, ev.rows) == (
        "label",
        0.5,
        "classification",
        ts.rows,
    )
    assert "git_commit" in ev.code_version
    assert ev.environment["python"] == platform.python_version()
    assert ev.environment["polars"] == pl.__version__
    assert ev.environment["numpy"] == np.__version__
    assert {"featstore", "duckdb", "pyarrow", "platform"} <= set(ev.environment)
    assert ev.id == node_id(NodeKind.EVALUATION, ev.evaluation_id)
    assert ev.relative_path == f"evaluations/{mv.name}/{ev.evaluation_id}.parquet"
    kept = pl.read_parquet(store.path / ev.relative_path)
    assert kept["prediction"].to_list() == list(p)
    assert kept["label"].to_list() == [float(v) for v in y]
    # lineage: model version -> evaluation <- training set
    edges = direct_edges(store)
    assert (mv.id, ev.id, "evaluated_in") in edges
    assert (ts.id, ev.id, "evaluated_in") in edges
    assert ev.id in [n.id for n in store.lineage.downstream(mv.id, kinds=["evaluation"])]
    assert ev.id in [n.id for n in store.lineage.downstream(ts.id, kinds=["evaluation"])]
    # the record in the catalog is the one returned
    (body,) = [b for b in store.catalog.report_bodies("evaluation", mv.name)]
    assert Evaluation.from_json(json.loads(body)) == ev
    assert store.evaluations(mv.name) == [ev]
    assert store.evaluations(mv.name, 1, ts) == [ev]
    assert store.evaluations(mv.name, 2) == []
    assert store.evaluations(mv.name, eval_set=world.other_set) == []
    # regression metrics on the real-valued target
    reg = store.evaluate(mv, "lc_eval", predictions=pl.Series(p * 3), label_column="target")
    target = ts.to_polars()["target"].to_list()
    assert reg.task == "regression"
    want = reference_metrics(REGRESSION, target, list(p * 3))
    for name in REGRESSION:
        assert reg.metrics[name] == close(want[name])


def test_evaluate_is_repeatable(world: World) -> None:
    store, ts = world.store, world.eval_set
    mv = world.model()
    p = predictions_for(world, 4)
    first = store.evaluate(mv, ts, predictions=p, label_column="label")
    before = state(store)
    for again in (p.copy(), list(p), pl.Series("x", p), pl.DataFrame({"prediction": p})):
        second = store.evaluate(mv.id, ts.name, predictions=again, label_column="label")
        assert second.evaluation_id == first.evaluation_id
        assert second == first
        assert dict(second.metrics) == dict(first.metrics)
        assert second.to_polars().equals(first.to_polars())
        assert state(store) == before  # found, not written again
    # other predictions, metrics or threshold: another evaluation
    other = store.evaluate(mv, ts, predictions=p, label_column="label", threshold=0.4)
    assert other.evaluation_id != first.evaluation_id
    assert len(store.evaluations(mv.name)) == 2


def test_evaluate_on_a_fresh_store_gives_the_same_bits(world: World, tmp_path: Path) -> None:
    p = predictions_for(world, 5)
    name = f"m{next(world.names)}"
    here = world.store.evaluate(
        world.store.register_model(name, world.eval_set),
        world.eval_set,
        predictions=p,
        label_column="label",
    )
    fresh = build_world(tmp_path, None)
    try:
        assert fresh.eval_set.content_id == world.eval_set.content_id
        mv = fresh.store.register_model(name, fresh.eval_set)
        there = fresh.store.evaluate(mv, fresh.eval_set, predictions=p, label_column="label")
    finally:
        fresh.store.close()
    assert there.evaluation_id == here.evaluation_id
    assert there.predictions_sha256 == here.predictions_sha256
    for metric, value in here.metrics.items():
        assert there.metrics[metric].hex() == value.hex(), metric


def test_evaluate_errors_write_nothing(world: World) -> None:
    store, ts = world.store, world.eval_set
    mv = world.model()
    p = predictions_for(world, 6)
    cases: list[tuple[Callable[[], Any], str]] = [
        (lambda: store.evaluate(mv, ts, predictions=p[:-1], label_column="label"),
         rf"{ts.rows - 1} predictions for an eval set of {ts.rows} rows"),
        (lambda: store.evaluate(mv, ts, predictions=np.append(p, 0.5), label_column="label"),
         rf"{ts.rows + 1} predictions for an eval set of {ts.rows} rows"),
        (lambda: store.evaluate(mv, ts, predictions=[], label_column="label"),
         rf"0 predictions for an eval set of {ts.rows} rows"),
        (lambda: store.evaluate(mv, ts, predictions=np.stack([p, p], axis=1), label_column="label"),
         "predictions for an eval set"),
        (lambda: store.evaluate(mv, ts, predictions=pl.Series([None, *p[1:]]), label_column="label"),
         "1 predictions are null"),
        (lambda: store.evaluate(mv, ts, predictions=[None, *p[1:]], label_column="label"),
         "null, NaN or infinite"),
        (lambda: store.evaluate(mv, ts, predictions=np.append(p[:-1], np.nan), label_column="label"),
         "null, NaN or infinite"),
        (lambda: store.evaluate(mv, ts, predictions=["x"] * ts.rows, label_column="label"),
         "predictions must be numbers"),
        (lambda: store.evaluate(mv, ts, predictions=pl.Series(["x"] * ts.rows), label_column="label"),
         "predictions must be numbers"),
        (lambda: store.evaluate(mv, ts, predictions=pl.DataFrame({"a": p, "b": p}), label_column="label"),
         r"has columns \['a', 'b'\]; pass one column, or name it with prediction_column="),
        (lambda: store.evaluate(mv, ts, predictions=pl.DataFrame({"a": p, "b": p}), label_column="label", prediction_column="c"),
         r"no column 'c'"),
        (lambda: store.evaluate(mv, ts, predictions=p, label_column="churned"),
         rf"eval set '{ts.id}' has no column 'churned'"),
        (lambda: store.evaluate(mv, ts, predictions=p, label_column="event_timestamp"),
         "label"),
        (lambda: store.evaluate(mv, ts, predictions=p, label_column="label", metrics=["auc", "rsme"]),
         "unknown metric 'rsme'"),
        (lambda: store.evaluate(mv, ts, predictions=p, label_column="label", metrics=[]),
         "metrics"),
        (lambda: store.evaluate(mv, ts, predictions=p, label_column="target", metrics=["auc"]),
         "needs labels 0 and 1"),
        (lambda: store.evaluate(mv, ts, predictions=p * 2, label_column="label", metrics=["log_loss"]),
         r"needs probabilities in \[0, 1\]"),
        (lambda: store.evaluate(mv, ts, predictions=p, label_column="label", threshold=float("nan")),
         "threshold must be a finite number"),
        (lambda: store.evaluate(mv.name, ts, predictions=p, label_column="label"),
         "names no version"),
        (lambda: store.evaluate(f"model:{mv.name}@9", ts, predictions=p, label_column="label"),
         "9"),
        (lambda: store.evaluate(mv, "no_such_set", predictions=p, label_column="label"),
         "no_such_set"),
        (lambda: store.evaluate(mv, ts.to_polars(), predictions=p, label_column="label"),
         "must be a saved training set or its name; found DataFrame"),
    ]  # fmt: skip
    with nothing_written(store):
        for call, match in cases:
            unchanged(store, call, fs.FeatstoreError, match)
    with_nulls = store.get_historical_features(
        eval_frame(9, 4).with_columns(label=pl.Series([1, None, 0, 1])), ["lc_stats:amount"]
    )
    unsaved = store.get_historical_features(eval_frame(1, 120), ["lc_stats:amount"])
    unchanged(
        store,
        lambda: store.evaluate(mv, unsaved, predictions=p, label_column="label"),
        MonitoringError,
        r"must be a saved training set.*save it first with store.save_training_set",
    )
    nulls = store.save_training_set(with_nulls, f"nulls{next(world.names)}")
    unchanged(
        store,
        lambda: store.evaluate(mv, nulls, predictions=[0.5] * 4, label_column="label"),
        MonitoringError,
        rf"1 labels of eval set '{nulls.id}' are null",
    )


# == 4. compare ================================================================================


def evaluated_versions(world: World, seeds: Sequence[int]) -> list[Evaluation]:
    mv = world.model()
    versions = [mv] + [world.again(mv) for _ in seeds[1:]]
    return [
        world.store.evaluate(
            v, world.eval_set, predictions=predictions_for(world, s), label_column="label"
        )
        for v, s in zip(versions, seeds, strict=True)
    ]


def test_compare_is_seeded_and_diffs_are_metric_differences(world: World) -> None:
    store, ts = world.store, world.eval_set
    evs = evaluated_versions(world, [10, 11, 12])
    ids = [ev.model_id for ev in evs]
    before = state(store)
    one = store.compare(ids, ts, n_boot=200, seed=7)
    assert state(store) == before  # a comparison records nothing
    same = store.compare(ids, ts, n_boot=200, seed=7)
    other = store.compare(ids, ts, n_boot=200, seed=8)
    assert one.to_polars().equals(same.to_polars())
    assert not one.to_polars().equals(other.to_polars())
    frame = one.to_polars()
    names = sorted(CLASSIFICATION)
    assert set(one.metrics) == set(names)
    expected_columns = ["model", "evaluation"]
    for n in one.metrics:
        expected_columns += [n, f"{n}_diff", f"{n}_low", f"{n}_high"]
    assert frame.columns == expected_columns
    assert frame["model"].to_list() == ids
    assert frame["evaluation"].to_list() == [ev.id for ev in evs]
    assert (one.baseline, one.eval_set, one.n_boot, one.seed) == (ids[0], ts.id, 200, 7)
    base = frame.row(0, named=True)
    for n in names:
        assert base[n] == evs[0].metrics[n]
        assert base[f"{n}_diff"] is None
        assert base[f"{n}_low"] is None
        assert base[f"{n}_high"] is None
    y = ts.to_polars()["label"].cast(pl.Float64).to_numpy()
    preds = {
        ev.model_id: predictions_for(world, s) for ev, s in zip(evs, [10, 11, 12], strict=True)
    }
    for n in names:
        boot = fm.paired_bootstrap(y, preds, n, baseline=ids[0], n_boot=200, seed=7)
        for i in (1, 2):
            row = frame.row(i, named=True)
            assert row[n] == evs[i].metrics[n]
            assert row[f"{n}_diff"] == evs[i].metrics[n] - evs[0].metrics[n]
            assert row[f"{n}_low"] == boot[ids[i]]["low"]
            assert row[f"{n}_high"] == boot[ids[i]]["high"]
            assert row[f"{n}_low"] <= row[f"{n}_high"]
    picked = store.compare(ids[:2], ts, metrics=["auc"], n_boot=50)
    assert picked.to_polars().columns == [
        "model",
        "evaluation",
        "auc",
        "auc_diff",
        "auc_low",
        "auc_high",
    ]
    alone = store.compare(ids[:1], ts, n_boot=50).to_polars()
    assert alone.height == 1
    assert alone["auc_diff"].to_list() == [None]
    assert "Comparison(" in repr(one)


def test_compare_errors(world: World) -> None:
    store, ts = world.store, world.eval_set
    ev = evaluated_versions(world, [20])[0]
    unevaluated = world.store.register_model(ev.model, ts)
    unchanged(
        store,
        lambda: store.compare([ev.model_id, unevaluated.id], ts),
        MonitoringError,
        rf"{unevaluated.id} has no recorded evaluation on '{ts.id}'",
    )
    unchanged(
        store,
        lambda: store.compare([ev.model_id], world.other_set),
        MonitoringError,
        "has no recorded evaluation",
    )
    unchanged(store, lambda: store.compare([], ts), MonitoringError, "at least one model version")
    short = store.evaluate(
        unevaluated,
        ts,
        predictions=predictions_for(world, 21),
        label_column="label",
        metrics=["auc"],
    )
    unchanged(
        store,
        lambda: store.compare([ev.model_id, short.model_id], ts),
        MonitoringError,
        rf"the evaluation of {short.model_id} lacks metric '",
    )


# == 5. the promotion gate =====================================================================


def test_gate_passes_and_fails(world: World) -> None:
    store, ts = world.store, world.eval_set
    ev = evaluated_versions(world, [30])[0]
    name, auc = ev.model, ev.metrics["auc"]
    store.set_alias(name, "prod", 1, require={"auc": f">= {auc - 0.01}", "log_loss": "< 100"})
    assert store.aliases(name) == {"prod": 1}
    assert len(store.alias_history(name, "prod")) == 1
    v2 = world.again(store.get_model(name, 1))
    bad = store.evaluate(v2, ts, predictions=predictions_for(world, 31), label_column="label")
    before = state(store)
    with pytest.raises(
        GateError,
        match=rf"cannot move the alias to {v2.id}: auc is {bad.metrics['auc']:.6g} on {ts.id} \(evaluation {bad.id}\), which fails the requirement auc >= 0\.99",
    ):
        store.set_alias(name, "prod", 2, require={"auc": ">= 0.99"})
    with pytest.raises(GateError, match=r"log_loss is .* fails the requirement log_loss <= 0\.01"):
        store.set_alias(name, "prod", 2, require={"auc": ">= 0", "log_loss": "<= 0.01"})
    assert state(store) == before
    assert store.aliases(name) == {"prod": 1}
    # GateError is a MonitoringError; no requirement, no gate
    with pytest.raises(MonitoringError):
        store.set_alias(name, "prod", 2, require={"auc": "> 1"})
    store.set_alias(name, "prod", 2, require={})
    assert store.aliases(name) == {"prod": 2}


def test_gate_refusals_leave_aliases_alone(world: World) -> None:
    store, ts = world.store, world.eval_set
    mv = world.model()
    store.set_alias(mv.name, "prod", 1)
    world.again(mv)  # version 2, never evaluated
    short = world.again(mv)
    store.evaluate(
        short, ts, predictions=predictions_for(world, 40), label_column="label", metrics=["auc"]
    )
    cases: list[tuple[int, dict[str, Any], Any, str]] = [
        (
            2,
            {"auc": ">= 0.5"},
            None,
            rf"model '{mv.name}' version 2: it has no recorded evaluation;",
        ),
        (3, {"f1": ">= 0.1"}, None, r"lacks metric 'f1' \(it has \['auc'\]\)"),
        (
            3,
            {"auc": ">= 0"},
            world.other_set,
            rf"no recorded evaluation on '{world.other_set.id}'; evaluate it first",
        ),
        (3, {"auc": ">= abc"}, None, r"requirement on 'auc': '>= abc' is not '<op> <number>'"),
        (3, {"auc": "0.8"}, None, "is not '<op> <number>'"),
        (3, {"auc": "=> 0.8"}, None, "is not '<op> <number>'"),
        (3, {"auc": ""}, None, "is not '<op> <number>'"),
        (3, {"auc": ">= nan"}, None, "is not '<op> <number>'"),
        (3, {"auc": ">= 0.8 or so"}, None, "is not '<op> <number>'"),
        (3, {"auc": 0.8}, None, "is not '<op> <number>'"),
        (2, {"auc": "bad"}, None, "is not '<op> <number>'"),  # checked before the evaluation
    ]
    with nothing_written(store):
        for version, require, eval_set, match in cases:
            unchanged(
                store,
                lambda v=version, r=require, e=eval_set: store.set_alias(  # type: ignore[misc]
                    mv.name, "prod", v, require=r, eval_set=e
                ),
                GateError,
                match,
            )
    assert store.aliases(mv.name) == {"prod": 1}
    assert [e.version for e in store.alias_history(mv.name, "prod")] == [1]
    unchanged(
        store,
        lambda: store.set_alias(mv.name, "prod", 9, require={"auc": ">= 0"}),
        NotFoundError,
        "9",
    )


OPS = {
    ">=": operator.ge,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    "<": operator.lt,
}


@PROPERTY
@given(
    op=st.sampled_from(sorted(OPS)),
    offset=st.sampled_from([-0.1, -1e-9, 0.0, 1e-9, 0.1]),
    spacing=st.sampled_from(["", " ", "  "]),
    metric=st.sampled_from(["auc", "f1", "log_loss"]),
    alias=st.integers(0, 10**9),
)
def test_gate_requirement_decides_like_the_operator(
    world: World,
    gate_version: Evaluation,
    op: str,
    offset: float,
    spacing: str,
    metric: str,
    alias: int,
) -> None:
    store = world.store
    value = gate_version.metrics[metric]
    bound = value + offset
    text = f"{spacing}{op}{spacing}{bound!r}{spacing}"
    name = f"a{alias}"
    before = (store.aliases(gate_version.model), store.alias_history(gate_version.model, name))
    if OPS[op](value, float(repr(bound))):
        store.set_alias(gate_version.model, name, 1, require={metric: text})
        assert store.aliases(gate_version.model)[name] == 1
    else:
        with pytest.raises(
            GateError, match=rf"{metric} is .* fails the requirement {metric} {re.escape(op)} "
        ):
            store.set_alias(gate_version.model, name, 1, require={metric: text})
        after = (store.aliases(gate_version.model), store.alias_history(gate_version.model, name))
        assert after == before


@pytest.fixture(scope="module")
def gate_version(world: World) -> Evaluation:
    return evaluated_versions(world, [50])[0]


# == 6. skew ===================================================================================


def skew_reference(
    served: pl.Series, recomputed: pl.Series, tolerance: float
) -> tuple[int, int, int, float | None]:
    """(differing, served_only, recomputed_only, max_difference), row by row."""
    differing = served_only = recomputed_only = 0
    largest: float | int | None = None
    numeric = served.dtype.is_numeric()
    for s, r in zip(served.to_list(), recomputed.to_list(), strict=True):
        if s is None and r is None:
            continue
        if r is None:
            served_only += 1
        elif s is None:
            recomputed_only += 1
        elif numeric:
            d = abs(s - r)  # exact for integers
            largest = d if largest is None else max(largest, d)
            if d > tolerance:
                differing += 1
            continue
        elif s != r:
            differing += 1
            continue
        else:
            continue
        differing += 1
    return differing, served_only, recomputed_only, float(largest) if largest else None


def check_skew(
    world: World,
    report: SkewReport,
    served: pl.DataFrame,
    recomputed: pl.DataFrame,
    tolerance: float,
) -> None:
    frame = report.to_polars()
    assert frame.columns == [
        "column",
        "feature",
        "rows",
        "differing",
        "share",
        "served_only",
        "recomputed_only",
        "max_difference",
    ]
    assert frame["column"].to_list() == list(FEATURES)
    for row in frame.iter_rows(named=True):
        column = row["column"]
        differing, s_only, r_only, largest = skew_reference(
            served[column], recomputed[column], tolerance
        )
        assert row["feature"] == world.ref(column)
        assert row["rows"] == served.height
        assert (row["differing"], row["served_only"], row["recomputed_only"]) == (
            differing,
            s_only,
            r_only,
        ), column
        assert row["share"] == differing / served.height
        assert row["max_difference"] == largest, column
    assert report.skewed == any(f.differing for f in report.features)


def latest_for(world: World, keys: Sequence[int], as_of: datetime) -> Any:
    return world.store.get_latest_features(
        {"customer_id": list(keys)}, [f"lc_stats:{f}" for f in FEATURES], as_of=as_of
    )


AS_OF = st.integers(0, 24 * 60).map(lambda h: datetime(2024, 1, 20) + timedelta(hours=h))
KEYS = st.lists(st.integers(0, CUSTOMERS + 3), min_size=1, max_size=12)


@PROPERTY
@given(keys=KEYS, as_of=AS_OF, scored_later=st.sampled_from([None, 1, 40]))
def test_skew_of_unchanged_served_values_is_zero(
    world: World,
    skew_model: fs.records.ModelVersion,
    keys: list[int],
    as_of: datetime,
    scored_later: int | None,
) -> None:
    """Whatever instant the predictions are logged for (``scored_later`` days after the
    features' as_of), the served values are recomputed as of the retrieval's instant."""
    store = world.store
    keys = [*keys, 0]  # customer 0 has transactions: not every value is null
    latest = latest_for(world, keys, as_of)
    scored = latest.frame.select("customer_id").with_columns(score=pl.lit(0.5))
    if scored_later is None:
        batch = store.log_predictions(skew_model, scored, features=latest)
        assert batch.to_polars()["as_of"].unique().to_list() == [as_of]
    else:
        later = as_of + timedelta(days=scored_later)
        scored = scored.with_columns(scored_at=pl.lit(later, dtype=pl.Datetime("us")))
        batch = store.log_predictions(
            skew_model, scored, features=latest, timestamp_column="scored_at"
        )
        assert batch.to_polars()["as_of"].unique().to_list() == [later]
    assert dict(batch.served_features) == {f: world.ref(f) for f in FEATURES}
    report = store.skew(batch)
    check_skew(world, report, latest.frame, latest.frame, 0.0)
    assert not report.skewed
    assert all(f.differing == 0 and f.max_difference is None for f in report.features)


@FEW
@given(
    rows=st.lists(
        st.tuples(st.integers(0, CUSTOMERS + 3), st.integers(0, 24 * 60)), min_size=1, max_size=10
    ),
    logged_as_of=st.sampled_from([None, datetime(2024, 4, 15)]),
)
def test_skew_of_historical_retrieval_is_zero(
    world: World,
    skew_model: fs.records.ModelVersion,
    rows: list[tuple[int, int]],
    logged_as_of: datetime | None,
) -> None:
    """Recomputed at the retrieval's entity timestamps, also when the predictions were
    logged with another ``as_of``."""
    store = world.store
    entity = pl.DataFrame(
        [
            (0, datetime(2024, 2, 1)),
            *[(c, datetime(2024, 1, 20) + timedelta(hours=h)) for c, h in rows],
        ],
        schema={"customer_id": pl.Int64, "event_timestamp": pl.Datetime("us")},
        orient="row",
    )
    result = store.get_historical_features(entity, [f"lc_stats:{f}" for f in FEATURES])
    batch = store.log_predictions(
        skew_model,
        result.frame.with_columns(score=pl.lit(0.1)),
        features=result,
        as_of=logged_as_of,
    )
    report = store.skew(batch)
    check_skew(world, report, result.frame, result.frame, 0.0)
    assert not report.skewed


CHANGE = st.sampled_from(["same", "same", "null", "small", "large", "negative", "one"])


@PROPERTY
@given(
    keys=KEYS,
    as_of=AS_OF,
    changes=st.lists(st.tuples(CHANGE, CHANGE, CHANGE, CHANGE), min_size=40, max_size=40),
    tolerance=st.sampled_from([0.0, 1e-6, 0.5, 2.0]),
)
def test_skew_of_altered_served_values_matches_the_reference(
    world: World,
    skew_model: fs.records.ModelVersion,
    keys: list[int],
    as_of: datetime,
    changes: list[tuple[str, str, str, str]],
    tolerance: float,
) -> None:
    store = world.store
    keys = [*keys, 0]
    latest = latest_for(world, keys, as_of)
    recomputed = latest.frame
    served: dict[str, list[Any]] = {f: [] for f in FEATURES}
    delta: dict[str, dict[str, Any]] = {
        "amount": {"small": 1e-7, "large": 3.0, "negative": -0.75, "one": 1.0},
        "n_items": {"small": 1, "large": 3, "negative": -1, "one": 1},
        "big": {"small": 1, "large": 3, "negative": -1, "one": 1},
    }
    fill = {"amount": 12.5, "plan": "basic", "n_items": 4, "big": BIG}
    for i, row in enumerate(recomputed.select(FEATURES).iter_rows()):
        for feature, value, change in zip(FEATURES, row, changes[i], strict=True):
            if change == "same":
                served[feature].append(value)
            elif change == "null":
                served[feature].append(None)
            elif value is None:  # served a value where the recomputation finds none
                served[feature].append(fill[feature])
            elif feature == "plan":
                served[feature].append(value + "_x")
            else:
                served[feature].append(value + delta[feature][change])
    frame = pl.DataFrame(
        {"customer_id": recomputed["customer_id"], **served, "score": [0.5] * recomputed.height},
        schema_overrides={f: recomputed.schema[f] for f in FEATURES},
    )
    batch = store.log_predictions(skew_model, frame, features=latest)
    stored = batch.to_polars()
    assert stored.select(FEATURES).equals(frame.select(FEATURES))  # the served values are kept
    before = len(store.catalog.report_bodies("skew"))
    report = store.skew(batch, tolerance=tolerance)
    check_skew(world, report, frame, recomputed, tolerance)
    assert len(store.catalog.report_bodies("skew")) == before + 1


def test_skew_of_large_integers_is_exact(world: World, skew_model: fs.records.ModelVersion) -> None:
    store = world.store
    latest = latest_for(world, [0, 1, 2], datetime(2024, 3, 1))
    recomputed = latest.frame
    assert recomputed["big"].null_count() == 0
    shifted = [v + d for v, d in zip(recomputed["big"].to_list(), [1, 0, -2], strict=True)]
    frame = recomputed.select("customer_id", *FEATURES).with_columns(
        pl.Series("big", shifted, dtype=pl.Int64), score=pl.lit(0.5)
    )
    report = store.skew(store.log_predictions(skew_model, frame, features=latest))
    (big,) = [f for f in report.features if f.column == "big"]
    assert (big.differing, big.max_difference) == (2, 2.0)


def test_skew_report_is_recorded_with_lineage(
    world: World, skew_model: fs.records.ModelVersion
) -> None:
    store = world.store
    latest = latest_for(world, [0, 1, 40], datetime(2024, 2, 10))
    frame = latest.frame.with_columns(pl.col("amount") * 2, score=pl.lit(0.5))
    batch = store.log_predictions(skew_model, frame, features=latest)
    report = store.skew(batch.id, tolerance=0.25)
    assert report.batch == batch.id
    assert (report.tolerance, report.bitemporal) == (0.25, False)
    assert report.id == node_id(NodeKind.SKEW_REPORT, report.report_id)
    assert (batch.id, report.id, "checked_in") in direct_edges(store)
    assert report.id in [n.id for n in store.lineage.downstream(batch.id, kinds=["skew_report"])]
    bodies = [json.loads(b) for b in store.catalog.report_bodies("skew", skew_model.name)]
    assert SkewReport.from_json(bodies[-1]) == report
    assert report.skewed
    assert "worst amount" in repr(report)
    # a second check is a second report
    again = store.skew(batch)
    assert again.report_id != report.report_id


def test_skew_after_a_correction_of_the_source(
    world: World, skew_model: fs.records.ModelVersion, tmp_path: Path
) -> None:
    """A ParquetSource's file is corrected and the view re-materialized for part of the
    range (same view version): the values served before differ from the recomputation
    exactly where the correction changed them."""
    store = world.store
    path = tmp_path / "corr.parquet"
    raw = world.txns.select("customer_id", "ts", "amount")
    raw.write_parquet(path)
    src = fs.ParquetSource("lc_corr_src", path=path, timestamp_column="ts")
    customer = fs.Entity("customer", join_keys=["customer_id"])
    view = fs.FeatureView(
        "lc_corr", entity=customer, source=src, ttl=timedelta(days=30), features=["amount"]
    )
    store.apply([customer, src, view])
    store.materialize(START, END, views=["lc_corr"])
    version = store.get_feature_view("lc_corr")["version"]
    keys = list(range(CUSTOMERS))
    as_of = datetime(2024, 3, 20)
    latest = store.get_latest_features({"customer_id": keys}, ["lc_corr:amount"], as_of=as_of)
    batch = store.log_predictions(
        skew_model, latest.frame.with_columns(score=pl.lit(0.5)), features=latest
    )
    assert dict(batch.served_features) == {"amount": f"lc_corr@{version}:amount"}
    assert not store.skew(batch).skewed
    # correct March's amounts of even customers
    fixed = raw.with_columns(
        pl.when((pl.col("ts") >= datetime(2024, 3, 1)) & (pl.col("customer_id") % 2 == 0))
        .then(pl.col("amount") + 100.0)
        .otherwise(pl.col("amount"))
        .alias("amount")
    )
    fixed.write_parquet(path)
    store.materialize(datetime(2024, 3, 1), END, views=["lc_corr"])
    assert store.get_feature_view("lc_corr")["version"] == version
    after = store.get_latest_features({"customer_id": keys}, ["lc_corr:amount"], as_of=as_of)
    report = store.skew(batch)
    (amount,) = report.features
    served, now = latest.frame["amount"], after.frame["amount"]
    differing, s_only, r_only, largest = skew_reference(served, now, 0.0)
    assert differing > 0
    assert largest == pytest.approx(100.0)
    assert (amount.differing, amount.served_only, amount.recomputed_only) == (
        differing,
        s_only,
        r_only,
    )
    assert amount.max_difference == largest
    assert amount.share == differing / len(keys)


def test_skew_errors_write_nothing(world: World, skew_model: fs.records.ModelVersion) -> None:
    store = world.store
    plain = log_batch(store, skew_model, [(1, 0.5, SCORED)])
    unchanged(
        store,
        lambda: store.skew(plain),
        MonitoringError,
        rf"prediction batch '{plain.id}' was logged without the features",
    )
    latest = latest_for(world, [0, 1], datetime(2024, 2, 1))
    batch = store.log_predictions(
        skew_model, latest.frame.with_columns(score=pl.lit(0.5)), features=latest
    )
    with nothing_written(store):
        for tolerance in (-1.0, True, "0.1", None):
            unchanged(
                store,
                lambda t=tolerance: store.skew(batch, tolerance=t),  # type: ignore[misc]
                MonitoringError,
                "tolerance must be a number >= 0",
            )
        unchanged(store, lambda: store.skew("prediction_batch:" + "0" * 32), NotFoundError, "0000")


@pytest.fixture(scope="module")
def skew_model(world: World) -> fs.records.ModelVersion:
    return world.store.register_model(
        "lc_skew",
        world.store.get_historical_features(eval_frame(3, 10), [f"lc_stats:{f}" for f in FEATURES]),
    )
