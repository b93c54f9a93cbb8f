"""Drift distances between a reference and a current distribution, from histograms.

Every function takes counts, not raw values, so that drift can be computed from the
statistics recorded in the catalog (:mod:`featstore.monitoring.stats`). Counts may be
fractional (a merged histogram spreads each part's rows over bins); they must be finite
and non-negative, and each side must hold at least one row. Bad input raises
:class:`~featstore.errors.MonitoringError`. Results are Python floats.

Histogram conventions
---------------------

*Numeric.* ``edges`` is a strictly increasing float64 array ``e_0 < e_1 < ... < e_B`` of
length ``B + 1`` (``B >= 0``): the reference's distinct quantiles, its minimum first and
its maximum last. A ``counts`` array has length ``B + 3``::

    [x < e_0], [x == e_0], (e_0, e_1], (e_1, e_2], ..., (e_{B-1}, e_B], [x > e_B]

The interior bins are closed on the right. The reference's first and last counts are
usually 0 (its minimum and maximum are edges); the current side's may not be. ``B`` may
be 0, for a constant reference: ``edges = [c]``, ``counts = [below, equal, above]``.

*Categorical.* Two count arrays of equal length over the same categories, in the same
order; the caller aligns them (including an "other" category for values outside the
reference's top values). Order does not matter to :func:`psi`, :func:`jensen_shannon`
or :func:`chi2_homogeneity`; :func:`ks_from_counts` and the Wasserstein functions need
the numeric layout.

Distances
---------

* :func:`psi`: population stability index, ``sum((q - p) * ln(q / p))`` over bins.
* :func:`jensen_shannon`: Jensen-Shannon distance, base 2, in ``[0, 1]``.
* :func:`ks_from_counts`: the two-sample Kolmogorov-Smirnov statistic at the bin
  boundaries, with :func:`ks_error_bound` bounding how far the statistic on the raw
  values can exceed it.
* :func:`wasserstein_from_histogram`: the 1-Wasserstein (earth mover's) distance with
  each bin's mass spread uniformly, with :func:`wasserstein_error_bound` bounding its
  distance from the value on the raw samples.
* :func:`chi2_homogeneity`: Pearson's chi-square test of homogeneity on the ``2 x k``
  table, and :func:`chi2_sf`, the chi-square survival function it uses.

Only numpy and the standard library are used.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import numpy.typing as npt

from featstore.errors import MonitoringError

__all__ = [
    "chi2_homogeneity",
    "chi2_sf",
    "jensen_shannon",
    "ks_error_bound",
    "ks_from_counts",
    "psi",
    "wasserstein_error_bound",
    "wasserstein_from_histogram",
]

FloatArray = npt.NDArray[np.float64]


# -- input checks ----------------------------------------------------------------------


def _counts(values: npt.ArrayLike, name: str) -> FloatArray:
    """``values`` as a 1-D float64 array of finite, non-negative counts with a positive
    total."""
    raw = np.asarray(values)
    if raw.dtype.kind not in "iuf":
        raise MonitoringError(f"{name}: expected numeric counts, got an array of dtype {raw.dtype}")
    if raw.ndim != 1:
        raise MonitoringError(f"{name}: expected a 1-D array of counts, got shape {raw.shape}")
    counts = raw.astype(np.float64)
    if not np.all(np.isfinite(counts)):
        raise MonitoringError(f"{name}: counts must be finite (found NaN or infinity)")
    if np.any(counts < 0):
        raise MonitoringError(
            f"{name}: counts must be non-negative (found {float(counts.min())!r})"
        )
    if not counts.sum() > 0:
        raise MonitoringError(f"{name}: no rows (every count is 0); drift needs rows on both sides")
    return counts


def _pair(ref_counts: npt.ArrayLike, cur_counts: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    ref = _counts(ref_counts, "ref_counts")
    cur = _counts(cur_counts, "cur_counts")
    if ref.size != cur.size:
        raise MonitoringError(
            f"ref_counts has {ref.size} bins but cur_counts has {cur.size}; "
            "both sides must be counted over the same bins or categories"
        )
    return ref, cur


def _numeric(
    edges: npt.ArrayLike,
    ref_counts: npt.ArrayLike,
    cur_counts: npt.ArrayLike,
    lo: float,
    hi: float,
) -> tuple[FloatArray, FloatArray, FloatArray, float, float]:
    raw = np.asarray(edges)
    if raw.dtype.kind not in "iuf" or raw.ndim != 1 or raw.size == 0:
        raise MonitoringError(
            f"edges: expected a non-empty 1-D numeric array, got shape {raw.shape} "
            f"of dtype {raw.dtype}"
        )
    e = raw.astype(np.float64)
    if not np.all(np.isfinite(e)):
        raise MonitoringError("edges: must be finite (found NaN or infinity)")
    if np.any(np.diff(e) <= 0):
        raise MonitoringError("edges: must be strictly increasing")
    ref, cur = _pair(ref_counts, cur_counts)
    if ref.size != e.size + 2:
        raise MonitoringError(
            f"edges has {e.size} values, so the counts need {e.size + 2} bins; "
            f"ref_counts has {ref.size} and cur_counts has {cur.size}"
        )
    lo_f, hi_f = float(lo), float(hi)
    if not (math.isfinite(lo_f) and math.isfinite(hi_f)):
        raise MonitoringError(f"lo and hi must be finite, got lo={lo_f!r}, hi={hi_f!r}")
    if lo_f > e[0] or hi_f < e[-1]:
        raise MonitoringError(
            f"lo={lo_f!r} and hi={hi_f!r} must be the overall minimum and maximum: "
            f"lo <= edges[0] = {float(e[0])!r} and hi >= edges[-1] = {float(e[-1])!r}"
        )
    with np.errstate(over="ignore"):
        span = hi_f - lo_f
    if not math.isfinite(span):
        raise MonitoringError(f"the range from lo={lo_f!r} to hi={hi_f!r} overflows float64")
    return e, ref, cur, lo_f, hi_f


def _bin_widths(edges: FloatArray, lo: float, hi: float) -> FloatArray:
    """Width of each of the ``B + 3`` bins: the below bin spans ``[lo, e_0)``, the point
    bin ``[x == e_0]`` has width 0, the above bin spans ``(e_B, hi]``."""
    return np.concatenate(([edges[0] - lo, 0.0], np.diff(edges), [hi - edges[-1]]))


# -- distances -------------------------------------------------------------------------


def psi(ref_counts: npt.ArrayLike, cur_counts: npt.ArrayLike, *, eps: float = 1e-4) -> float:
    """Population stability index ``sum((q - p) * ln(q / p))`` over bins.

    ``p`` and ``q`` are the reference's and the current side's shares of rows
    (``count / total``). Each share is floored at ``eps`` before the formula is applied,
    the usual convention so that a bin that is empty on one side gives a large but
    finite term instead of infinity. Bins that are empty on both sides contribute 0.
    Every term is ``>= 0``; identical distributions give 0.
    """
    eps_f = float(eps)
    if not 0 < eps_f < 1:
        raise MonitoringError(f"psi: eps must be in (0, 1), got {eps!r}")
    ref, cur = _pair(ref_counts, cur_counts)
    keep = (ref > 0) | (cur > 0)
    p = np.maximum(ref[keep] / ref.sum(), eps_f)
    q = np.maximum(cur[keep] / cur.sum(), eps_f)
    return float(np.sum((q - p) * np.log(q / p)))


def jensen_shannon(ref_counts: npt.ArrayLike, cur_counts: npt.ArrayLike) -> float:
    """Jensen-Shannon distance (the square root of the divergence), base 2, in ``[0, 1]``.

    With ``p``, ``q`` the two sides' shares and ``m = (p + q) / 2``, the divergence is
    ``(KL(p || m) + KL(q || m)) / 2`` in bits. Equals
    ``scipy.spatial.distance.jensenshannon(p, q, base=2)``.
    """
    ref, cur = _pair(ref_counts, cur_counts)
    p = ref / ref.sum()
    q = cur / cur.sum()
    m = (p + q) / 2.0
    # p > 0 implies m > 0; terms with a zero share are 0 (x log x -> 0)
    left = np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0) / np.where(p > 0, m, 1.0)), 0.0)
    right = np.where(q > 0, q * np.log(np.where(q > 0, q, 1.0) / np.where(q > 0, m, 1.0)), 0.0)
    divergence = (float(np.sum(left)) + float(np.sum(right))) / math.log(2.0) / 2.0
    # rounding can take it a hair below 0 or above 1
    return min(1.0, math.sqrt(max(0.0, divergence)))


def ks_from_counts(ref_counts: npt.ArrayLike, cur_counts: npt.ArrayLike) -> float:
    """The two-sample Kolmogorov-Smirnov statistic at the bin boundaries.

    ``max |cumsum(ref) / n_ref - cumsum(cur) / n_cur|`` over the cumulative positions,
    that is ``|F_ref(x) - F_cur(x)|`` at ``x = e_0`` from the left, ``x = e_0``, ``e_1``,
    ..., ``e_B`` for the numeric layout (after the last bin both CDFs are 1).

    It is exact at the edges, and a lower bound of the statistic on the raw values
    (``scipy.stats.ks_2samp``): each position's value is attained by the raw empirical
    CDFs. The raw statistic exceeds it by at most :func:`ks_error_bound`, the largest
    ``min(ref share, cur share)`` of a bin with a width. It is exact when no value lies
    strictly inside a bin of either side (for example integer data whose every value
    inside ``[e_0, e_B]`` is an edge and a reference with nothing outside it).
    """
    ref, cur = _pair(ref_counts, cur_counts)
    diff = np.cumsum(ref) / ref.sum() - np.cumsum(cur) / cur.sum()
    return float(np.max(np.abs(diff)))


def ks_error_bound(ref_counts: npt.ArrayLike, cur_counts: npt.ArrayLike) -> float:
    """How far the KS statistic on the raw values can exceed :func:`ks_from_counts`.

    ``max over bins of min(r_i, c_i)``, with ``r_i`` and ``c_i`` the two sides' shares of
    bin ``i``, over every bin of the numeric layout but the point bin ``[x == e_0]``
    (whose inside holds a single value, so it adds nothing). The bound is attained: when
    the two CDFs agree at a bin's left boundary, the reference's rows of the bin lie just
    above that boundary and the current rows on the bin's right edge, the raw statistic
    is the binned one plus ``min(r_i, c_i)``. (Knowing the cumulative values as well,
    ``max_i max(F_ref(v_i) - F_cur(u_i), F_cur(v_i) - F_ref(u_i))`` over the bins but
    the point bin, with the boundaries ``u_i``, ``v_i`` of the proof, is the sharp upper
    limit of the raw statistic; the bound here is the simpler one.)

    Proof. Let ``D = F_ref - F_cur`` with right-continuous empirical CDFs, and consider
    one bin whose inside is the open interval from its left boundary ``u`` to its right
    boundary ``v``: ``(e_{i-1}, e_i)`` for an interior bin (``(e_{i-1}, e_i]`` closed on
    the right, ``v = e_i`` itself being a cumulative position), ``(-inf, e_0)`` for the
    below bin, ``(e_B, +inf)`` for the above bin. At the two cumulative positions around
    it the binned statistic sees ``d_0 = D(u) = A_r - A_c`` (``A`` the CDF values at
    ``u``; for the below bin ``u = -inf`` and ``d_0 = 0``) and ``d_1 = D(v) = d_0 + r -
    c`` (for interior bins ``v = e_i`` is included, for the below bin ``v`` is the left
    limit at ``e_0``, for the above bin ``d_1 = 0``). Inside the bin each CDF lies
    between its endpoint values: ``A_r <= F_ref(x) <= A_r + r`` and ``A_c <= F_cur(x) <=
    A_c + c``. So ``D(x) <= A_r + r - A_c``, which equals both ``d_0 + r`` and ``d_1 +
    c``; hence ``D(x) <= max(|d_0|, |d_1|) + min(r, c)``. Symmetrically ``-D(x) <= A_c +
    c - A_r = -d_0 + c = -d_1 + r``, so ``-D(x) <= max(|d_0|, |d_1|) + min(r, c)``. Both
    signs together: ``|D(x)| <= max(|d_0|, |d_1|) + min(r, c) <= binned + min(r, c)``.
    The supremum over all ``x`` is a maximum over bins (the boundaries themselves are
    cumulative positions; outside all bins ``D = 0``), which gives
    ``exact - binned <= max_i min(r_i, c_i)``.
    """
    ref, cur = _pair(ref_counts, cur_counts)
    if ref.size < 3:
        raise MonitoringError(
            f"ks_error_bound needs the numeric layout of B + 3 >= 3 bins, got {ref.size}"
        )
    shares = np.minimum(ref / ref.sum(), cur / cur.sum())
    shares[1] = 0.0  # the point bin [x == e_0]
    return float(np.max(shares))


def _abs_linear_integral(width: FloatArray, a: FloatArray, b: FloatArray) -> FloatArray:
    """``integral of |f|`` over each segment of ``width`` on which ``f`` is linear from
    ``a`` to ``b``; a segment where ``f`` changes sign is split at the crossing."""
    abs_a, abs_b = np.abs(a), np.abs(b)
    total = abs_a + abs_b
    same_sign = np.sign(a) * np.sign(b) >= 0
    # opposite signs: the crossing is at t = |a| / (|a| + |b|) of the width, giving the
    # two triangles w * (t |a| + (1 - t) |b|) / 2 = w * (a^2 + b^2) / (2 (|a| + |b|))
    crossing = (a * a + b * b) / np.where(same_sign, 1.0, total)
    return 0.5 * width * np.where(same_sign, total, crossing)


def wasserstein_from_histogram(
    edges: npt.ArrayLike,
    ref_counts: npt.ArrayLike,
    cur_counts: npt.ArrayLike,
    *,
    lo: float,
    hi: float,
) -> float:
    """The 1-Wasserstein distance ``integral |F_ref(x) - F_cur(x)| dx`` of two numeric
    histograms, with each side's mass spread uniformly within each bin.

    ``lo <= edges[0]`` and ``hi >= edges[-1]`` are the minimum and maximum of both sides
    together. The below bin spans ``[lo, e_0)``, each interior bin ``(e_{i-1}, e_i]``,
    the above bin ``(e_B, hi]``; the point bin ``[x == e_0]`` is a jump of the CDF at
    ``e_0``, and so is a below (above) bin of width 0, ``lo == e_0`` (``hi == e_B``). Each CDF is then piecewise linear between ``lo, e_0, e_1, ..., e_B, hi``
    (with the jump at ``e_0``), and so is their difference; its absolute value is
    integrated exactly, segments where the difference changes sign being split at the
    crossing. :func:`wasserstein_error_bound` bounds its distance from the value on the
    raw samples (``scipy.stats.wasserstein_distance``).
    """
    e, ref, cur, lo_f, hi_f = _numeric(edges, ref_counts, cur_counts, lo, hi)
    # diff[j]: F_ref - F_cur after bin j: at e_0 from the left, at e_0, e_1, ..., e_B, 1 - 1
    diff = np.cumsum(ref) / ref.sum() - np.cumsum(cur) / cur.sum()
    last = e.size  # index of the value at e_B
    # segments [lo, e_0], [e_0, e_1], ..., [e_{B-1}, e_B], [e_B, hi]; the jump at e_0
    # has no width, so the first segment ends at the left limit and the second starts
    # after the jump
    width = np.concatenate(([e[0] - lo_f], np.diff(e), [hi_f - e[-1]]))
    start = np.concatenate(([0.0], diff[1 : last + 1]))
    end = np.concatenate((diff[:1], diff[2 : last + 1], [0.0]))
    return float(np.sum(_abs_linear_integral(width, start, end)))


def wasserstein_from_bin_means(
    ref_means: npt.ArrayLike,
    ref_counts: npt.ArrayLike,
    cur_means: npt.ArrayLike,
    cur_counts: npt.ArrayLike,
) -> float:
    """The 1-Wasserstein distance with each side's rows of a bin moved to the mean of
    that side's rows in the bin: the exact distance between two weighted sets of points
    (empty bins, whose mean is NaN, carry no weight).

    Moving a bin's rows to their mean moves each side by at most its rows' mean
    absolute deviation within the bin, so the result is within
    :func:`wasserstein_error_bound` / 2 of the value on the raw samples, and much
    closer when a bin's rows are bunched (the wide outer bins of a long tail).
    """
    ref, cur = _pair(ref_counts, cur_counts)
    rm = np.asarray(ref_means, dtype=np.float64)
    cm = np.asarray(cur_means, dtype=np.float64)
    if rm.shape != ref.shape or cm.shape != cur.shape:
        raise MonitoringError(
            f"bin means: {rm.size} and {cm.size} means for {ref.size} bins; give one per bin"
        )
    keep_r, keep_c = ref > 0, cur > 0
    if np.any(~np.isfinite(rm[keep_r])) or np.any(~np.isfinite(cm[keep_c])):
        raise MonitoringError("bin means: a bin holding rows has no finite mean")
    points = np.concatenate((rm[keep_r], cm[keep_c]))
    weights = np.concatenate((ref[keep_r] / ref.sum(), -cur[keep_c] / cur.sum()))
    order = np.argsort(points, kind="stable")
    points, weights = points[order], weights[order]
    # F_ref - F_cur is constant between consecutive points
    return float(np.sum(np.abs(np.cumsum(weights)[:-1]) * np.diff(points)))


def wasserstein_error_bound(
    edges: npt.ArrayLike,
    ref_counts: npt.ArrayLike,
    cur_counts: npt.ArrayLike,
    *,
    lo: float,
    hi: float,
) -> float:
    """A bound of ``|binned W1 - W1 on the raw samples|``: the sum over bins of
    ``width_i * (r_i + c_i)``, with ``r_i`` and ``c_i`` the two sides' shares of bin
    ``i`` and the widths of :func:`wasserstein_from_histogram` (``e_0 - lo`` for the
    below bin, 0 for the point bin, ``e_i - e_{i-1}``, ``hi - e_B`` for the above bin).

    Proof. Write ``F`` for a side's raw empirical CDF and ``G`` for its interpolation.
    Outside ``[lo, hi]`` both are 0 (left) or 1 (right), and the point bin has no width,
    so only the segments of the bins matter. Within a bin of share ``s`` whose CDF goes
    from ``A`` to ``A + s``, the raw CDF is monotone, so it lies between ``A`` and
    ``A + s``, and so does the interpolation: ``|F - G| <= s`` on the bin, and
    ``integral |F - G| <= width * s`` there. By the triangle inequality,
    ``| integral |F_ref - F_cur| - integral |G_ref - G_cur| | <= integral |F_ref - G_ref|
    + integral |F_cur - G_cur| <= sum_i width_i * (r_i + c_i)``. (The supremum of
    ``integral |F - G|`` over a bin is in fact ``width * s / 2``, a step at either end,
    so the bound has a factor of 2 to spare.)
    """
    e, ref, cur, lo_f, hi_f = _numeric(edges, ref_counts, cur_counts, lo, hi)
    shares = ref / ref.sum() + cur / cur.sum()
    return float(np.sum(_bin_widths(e, lo_f, hi_f) * shares))


def chi2_homogeneity(
    ref_counts: npt.ArrayLike, cur_counts: npt.ArrayLike
) -> tuple[float, int, float]:
    """Pearson's chi-square test of homogeneity on the ``2 x k`` table ``[ref, cur]``.

    Categories that are 0 on both sides are dropped first; there is no continuity
    correction. Returns ``(statistic, dof, p_value)`` with ``dof = k - 1``, equal to
    ``scipy.stats.chi2_contingency([ref, cur], correction=False)`` (which applies Yates'
    correction only when ``dof == 1`` and ``correction=True``). With fewer than 2
    categories left the sides cannot differ: ``(0.0, 0, 1.0)``.
    """
    ref, cur = _pair(ref_counts, cur_counts)
    keep = (ref > 0) | (cur > 0)
    r, c = ref[keep], cur[keep]
    if r.size < 2:
        return 0.0, 0, 1.0
    n_r, n_c = float(r.sum()), float(c.sum())
    # sum over both rows of (O - E)^2 / E, with E = row total * column total / n, is
    # n_r * n_c * sum_j (p_j - q_j)^2 / col_j for the shares p = r / n_r, q = c / n_c:
    # exactly 0 when the shares are equal, and no products of large counts
    statistic = n_r * n_c * float(np.sum((r / n_r - c / n_c) ** 2 / (r + c)))
    dof = int(r.size) - 1
    return statistic, dof, chi2_sf(statistic, dof)


# -- the chi-square survival function --------------------------------------------------

_FPMIN = 1e-300  # replaces a zero denominator in Lentz's method
_SERIES_EPS = 1e-17  # relative size of the last series term kept
_CF_EPS = 4e-16  # Lentz's method stops when a step changes the value by less (two ulps)
_MAX_ITERATIONS = 1_000_000  # far above what convergence needs (about 10 * sqrt(a))
# below this, x^a e^-x / Gamma(a) underflows to 0 and so does Q(a, x)
_LOG_UNDERFLOW = math.log(5e-324)


def chi2_sf(x: float, dof: int) -> float:
    """The chi-square survival function ``P(X > x)`` for ``dof`` degrees of freedom.

    This is the regularized upper incomplete gamma function ``Q(dof / 2, x / 2)``,
    computed as in Numerical Recipes' ``gammq``: below ``a + 1`` as one minus the series
    of the lower function ``P(a, x)``, above it by the continued fraction of ``Q``
    evaluated with the modified Lentz method, both with the prefactor
    ``x^a e^-x / Gamma(a)`` (from :func:`math.lgamma`, or for ``a >= 10`` from Stirling's
    series and ``log1p``, which avoids cancellation). The relative error is below
    ``1e-10`` for ``dof`` up to 10,000 wherever the value is above ``1e-300``; a value
    that underflows is returned as 0.0. ``x <= 0`` gives 1.0 and ``x = inf`` gives 0.0.
    """
    if isinstance(dof, bool) or not isinstance(dof, numbers.Integral) or dof < 1:
        raise MonitoringError(f"chi2_sf: dof must be a positive integer, got {dof!r}")
    x_f = float(x)
    if math.isnan(x_f):
        raise MonitoringError("chi2_sf: x is NaN")
    if x_f <= 0:
        return 1.0
    if math.isinf(x_f):
        return 0.0
    half = 0.5 * x_f
    if half == 0.0:  # x is the smallest subnormal: Q(a, 0) = 1
        return 1.0
    return _gammq(0.5 * int(dof), half)


# Stirling's series of log Gamma(a) - ((a - 1/2) log a - a + log(2 pi) / 2): the
# coefficients of a^-1, a^-3, ..., a^-13; for a >= 10 the first omitted term is < 1e-16
_STIRLING = (1 / 12, -1 / 360, 1 / 1260, -1 / 1680, 1 / 1188, -691 / 360360, 1 / 156)
_STIRLING_FROM = 10.0


def _log_prefactor(a: float, x: float) -> float:
    """``log(x^a e^-x / Gamma(a))``.

    For small ``a`` straight from :func:`math.lgamma`. For large ``a`` the three terms
    ``a log x``, ``x`` and ``log Gamma(a)`` are large (about 45,000 at ``a = 5,000``) and
    nearly cancel, which would cost about ``1e-11`` of relative accuracy; there the sum
    is rewritten with ``t = x / a - 1`` and Stirling's series as
    ``log(a / (2 pi)) / 2 - stirling(a) + a (log1p(t) - t)``, whose terms are small.
    """
    if a < _STIRLING_FROM:
        return a * math.log(x) - x - math.lgamma(a)
    t = (x - a) / a
    log_ratio = math.log1p(t) if abs(t) < 0.5 else math.log(x / a)
    inverse = 1.0 / a
    inverse_squared = inverse * inverse
    stirling = 0.0
    power = inverse
    for coefficient in _STIRLING:
        stirling += coefficient * power
        power *= inverse_squared
    return 0.5 * math.log(a / (2.0 * math.pi)) - stirling + a * (log_ratio - t)


def _gammq(a: float, x: float) -> float:
    """``Q(a, x)`` for ``a > 0`` and finite ``x > 0``."""
    log_prefactor = _log_prefactor(a, x)
    if x < a + 1.0:
        # P(a, x) = x^a e^-x / Gamma(a) * sum_n x^n / (a (a + 1) ... (a + n)); the terms
        # fall (x < a + 1), and here Q stays above about 0.08, so 1 - P keeps its
        # relative accuracy
        denominator = a
        term = 1.0 / a
        total = term
        for _ in range(_MAX_ITERATIONS):
            denominator += 1.0
            term *= x / denominator
            total += term
            if term < total * _SERIES_EPS:
                break
        return max(0.0, 1.0 - total * math.exp(log_prefactor))
    if log_prefactor < _LOG_UNDERFLOW:
        return 0.0  # the continued fraction is below 1 here
    # Q(a, x) = x^a e^-x / Gamma(a) * 1 / (x + 1 - a - 1 (1 - a) / (x + 3 - a - ...))
    b = x + 1.0 - a
    c = 1.0 / _FPMIN
    d = 1.0 / b
    h = d
    for i in range(1, _MAX_ITERATIONS):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        if abs(d) < _FPMIN:
            d = _FPMIN
        c = b + an / c
        if abs(c) < _FPMIN:
            c = _FPMIN
        d = 1.0 / d
        step = d * c
        h *= step
        if abs(step - 1.0) <= _CF_EPS:
            break
    return math.exp(log_prefactor) * h
