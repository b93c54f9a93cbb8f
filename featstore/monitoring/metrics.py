"""Model metrics and a paired bootstrap of the difference between two models, in numpy
alone.

Classification metrics take labels 0/1 (booleans count as 0/1) and, as ``y_pred``, the
score or probability of class 1:

- ``auc``: the area under the ROC curve, computed as the Mann-Whitney U statistic: the
  share of (positive, negative) pairs whose positive row has the higher score, a tied
  pair counting one half (tied scores get the average of their ranks). Any real scores
  are allowed. Undefined, and an error, when ``y_true`` holds one class only. The count
  is exact integer arithmetic, so the result is the exact ratio rounded once.
- ``log_loss``: the mean of ``-log(p)`` over rows of class 1 and ``-log(1 - p)`` over
  rows of class 0. ``p`` must lie in [0, 1]; it is clipped to [1e-15, 1 - 1e-15] so that
  a confident wrong prediction costs about 34.5, not infinity. (scikit-learn clips to the
  float64 machine epsilon, 2.2e-16, instead; the two agree for ``p`` inside the narrower
  interval.) Defined with one class.
- ``accuracy``, ``precision``, ``recall``, ``f1``: a row is predicted positive when
  ``y_pred >= threshold`` (0.5 by default). Precision with no predicted positives,
  recall with no actual positives and F1 with neither are 0.0, as scikit-learn's
  ``zero_division=0`` gives (without its warning). F1 is ``2 tp / (2 tp + fp + fn)``.

Regression metrics take any real labels and predictions:

- ``rmse``: the square root of the mean squared error.
- ``mae``: the mean absolute error.
- ``r2``: ``1 - SS_res / SS_tot``, the coefficient of determination; negative for
  predictions worse than the mean. With a constant ``y_true`` (``SS_tot`` is 0) it is 1.0
  when every prediction is exact and 0.0 otherwise, scikit-learn's ``force_finite=True``
  convention. Constant means every value equal: scikit-learn instead tests its computed
  ``SS_tot`` against 0, which for a constant such as 0.1 is a rounding residue, not 0,
  and gives values like -5e27. Needs at least 2 rows.

Lower is better for ``log_loss``, ``rmse`` and ``mae`` (:data:`LOWER_IS_BETTER`), higher
for the others.

Every function accepts array-likes (lists, numpy arrays, Polars or pandas Series, which
``np.asarray`` converts), returns Python floats and gives the same bits for the same
inputs. Nulls, NaN and infinities are never skipped silently: they are an error that
counts the rows, to drop or fill first.

:func:`paired_bootstrap` resamples rows with replacement, the same rows for every model
in one replicate, and reports a percentile interval of each model's difference to a
baseline. The row indices come from the raw output of ``np.random.PCG64(seed)``, which
numpy keeps stable across releases (its ``Generator`` methods are not): replicate ``r``
of ``n`` rows takes the raw draws ``r * n`` to ``(r + 1) * n - 1``, each modulo ``n`` (a
bias of at most ``n / 2**64``, negligible).

>>> compute("auc", [0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
0.75
>>> compute("f1", [True, False, True], [0.9, 0.2, 0.3])
0.6666666666666666
"""

from __future__ import annotations

import difflib
import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from featstore.errors import MonitoringError, did_you_mean

__all__ = [
    "CLASSIFICATION_METRICS",
    "REGRESSION_METRICS",
    "LOWER_IS_BETTER",
    "LOG_LOSS_EPS",
    "task_of",
    "default_metrics",
    "compute",
    "compute_all",
    "paired_bootstrap",
]

CLASSIFICATION_METRICS: tuple[str, ...] = (
    "auc",
    "log_loss",
    "accuracy",
    "precision",
    "recall",
    "f1",
)
REGRESSION_METRICS: tuple[str, ...] = ("rmse", "mae", "r2")
LOWER_IS_BETTER: frozenset[str] = frozenset({"log_loss", "rmse", "mae"})
LOG_LOSS_EPS = 1e-15
"""log_loss clips probabilities to ``[LOG_LOSS_EPS, 1 - LOG_LOSS_EPS]``."""

_METRICS = CLASSIFICATION_METRICS + REGRESSION_METRICS
_THRESHOLD_METRICS = frozenset({"accuracy", "precision", "recall", "f1"})
_TASKS = {"classification": CLASSIFICATION_METRICS, "regression": REGRESSION_METRICS}

_Floats = npt.NDArray[np.float64]
_Ints = npt.NDArray[np.int64]


def task_of(y_true: npt.ArrayLike) -> str:
    """``'classification'`` when every label is 0 or 1 (integers, floats equal to 0.0 or
    1.0, or booleans), else ``'regression'``.

    Raises MonitoringError for no labels, or for nulls, NaN or infinities among them.

    >>> task_of([0, 1, 1]), task_of([True, False]), task_of([0.0, 0.5])
    ('classification', 'classification', 'regression')
    """
    y = _as_floats(y_true, where="task_of", name="y_true")
    if y.size == 0:
        raise MonitoringError("task_of: y_true is empty; pass at least one label")
    bad = int(np.count_nonzero(~np.isfinite(y)))
    if bad:
        raise MonitoringError(
            f"task_of: {bad} of {y.size} labels are null, NaN or infinite; "
            "drop those rows or fill them first"
        )
    return "classification" if _is_binary(y) else "regression"


def default_metrics(task: str) -> tuple[str, ...]:
    """The metrics reported for a task: :data:`CLASSIFICATION_METRICS` for
    ``'classification'``, :data:`REGRESSION_METRICS` for ``'regression'``."""
    if isinstance(task, str) and task in _TASKS:
        return _TASKS[task]
    raise MonitoringError(
        f"unknown task {task!r}; expected 'classification' or 'regression' "
        "(task_of(y_true) tells them apart)"
    )


def compute(
    metric: str, y_true: npt.ArrayLike, y_pred: npt.ArrayLike, *, threshold: float = 0.5
) -> float:
    """One metric of predictions ``y_pred`` against labels ``y_true``.

    Classification metrics take ``y_pred`` as the score or probability of class 1;
    ``accuracy``, ``precision``, ``recall`` and ``f1`` predict class 1 where
    ``y_pred >= threshold``. The module docstring gives each metric's conventions.

    Raises MonitoringError for an unknown metric, no rows, arrays of different lengths,
    nulls, NaN or infinities, labels other than 0/1 for a classification metric,
    probabilities outside [0, 1] for ``log_loss``, one class only for ``auc``, and fewer
    than 2 rows for ``r2``.

    >>> compute("rmse", [1.0, 2.0, 3.0], [1.0, 2.0, 5.0])
    1.1547005383792515
    """
    _check_names([metric])
    _check_threshold(threshold)
    where = f"metric {metric!r}"
    y, p = _arrays(y_true, y_pred, where=where)
    return _checked_value(metric, y, p, threshold)


def compute_all(
    metrics: Sequence[str], y_true: npt.ArrayLike, y_pred: npt.ArrayLike, *, threshold: float = 0.5
) -> dict[str, float]:
    """Several metrics of the same predictions, ``{metric: value}`` in the order given;
    the inputs are converted and checked once. Errors as :func:`compute`."""
    if isinstance(metrics, str):
        raise MonitoringError(
            f"compute_all: metrics must be a sequence of names, found the string {metrics!r}; "
            f"pass [{metrics!r}]"
        )
    names = list(metrics)
    _check_names(names)
    _check_threshold(threshold)
    where = f"metrics {names}" if len(names) != 1 else f"metric {names[0]!r}"
    y, p = _arrays(y_true, y_pred, where=where)
    return {m: _checked_value(m, y, p, threshold) for m in names}


def paired_bootstrap(
    y_true: npt.ArrayLike,
    preds: Mapping[str, npt.ArrayLike],
    metric: str,
    *,
    baseline: str,
    n_boot: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    threshold: float = 0.5,
) -> dict[str, dict[str, float]]:
    """Compare models with ``baseline`` on one metric, with a paired bootstrap.

    ``preds`` maps model names to predictions of the same rows ``y_true`` labels. For each
    model other than ``baseline`` the result holds:

    - ``diff``: the model's metric minus the baseline's, on all rows;
    - ``low``, ``high``: the ``confidence`` percentile interval of that difference over
      ``n_boot`` resamples of the rows with replacement, the same rows for every model in
      one resample (``np.quantile`` with ``method='linear'`` of the resampled differences);
    - ``p_better``: the share of resamples in which the model beats the baseline strictly
      (a lower value for :data:`LOWER_IS_BETTER` metrics, higher for the others); a tie
      is not a win;
    - ``replicates``: the number of resamples used, as a float.

    A resample on which the metric is undefined (``auc`` of a resample holding one class)
    is skipped, and it still uses its draws, so the other resamples do not move. Raises
    MonitoringError when fewer than half of the resamples are usable, and for anything
    :func:`compute` rejects on the full data.

    The result depends only on the inputs and ``seed``; the module docstring describes
    the index stream. Memory is O(rows) per resample, plus ``n_boot`` differences per
    model.
    """
    where = f"paired bootstrap of {metric!r}"
    _check_names([metric])
    _check_threshold(threshold)
    if not isinstance(preds, Mapping) or not preds:
        raise MonitoringError(
            f"{where}: preds must be a non-empty mapping of model name to predictions; "
            f"found {type(preds).__name__}"
        )
    if baseline not in preds:
        raise MonitoringError(
            f"{where}: baseline {baseline!r} is not among the predictions"
            + did_you_mean(baseline, [str(k) for k in preds])
        )
    others = [k for k in preds if k != baseline]
    if not others:
        raise MonitoringError(
            f"{where}: preds holds the baseline {baseline!r} only; add the predictions of "
            "at least one model to compare with it"
        )
    if not _is_int(n_boot) or n_boot < 1:
        raise MonitoringError(f"{where}: n_boot must be a positive integer; found {n_boot!r}")
    if not _is_int(seed) or seed < 0:
        raise MonitoringError(f"{where}: seed must be a non-negative integer; found {seed!r}")
    if not _is_real(confidence) or not 0.0 < float(confidence) < 1.0:
        raise MonitoringError(
            f"{where}: confidence must be a number strictly between 0 and 1, e.g. 0.95; "
            f"found {confidence!r}"
        )

    y = _as_floats(y_true, where=where, name="y_true")
    models: dict[str, _Floats] = {}
    for name in [baseline, *others]:
        y, models[name] = _arrays(y, preds[name], where=f"{where}, model {name!r}")
    full = {name: _checked_value(metric, y, p, threshold) for name, p in models.items()}

    n = y.size
    replicate = _replicate_auc(y, models) if metric == "auc" else None
    bitgen = np.random.PCG64(int(seed))
    n_u64 = np.uint64(n)
    diffs = {name: np.empty(int(n_boot), dtype=np.float64) for name in others}
    used = 0
    for _ in range(int(n_boot)):
        idx = (bitgen.random_raw(n) % n_u64).astype(np.intp)
        if replicate is not None:
            values = replicate(idx)
        else:
            yb = y[idx]
            values = {name: _value(metric, yb, p[idx], threshold) for name, p in models.items()}
        base = values[baseline]
        scores = [v for name in others if (v := values[name]) is not None]
        if base is None or len(scores) < len(others):
            continue
        for name, value in zip(others, scores, strict=True):
            diffs[name][used] = value - base
        used += 1
    if 2 * used < n_boot:
        raise MonitoringError(
            f"{where}: the metric is defined on only {used} of {n_boot} resamples, fewer "
            f"than half (a resample of one class is skipped; {_undefined_reason(y)}); "
            "evaluate on more rows of the rarer class"
        )

    lower = metric in LOWER_IS_BETTER
    q_low = (1.0 - float(confidence)) / 2.0
    out: dict[str, dict[str, float]] = {}
    for name in others:
        d = np.sort(diffs[name][:used])
        low, high = np.quantile(d, [q_low, 1.0 - q_low], method="linear")
        wins = np.count_nonzero(d < 0.0) if lower else np.count_nonzero(d > 0.0)
        out[name] = {
            "diff": full[name] - full[baseline],
            "low": float(low),
            "high": float(high),
            "p_better": int(wins) / used,
            "replicates": float(used),
        }
    return out


# --- input checks ------------------------------------------------------------------------


def _check_names(metrics: Sequence[str]) -> None:
    for metric in metrics:
        if metric not in _METRICS:
            known = ", ".join(repr(m) for m in _METRICS)
            close = difflib.get_close_matches(str(metric), _METRICS, n=1, cutoff=0.5)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise MonitoringError(f"unknown metric {metric!r}; known metrics: {known}{hint}")


def _check_threshold(threshold: float) -> None:
    if not _is_real(threshold) or not math.isfinite(threshold):
        raise MonitoringError(
            f"threshold must be a finite number (rows with y_pred >= threshold are predicted "
            f"class 1); found {threshold!r}"
        )


def _is_int(x: object) -> bool:
    return isinstance(x, int | np.integer) and not isinstance(x, bool)


def _is_real(x: object) -> bool:
    return isinstance(x, int | float | np.integer | np.floating) and not isinstance(x, bool)


def _as_floats(values: npt.ArrayLike, *, where: str, name: str) -> _Floats:
    """``values`` as a one-dimensional float64 array; nulls become NaN."""
    try:
        arr = np.asarray(values)
    except (TypeError, ValueError) as e:
        raise MonitoringError(
            f"{where}: {name} is not an array of numbers ({e}); pass a list, a numpy array "
            "or a Series"
        ) from e
    if arr.ndim != 1:
        found = "a scalar" if arr.ndim == 0 else f"shape {arr.shape}"
        raise MonitoringError(
            f"{where}: {name} must be one-dimensional; found {found}; pass one column "
            "(for class probabilities, the column of class 1)"
        )
    if arr.dtype.kind in "biuf":
        return arr.astype(np.float64, copy=False)
    if arr.dtype.kind == "O":
        return _objects_as_floats(arr, where=where, name=name)
    raise MonitoringError(
        f"{where}: {name} holds {arr.dtype} values; expected numbers or booleans "
        "(encode classes as 0/1)"
    )


def _objects_as_floats(arr: npt.NDArray[Any], *, where: str, name: str) -> _Floats:
    out = np.empty(arr.shape, dtype=np.float64)
    for i, v in enumerate(arr.tolist()):
        if v is None or type(v).__name__ in ("NAType", "NaTType"):
            out[i] = math.nan
        elif isinstance(v, numbers.Real | np.bool_):
            out[i] = float(v)
        else:
            raise MonitoringError(
                f"{where}: {name} holds {v!r} ({type(v).__name__}) at row {i}; expected "
                "numbers or booleans (encode classes as 0/1)"
            )
    return out


def _arrays(y_true: npt.ArrayLike, y_pred: npt.ArrayLike, *, where: str) -> tuple[_Floats, _Floats]:
    """Labels and predictions as float64 arrays of one length, non-empty and finite."""
    y = _as_floats(y_true, where=where, name="y_true")
    p = _as_floats(y_pred, where=where, name="y_pred")
    if y.size != p.size:
        raise MonitoringError(
            f"{where}: y_true has {y.size} rows but y_pred has {p.size}; pass one "
            "prediction per label, in the same order"
        )
    if y.size == 0:
        raise MonitoringError(f"{where}: y_true and y_pred are empty; pass at least one row")
    bad_y = ~np.isfinite(y)
    bad_p = ~np.isfinite(p)
    bad = int(np.count_nonzero(bad_y | bad_p))
    if bad:
        raise MonitoringError(
            f"{where}: {bad} of {y.size} rows hold a null, NaN or infinite value "
            f"(y_true: {int(np.count_nonzero(bad_y))}, y_pred: {int(np.count_nonzero(bad_p))}); "
            "drop those rows or fill them before computing metrics"
        )
    return y, p


def _is_binary(y: _Floats) -> bool:
    return bool(np.all((y == 0.0) | (y == 1.0)))


def _checked_value(metric: str, y: _Floats, p: _Floats, threshold: float) -> float:
    """The metric on checked arrays, after the metric's own checks."""
    where = f"metric {metric!r}"
    if metric in CLASSIFICATION_METRICS and not _is_binary(y):
        other = np.unique(y[(y != 0.0) & (y != 1.0)])
        shown = ", ".join(f"{v:g}" for v in other[:5]) + (", ..." if other.size > 5 else "")
        regression = ", ".join(repr(m) for m in REGRESSION_METRICS)
        raise MonitoringError(
            f"{where} needs labels 0 and 1 (or booleans); y_true also holds {shown}; "
            f"encode the positive class as 1, or use a regression metric: {regression}"
        )
    if metric == "log_loss":
        outside = (p < 0.0) | (p > 1.0)
        if np.any(outside):
            raise MonitoringError(
                f"{where} needs probabilities in [0, 1]; {int(np.count_nonzero(outside))} "
                f"of {p.size} predictions lie outside (from {p.min():g} to {p.max():g}); pass "
                "the probability of class 1 (e.g. predict_proba(X)[:, 1]), or use 'auc', "
                "which takes any score"
            )
    if metric == "r2" and y.size < 2:
        raise MonitoringError(
            f"{where} needs at least 2 rows; found {y.size}; evaluate on more rows"
        )
    value = _value(metric, y, p, threshold)
    if value is None:
        raise MonitoringError(
            f"{where} is undefined: {_undefined_reason(y)}; it needs rows of both "
            "classes: add rows of the missing class, or use a metric defined on one class "
            "('log_loss', 'accuracy')"
        )
    return value


def _undefined_reason(y: _Floats) -> str:
    positives = int(np.count_nonzero(y == 1.0))
    negatives = y.size - positives
    rows = "row" if positives == 1 else "rows"
    return (
        f"y_true holds {positives or 'no'} {rows} of class 1 and {negatives or 'none'} of class 0"
    )


# --- the metrics -------------------------------------------------------------------------


def _value(metric: str, y: _Floats, p: _Floats, threshold: float) -> float | None:
    """The metric of checked arrays; None where it is undefined (auc with one class)."""
    if metric == "auc":
        return _auc(y, p)
    if metric == "log_loss":
        return _log_loss(y, p)
    if metric in _THRESHOLD_METRICS:
        return _from_counts(metric, y, p, threshold)
    err = y - p
    if metric == "rmse":
        return math.sqrt(float(np.mean(err * err)))
    if metric == "mae":
        return float(np.mean(np.abs(err)))
    return _r2(y, err)


def _ties(p: _Floats) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp], _Ints]:
    """An ascending order of ``p``, the start of each group of equal scores in it, and
    twice each group's average 1-based rank (an integer). The order within a group does
    not matter: every row of a group gets the group's rank."""
    order = np.argsort(p)
    s = p[order]
    starts = np.concatenate(([0], np.flatnonzero(s[1:] != s[:-1]) + 1)).astype(np.intp)
    ends = np.append(starts[1:], s.size)
    # positions i..j-1 have ranks i+1..j, whose mean is (i + 1 + j) / 2
    twice_rank = (starts + ends + 1).astype(np.int64)
    return order, starts, twice_rank


def _auc(y: _Floats, p: _Floats) -> float | None:
    order, starts, twice_rank = _ties(p)
    positive = (y[order] == 1.0).astype(np.int64)
    pos_per_group = np.add.reduceat(positive, starts)
    n_pos = int(pos_per_group.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    # 2U = 2 * (sum of positive ranks) - n_pos (n_pos + 1), exactly
    twice_u = int(np.dot(pos_per_group, twice_rank)) - n_pos * (n_pos + 1)
    return twice_u / (2 * n_pos * n_neg)


def _replicate_auc(
    y: _Floats, models: Mapping[str, _Floats]
) -> Callable[[npt.NDArray[np.intp]], dict[str, float | None]]:
    """AUC of each model on resampled rows ``idx`` without sorting per resample: each
    row weighs its count in ``idx``, over the tie groups of the full data. The same
    integer count of pairs as :func:`_auc` on ``y[idx], p[idx]``, so the same float."""
    prepared = []
    for name, p in models.items():
        order, starts, _ = _ties(p)
        prepared.append((name, order, starts, (y[order] == 1.0).astype(np.int64)))
    n = y.size

    def replicate(idx: npt.NDArray[np.intp]) -> dict[str, float | None]:
        counts = np.bincount(idx, minlength=n).astype(np.int64)
        out: dict[str, float | None] = {}
        for name, order, starts, positive in prepared:
            w = counts[order]
            pos = np.add.reduceat(w * positive, starts)
            neg = np.add.reduceat(w, starts) - pos
            n_pos = int(pos.sum())
            n_neg = n - n_pos
            if n_pos == 0 or n_neg == 0:
                out[name] = None
                continue
            # pairs with the negative in a lower group count 2, in the same group 1
            below = np.cumsum(neg) - neg
            twice_u = int(np.dot(pos, 2 * below + neg))
            out[name] = twice_u / (2 * n_pos * n_neg)
        return out

    return replicate


def _log_loss(y: _Floats, p: _Floats) -> float:
    q = np.clip(p, LOG_LOSS_EPS, 1.0 - LOG_LOSS_EPS)
    loss = np.where(y == 1.0, -np.log(q), -np.log1p(-q))
    return float(np.mean(loss))


def _from_counts(metric: str, y: _Floats, p: _Floats, threshold: float) -> float:
    predicted = p >= threshold
    actual = y == 1.0
    tp = int(np.count_nonzero(predicted & actual))
    fp = int(np.count_nonzero(predicted)) - tp
    fn = int(np.count_nonzero(actual)) - tp
    if metric == "accuracy":
        return (y.size - fp - fn) / y.size
    if metric == "precision":
        return tp / (tp + fp) if tp + fp else 0.0
    if metric == "recall":
        return tp / (tp + fn) if tp + fn else 0.0
    return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0


def _r2(y: _Floats, err: _Floats) -> float:
    if y.min() != y.max():
        centred = y - np.mean(y)
        ss_tot = float(np.sum(centred * centred))
        if ss_tot != 0.0:
            return 1.0 - float(np.sum(err * err)) / ss_tot
    # constant labels, or labels so close that their deviations square to 0: SS_tot is 0,
    # and the score is 1 for exact predictions, else 0 (scikit-learn's force_finite)
    return 0.0 if np.any(err != 0) else 1.0
