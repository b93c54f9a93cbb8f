"""Drift against slow reference computations (scipy, counting by hand), from frames, saved
training sets, prediction batches and view windows; bad input writes nothing."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from datetime import datetime, timedelta
from fractions import Fraction
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats as sps
from scipy.spatial.distance import jensenshannon

import featstore as fs
from featstore.errors import MonitoringError, NotFoundError
from featstore.monitoring import distances
from featstore.monitoring.drift import DEFAULT_THRESHOLDS

EPS = 1e-4


# -- the reference: counting by hand -----------------------------------------------------


def quantile(ordered: list[float], level: Fraction) -> float:
    n = len(ordered)
    for x in ordered:
        if sum(v <= x for v in ordered) >= level * n:
            return x
    return ordered[-1]


def binned(values: list[float], edges: list[float]) -> list[int]:
    """[x < e0], [x == e0], (e0, e1], ..., [x > e_B], by comparisons."""
    out = [sum(v < edges[0] for v in values), sum(v == edges[0] for v in values)]
    out += [sum(a < v <= b for v in values) for a, b in itertools.pairwise(edges)]
    return [*out, sum(v > edges[-1] for v in values)]


def ref_psi(p: list[float], q: list[float]) -> float:
    total_p, total_q = sum(p), sum(q)
    out = 0.0
    for a, b in zip(p, q, strict=True):
        if a == 0 and b == 0:
            continue
        pa, qb = max(a / total_p, EPS), max(b / total_q, EPS)
        out += (qb - pa) * math.log(qb / pa)
    return out


def reference_numeric(ref: list[float], cur: list[float]) -> dict[str, float]:
    ordered = sorted(ref)
    fine = sorted({quantile(ordered, Fraction(i, 100)) for i in range(101)})
    deciles = sorted({quantile(ordered, Fraction(i, 10)) for i in range(11)})
    p, q = binned(ref, deciles), binned(cur, deciles)
    points = sorted(set(ref) | set(cur))  # the KS statistic by its definition
    exact_ks = max(
        abs(sum(v <= x for v in ref) / len(ref) - sum(v <= x for v in cur) / len(cur))
        for x in points
    )
    exact_w = float(sps.wasserstein_distance(ref, cur))
    rf, cf = binned(ref, fine), binned(cur, fine)
    lo, hi = min(min(ref), min(cur)), max(max(ref), max(cur))
    return {
        "psi": ref_psi(p, q),
        "jensen_shannon": float(jensenshannon(p, q, base=2)),
        "ks_exact": exact_ks,
        "w_exact": exact_w,
        "w_bound": distances.wasserstein_error_bound(fine, rf, cf, lo=lo, hi=hi),
        "std": float(np.std(ref)),
    }


def reference_categorical(ref: list[str], cur: list[str]) -> dict[str, float]:
    categories = sorted(set(ref) | set(cur))
    p = [ref.count(c) for c in categories]
    q = [cur.count(c) for c in categories]
    kept = [(a, b) for a, b in zip(p, q, strict=True) if a or b]
    if len(kept) < 2:
        pvalue = 1.0
    else:
        pvalue = float(sps.chi2_contingency(np.array(kept).T, correction=False).pvalue)
    return {
        "psi": ref_psi(p, q),
        "jensen_shannon": float(jensenshannon(p, q, base=2)),
        "chi2_pvalue": pvalue,
    }


# -- fixtures --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[fs.FeatureStore]:
    with fs.FeatureStore(tmp_path_factory.mktemp("drift") / "store") as s:
        yield s


values = st.floats(min_value=-1000, max_value=1000, allow_nan=False).map(lambda v: round(v, 2))
column = st.lists(
    st.one_of(st.none(), values, st.sampled_from([0.0, 1.0, 5.0])), min_size=1, max_size=50
)
labels = st.lists(
    st.one_of(st.none(), st.sampled_from(["a", "b", "c", "d"])), min_size=1, max_size=50
)


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ref=column, cur=column, shift=st.sampled_from([0.0, 3.5]))
def test_numeric_drift_matches_the_reference(
    store: fs.FeatureStore, ref: list[float | None], cur: list[float | None], shift: float
) -> None:
    cur = [None if v is None else v + shift for v in cur]
    report = store.drift(
        pl.DataFrame({"x": ref}, schema={"x": pl.Float64}),
        pl.DataFrame({"x": cur}, schema={"x": pl.Float64}),
    )
    f = report.feature("x")
    r = [v for v in ref if v is not None]
    c = [v for v in cur if v is not None]
    assert f.reference_null_rate == pytest.approx(1 - len(r) / len(ref))
    assert f.current_null_rate == pytest.approx(1 - len(c) / len(cur))
    assert f.null_rate_change == pytest.approx(f.current_null_rate - f.reference_null_rate)
    if not r or not c:
        assert f.psi is None
        assert f.ks is None
        assert f.note
        assert f.drifted == (bool(r) != bool(c) or abs(f.null_rate_change) > 0.05)
        return
    expected = reference_numeric(r, c)
    assert f.psi == pytest.approx(expected["psi"], abs=1e-9)
    assert f.jensen_shannon == pytest.approx(expected["jensen_shannon"], abs=1e-9)
    assert f.ks is not None
    assert f.ks_error is not None
    assert f.wasserstein is not None
    assert f.ks - 1e-12 <= expected["ks_exact"] <= f.ks + f.ks_error + 1e-12
    w = f.wasserstein * (expected["std"] if expected["std"] > 0 else 1.0)
    if expected["std"] > 0:
        assert abs(w - expected["w_exact"]) <= expected["w_bound"] + 1e-9
    else:
        assert (f.wasserstein == 0) == (expected["w_exact"] == 0)
    reasons = {
        "psi": f.psi > 0.2,
        "jensen_shannon": f.jensen_shannon > 0.1,
        "wasserstein": f.wasserstein > 0.1,
        "null": abs(f.null_rate_change) > 0.05,
    }
    assert f.drifted == any(reasons.values())


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ref=labels, cur=labels)
def test_categorical_drift_matches_the_reference(
    store: fs.FeatureStore, ref: list[str | None], cur: list[str | None]
) -> None:
    report = store.drift(
        pl.DataFrame({"s": ref}, schema={"s": pl.String}),
        pl.DataFrame({"s": cur}, schema={"s": pl.String}),
    )
    f = report.feature("s")
    r = [v for v in ref if v is not None]
    c = [v for v in cur if v is not None]
    if not r or not c:
        assert f.psi is None
        assert f.note
        return
    expected = reference_categorical(r, c)
    assert f.psi == pytest.approx(expected["psi"], abs=1e-9)
    assert f.jensen_shannon == pytest.approx(expected["jensen_shannon"], abs=1e-9)
    assert f.chi2_pvalue == pytest.approx(expected["chi2_pvalue"], rel=1e-7, abs=1e-12)
    assert f.ks is None
    assert f.wasserstein is None


def test_large_continuous_columns_agree_with_exact_scipy_values(store: fs.FeatureStore) -> None:
    rng = np.random.default_rng(7)
    ref = rng.normal(size=200_000)
    cur = rng.normal(0.1, 1.2, size=150_000)
    f = store.drift(pl.DataFrame({"x": ref}), pl.DataFrame({"x": cur})).feature("x")
    exact_ks = sps.ks_2samp(ref, cur, method="asymp").statistic
    exact_w = sps.wasserstein_distance(ref, cur) / np.std(ref)
    assert f.ks is not None
    assert f.ks_error is not None
    assert f.wasserstein is not None
    assert f.ks <= exact_ks <= f.ks + f.ks_error
    assert f.ks_error < 0.011
    assert abs(f.wasserstein - exact_w) < 0.01
    assert f.drifted
    assert any(r.startswith("wasserstein") for r in f.reasons)


def test_categories_on_one_side_only_and_a_long_tail(store: fs.FeatureStore) -> None:
    ref = ["a"] * 50 + ["b"] * 50
    cur = ["a"] * 50 + ["b"] * 30 + ["new"] * 20
    f = store.drift(pl.DataFrame({"s": ref}), pl.DataFrame({"s": cur})).feature("s")
    assert f.drifted
    assert "new" in f.bins
    expected = reference_categorical(ref, cur)
    assert f.psi == pytest.approx(expected["psi"])
    # a reference with more values than it lists: the rest is one "(other)" category
    many = [f"v{i}" for i in range(700)] * 2
    f2 = store.drift(pl.DataFrame({"s": many}), pl.DataFrame({"s": many})).feature("s")
    assert f2.psi == pytest.approx(0.0, abs=1e-12)
    assert not f2.drifted


def test_a_single_row_and_a_constant_column(store: fs.FeatureStore) -> None:
    one = pl.DataFrame({"x": [3.0], "s": ["k"]})
    report = store.drift(one, one)
    assert not report.drifted
    constant = pl.DataFrame({"x": [2.0] * 10})
    moved = store.drift(constant, pl.DataFrame({"x": [2.0] * 5 + [3.0] * 5})).feature("x")
    assert moved.wasserstein == math.inf
    assert moved.drifted
    assert moved.note
    same = store.drift(constant, constant).feature("x")
    assert same.wasserstein == 0.0
    assert not same.drifted


def test_thresholds_override_and_switch_tests_off(store: fs.FeatureStore) -> None:
    ref = pl.DataFrame({"x": np.arange(1000.0)})
    cur = pl.DataFrame({"x": np.arange(1000.0) + 10})
    default = store.drift(ref, cur).feature("x")
    assert not default.drifted
    strict = store.drift(ref, cur, thresholds={"ks": 0.01}).feature("x")
    assert strict.drifted
    assert strict.reasons[0].startswith("ks")
    off = {k: None for k in DEFAULT_THRESHOLDS}
    shifted = pl.DataFrame({"x": np.arange(1000.0) + 5000})
    assert not store.drift(ref, shifted, thresholds=off).feature("x").drifted
    with pytest.raises(MonitoringError, match="unknown threshold 'psy'"):
        store.drift(ref, cur, thresholds={"psy": 0.1})
    with pytest.raises(MonitoringError, match="must be a number or None"):
        store.drift(ref, cur, thresholds={"psi": "high"})  # type: ignore[dict-item]


def test_bad_input_is_refused_and_writes_nothing(store: fs.FeatureStore) -> None:
    before = store.catalog.report_bodies("drift")
    nodes = len(store.catalog.lineage_all_nodes())
    good = pl.DataFrame({"x": [1.0, 2.0], "s": ["a", "b"], "t": [datetime(2024, 1, 1)] * 2})
    empty = good.clear()
    with pytest.raises(MonitoringError, match="the reference, the reference frame, has no rows"):
        store.drift(empty, good)
    with pytest.raises(MonitoringError, match="the current frame has no rows"):
        store.drift(good, empty)
    with pytest.raises(MonitoringError, match=r"the current frame has no column 'x'; its columns"):
        store.drift(good, good.drop("x"), features=["x"])
    with pytest.raises(MonitoringError, match=r"'x' is numeric in .* but categorical"):
        store.drift(good, good.with_columns(pl.col("x").cast(pl.String)), features=["x"])
    with pytest.raises(MonitoringError, match=r"feature 't' .* is Datetime"):
        store.drift(good, good, features=["t"])
    with pytest.raises(MonitoringError, match="share no numeric or categorical"):
        store.drift(good.select("x"), good.select("s"))
    with pytest.raises(MonitoringError, match="cannot compare a int"):
        store.drift(3, good)
    with pytest.raises(NotFoundError, match="is not a saved training set"):
        store.drift("nope", good)
    assert store.catalog.report_bodies("drift") == before
    assert len(store.catalog.lineage_all_nodes()) == nodes


# -- drift of stored objects: training sets, batches, windows ----------------------------


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    root: Path = tmp_path_factory.mktemp("world")
    rng = np.random.default_rng(11)
    n = 6000
    times = [datetime(2024, 1, 1) + timedelta(minutes=int(m)) for m in np.sort(rng.integers(0, 60 * 24 * 120, n))]  # fmt: skip
    txns = pl.DataFrame(
        {
            "customer_id": rng.integers(0, 200, n),
            "ts": times,
            "amount": rng.gamma(2, 10, n),
            "plan": rng.choice(["basic", "pro", "max"], n),
        }
    ).with_columns(  # amounts grow in April: drift between windows
        pl.when(pl.col("ts") >= datetime(2024, 4, 1)).then(pl.col("amount") * 3).otherwise(pl.col("amount")).alias("amount")
    )  # fmt: skip
    customer = fs.Entity("customer", join_keys=["customer_id"])
    source = fs.DataFrameSource("txns", txns, timestamp_column="ts")
    view = fs.FeatureView("spend", entity=customer, source=source, ttl=timedelta(days=60), features=["amount", "plan"])  # fmt: skip
    store = fs.FeatureStore(root / "store")
    store.apply([customer, source, view])
    store.materialize(datetime(2024, 1, 1), datetime(2024, 5, 1))
    entity = pl.DataFrame(
        {
            "customer_id": rng.integers(0, 200, 1500),
            "event_timestamp": [
                datetime(2024, 2, 1) + timedelta(hours=int(h))
                for h in rng.integers(0, 24 * 50, 1500)
            ],
            "label": rng.integers(0, 2, 1500),
        }
    )
    result = store.get_historical_features(entity, ["spend:amount", "spend:plan"])
    training = store.save_training_set(result, "train")
    yield {"store": store, "training": training, "result": result, "txns": txns}
    store.close()


def test_a_saved_training_set_drifts_from_its_stored_statistics(world: dict[str, object]) -> None:
    store, training, result = world["store"], world["training"], world["result"]
    assert isinstance(store, fs.FeatureStore)
    assert isinstance(training, fs.TrainingSet)
    assert isinstance(result, fs.RetrievalResult)
    stored = store.drift(training, store.window("spend", "2024-04-01", "2024-05-01"))
    assert stored.reference_from_statistics
    assert [f.feature for f in stored.features] == ["amount", "plan"]  # what both sides have
    # the same rows from memory give the same numbers
    fresh = store.drift(result.frame, store.window("spend", "2024-04-01", "2024-05-01"))
    assert not fresh.reference_from_statistics
    for a in stored.features:
        b = fresh.feature(a.feature)
        assert (a.psi, a.jensen_shannon, a.ks, a.wasserstein, a.chi2_pvalue) == (
            b.psi, b.jensen_shannon, b.ks, b.wasserstein, b.chi2_pvalue
        )  # fmt: skip
    assert stored.feature("amount").drifted  # amounts tripled in April


def test_a_whole_month_window_uses_its_files_statistics(world: dict[str, object]) -> None:
    store = world["store"]
    assert isinstance(store, fs.FeatureStore)
    month = store.window("spend", "2024-02-01", "2024-03-01")
    partial = store.window("spend", "2024-02-01", "2024-02-20")
    current = store.window("spend", "2024-03-01", "2024-04-01")
    assert store.drift(month, current).reference_from_statistics
    assert not store.drift(partial, current).reference_from_statistics
    # a window reads exactly the rows in its range: the same as filtering the source
    txns = world["txns"]
    assert isinstance(txns, pl.DataFrame)
    rows = txns.filter(
        (pl.col("ts") >= datetime(2024, 2, 1)) & (pl.col("ts") < datetime(2024, 2, 20))
    )
    stats = store.statistics("spend", start="2024-02-01", end="2024-02-20")
    assert stats["amount"].count == rows.height
    assert stats["amount"].mean == pytest.approx(rows["amount"].mean())


def test_drift_reports_are_saved_and_are_lineage_nodes(world: dict[str, object]) -> None:
    store, training = world["store"], world["training"]
    assert isinstance(store, fs.FeatureStore)
    assert isinstance(training, fs.TrainingSet)
    report = store.drift(training, store.window("spend", "2024-03-01", "2024-04-01"))
    assert store.get_drift_report(report.id) == report
    downstream = {n.id for n in store.lineage.downstream(training.id, kinds=["drift_report"])}
    assert report.id in downstream
    view = store.get_feature_view("spend")
    upstream = {n.id for n in store.lineage.upstream(report.id)}
    assert training.id in upstream
    assert f"view:spend@{view.version}" in upstream
    table = report.to_polars()
    assert table.columns[:2] == ["feature", "kind"]
    assert table.height == len(report.features)
    assert "drifted" in table.columns
    assert "reasons" in table.columns


def test_an_empty_window_is_refused(world: dict[str, object]) -> None:
    store, training = world["store"], world["training"]
    assert isinstance(store, fs.FeatureStore)
    with pytest.raises(MonitoringError, match=r"feature view 'spend'@\w+ over .* has no rows"):
        store.drift(training, store.window("spend", "2030-01-01", "2030-02-01"))
    with pytest.raises(MonitoringError, match=r"start .* is not before end"):
        store.window("spend", "2024-02-01", "2024-01-01")
    with pytest.raises(NotFoundError):
        store.window("nope", "2024-01-01", "2024-02-01")
