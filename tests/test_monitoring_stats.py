"""Column statistics against slow, obviously-correct numpy computations, and their merge."""

from __future__ import annotations

import json
import math

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from featstore.errors import MonitoringError
from featstore.monitoring import stats

floats = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)


def reference_quantile(values: list[float], level: float) -> float:
    """The inverted-CDF quantile by counting, in exact fractions: the smallest x with at
    least ``level`` of the values <= x (numpy's method="inverted_cdf" is one value off
    where level * n is not exact in floating point, e.g. 0.28 * 25)."""
    from fractions import Fraction

    ordered = sorted(values)
    n = len(ordered)
    share = Fraction(level).limit_denominator(1000)
    for x in ordered:
        if sum(v <= x for v in ordered) >= share * n:
            return x
    return ordered[-1]


def roundtrip(s: stats.Statistics) -> stats.Statistics:
    return stats.Statistics.from_json(json.loads(json.dumps(s.to_json())))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    values=st.lists(st.one_of(st.none(), floats, st.integers(-5, 5).map(float)), max_size=60),
    nan=st.integers(0, 3),
    inf=st.integers(0, 2),
)
def test_numeric_statistics_match_a_reference(
    values: list[float | None], nan: int, inf: int
) -> None:
    column = values + [math.nan] * nan + [math.inf] * inf
    s = roundtrip(stats.compute(pl.DataFrame({"x": column}, schema={"x": pl.Float64}), "t"))
    c = s.column("x")
    present = [v for v in values if v is not None]
    assert (c.count, c.nulls, c.infinite) == (len(column), len(column) - len(present) - inf, inf)
    assert c.kind == "numeric"
    assert s.rows == len(column)
    if not present:
        assert c.min is None
        assert c.quantiles is None
        assert c.histogram is None
        return
    arr = np.asarray(present)
    assert c.min == arr.min()
    assert c.max == arr.max()
    assert c.mean == pytest.approx(arr.mean(), rel=1e-9, abs=1e-6)
    assert c.std == pytest.approx(arr.std(), rel=1e-6, abs=1e-6)
    assert c.quantiles is not None
    assert len(c.quantiles) == 101
    assert c.quantiles == tuple(reference_quantile(present, i / 100) for i in range(101))
    h = c.histogram
    assert h is not None
    assert list(h.edges) == sorted(set(c.quantiles))
    expected = [sum(v < h.edges[0] for v in present), sum(v == h.edges[0] for v in present)]
    expected += [
        sum(a < v <= b for v in present) for a, b in zip(h.edges, h.edges[1:], strict=False)
    ]
    expected.append(sum(v > h.edges[-1] for v in present))
    assert list(h.counts) == expected
    assert c.distinct == len(set(present))


@settings(max_examples=100, deadline=None)
@given(
    values=st.lists(st.one_of(st.none(), st.sampled_from(["a", "b", "c", "é", ""])), max_size=80)
)
def test_categorical_statistics_match_a_reference(values: list[str | None]) -> None:
    c = roundtrip(stats.compute(pl.DataFrame({"s": values}, schema={"s": pl.String}), "t"))["s"]
    present = [v for v in values if v is not None]
    assert (c.kind, c.count, c.nulls) == ("categorical", len(values), len(values) - len(present))
    counts: dict[str, int] = {}
    for v in present:
        counts[v] = counts.get(v, 0) + 1
    assert c.top == tuple(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    assert c.other == 0
    assert c.distinct == len(counts)


def test_top_values_keep_the_most_frequent_and_count_the_rest() -> None:
    k = stats.TOP_K
    values = [f"v{i:04d}" for i in range(k + 50) for _ in range(i + 1)]
    c = stats.compute(pl.DataFrame({"s": values}), "t")["s"]
    assert c.top is not None
    assert len(c.top) == k
    assert c.top[0] == (f"v{k + 49:04d}", k + 50)
    assert c.top[-1] == ("v0050", 51)  # the 50 least frequent left out
    assert c.other == sum(range(1, 51))


def test_booleans_and_categoricals_are_categorical_temporal_columns_have_a_range() -> None:
    frame = pl.DataFrame(
        {
            "b": [True, False, True, None],
            "c": pl.Series(["x", "y", "x", "x"], dtype=pl.Categorical),
            "d": pl.date_range(pl.date(2024, 1, 1), pl.date(2024, 1, 4), eager=True),
        }
    )
    s = stats.compute(frame, "t")
    assert s["b"].top == (("true", 2), ("false", 1))
    assert s["b"].nulls == 1
    assert s["c"].top == (("x", 3), ("y", 1))
    assert (s["d"].kind, s["d"].min, s["d"].max) == ("temporal", "2024-01-01", "2024-01-04")


def test_a_lazy_frame_gives_the_same_statistics_as_its_frame() -> None:
    rng = np.random.default_rng(3)
    frame = pl.DataFrame({"x": rng.normal(size=5000), "s": rng.choice(["p", "q"], 5000)})
    assert stats.compute(frame.lazy(), "t") == stats.compute(frame, "t")


def test_distinct_counts_of_many_values_are_within_the_sketch_error() -> None:
    rng = np.random.default_rng(4)
    for n in (10_000, 200_000):
        values = rng.integers(0, 10**12, n)
        true = len(np.unique(values))
        c = stats.compute(pl.DataFrame({"x": values}), "t")["x"]
        assert c.distinct is not None
        assert abs(c.distinct - true) / true < 4 * 1.04 / math.sqrt(stats.HLL_M)


@settings(max_examples=60, deadline=None)
@given(
    parts=st.lists(st.lists(floats, min_size=1, max_size=40), min_size=2, max_size=4).filter(
        lambda ps: len({v for p in ps for v in p}) == sum(len(p) for p in ps)
    ),
    labels=st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=40),
)
def test_merging_is_exact_for_moments_and_close_for_quantiles(
    parts: list[list[float]], labels: list[str]
) -> None:
    pieces = [stats.compute(pl.DataFrame({"x": p, "s": [labels[i % len(labels)] for i in range(len(p))]}), "t") for p in parts]  # fmt: skip
    merged = stats.merge([roundtrip(p) for p in pieces], "all")
    every = [v for p in parts for v in p]
    whole = stats.compute(pl.DataFrame({"x": every, "s": [labels[i % len(labels)] for p in parts for i in range(len(p))]}), "t")  # fmt: skip
    m, w = merged["x"], whole["x"]
    assert (m.count, m.nulls, m.min, m.max) == (w.count, w.nulls, w.min, w.max)
    assert m.mean == pytest.approx(w.mean, rel=1e-9, abs=1e-6)
    assert m.std == pytest.approx(w.std, rel=1e-6, abs=1e-4)
    assert m.distinct is not None
    assert w.distinct is not None
    assert abs(m.distinct - w.distinct) <= max(1, 0.1 * w.distinct)  # merged: the sketch
    assert merged.rows == whole.rows
    assert merged.parts == len(parts)
    assert not m.exact
    # with distinct values, each part's rows spread within its bins move a merged
    # quantile's rank by at most that part's largest bin (about 1% of its rows)
    assert m.quantiles is not None
    assert w.quantiles is not None
    assert m.quantiles[0] == w.quantiles[0]
    assert m.quantiles[-1] == w.quantiles[-1]
    ordered = sorted(every)
    slack = max(math.ceil(len(p) / 100) + 1 for p in parts) * len(parts)
    for level, q in zip(stats.QUANTILE_LEVELS, m.quantiles, strict=True):
        rank = level * len(ordered)
        lo = ordered[max(int(rank) - slack, 0)]
        hi = ordered[min(int(rank) + slack, len(ordered) - 1)]
        assert lo - 1e-9 <= q <= hi + 1e-9
    assert m.histogram is not None
    assert sum(m.histogram.counts) == pytest.approx(len(every))
    assert merged["s"].top == whole["s"].top
    assert merged["s"].exact


def test_merged_statistics_of_a_large_column_are_close_to_the_exact_ones() -> None:
    rng = np.random.default_rng(5)
    values = rng.lognormal(size=300_000)
    whole = stats.compute(pl.DataFrame({"x": values}), "t")["x"]
    pieces = [stats.compute(pl.DataFrame({"x": chunk}), "t") for chunk in np.array_split(values, 6)]
    merged = stats.merge(pieces, "m")["x"]
    assert merged.quantiles is not None
    assert whole.quantiles is not None
    # ranks of the merged quantiles in the exact distribution are within 0.5% of the level
    ordered = np.sort(values)
    for level, q in zip(stats.QUANTILE_LEVELS[1:-1], merged.quantiles[1:-1], strict=True):
        rank = np.searchsorted(ordered, q) / len(values)
        assert abs(rank - level) < 0.005
    assert merged.distinct == pytest.approx(whole.distinct, rel=0.1)


def test_merging_different_kinds_or_nothing_is_refused() -> None:
    a = stats.compute(pl.DataFrame({"x": [1.0]}), "a")
    b = stats.compute(pl.DataFrame({"x": ["1"]}), "b")
    with pytest.raises(MonitoringError, match="'x' is categorical in some parts and numeric"):
        stats.merge([a, b], "ab")
    with pytest.raises(MonitoringError, match="nothing recorded"):
        stats.merge([], "none")


def test_asking_for_a_missing_column_names_the_columns() -> None:
    s = stats.compute(pl.DataFrame({"x": [1.0]}), "training set 't'")
    with pytest.raises(MonitoringError, match=r"no column 'y'; its columns are \['x'\]"):
        s.column("y")
    with pytest.raises(MonitoringError, match=r"no column 'y'"):
        stats.compute(pl.DataFrame({"x": [1.0]}), "t", ["y"])


def test_to_polars_has_one_row_per_column() -> None:
    frame = pl.DataFrame({"x": [1.0, 2.0, None], "s": ["a", "b", "b"]})
    table = stats.compute(frame, "t").to_polars()
    assert table.get_column("column").to_list() == ["x", "s"]
    assert table.row(0, named=True)["null_rate"] == pytest.approx(1 / 3)
    assert table.row(1, named=True)["top"] == "b: 2, a: 1"
    assert table.row(0, named=True)["p50"] == 1.0
