"""The monitoring methods of :class:`featstore.FeatureStore` (a mixin, so the facade
stays a list of delegates): statistics, drift, skew, labels, performance, evaluation."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, cast

from featstore.monitoring import drift as _drift
from featstore.monitoring import evaluation as _evaluation
from featstore.monitoring import labels as _labels
from featstore.monitoring import performance as _performance
from featstore.monitoring import skew as _skew
from featstore.monitoring import targets as _targets
from featstore.monitoring.drift import DriftReport
from featstore.monitoring.evaluation import Comparison, Evaluation
from featstore.monitoring.labels import LabelBatch
from featstore.monitoring.performance import PerformanceReport
from featstore.monitoring.skew import SkewReport
from featstore.monitoring.stats import Statistics
from featstore.monitoring.targets import Window
from featstore.records import ModelVersion, PredictionBatch

if TYPE_CHECKING:
    from featstore.store import FeatureStore

__all__ = ["MonitoringMethods"]


class MonitoringMethods:
    """Statistics, drift, skew, labels, performance over time and evaluation; see
    docs/monitoring.md."""

    __slots__ = ()

    def _store(self) -> FeatureStore:
        return cast("FeatureStore", self)

    def statistics(
        self,
        target: Any,
        *,
        version: str | None = None,
        start: datetime | date | str | None = None,
        end: datetime | date | str | None = None,
    ) -> Statistics:
        """Recorded column statistics of ``target``: a feature view (its name or object;
        the current ``version`` unless given, over ``[start, end)`` when given, merged
        across its files), a materialization run (``run:<id>`` or its record), a saved
        training set or a prediction batch. ``.to_polars()`` has one row per column."""
        return _targets.statistics_of(self._store(), target, version=version, start=start, end=end)

    def window(
        self,
        view: str,
        start: datetime | date | str,
        end: datetime | date | str,
        *,
        version: str | None = None,
    ) -> Window:
        """A feature view's rows with event time in ``[start, end)`` (of ``version``, or
        the current one), as a side of :meth:`drift`."""
        return _targets.window(self._store(), view, start, end, version=version)

    def drift(
        self,
        reference: Any,
        current: Any,
        *,
        features: Sequence[str] | None = None,
        thresholds: Mapping[str, float | None] | None = None,
    ) -> DriftReport:
        """Drift of each feature from ``reference`` to ``current``.

        Either side is a saved training set (record, name or id), a prediction batch, a
        view window (:meth:`window`), a retrieval result, or a Polars (lazy) or pandas
        frame. ``features`` defaults to the numeric and categorical columns both sides
        share (keys, timestamps and columns featstore adds excluded). ``thresholds``
        overrides :data:`featstore.monitoring.drift.DEFAULT_THRESHOLDS` (``None`` turns a
        test off). The report is saved and is a lineage node downstream of both sides.
        """
        return _drift.drift(
            self._store(), reference, current, features=features, thresholds=thresholds
        )

    def get_drift_report(self, ref: str) -> DriftReport:
        """A saved drift report by id (``drift_report:<report_id>``)."""
        return _drift.get_drift_report(self._store(), ref)

    def skew(
        self,
        prediction_batch: PredictionBatch | str,
        *,
        tolerance: float = 0.0,
        bitemporal: bool = False,
    ) -> SkewReport:
        """Training/serving skew of a prediction batch logged with its features: those
        features recomputed point-in-time for the same keys and ``as_of`` instants, and
        per feature the share of rows whose served value differs (by more than
        ``tolerance``) and the largest difference. Saved, and a lineage node."""
        return _skew.skew(
            self._store(), prediction_batch, tolerance=tolerance, bitemporal=bitemporal
        )

    def log_labels(
        self,
        frame: Any,
        *,
        model: str | None = None,
        label_column: str = "label",
        timestamp_column: str | None = None,
        skip_unmatched: bool = False,
    ) -> LabelBatch:
        """Record ground truth for logged predictions, matched by ``prediction_id``, or
        (with ``model``) by the model's entity keys and time: the latest prediction for
        the keys at or before the label's timestamp. Labels that match no prediction
        raise MonitoringError and nothing is written, unless ``skip_unmatched=True``
        (then the record counts them in ``unmatched``)."""
        return _labels.log_labels(
            self._store(),
            frame,
            model=model,
            label_column=label_column,
            timestamp_column=timestamp_column,
            skip_unmatched=skip_unmatched,
        )

    def performance(
        self,
        model: str,
        *,
        every: str = "1w",
        versions: Sequence[int] | None = None,
        metrics: Sequence[str] | None = None,
        prediction_column: str | None = None,
        threshold: float = 0.5,
    ) -> PerformanceReport:
        """Metrics of ``model``'s labelled predictions per version per time bucket of
        ``every`` (a Polars interval: ``1d``, ``1w``, ``1mo``), beside the metrics each
        version was registered with. Classification (0/1 labels): AUC, log loss,
        accuracy, precision and recall at ``threshold``; regression: RMSE, MAE, R²."""
        return _performance.performance(
            self._store(),
            model,
            every=every,
            versions=versions,
            metrics=metrics,
            prediction_column=prediction_column,
            threshold=threshold,
        )

    def evaluate(
        self,
        model_version: ModelVersion | str,
        eval_set: Any,
        *,
        predictions: Any,
        label_column: str,
        metrics: Sequence[str] | None = None,
        threshold: float = 0.5,
        prediction_column: str | None = None,
    ) -> Evaluation:
        """Evaluate a model version's ``predictions`` (one per row of the saved training
        set ``eval_set``, in its order: a Series, array, list or one-column frame)
        against its ``label_column``. Recorded with the eval set's content id, the code
        version and the environment, and a lineage node; the same predictions on the
        same eval set give the same evaluation."""
        return _evaluation.evaluate(
            self._store(),
            model_version,
            eval_set,
            predictions=predictions,
            label_column=label_column,
            metrics=metrics,
            threshold=threshold,
            prediction_column=prediction_column,
        )

    def evaluations(
        self, model: str, version: int | None = None, eval_set: Any = None
    ) -> list[Evaluation]:
        """Recorded evaluations of a model (optionally one version, one eval set)."""
        return _evaluation.evaluations(self._store(), model, version, eval_set)

    def compare(
        self,
        model_versions: Sequence[ModelVersion | str],
        eval_set: Any,
        *,
        metrics: Sequence[str] | None = None,
        n_boot: int = 1000,
        seed: int = 0,
        confidence: float = 0.95,
    ) -> Comparison:
        """Model versions' recorded evaluations on one eval set side by side, with
        paired-bootstrap ``confidence`` intervals of each one's difference from the
        first (``n_boot`` resamples, seeded: the same call gives the same table)."""
        return _evaluation.compare(
            self._store(),
            model_versions,
            eval_set,
            metrics=metrics,
            n_boot=n_boot,
            seed=seed,
            confidence=confidence,
        )
