"""A model's performance over time: its logged predictions joined with their labels,
metrics per model version per time bucket (of the predictions' ``as_of``), beside the
metrics each version was registered with."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import polars as pl

from featstore.errors import MonitoringError, NotFoundError
from featstore.monitoring import metrics as m
from featstore.monitoring.labels import LABEL, PREDICTION_ID, labels_of
from featstore.records import PredictionBatch

if TYPE_CHECKING:
    from featstore.store import FeatureStore

__all__ = ["PerformanceReport", "performance", "prediction_column_of"]

_ADDED = {"prediction_id", "model_name", "model_version", "as_of"}


@dataclass(frozen=True, slots=True)
class PerformanceReport:
    """Metrics of a model per version and time bucket.

    ``frame`` has one row per (version, bucket): ``model_version``, ``bucket`` (the
    bucket's start), ``rows`` (labelled predictions), one column per metric, and
    ``registered_<metric>`` (the version's registered value, where it has one).
    ``notes`` says why a metric is missing in a bucket (for example AUC of a bucket
    whose labels are all one class)."""

    model: str
    every: str
    task: str
    metrics: tuple[str, ...]
    frame: pl.DataFrame
    registered: Mapping[int, Mapping[str, float]]
    labelled: int
    unlabelled: int

    def to_polars(self) -> pl.DataFrame:
        return self.frame

    def __repr__(self) -> str:
        return (
            f"PerformanceReport({self.model}: {self.frame.height} buckets of {self.every}, "
            f"{self.labelled:,} labelled predictions, {self.unlabelled:,} without labels)"
        )

    def _repr_html_(self) -> str:
        from html import escape

        from featstore.monitoring.html import frame_table

        return (
            f"<p><b>Performance</b> of {escape(self.model)} every {escape(self.every)}</p>"
            + frame_table(self.frame)
        )

    def to_html(self) -> str:
        from featstore.monitoring.html import performance_html

        return performance_html(self)


def prediction_column_of(
    batch: PredictionBatch,
    keys: set[str],
    given: str | None,
    schema: Mapping[str, Any] | None = None,
) -> str:
    """The column of a batch that holds the model's output: ``given``, or the one
    numeric (or boolean) column that is not a key, a served feature or a column featstore
    adds (so not the timestamp a batch was logged with, either). ``schema`` is the batch
    file's (read when not given)."""
    if schema is None:
        schema = batch.to_polars().schema
    if given is not None:
        if given not in batch.columns:
            raise MonitoringError(
                f"prediction batch {batch.id!r} has no column {given!r}; its columns are "
                f"{list(batch.columns)}"
            )
        if given in schema and not _is_number(schema[given]):
            raise MonitoringError(
                f"prediction batch {batch.id!r}: column {given!r} holds {schema[given]} "
                f"values, not predictions; pass the column of the model's scores"
            )
        return given
    candidates = [
        c
        for c in batch.columns
        if c not in _ADDED
        and c not in keys
        and c not in batch.served_features
        and c in schema
        and _is_number(schema[c])
    ]
    if len(candidates) != 1:
        raise MonitoringError(
            f"prediction batch {batch.id!r}: cannot tell which column holds the predictions "
            f"among {candidates}; pass prediction_column="
        )
    return candidates[0]


def _is_number(dtype: Any) -> bool:
    return bool(dtype.is_numeric() or dtype == pl.Boolean)


def performance(
    store: FeatureStore,
    model: str,
    *,
    every: str = "1w",
    versions: Sequence[int] | None = None,
    metrics: Sequence[str] | None = None,
    prediction_column: str | None = None,
    threshold: float = 0.5,
) -> PerformanceReport:
    store.get_model(model)  # NotFoundError for an unknown model
    try:
        pl.datetime_range(pl.datetime(2024, 1, 1), pl.datetime(2024, 1, 2), every, eager=True)
    except (pl.exceptions.PolarsError, ValueError) as exc:
        raise MonitoringError(
            f"performance: every={every!r} is not a Polars interval such as '1d', '1w', '1mo'"
        ) from exc
    batches = [
        PredictionBatch.loads(r["body"], root=store.offline.root)
        for r in store.catalog.prediction_batches()
        if r["model"] == model and (versions is None or r["model_version"] in set(versions))
    ]
    if not batches:
        raise MonitoringError(
            f"performance: no predictions are logged for model {model!r}"
            + (f" version(s) {list(versions)}" if versions is not None else "")
        )
    try:
        labels = labels_of(store, model)
    except NotFoundError:
        labels = pl.DataFrame(schema={PREDICTION_ID: pl.String, LABEL: pl.Int64})
    parts = []
    for b in batches:
        mv = store.get_model(b.model, b.model_version)
        keys = {
            k
            for item in mv.features
            for k in store.definitions.view_record(item.view, item.version)["join_keys"]
        }
        logged = b.to_polars()
        column = prediction_column_of(b, keys, prediction_column, logged.schema)
        parts.append(
            logged.select(
                PREDICTION_ID,
                "model_version",
                "as_of",
                pl.col(column).cast(pl.Float64).alias("__pred"),
            )
        )
    predictions = pl.concat(parts, how="vertical_relaxed")
    joined = predictions.join(labels, on=PREDICTION_ID, how="inner")
    if joined.height == 0:
        raise MonitoringError(
            f"performance: none of model {model!r}'s {predictions.height:,} logged "
            f"predictions has a label; log them with store.log_labels"
        )
    y_all = joined.get_column(LABEL).cast(pl.Float64).to_numpy()
    task = m.task_of(y_all)
    chosen = tuple(metrics) if metrics is not None else m.default_metrics(task)
    for name in chosen:
        if name not in m.CLASSIFICATION_METRICS + m.REGRESSION_METRICS:
            raise MonitoringError(
                f"performance: unknown metric {name!r}; known: "
                f"{list(m.CLASSIFICATION_METRICS + m.REGRESSION_METRICS)}"
            )
    grouped = (
        joined.with_columns(pl.col("as_of").dt.truncate(every).alias("bucket"))
        .sort("model_version", "bucket")
        .partition_by(["model_version", "bucket"], maintain_order=True, as_dict=True)
    )
    registered = {mv.version: dict(mv.metrics) for mv in store.list_model_versions(model)}
    # registered_<metric> beside each metric some version was registered with
    shown = [n for n in chosen if any(n in r for r in registered.values())]
    rows: list[dict[str, Any]] = []
    for (version, bucket), part in grouped.items():
        y = part.get_column(LABEL).cast(pl.Float64).to_numpy()
        p = part.get_column("__pred").to_numpy()
        row: dict[str, Any] = {"model_version": version, "bucket": bucket, "rows": part.height}
        notes = []
        for name in chosen:
            try:
                row[name] = m.compute(name, y, p, threshold=threshold)
            except MonitoringError as exc:
                row[name] = None
                notes.append(f"{name}: {str(exc).split(';')[0]}")
        for name in shown:
            value = registered.get(int(version), {}).get(name)
            row[f"registered_{name}"] = None if value is None else float(value)
        row["notes"] = "; ".join(notes) or None
        rows.append(row)
    schema: dict[str, Any] = {
        "model_version": pl.Int64,
        "bucket": pl.Datetime("us"),
        "rows": pl.Int64,
        **{n: pl.Float64 for n in chosen},
        **{f"registered_{n}": pl.Float64 for n in shown},
        "notes": pl.String,
    }
    frame = pl.DataFrame(rows, schema=schema)
    return PerformanceReport(
        model=model,
        every=every,
        task=task,
        metrics=chosen,
        frame=frame,
        registered=registered,
        labelled=joined.height,
        unlabelled=predictions.height - joined.height,
    )
