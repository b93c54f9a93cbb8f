"""Drift distances from histograms (featstore.monitoring.distances) against scipy.

Numeric histograms are built here from two raw samples (``histogram`` below, the same
layout the library documents), so that the binned KS statistic and the binned
Wasserstein distance are compared with scipy's values on the very samples the counts
came from, within the error bounds the module proves.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.spatial import distance

from featstore.errors import MonitoringError
from featstore.monitoring.distances import (
    chi2_homogeneity,
    chi2_sf,
    jensen_shannon,
    ks_error_bound,
    ks_from_counts,
    psi,
    wasserstein_error_bound,
    wasserstein_from_histogram,
)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
SETTINGS: dict[str, Any] = {"deadline": None, "max_examples": 200}
LEVELS = np.linspace(0.0, 1.0, 101)


def histogram(
    ref: npt.ArrayLike, cur: npt.ArrayLike, *, edges: npt.ArrayLike | None = None
) -> tuple[FloatArray, IntArray, IntArray, float, float]:
    """``(edges, ref_counts, cur_counts, lo, hi)`` of two raw samples.

    ``edges`` are the reference's distinct quantiles at 0, 0.01, ..., 1 (inverted CDF)
    unless given; counts are ``[x < e0], [x == e0], (e0, e1], ..., (e_{B-1}, e_B],
    [x > e_B]``; ``lo`` and ``hi`` are the minimum and maximum of both samples.
    """
    r = np.asarray(ref, dtype=np.float64)
    c = np.asarray(cur, dtype=np.float64)
    if edges is None:
        e = np.unique(np.quantile(r, LEVELS, method="inverted_cdf"))
    else:
        e = np.asarray(edges, dtype=np.float64)

    def count(x: FloatArray) -> IntArray:
        # searchsorted(side="left") is i for x in (e_{i-1}, e_i] and 0 for x <= e_0
        slot = np.searchsorted(e, x, side="left") + 1
        slot[x < e[0]] = 0
        return np.bincount(slot, minlength=e.size + 2).astype(np.int64)

    lo = float(min(r.min(), c.min()))
    hi = float(max(r.max(), c.max()))
    return e, count(r), count(c), lo, hi


def histogram_by_loop(values: list[float], edges: list[float]) -> list[int]:
    """The same counts, one value at a time, straight from the layout's definition."""
    counts = [0] * (len(edges) + 2)
    for x in values:
        if x < edges[0]:
            counts[0] += 1
        elif x == edges[0]:
            counts[1] += 1
        elif x > edges[-1]:
            counts[-1] += 1
        else:
            i = next(i for i in range(1, len(edges)) if edges[i - 1] < x <= edges[i])
            counts[i + 1] += 1
    return counts


# -- strategies ------------------------------------------------------------------------

# small integers give ties (and values on the edges), floats give everything else
ELEMENT = st.one_of(
    st.integers(-3, 3).map(float),
    st.floats(-100, 100, allow_nan=False, allow_infinity=False),
)
# the current side reaches beyond the reference
CUR_ELEMENT = st.one_of(
    st.integers(-6, 6).map(float),
    st.floats(-300, 300, allow_nan=False, allow_infinity=False),
)


@st.composite
def samples(draw: st.DrawFn) -> tuple[FloatArray, FloatArray]:
    """Two raw samples: short hand-picked lists (single rows, constants, ties) or larger
    pseudo-random ones (many bins, shifted and rescaled, sometimes rounded)."""
    if draw(st.booleans()):
        ref = draw(st.lists(ELEMENT, min_size=1, max_size=25))
        cur = draw(st.lists(CUR_ELEMENT, min_size=1, max_size=25))
        return np.asarray(ref), np.asarray(cur)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n_ref = draw(st.integers(1, 2000))
    n_cur = draw(st.integers(1, 2000))
    shift = draw(st.floats(-3, 3))
    scale = draw(st.floats(0.1, 5))
    ref_values = rng.normal(0.0, 1.0, n_ref)
    cur_values = rng.normal(shift, scale, n_cur)
    step = draw(st.sampled_from([0.0, 0.0, 0.1, 0.5, 1.0]))
    if step:
        ref_values = np.round(ref_values / step) * step
        cur_values = np.round(cur_values / step) * step
    return ref_values, cur_values


@st.composite
def count_pairs(draw: st.DrawFn) -> tuple[list[int], list[int]]:
    """Two aligned count arrays, each with at least one row: short hand-picked lists, or
    longer pseudo-random ones with shared and one-sided zeros, sometimes nearly equal."""
    if draw(st.booleans()):
        k = draw(st.integers(1, 8))
        ref = draw(st.lists(st.integers(0, 6), min_size=k, max_size=k))
        cur = draw(st.lists(st.integers(0, 6), min_size=k, max_size=k))
    else:
        rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        k = draw(st.integers(1, 300))
        high = draw(st.sampled_from([5, 100, 10_000]))
        zeros = draw(st.floats(0.0, 0.9))
        ref_array = rng.integers(0, high + 1, k) * (rng.random(k) >= zeros)
        if draw(st.booleans()):  # nearly the same distribution
            cur_array = np.maximum(0, ref_array * draw(st.integers(1, 3)) + rng.integers(-1, 2, k))
        else:
            cur_array = rng.integers(0, high + 1, k) * (rng.random(k) >= zeros)
        ref, cur = ref_array.tolist(), cur_array.tolist()
    if not any(ref):
        ref[draw(st.integers(0, len(ref) - 1))] = 1
    if not any(cur):
        cur[draw(st.integers(0, len(cur) - 1))] = 1
    return ref, cur


# -- the helper itself -----------------------------------------------------------------


@settings(**{**SETTINGS, "max_examples": 100})
@given(samples())
def test_histogram_helper_follows_the_layout(pair: tuple[FloatArray, FloatArray]) -> None:
    ref, cur = pair
    edges, ref_counts, cur_counts, lo, hi = histogram(ref, cur)
    assert np.all(np.diff(edges) > 0)
    assert edges[0] == ref.min()
    assert edges[-1] == ref.max()
    assert ref_counts[0] == 0
    assert ref_counts[-1] == 0
    assert ref_counts.tolist() == histogram_by_loop(ref.tolist(), edges.tolist())
    assert cur_counts.tolist() == histogram_by_loop(cur.tolist(), edges.tolist())
    assert lo <= edges[0]
    assert hi >= edges[-1]


# -- PSI -------------------------------------------------------------------------------


def psi_by_loop(ref: list[int], cur: list[int], eps: float) -> float:
    n_ref, n_cur = sum(ref), sum(cur)
    total = 0.0
    for r, c in zip(ref, cur, strict=True):
        if r == 0 and c == 0:
            continue
        p = max(r / n_ref, eps)
        q = max(c / n_cur, eps)
        total += (q - p) * math.log(q / p)
    return total


@settings(**SETTINGS)
@given(count_pairs(), st.sampled_from([1e-4, 1e-6, 1e-2]))
def test_psi_equals_a_direct_loop(pair: tuple[list[int], list[int]], eps: float) -> None:
    ref, cur = pair
    got = psi(ref, cur, eps=eps)
    assert type(got) is float
    assert got == pytest.approx(psi_by_loop(ref, cur, eps), rel=1e-12, abs=1e-15)
    assert got >= 0.0
    assert got == pytest.approx(psi(cur, ref, eps=eps), rel=1e-12, abs=1e-15)


def test_psi_default_eps_and_an_empty_bin() -> None:
    # an empty reference bin gives a large but finite term
    assert psi([10, 0], [5, 5]) == pytest.approx(psi_by_loop([10, 0], [5, 5], 1e-4))
    assert math.isfinite(psi([10, 0], [5, 5]))
    assert psi([1, 1], [1, 3]) == pytest.approx(-0.25 * math.log(0.5) + 0.25 * math.log(1.5))
    # bins empty on both sides change nothing
    assert psi([0, 1, 1, 0], [0, 1, 3, 0]) == psi([1, 1], [1, 3])


# -- Jensen-Shannon --------------------------------------------------------------------


@settings(**SETTINGS)
@given(count_pairs())
def test_jensen_shannon_equals_scipy(pair: tuple[list[int], list[int]]) -> None:
    ref, cur = pair
    got = jensen_shannon(ref, cur)
    assert type(got) is float
    expected = float(distance.jensenshannon(ref, cur, base=2))
    assert got == pytest.approx(expected, rel=1e-9, abs=1e-9)
    assert 0.0 <= got <= 1.0
    assert got == pytest.approx(jensen_shannon(cur, ref), rel=1e-12, abs=1e-12)


def test_jensen_shannon_extremes_and_many_categories() -> None:
    assert jensen_shannon([1, 0], [0, 1]) == 1.0
    assert jensen_shannon([0, 3, 0], [5, 0, 2]) == pytest.approx(1.0)
    rng = np.random.default_rng(7)
    ref = rng.integers(0, 50, 5000)
    cur = rng.integers(0, 50, 5000)
    assert jensen_shannon(ref, cur) == pytest.approx(
        float(distance.jensenshannon(ref, cur, base=2)), rel=1e-9
    )


# -- chi-square ------------------------------------------------------------------------


def _scipy_chi2(ref: list[int], cur: list[int]) -> tuple[float, int, float]:
    table = np.array([ref, cur], dtype=np.float64)
    table = table[:, table.sum(axis=0) > 0]
    result = stats.chi2_contingency(table, correction=False)
    return float(result.statistic), int(result.dof), float(result.pvalue)


def _assert_p_close(got: float, expected: float) -> None:
    if expected > 1e-300:
        assert got == pytest.approx(expected, rel=1e-10)
    else:
        assert got < 1e-299


@settings(**SETTINGS)
@given(count_pairs())
def test_chi2_homogeneity_equals_scipy(pair: tuple[list[int], list[int]]) -> None:
    ref, cur = pair
    statistic, dof, p_value = chi2_homogeneity(ref, cur)
    assert type(statistic) is float
    assert type(dof) is int
    assert type(p_value) is float
    kept = sum(1 for r, c in zip(ref, cur, strict=True) if r or c)
    if kept < 2:
        assert (statistic, dof, p_value) == (0.0, 0, 1.0)
    expected_statistic, expected_dof, expected_p = _scipy_chi2(ref, cur)
    assert dof == expected_dof
    assert statistic == pytest.approx(expected_statistic, rel=1e-9, abs=1e-9)
    _assert_p_close(p_value, expected_p)


def test_chi2_homogeneity_with_thousands_of_categories() -> None:
    rng = np.random.default_rng(3)
    ref = rng.poisson(5.0, 3000)
    cur = rng.poisson(5.0, 3000) + (np.arange(3000) % 7 == 0)
    statistic, dof, p_value = chi2_homogeneity(ref, cur)
    expected_statistic, expected_dof, expected_p = _scipy_chi2(ref.tolist(), cur.tolist())
    assert dof == expected_dof
    assert dof > 2500
    assert statistic == pytest.approx(expected_statistic, rel=1e-9)
    _assert_p_close(p_value, expected_p)


def test_chi2_homogeneity_with_one_category_left() -> None:
    assert chi2_homogeneity([0, 4, 0], [0, 9, 0]) == (0.0, 0, 1.0)
    assert chi2_homogeneity([4], [9]) == (0.0, 0, 1.0)
    # scipy agrees on a 2 x 1 table
    result = stats.chi2_contingency([[4], [9]], correction=False)
    assert (result.statistic, result.dof, result.pvalue) == (0.0, 0, 1.0)


def test_chi2_homogeneity_two_categories_has_no_continuity_correction() -> None:
    ref, cur = [30, 10], [20, 25]
    statistic, dof, p_value = chi2_homogeneity(ref, cur)
    assert dof == 1
    plain = stats.chi2_contingency([ref, cur], correction=False)
    yates = stats.chi2_contingency([ref, cur], correction=True)
    assert statistic == pytest.approx(plain.statistic, rel=1e-12)
    assert statistic != pytest.approx(yates.statistic, rel=1e-3)
    assert p_value == pytest.approx(plain.pvalue, rel=1e-10)


DOFS = [1, 2, 3, 4, 5, 7, 10, 19, 20, 21, 30, 50, 99, 100, 500, 1000, 2001, 5000, 9999, 10_000]


def _xs(dof: int) -> list[float]:
    s = math.sqrt(2.0 * dof)
    fixed = [0.0, 1e-300, 1e-12, 1e-3, 0.5, 1.0, 2.0, 10.0, 100.0, 1e3, 1e4, 1e5, 1e6]
    near = [dof - 2.0, dof - 1.0, dof, dof + 1.0, dof + 2.0, dof + 2.0 + 1e-9]
    spread = [dof + z * s for z in np.linspace(-8.0, 60.0, 69)]
    return [x for x in fixed + near + spread if x >= 0.0]


@pytest.mark.parametrize("dof", DOFS)
def test_chi2_sf_equals_scipy_on_a_grid(dof: int) -> None:
    for x in _xs(dof):
        _assert_p_close(chi2_sf(x, dof), float(stats.chi2.sf(x, dof)))


@settings(**SETTINGS)
@given(
    st.integers(1, 10_000),
    st.one_of(
        st.floats(-10.0, 60.0).map(lambda z: ("z", z)),
        st.floats(0.0, 1e6).map(lambda x: ("x", x)),
    ),
)
def test_chi2_sf_equals_scipy_on_random_values(dof: int, where: tuple[str, float]) -> None:
    kind, value = where
    x = max(0.0, dof + value * math.sqrt(2.0 * dof)) if kind == "z" else value
    got = chi2_sf(x, dof)
    assert type(got) is float
    assert 0.0 <= got <= 1.0
    _assert_p_close(got, float(stats.chi2.sf(x, dof)))


def test_chi2_sf_edges_and_speed() -> None:
    assert chi2_sf(0.0, 3) == 1.0
    assert chi2_sf(-1.0, 3) == 1.0
    assert chi2_sf(math.inf, 3) == 0.0
    assert chi2_sf(1e6, 10) == 0.0  # underflows
    assert chi2_sf(3.0, np.int64(2)) == pytest.approx(math.exp(-1.5), rel=1e-14)
    start = time.perf_counter()
    for i in range(1000):
        chi2_sf(10_000.0 + i, 10_000)  # the slowest region: near the mode
    assert time.perf_counter() - start < 5.0


@pytest.mark.parametrize("dof", [0, -1, 1.5, True, "3", None])
def test_chi2_sf_rejects_a_bad_dof(dof: Any) -> None:
    with pytest.raises(MonitoringError, match="dof"):
        chi2_sf(1.0, dof)


def test_chi2_sf_rejects_nan() -> None:
    with pytest.raises(MonitoringError, match="NaN"):
        chi2_sf(math.nan, 3)


# -- Kolmogorov-Smirnov ----------------------------------------------------------------


def _ks_exact(ref: FloatArray, cur: FloatArray) -> float:
    """scipy's statistic on the raw samples (its p-value, unused here, divides by zero
    for single rows)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(stats.ks_2samp(ref, cur, method="asymp").statistic)


@settings(**SETTINGS)
@given(samples())
def test_ks_is_below_the_exact_statistic_within_the_proven_bound(
    pair: tuple[FloatArray, FloatArray],
) -> None:
    ref, cur = pair
    _, ref_counts, cur_counts, _, _ = histogram(ref, cur)
    binned = ks_from_counts(ref_counts, cur_counts)
    assert type(binned) is float
    exact = _ks_exact(ref, cur)
    bound = ks_error_bound(ref_counts, cur_counts)
    assert binned <= exact + 1e-12
    assert exact - binned <= bound + 1e-12


@settings(**SETTINGS)
@given(
    st.lists(st.integers(5, 20), min_size=1, max_size=21),
    st.lists(st.integers(-3, 23), min_size=1, max_size=200),
)
def test_ks_is_exact_when_every_value_is_on_an_edge(reps: list[int], cur: list[int]) -> None:
    # every reference value holds more than 1% of the rows, so each is a quantile and
    # an edge; the current integers inside the range sit on edges, the others lie outside
    # it where the reference has no rows
    ref = np.repeat(np.arange(len(reps), dtype=np.float64), reps)
    cur_values = np.asarray(cur, dtype=np.float64)
    edges, ref_counts, cur_counts, _, _ = histogram(ref, cur_values)
    assert edges.tolist() == list(range(len(reps)))
    assert ks_from_counts(ref_counts, cur_counts) == _ks_exact(ref, cur_values)


def test_ks_bound_is_attained() -> None:
    # the reference's rows just above the bin's left edge, the current rows on its right
    # edge: the binned statistic sees nothing, the raw one sees the whole bin
    ref, cur = np.array([0.1, 0.1]), np.array([1.0, 1.0])
    _, ref_counts, cur_counts, _, _ = histogram(ref, cur, edges=[0.0, 1.0])
    assert ks_from_counts(ref_counts, cur_counts) == 0.0
    assert _ks_exact(ref, cur) == 1.0
    assert ks_error_bound(ref_counts, cur_counts) == 1.0
    # the excess of a bin is min(ref share, cur share), not the larger share
    ref, cur = np.array([0.5, 0.5, 0.5, 1.0]), np.array([1.0, 1.0, 1.0, 1.0])
    _, ref_counts, cur_counts, _, _ = histogram(ref, cur, edges=[0.0, 1.0])
    assert ks_from_counts(ref_counts, cur_counts) == 0.0
    assert _ks_exact(ref, cur) == 0.75
    assert ks_error_bound(ref_counts, cur_counts) == 1.0  # min(1, 1) over (0, 1]
    _, ref_counts, cur_counts, _, _ = histogram(ref, cur, edges=[0.0, 0.6, 1.0])
    assert ks_error_bound(ref_counts, cur_counts) == 0.25  # min(0.75, 0) and min(0.25, 1)
    assert _ks_exact(ref, cur) - ks_from_counts(ref_counts, cur_counts) == 0.0


def test_ks_error_bound_ignores_the_point_bin() -> None:
    # three quarters of each side at e_0: a single value, nothing inside to miss
    ref, cur = np.array([0.0, 0.0, 0.0, 1.0]), np.array([0.0, 0.0, 0.0, 1.0])
    _, ref_counts, cur_counts, _, _ = histogram(ref, cur)
    assert ref_counts.tolist() == [0, 3, 1, 0]
    assert ks_error_bound(ref_counts, cur_counts) == 0.25  # the bin (0, 1], not 0.75
    _, ref_counts, cur_counts, _, _ = histogram([0.0, 0.0], [0.0, 0.0, 0.0])
    assert ks_error_bound(ref_counts, cur_counts) == 0.0


# -- Wasserstein -----------------------------------------------------------------------


def _wasserstein_by_discretization(
    edges: FloatArray, ref: IntArray, cur: IntArray, lo: float, hi: float, m: int
) -> float:
    """The binned W1 through scipy: each bin's share spread over ``m`` points at the
    midpoints of ``m`` equal parts (the point bin at ``e_0``)."""
    lefts = np.concatenate(([lo, edges[0]], edges[:-1], [edges[-1]]))
    rights = np.concatenate(([edges[0], edges[0]], edges[1:], [hi]))
    offsets = (np.arange(m) + 0.5) / m
    points = lefts[:, None] + (rights - lefts)[:, None] * offsets[None, :]
    ref_w = np.repeat(ref / ref.sum(), m) / m
    cur_w = np.repeat(cur / cur.sum(), m) / m
    flat = points.ravel()
    return float(stats.wasserstein_distance(flat, flat, ref_w, cur_w))


@settings(**SETTINGS)
@given(samples())
def test_wasserstein_is_within_the_bound_of_scipy_on_the_raw_samples(
    pair: tuple[FloatArray, FloatArray],
) -> None:
    ref, cur = pair
    edges, ref_counts, cur_counts, lo, hi = histogram(ref, cur)
    binned = wasserstein_from_histogram(edges, ref_counts, cur_counts, lo=lo, hi=hi)
    bound = wasserstein_error_bound(edges, ref_counts, cur_counts, lo=lo, hi=hi)
    assert type(binned) is float
    assert type(bound) is float
    exact = float(stats.wasserstein_distance(ref, cur))
    assert abs(binned - exact) <= bound + 1e-9
    # the piecewise-linear integral itself, against a fine discretization of the same
    # uniform-within-bin distributions (each CDF moves at most share / m from the line)
    m = 64
    fine = _wasserstein_by_discretization(edges, ref_counts, cur_counts, lo, hi, m)
    assert abs(binned - fine) <= bound / m + 1e-9


@pytest.mark.parametrize(
    ("ref", "cur"),
    [
        ([1.0], [2.0]),  # single rows
        ([2.0], [-1.0]),
        ([5.0], [5.0]),
        ([5.0, 5.0, 5.0], [3.0, 5.0, 9.0]),  # constant reference, B = 0
        ([5.0, 5.0], [-10.0, -9.0]),  # all of the current side below
        ([0.0, 1.0, 2.0], [10.0, 11.0]),  # all of it above
        ([0.0, 1.0, 2.0, 3.0], [-1.0, 1.5, 4.0]),  # on both sides of the range
    ],
)
def test_wasserstein_special_cases(ref: list[float], cur: list[float]) -> None:
    edges, ref_counts, cur_counts, lo, hi = histogram(ref, cur)
    binned = wasserstein_from_histogram(edges, ref_counts, cur_counts, lo=lo, hi=hi)
    bound = wasserstein_error_bound(edges, ref_counts, cur_counts, lo=lo, hi=hi)
    assert abs(binned - float(stats.wasserstein_distance(ref, cur))) <= bound + 1e-9


def test_wasserstein_by_hand() -> None:
    # a constant reference against one row each side of it: the below bin [3, 5) and
    # the above bin (5, 7] each hold half of the current side, spread uniformly
    assert wasserstein_from_histogram([5.0], [0, 3, 0], [1, 0, 1], lo=3.0, hi=7.0) == 1.0
    assert wasserstein_error_bound([5.0], [0, 3, 0], [1, 0, 1], lo=3.0, hi=7.0) == 2.0
    # a sign change inside a bin: F_ref - F_cur goes from 0.5 at 0 to -0.5 at 1 and
    # back to 0 at 2; the two triangles of the first bin add up, they do not cancel
    edges = [0.0, 1.0, 2.0]
    got = wasserstein_from_histogram(edges, [0, 1, 0, 1, 0], [0, 0, 2, 0, 0], lo=0.0, hi=2.0)
    assert got == pytest.approx(0.25 + 0.25, rel=1e-15)
    # all of the reference in (0, 1], all of the current side in (1, 2]
    got = wasserstein_from_histogram(edges, [0, 0, 1, 0, 0], [0, 0, 0, 1, 0], lo=0.0, hi=2.0)
    assert got == 1.0
    # an outer bin of width 0 holds its rows at lo (hi), like the point bin
    assert wasserstein_from_histogram(
        [0.0, 1.0], [0, 1, 1, 0], [1, 1, 0, 0], lo=0.0, hi=1.0
    ) == wasserstein_from_histogram([0.0, 1.0], [0, 1, 1, 0], [0, 2, 0, 0], lo=0.0, hi=1.0)
    # F_ref = (1 + x) / 2 and F_cur = x / 2 on [0, 1), then both 1
    assert wasserstein_from_histogram([0.0, 1.0], [0, 1, 1, 0], [0, 0, 1, 1], lo=0.0, hi=1.0) == 0.5


# -- identical distributions, all distances --------------------------------------------


@settings(**SETTINGS)
@given(count_pairs(), st.integers(1, 5), st.floats(-100, 100))
def test_identical_distributions_give_zero(
    pair: tuple[list[int], list[int]], scale: int, start: float
) -> None:
    counts = pair[0] + [0, 0]  # the numeric layout needs 3 bins or more
    scaled = [scale * c for c in counts]
    assert psi(counts, scaled) == 0.0
    assert jensen_shannon(counts, scaled) == 0.0
    assert ks_from_counts(counts, scaled) == 0.0
    statistic, dof, p_value = chi2_homogeneity(counts, scaled)
    assert statistic == 0.0
    assert p_value == 1.0
    assert dof == max(0, sum(1 for c in counts if c) - 1)
    edges = start + np.arange(len(counts) - 2, dtype=np.float64)
    lo = float(edges[0]) - (1.0 if counts[0] else 0.0)
    hi = float(edges[-1]) + (1.0 if counts[-1] else 0.0)
    assert wasserstein_from_histogram(edges, counts, scaled, lo=lo, hi=hi) == 0.0


def test_identical_samples_give_zero() -> None:
    values = np.random.default_rng(11).normal(size=500)
    edges, ref_counts, cur_counts, lo, hi = histogram(values, values)
    assert ks_from_counts(ref_counts, cur_counts) == 0.0
    assert wasserstein_from_histogram(edges, ref_counts, cur_counts, lo=lo, hi=hi) == 0.0
    assert psi(ref_counts, cur_counts) == 0.0


# -- bad input -------------------------------------------------------------------------

EDGES = [0.0, 1.0]


def _wasserstein(ref: Any, cur: Any) -> float:
    return wasserstein_from_histogram(EDGES, ref, cur, lo=0.0, hi=1.0)


def _wasserstein_bound(ref: Any, cur: Any) -> float:
    return wasserstein_error_bound(EDGES, ref, cur, lo=0.0, hi=1.0)


PAIR_FUNCTIONS: list[Callable[[Any, Any], object]] = [
    psi,
    jensen_shannon,
    ks_from_counts,
    ks_error_bound,
    chi2_homogeneity,
    _wasserstein,
    _wasserstein_bound,
]


@pytest.mark.parametrize("function", PAIR_FUNCTIONS)
@pytest.mark.parametrize(
    ("ref", "cur", "match"),
    [
        ([0, 1, 1, 0], [0, 1, 1], r"ref_counts has 4 bins but cur_counts has 3"),
        ([0, 1, -1, 0], [0, 1, 1, 0], r"ref_counts: counts must be non-negative"),
        ([0, 1, 1, 0], [0, 0, 0, 0], r"cur_counts: no rows"),
        ([], [], r"ref_counts: no rows"),
        ([0, 1, math.nan, 0], [0, 1, 1, 0], r"ref_counts: counts must be finite"),
        ([0, 1, 1, 0], [0, 1, math.inf, 0], r"cur_counts: counts must be finite"),
        ([[0, 1], [1, 0]], [0, 1, 1, 0], r"ref_counts: expected a 1-D array"),
        (["0", "1", "1", "0"], [0, 1, 1, 0], r"ref_counts: expected numeric counts"),
        ([0, 1, None, 0], [0, 1, 1, 0], r"ref_counts: expected numeric counts"),
    ],
)
def test_bad_counts_are_rejected(
    function: Callable[[Any, Any], object], ref: Any, cur: Any, match: str
) -> None:
    with pytest.raises(MonitoringError, match=match):
        function(ref, cur)


@pytest.mark.parametrize("function", [wasserstein_from_histogram, wasserstein_error_bound])
@pytest.mark.parametrize(
    ("edges", "ref", "cur", "lo", "hi", "match"),
    [
        ([0.0, 1.0], [0, 1, 1], [0, 1, 1], 0.0, 1.0, r"edges has 2 values.*need 4 bins.*3 and.*3"),
        ([1.0, 0.0], [0, 1, 1, 0], [0, 1, 1, 0], 0.0, 1.0, r"strictly increasing"),
        ([0.0, 0.0], [0, 1, 1, 0], [0, 1, 1, 0], 0.0, 1.0, r"strictly increasing"),
        ([], [0, 1], [0, 1], 0.0, 1.0, r"edges: expected a non-empty"),
        ([0.0, math.nan], [0, 1, 1, 0], [0, 1, 1, 0], 0.0, 1.0, r"edges: must be finite"),
        ([0.0, 1.0], [0, 1, 1, 0], [0, 1, 1, 0], 0.5, 1.0, r"lo <= edges\[0\]"),
        ([0.0, 1.0], [0, 1, 1, 0], [0, 1, 1, 0], 0.0, 0.5, r"hi >= edges\[-1\]"),
        ([0.0, 1.0], [0, 1, 1, 0], [0, 1, 1, 0], math.nan, 1.0, r"finite"),
        ([0.0, 1.0], [0, 1, 1, 0], [0, 1, 1, 1], -1e308, 1e308, r"overflows"),
    ],
)
def test_bad_histograms_are_rejected(
    function: Callable[..., float],
    edges: list[float],
    ref: list[int],
    cur: list[int],
    lo: float,
    hi: float,
    match: str,
) -> None:
    with pytest.raises(MonitoringError, match=match):
        function(edges, ref, cur, lo=lo, hi=hi)


@pytest.mark.parametrize("eps", [0.0, -1e-4, 1.0, math.nan])
def test_psi_rejects_a_bad_eps(eps: float) -> None:
    with pytest.raises(MonitoringError, match="eps"):
        psi([1, 1], [1, 2], eps=eps)


def test_ks_error_bound_needs_the_numeric_layout() -> None:
    with pytest.raises(MonitoringError, match="B \\+ 3"):
        ks_error_bound([1, 1], [1, 2])
    # ks_from_counts itself takes any ordered histogram
    assert ks_from_counts([1, 1], [1, 3]) == 0.25


def test_fractional_counts_are_accepted() -> None:
    # a merged histogram spreads rows over bins
    assert psi([0.5, 1.5], [1.0, 1.0]) == pytest.approx(psi([1, 3], [1, 1]))
    assert ks_from_counts([0.0, 0.5, 1.5, 0.0], [0, 1, 1, 0]) == pytest.approx(0.25)
