"""Drift between a reference and a current side, per feature.

Numeric features are binned on the reference's histogram (its distinct quantiles at
levels 0, 0.01, ..., 1: up to 100 bins, plus a bin for the minimum itself and one
below and one above the reference's range, see :mod:`featstore.monitoring.stats`):

* ``psi``: population stability index over the reference's deciles (the 100-bin
  histogram coarsened to the edges at levels 0, 0.1, ..., 1, plus the minimum and the
  below and above bins), each share floored at 1e-4;
* ``jensen_shannon``: Jensen-Shannon distance (base 2, 0 to 1) over the same bins;
* ``ks``: the two-sample Kolmogorov-Smirnov statistic at the 100-bin edges, and
  ``ks_error``, the most the exact statistic on the raw rows can exceed it by (the
  largest, over bins, of the smaller of the two sides' shares of the bin: about 0.01
  for continuous data);
* ``wasserstein``: the Wasserstein-1 distance between the binned distributions (each
  side's rows of a bin at their mean in the bin; for a merged reference, spread
  uniformly within bins), divided by the reference's standard deviation (infinite when
  the reference is constant and the current side is not). It is within the sum over
  bins of width * (both sides' shares) / 2 of the exact distance, and usually far
  closer.

Categorical features are compared over the reference's values (its top 500, with every
other value in one ``other`` category when the reference has more) and the values only
the current side has (``other`` when the reference's list is incomplete): ``psi``,
``jensen_shannon`` and ``chi2_pvalue``, the p-value of Pearson's chi-square test of
homogeneity. Both kinds report the null rate of each side and its change.

A feature has ``drifted`` when any metric passes its threshold (``DEFAULT_THRESHOLDS``;
``None`` turns a metric's test off): ``psi``, ``jensen_shannon``, ``ks``,
``wasserstein`` and ``null_rate_change`` (absolute) above theirs, ``chi2_pvalue``
below. KS and chi-square are off by default: with many rows they call the smallest
change significant. A feature with values on one side only has drifted.

The reference's recorded statistics are used when they describe exactly its rows (a
training set, a prediction batch, a window that is one whole materialized month);
otherwise its rows are read once. The current side is always read once, one column at a
time.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from featstore.errors import MonitoringError
from featstore.lineage_ids import EdgeKind, NodeKind, node_id
from featstore.monitoring import distances, stats
from featstore.monitoring.targets import Side, features_of, resolve
from featstore.offline import new_id
from featstore.timeutil import iso, utc_now

if TYPE_CHECKING:
    from featstore.store import FeatureStore

__all__ = ["DEFAULT_THRESHOLDS", "DriftReport", "FeatureDrift", "drift", "get_drift_report"]

DEFAULT_THRESHOLDS: dict[str, float | None] = {
    "psi": 0.2,
    "jensen_shannon": 0.1,
    "wasserstein": 0.1,
    "null_rate_change": 0.05,
    "ks": None,
    "chi2_pvalue": None,
}
_LOWER_IS_DRIFT = {"chi2_pvalue"}
DECILES = 10
WORKERS = max(1, min(2, os.cpu_count() or 1))
SHOWN_CATEGORIES = 20


@dataclass(frozen=True, slots=True)
class FeatureDrift:
    """One feature's drift (see the module docstring for each metric)."""

    feature: str
    kind: str
    reference_rows: int
    current_rows: int
    reference_null_rate: float
    current_null_rate: float
    null_rate_change: float
    psi: float | None = None
    jensen_shannon: float | None = None
    ks: float | None = None
    ks_error: float | None = None
    wasserstein: float | None = None
    chi2_pvalue: float | None = None
    drifted: bool = False
    reasons: tuple[str, ...] = ()
    note: str | None = None
    # what a picture needs: bin labels and each side's share per bin
    bins: tuple[str, ...] = field(default=(), repr=False)
    reference_shares: tuple[float, ...] = field(default=(), repr=False)
    current_shares: tuple[float, ...] = field(default=(), repr=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "feature": self.feature,
            "kind": self.kind,
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
            "reference_null_rate": self.reference_null_rate,
            "current_null_rate": self.current_null_rate,
            "null_rate_change": self.null_rate_change,
            "psi": self.psi,
            "jensen_shannon": self.jensen_shannon,
            "ks": self.ks,
            "ks_error": self.ks_error,
            "wasserstein": self.wasserstein,
            "chi2_pvalue": self.chi2_pvalue,
            "drifted": self.drifted,
            "reasons": list(self.reasons),
            "note": self.note,
            "bins": list(self.bins),
            "reference_shares": list(self.reference_shares),
            "current_shares": list(self.current_shares),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FeatureDrift:
        return cls(
            **{
                **data,
                "reasons": tuple(data["reasons"]),
                "bins": tuple(data["bins"]),
                "reference_shares": tuple(data["reference_shares"]),
                "current_shares": tuple(data["current_shares"]),
            }
        )


@dataclass(frozen=True, slots=True)
class DriftReport:
    """A drift check between two sides, one :class:`FeatureDrift` per feature; saved in
    the catalog and a lineage node (``drift_report:<report_id>``) downstream of both sides."""

    report_id: str
    created_at: str
    reference: str
    current: str
    reference_node: str | None
    current_node: str | None
    thresholds: Mapping[str, float | None]
    features: tuple[FeatureDrift, ...]
    reference_from_statistics: bool = False

    @property
    def id(self) -> str:
        return node_id(NodeKind.DRIFT_REPORT, self.report_id)

    @property
    def drifted(self) -> bool:
        """Whether any feature drifted."""
        return any(f.drifted for f in self.features)

    @property
    def drifted_features(self) -> list[str]:
        return [f.feature for f in self.features if f.drifted]

    def feature(self, name: str) -> FeatureDrift:
        for f in self.features:
            if f.feature == name:
                return f
        raise MonitoringError(
            f"drift report {self.id}: no feature {name!r}; it compared "
            f"{[f.feature for f in self.features]}"
        )

    def __getitem__(self, name: str) -> FeatureDrift:
        return self.feature(name)

    def to_polars(self) -> pl.DataFrame:
        """One row per feature: kind, rows and null rates of each side, every metric,
        ``drifted`` and the reasons (``"psi 0.31 > 0.2"``)."""
        columns = [
            ("feature", pl.String),
            ("kind", pl.String),
            ("reference_rows", pl.Int64),
            ("current_rows", pl.Int64),
            ("reference_null_rate", pl.Float64),
            ("current_null_rate", pl.Float64),
            ("null_rate_change", pl.Float64),
            ("psi", pl.Float64),
            ("jensen_shannon", pl.Float64),
            ("ks", pl.Float64),
            ("ks_error", pl.Float64),
            ("wasserstein", pl.Float64),
            ("chi2_pvalue", pl.Float64),
            ("drifted", pl.Boolean),
        ]
        rows = [[getattr(f, name) for name, _ in columns] for f in self.features]
        frame = pl.DataFrame(rows, schema=dict(columns), orient="row")
        return frame.with_columns(
            pl.Series("reasons", ["; ".join(f.reasons) for f in self.features], pl.String),
            pl.Series("note", [f.note for f in self.features], pl.String),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "report_id": self.report_id,
            "created_at": self.created_at,
            "reference": self.reference,
            "current": self.current,
            "reference_node": self.reference_node,
            "current_node": self.current_node,
            "thresholds": dict(self.thresholds),
            "features": [f.to_json() for f in self.features],
            "reference_from_statistics": self.reference_from_statistics,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DriftReport:
        return cls(
            report_id=data["report_id"],
            created_at=data["created_at"],
            reference=data["reference"],
            current=data["current"],
            reference_node=data.get("reference_node"),
            current_node=data.get("current_node"),
            thresholds=dict(data["thresholds"]),
            features=tuple(FeatureDrift.from_json(f) for f in data["features"]),
            reference_from_statistics=bool(data.get("reference_from_statistics")),
        )

    def __repr__(self) -> str:
        drifted = self.drifted_features
        return (
            f"DriftReport({self.id}: {len(drifted)} of {len(self.features)} features "
            f"drifted{': ' + ', '.join(drifted) if drifted else ''})"
        )

    def _repr_html_(self) -> str:
        from html import escape

        from featstore.monitoring.html import frame_table

        return (
            f"<p><b>Drift</b> {escape(self.reference)} &rarr; {escape(self.current)}: "
            f"{len(self.drifted_features)} of {len(self.features)} features drifted</p>"
            + frame_table(self.to_polars())
        )

    def to_html(self) -> str:
        """A self-contained HTML report (overlaid histograms per feature, the table)."""
        from featstore.monitoring.html import drift_html

        return drift_html(self)


def check_thresholds(thresholds: Mapping[str, float | None] | None) -> dict[str, float | None]:
    out = dict(DEFAULT_THRESHOLDS)
    for key, value in (thresholds or {}).items():
        if key not in DEFAULT_THRESHOLDS:
            raise MonitoringError(
                f"drift: unknown threshold {key!r}; the metrics are {sorted(DEFAULT_THRESHOLDS)}"
            )
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value)
        ):
            raise MonitoringError(
                f"drift: threshold {key!r} must be a number or None (off); found {value!r}"
            )
        out[key] = None if value is None else float(value)
    return out


def drift(
    store: FeatureStore,
    reference: Any,
    current: Any,
    *,
    features: Sequence[str] | None = None,
    thresholds: Mapping[str, float | None] | None = None,
    save: bool = True,
) -> DriftReport:
    limits = check_thresholds(thresholds)
    ref, cur = resolve(store, reference, "reference"), resolve(store, current, "current")
    names = _features(ref, cur, features)
    ref_lf, cur_lf = ref.read(), cur.read()
    cur_rows = cur.rows if cur.rows is not None else _count(cur_lf)
    if cur_rows == 0:
        raise MonitoringError(f"drift: {cur.label} has no rows; check its time window or filter")
    stored = ref.stored
    if stored is not None and not all(n in stored for n in names):
        stored = None
    if stored is None:
        ref_rows = ref.rows if ref.rows is not None else _count(ref_lf)
    else:
        ref_rows = stored.rows
    _no_rows(ref, ref_rows)
    cur_schema = cur_lf.collect_schema()

    def one(name: str) -> FeatureDrift:
        # a reference read here is never merged: no distinct-count sketch
        col = (
            stored.column(name)
            if stored is not None
            else stats.column_statistics(
                ref_lf.select(name).collect().to_series(), name, sketch=False
            )
        )
        kind = stats.column_kind(cur_schema[name])
        if kind != col.kind:
            raise MonitoringError(
                f"drift: feature {name!r} is {col.kind} in {ref.label} but {kind} in "
                f"{cur.label}; cast one side so both have the same type"
            )
        series = cur_lf.select(name).collect().to_series()
        if kind == stats.NUMERIC:
            return _numeric(col, series, ref_rows, cur_rows, limits)
        return _categorical(col, series, ref_rows, cur_rows, limits)

    # features in parallel: sorting and counting release the GIL (two at a time bounds
    # memory to about four columns)
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        results = list(pool.map(one, names))
    report = DriftReport(
        report_id=new_id(),
        created_at=iso(utc_now()),
        reference=ref.label,
        current=cur.label,
        reference_node=ref.node,
        current_node=cur.node,
        thresholds=limits,
        features=tuple(results),
        reference_from_statistics=stored is not None,
    )
    if save:
        _save(store, report, ref, cur)
    return report


def _count(lf: pl.LazyFrame) -> int:
    return int(lf.select(pl.len()).collect().item())


def _no_rows(side: Side, rows: int) -> None:
    if rows == 0:
        raise MonitoringError(
            f"drift: the reference, {side.label}, has no rows; compare against a training "
            f"set, batch or window that holds data"
        )


def _features(ref: Side, cur: Side, given: Sequence[str] | None) -> list[str]:
    if given is None:
        names = features_of([ref, cur])
        if not names:
            raise MonitoringError(
                f"drift: {ref.label} and {cur.label} share no numeric or categorical "
                f"feature column; pass features=[...]"
            )
        return names
    if isinstance(given, str):
        given = [given]
    names = list(dict.fromkeys(given))
    for side in (ref, cur):
        schema = side.schema()
        missing = [n for n in names if n not in schema]
        if missing:
            raise MonitoringError(
                f"drift: {side.label} has no column {missing[0]!r}; its columns are "
                f"{list(schema.names())}"
            )
        for n in names:
            kind = stats.column_kind(schema[n])
            if kind not in (stats.NUMERIC, stats.CATEGORICAL):
                raise MonitoringError(
                    f"drift: feature {n!r} of {side.label} is {schema[n]} ({kind}); drift "
                    f"compares numeric and categorical columns: derive one from it"
                )
    return names


def _verdict(
    limits: Mapping[str, float | None], values: Mapping[str, float | None]
) -> tuple[bool, tuple[str, ...]]:
    reasons = []
    for key, value in values.items():
        limit = limits.get(key)
        if limit is None or value is None or math.isnan(value):
            continue
        if key == "null_rate_change":
            if abs(value) > limit:
                reasons.append(f"null rate change {value:+.3g} beyond ±{limit:g}")
        elif key in _LOWER_IS_DRIFT:
            if value < limit:
                reasons.append(f"{key} {value:.3g} < {limit:g}")
        elif value > limit:
            reasons.append(f"{key} {value:.3g} > {limit:g}")
    return bool(reasons), tuple(reasons)


def _present(series: pl.Series) -> tuple[pl.Series, int]:
    """The usable values of a numeric series and its null count (NaN counted as null)."""
    nulls = series.null_count()
    present = series.drop_nulls()
    if present.dtype.is_float():
        nan = present.is_nan()
        nulls += int(nan.sum())
        present = present.filter(~nan & present.is_finite())
    return present, nulls


def _numeric(
    col: stats.ColumnStatistics,
    series: pl.Series,
    ref_rows: int,
    cur_rows: int,
    limits: Mapping[str, float | None],
) -> FeatureDrift:
    present, cur_nulls = _present(series)
    ref_null, cur_null = col.null_rate, cur_nulls / cur_rows
    base: dict[str, Any] = {
        "feature": col.name,
        "kind": stats.NUMERIC,
        "reference_rows": ref_rows,
        "current_rows": cur_rows,
        "reference_null_rate": ref_null,
        "current_null_rate": cur_null,
        "null_rate_change": cur_null - ref_null,
    }
    nulls_only = {"null_rate_change": cur_null - ref_null}
    if col.histogram is None or present.len() == 0:
        one_sided = (col.histogram is None) != (present.len() == 0)
        drifted, reasons = _verdict(limits, nulls_only)
        where = "the reference" if col.histogram is None else "the current side"
        if one_sided:
            drifted, reasons = True, (*reasons, f"values on one side only (none in {where})")
        note = (
            "no values on either side"
            if not one_sided
            else f"no non-null values in {where}: distances undefined"
        )
        return FeatureDrift(**base, drifted=drifted, reasons=reasons, note=note)
    edges = np.asarray(col.histogram.edges, dtype=np.float64)
    ref_counts = np.asarray(col.histogram.counts, dtype=np.float64)
    x = np.sort(present.cast(pl.Float64).to_numpy())
    # on sorted values, each bin is a run: [x < e0], [x == e0], (e0, e1], ..., [x > e_B]
    bounds = np.concatenate(
        (
            [0],
            np.searchsorted(x, edges[:1], side="left"),
            np.searchsorted(x, edges, side="right"),
            [len(x)],
        )
    )
    cur_counts = np.diff(bounds).astype(np.float64)
    lo = min(float(edges[0]), float(x[0]))
    hi = max(float(edges[-1]), float(x[-1]))
    coarse_ref, coarse_cur, labels = _deciles(col, edges, ref_counts, cur_counts)
    ks = distances.ks_from_counts(ref_counts, cur_counts)
    if col.histogram.means is not None:  # each bin's rows at their mean, on both sides
        ref_means = np.asarray([np.nan if v is None else v for v in col.histogram.means])
        with np.errstate(invalid="ignore", divide="ignore"):
            cur_means = stats._run_sums(x, bounds) / cur_counts
        w1 = distances.wasserstein_from_bin_means(ref_means, ref_counts, cur_means, cur_counts)
    else:  # a merged reference: rows spread uniformly within bins
        w1 = distances.wasserstein_from_histogram(edges, ref_counts, cur_counts, lo=lo, hi=hi)
    spread = col.std or 0.0
    wasserstein = w1 / spread if spread > 0 else 0.0 if w1 == 0 else math.inf
    values = {
        "psi": distances.psi(coarse_ref, coarse_cur),
        "jensen_shannon": distances.jensen_shannon(coarse_ref, coarse_cur),
        "ks": ks,
        "wasserstein": wasserstein,
        "null_rate_change": cur_null - ref_null,
    }
    drifted, reasons = _verdict(limits, values)
    shares = _shares(coarse_ref), _shares(coarse_cur)
    return FeatureDrift(
        **base,
        psi=values["psi"],
        jensen_shannon=values["jensen_shannon"],
        ks=ks,
        ks_error=distances.ks_error_bound(ref_counts, cur_counts),
        wasserstein=wasserstein,
        drifted=drifted,
        reasons=reasons,
        note=None if spread > 0 else "constant reference: wasserstein not normalised",
        bins=labels,
        reference_shares=shares[0],
        current_shares=shares[1],
    )


def _shares(counts: np.ndarray) -> tuple[float, ...]:
    total = float(counts.sum())
    return tuple(float(c) / total for c in counts) if total else ()


def _deciles(
    col: stats.ColumnStatistics,
    edges: np.ndarray,
    ref_counts: np.ndarray,
    cur_counts: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """The 100-bin counts summed into the reference's deciles (edges at levels 0, 0.1,
    ..., 1, which are among the 100-bin edges): [below], [min], (d0, d1], ..., [above]."""
    quantiles = np.asarray(col.quantiles or edges, dtype=np.float64)
    step = max((len(quantiles) - 1) // DECILES, 1)
    coarse = np.unique(quantiles[::step])
    coarse = coarse[np.isin(coarse, edges)]  # histograms keep every distinct quantile
    if len(coarse) == 0 or coarse[0] != edges[0]:
        coarse = np.unique(np.concatenate([[edges[0]], coarse]))
    # fine bin i (1-based, edge edges[i]) falls in the coarse bin of the first coarse edge >= it
    fine = np.searchsorted(coarse, edges[1:], side="left") + 1
    target = np.concatenate([[0, 1], fine, [len(coarse) + 1]])
    size = len(coarse) + 2
    ref = np.bincount(target, weights=ref_counts, minlength=size)
    cur = np.bincount(target, weights=cur_counts, minlength=size)
    labels = [f"< {coarse[0]:.4g}", f"= {coarse[0]:.4g}"]
    labels += [f"({coarse[i - 1]:.4g}, {coarse[i]:.4g}]" for i in range(1, len(coarse))]
    labels.append(f"> {coarse[-1]:.4g}")
    return ref, cur, tuple(labels)


def _categorical(
    col: stats.ColumnStatistics,
    series: pl.Series,
    ref_rows: int,
    cur_rows: int,
    limits: Mapping[str, float | None],
) -> FeatureDrift:
    cur_nulls = series.null_count()
    present = series.drop_nulls().cast(pl.String)
    ref_null, cur_null = col.null_rate, cur_nulls / cur_rows
    base: dict[str, Any] = {
        "feature": col.name,
        "kind": stats.CATEGORICAL,
        "reference_rows": ref_rows,
        "current_rows": cur_rows,
        "reference_null_rate": ref_null,
        "current_null_rate": cur_null,
        "null_rate_change": cur_null - ref_null,
    }
    ref_values = dict(col.top or ())
    ref_other = col.other or 0
    if not ref_values or present.len() == 0:
        one_sided = (not ref_values) != (present.len() == 0)
        drifted, reasons = _verdict(limits, {"null_rate_change": cur_null - ref_null})
        where = "the reference" if not ref_values else "the current side"
        if one_sided:
            drifted, reasons = True, (*reasons, f"values on one side only (none in {where})")
        note = "no values on either side" if not one_sided else f"no values in {where}"
        return FeatureDrift(**base, drifted=drifted, reasons=reasons, note=note)
    counts = present.alias("v").value_counts(name="n")
    cur_values = dict(zip(counts["v"].to_list(), counts["n"].to_list(), strict=True))
    categories = list(ref_values)
    if ref_other == 0:  # the reference listed every value: the current side's others are new
        categories += sorted(v for v in cur_values if v not in ref_values)
        ref_c = [ref_values.get(v, 0) for v in categories]
        cur_c = [cur_values.get(v, 0) for v in categories]
    else:  # values beyond the reference's list are one "other" category on both sides
        ref_c = [ref_values[v] for v in categories] + [ref_other]
        cur_c = [cur_values.get(v, 0) for v in categories]
        cur_c.append(present.len() - sum(cur_c))
        categories.append("(other)")
    ref_arr = np.asarray(ref_c, dtype=np.float64)
    cur_arr = np.asarray(cur_c, dtype=np.float64)
    _, _, pvalue = distances.chi2_homogeneity(ref_arr, cur_arr)
    values = {
        "psi": distances.psi(ref_arr, cur_arr),
        "jensen_shannon": distances.jensen_shannon(ref_arr, cur_arr),
        "chi2_pvalue": pvalue,
        "null_rate_change": cur_null - ref_null,
    }
    drifted, reasons = _verdict(limits, values)
    order = np.argsort(-(ref_arr / ref_arr.sum() + cur_arr / cur_arr.sum()), kind="stable")
    shown = order[:SHOWN_CATEGORIES]
    return FeatureDrift(
        **base,
        psi=values["psi"],
        jensen_shannon=values["jensen_shannon"],
        chi2_pvalue=pvalue,
        drifted=drifted,
        reasons=reasons,
        bins=tuple(categories[i] for i in shown),
        reference_shares=tuple(float(ref_arr[i] / ref_arr.sum()) for i in shown),
        current_shares=tuple(float(cur_arr[i] / cur_arr.sum()) for i in shown),
    )


def _save(store: FeatureStore, report: DriftReport, ref: Side, cur: Side) -> None:
    body = json.dumps(report.to_json(), sort_keys=True)
    sources = {n for n in (ref.node, cur.node, *ref.nodes, *cur.nodes) if n}
    with store.catalog.transaction() as tx:
        tx.add_report(
            id=report.id,
            kind="drift",
            subject=None,
            created_at=report.created_at,
            body=body,
        )
        tx.add_node(
            report.id,
            NodeKind.DRIFT_REPORT,
            f"{ref.label} vs {cur.label}",
            report.created_at,
            {
                "reference": report.reference,
                "current": report.current,
                "features": len(report.features),
                "drifted": report.drifted_features,
            },
        )
        known = tx.node_ids(sources)
        tx.add_edges([(n, report.id, EdgeKind.COMPARED_IN) for n in sorted(known)])


def get_drift_report(store: FeatureStore, ref: str) -> DriftReport:
    from featstore.lineage_ids import strip_prefix

    report_id = node_id(NodeKind.DRIFT_REPORT, strip_prefix(NodeKind.DRIFT_REPORT, ref))
    body = store.catalog.report_body(report_id)
    if body is None:
        raise MonitoringError(f"unknown drift report {ref!r}")
    return DriftReport.from_json(json.loads(body))
