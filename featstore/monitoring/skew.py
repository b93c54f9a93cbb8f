"""Training/serving skew: the feature values a model was served, against the values a
point-in-time retrieval gives for the same keys and instants now (the instants the
served retrieval was made for, which need not be the predictions' ``as_of``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import polars as pl

from featstore.errors import MonitoringError
from featstore.lineage_ids import EdgeKind, NodeKind, node_id
from featstore.offline import new_id
from featstore.records import PredictionBatch
from featstore.timeutil import iso, utc_now

if TYPE_CHECKING:
    from featstore.store import FeatureStore

__all__ = ["FeatureSkew", "SkewReport", "skew"]


@dataclass(frozen=True, slots=True)
class FeatureSkew:
    """One served feature against its recomputed value.

    ``differing`` counts rows whose values differ (by more than the tolerance, or one of
    them null); ``served_only`` rows where only the served value is non-null,
    ``recomputed_only`` the reverse; ``max_difference`` is the largest absolute
    difference of numeric values (None for other types or when none differ)."""

    column: str
    feature: str
    rows: int
    differing: int
    served_only: int
    recomputed_only: int
    max_difference: float | None

    @property
    def share(self) -> float:
        """The share of rows whose served value differs from the recomputed one."""
        return self.differing / self.rows if self.rows else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "feature": self.feature,
            "rows": self.rows,
            "differing": self.differing,
            "served_only": self.served_only,
            "recomputed_only": self.recomputed_only,
            "max_difference": self.max_difference,
        }


@dataclass(frozen=True, slots=True)
class SkewReport:
    """Training/serving skew of one prediction batch; a lineage node (``skew_report:<id>``)
    downstream of the batch."""

    report_id: str
    batch: str
    created_at: str
    tolerance: float
    bitemporal: bool
    features: tuple[FeatureSkew, ...]

    @property
    def id(self) -> str:
        return node_id(NodeKind.SKEW_REPORT, self.report_id)

    @property
    def skewed(self) -> bool:
        """Whether any served value differs from its recomputed one."""
        return any(f.differing for f in self.features)

    def to_polars(self) -> pl.DataFrame:
        """One row per served feature: rows, differing rows, their share, one-sided nulls
        and the largest difference."""
        return pl.DataFrame(
            [
                [
                    f.column,
                    f.feature,
                    f.rows,
                    f.differing,
                    f.share,
                    f.served_only,
                    f.recomputed_only,
                    f.max_difference,
                ]
                for f in self.features
            ],
            schema={
                "column": pl.String,
                "feature": pl.String,
                "rows": pl.Int64,
                "differing": pl.Int64,
                "share": pl.Float64,
                "served_only": pl.Int64,
                "recomputed_only": pl.Int64,
                "max_difference": pl.Float64,
            },
            orient="row",
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "report_id": self.report_id,
            "batch": self.batch,
            "created_at": self.created_at,
            "tolerance": self.tolerance,
            "bitemporal": self.bitemporal,
            "features": [f.to_json() for f in self.features],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SkewReport:
        return cls(
            report_id=data["report_id"],
            batch=data["batch"],
            created_at=data["created_at"],
            tolerance=float(data["tolerance"]),
            bitemporal=bool(data["bitemporal"]),
            features=tuple(FeatureSkew(**f) for f in data["features"]),
        )

    def __repr__(self) -> str:
        worst = max(self.features, key=lambda f: f.share, default=None)
        tail = f"; worst {worst.column} {worst.share:.1%}" if worst and worst.differing else ""
        return f"SkewReport({self.batch}: {len(self.features)} features{tail})"

    def _repr_html_(self) -> str:
        from html import escape

        from featstore.monitoring.html import frame_table

        return f"<p><b>Skew</b> of {escape(self.batch)}</p>" + frame_table(self.to_polars())


def skew(
    store: FeatureStore,
    batch: PredictionBatch | str,
    *,
    tolerance: float = 0.0,
    bitemporal: bool = False,
) -> SkewReport:
    if isinstance(batch, str):
        batch = store.get_prediction_batch(batch)
    if isinstance(tolerance, bool) or not isinstance(tolerance, int | float) or tolerance < 0:
        raise MonitoringError(f"skew: tolerance must be a number >= 0; found {tolerance!r}")
    served = dict(batch.served_features)
    if not served:
        raise MonitoringError(
            f"skew: prediction batch {batch.id!r} was logged without the features it was "
            f"computed from; log predictions with features=<the RetrievalResult> (or with "
            f"the served feature columns in the frame) so they can be recomputed"
        )
    frame = batch.to_polars()
    keys = sorted(
        {
            k
            for ref in served.values()
            for k in store.definitions.view_record(*_view_of(ref))["join_keys"]
        }
    )
    entity = frame.select(*keys, _served_at(batch, frame).alias("as_of"))
    result = store.get_historical_features(
        entity,
        list(dict.fromkeys(served.values())),
        full_feature_names=True,
        timestamp_column="as_of",
        bitemporal=bitemporal,
    )
    columns = _recomputed_columns(result.manifest)
    features = []
    for column, ref in served.items():
        features.append(
            _compare(
                column,
                ref,
                frame.get_column(column),
                result.frame.get_column(columns[ref]),
                float(tolerance),
            )
        )
    report = SkewReport(
        report_id=new_id(),
        batch=batch.id,
        created_at=iso(utc_now()),
        tolerance=float(tolerance),
        bitemporal=bitemporal,
        features=tuple(features),
    )
    with store.catalog.transaction() as tx:
        tx.add_report(
            id=report.id,
            kind="skew",
            subject=batch.model,
            created_at=report.created_at,
            body=json.dumps(report.to_json(), sort_keys=True),
        )
        tx.add_node(
            report.id,
            NodeKind.SKEW_REPORT,
            batch.model,
            report.created_at,
            {"batch": batch.id, "skewed": [f.column for f in features if f.differing]},
        )
        tx.add_edges([(batch.id, report.id, EdgeKind.CHECKED_IN)])
    return report


def _served_at(batch: PredictionBatch, frame: pl.DataFrame) -> pl.Expr:
    """The instants the served features describe, which need not be the predictions'
    ``as_of`` (a batch scored on the 20th with features retrieved as of the 15th): the
    ``as_of`` of a get_latest_features retrieval, the entity timestamps of a
    get_historical_features one (when the batch kept that column), else ``as_of``."""
    manifest = batch.retrieval.to_json() if batch.retrieval is not None else {}
    if manifest.get("as_of"):
        moment = datetime.fromisoformat(str(manifest["as_of"]))
        return pl.lit(moment, dtype=pl.Datetime("us"))
    column = manifest.get("timestamp_column")
    if (
        isinstance(column, str)
        and column in frame.columns
        and column not in batch.served_features
        and frame.schema[column].is_temporal()
    ):
        return pl.col(column)
    return pl.col("as_of")


def _view_of(ref: str) -> tuple[str, str]:
    view, _, _ = ref.partition(":")
    name, _, version = view.rpartition("@")
    return name, version


def _recomputed_columns(manifest: Mapping[str, Any]) -> dict[str, str]:
    out = {}
    for item in manifest["features"]:
        for feature, column in zip(item["features"], item["columns"], strict=False):
            out[f"{item['view']}@{item['version']}:{feature}"] = column
    return out


def _compare(
    column: str, ref: str, served: pl.Series, recomputed: pl.Series, tolerance: float
) -> FeatureSkew:
    both = served.is_not_null() & recomputed.is_not_null()
    served_only = int((served.is_not_null() & recomputed.is_null()).sum())
    recomputed_only = int((served.is_null() & recomputed.is_not_null()).sum())
    max_difference = None
    if served.dtype.is_integer() and recomputed.dtype.is_integer():
        # exactly: as floats, Int64 values past 2**53 that differ by a little are equal
        exact = (served.cast(pl.Int128) - recomputed.cast(pl.Int128)).abs().filter(both)
        diff = exact.cast(pl.Float64)
        differ = int((diff > tolerance).sum())
        top = exact.max() if exact.len() else None
        max_difference = float(top) if top is not None and top > 0 else None  # type: ignore[operator, arg-type]
    elif served.dtype.is_numeric() and recomputed.dtype.is_numeric():
        diff = (served.cast(pl.Float64) - recomputed.cast(pl.Float64)).abs().filter(both)
        nan_mismatch = served.cast(pl.Float64).is_nan() != recomputed.cast(pl.Float64).is_nan()
        differ = int((diff > tolerance).sum()) + int(nan_mismatch.filter(both).sum())
        finite = diff.filter(diff.is_not_nan())
        top = finite.max() if finite.len() else None
        max_difference = float(top) if top is not None and float(top) > 0 else None  # type: ignore[arg-type]
    else:
        a, b = served.filter(both), recomputed.filter(both)
        if a.dtype != b.dtype:
            a, b = a.cast(pl.String), b.cast(pl.String)
        differ = int((a != b).sum())
    return FeatureSkew(
        column=column,
        feature=ref,
        rows=served.len(),
        differing=differ + served_only + recomputed_only,
        served_only=served_only,
        recomputed_only=recomputed_only,
        max_difference=max_difference,
    )
