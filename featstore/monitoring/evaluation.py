"""Standardized, repeatable evaluation of model versions on saved training sets, their
side-by-side comparison with paired-bootstrap intervals, and the promotion gate.

An evaluation is identified by what it was computed from: the model version, the eval
set's content id, the predictions (their SHA-256), the label column, the metrics and the
threshold. Evaluating the same predictions on the same eval set again finds the
recorded evaluation, and computing its metrics again gives the same numbers bit for
bit (the metrics are deterministic functions of the rows, in row order). The record
keeps the code version (git commit) and the environment (Python, platform, package
versions) of the first evaluation. Its predictions and labels are kept in
``evaluations/<model>/<id>.parquet`` for :func:`compare`.
"""

from __future__ import annotations

import hashlib
import json
import operator
import platform
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import polars as pl

from featstore.errors import GateError, MonitoringError
from featstore.lineage_ids import EdgeKind, NodeKind, node_id, strip_prefix
from featstore.monitoring import metrics as m
from featstore.records import ModelVersion, TrainingSet
from featstore.timeutil import iso, utc_now

if TYPE_CHECKING:
    from featstore.store import FeatureStore

__all__ = ["Comparison", "Evaluation", "check_gate", "compare", "evaluate", "evaluations"]

PREDICTION, LABEL = "prediction", "label"
_PACKAGES = ("featstore", "polars", "numpy", "duckdb", "pyarrow")
# metrics are kept in this order (unknown names last), however they were asked for or
# stored: a recorded evaluation reads back exactly as it was returned
_ORDER = {name: i for i, name in enumerate(m.CLASSIFICATION_METRICS + m.REGRESSION_METRICS)}


def _in_order(names: Sequence[str]) -> list[str]:
    return sorted(names, key=lambda n: (_ORDER.get(n, len(_ORDER)), n))


def environment() -> dict[str, str]:
    """Python, the platform and the versions of the packages featstore computes with."""
    out = {"python": platform.python_version(), "platform": platform.platform()}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


@dataclass(frozen=True, slots=True)
class Evaluation:
    """A model version's metrics on a saved eval set (a lineage node, ``evaluation:<id>``,
    downstream of the model version and of the training set)."""

    evaluation_id: str
    model: str
    model_version: int
    eval_set: str
    eval_content_id: str
    label_column: str
    threshold: float
    task: str
    rows: int
    metrics: Mapping[str, float]
    predictions_sha256: str
    code_version: Mapping[str, Any]
    environment: Mapping[str, str]
    created_at: str
    relative_path: str = field(repr=False)

    @property
    def id(self) -> str:
        return node_id(NodeKind.EVALUATION, self.evaluation_id)

    @property
    def model_id(self) -> str:
        return node_id(NodeKind.MODEL_VERSION, self.model, self.model_version)

    def to_polars(self) -> pl.DataFrame:
        """One row per metric."""
        return pl.DataFrame(
            {"metric": list(self.metrics), "value": [float(v) for v in self.metrics.values()]},
            schema={"metric": pl.String, "value": pl.Float64},
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "evaluation_id": self.evaluation_id,
            "model": self.model,
            "model_version": self.model_version,
            "eval_set": self.eval_set,
            "eval_content_id": self.eval_content_id,
            "label_column": self.label_column,
            "threshold": self.threshold,
            "task": self.task,
            "rows": self.rows,
            "metrics": dict(self.metrics),
            "predictions_sha256": self.predictions_sha256,
            "code_version": dict(self.code_version),
            "environment": dict(self.environment),
            "created_at": self.created_at,
            "path": self.relative_path,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Evaluation:
        return cls(
            evaluation_id=data["evaluation_id"],
            model=data["model"],
            model_version=int(data["model_version"]),
            eval_set=data["eval_set"],
            eval_content_id=data["eval_content_id"],
            label_column=data["label_column"],
            threshold=float(data["threshold"]),
            task=data["task"],
            rows=int(data["rows"]),
            metrics={k: data["metrics"][k] for k in _in_order(list(data["metrics"]))},
            predictions_sha256=data["predictions_sha256"],
            code_version=dict(data["code_version"]),
            environment=dict(data["environment"]),
            created_at=data["created_at"],
            relative_path=data["path"],
        )

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v:.4g}" for k, v in self.metrics.items())
        return f"Evaluation({self.model_id} on {self.eval_set}: {shown})"

    def _repr_html_(self) -> str:
        from html import escape

        from featstore.monitoring.html import frame_table

        return (
            f"<p><b>Evaluation</b> of {escape(self.model_id)} on {escape(self.eval_set)}</p>"
            + frame_table(self.to_polars())
        )


def _model(store: FeatureStore, model_version: ModelVersion | str) -> ModelVersion:
    if isinstance(model_version, ModelVersion):
        return model_version
    if not isinstance(model_version, str):
        raise MonitoringError(
            f"expected a ModelVersion or 'model:<name>@<version>'; found {model_version!r}"
        )
    name, _, version = strip_prefix(NodeKind.MODEL_VERSION, model_version).partition("@")
    if not version.isdecimal():
        raise MonitoringError(
            f"model reference {model_version!r} names no version; write "
            f"{node_id(NodeKind.MODEL_VERSION, name, 1)!r}"
        )
    return store.get_model(name, int(version))


def _eval_set(store: FeatureStore, eval_set: Any) -> TrainingSet:
    from featstore.retrieval import RetrievalResult

    if isinstance(eval_set, TrainingSet):
        return eval_set
    if isinstance(eval_set, RetrievalResult):
        raise MonitoringError(
            "evaluate: the eval set must be a saved training set (frozen and content-"
            "addressed); save it first with store.save_training_set(result, name)"
        )
    if isinstance(eval_set, str):
        return store.get_training_set(eval_set)
    raise MonitoringError(
        f"evaluate: the eval set must be a saved training set or its name; found "
        f"{type(eval_set).__name__}"
    )


def _predictions(predictions: Any, rows: int, column: str | None) -> npt.NDArray[np.float64]:
    if isinstance(predictions, pl.DataFrame):
        if column is not None:
            if column not in predictions.columns:
                raise MonitoringError(
                    f"evaluate: the predictions frame has no column {column!r}; its columns "
                    f"are {predictions.columns}"
                )
            predictions = predictions.get_column(column)
        elif predictions.width == 1:
            predictions = predictions.to_series()
        elif PREDICTION in predictions.columns:
            predictions = predictions.get_column(PREDICTION)
        else:
            raise MonitoringError(
                f"evaluate: the predictions frame has columns {predictions.columns}; pass "
                f"one column, or name it with prediction_column="
            )
    if isinstance(predictions, pl.Series):
        if predictions.null_count():
            raise MonitoringError(
                f"evaluate: {predictions.null_count():,} predictions are null; every row of "
                f"the eval set needs a prediction"
            )
        if not (predictions.dtype.is_numeric() or predictions.dtype == pl.Boolean):
            raise MonitoringError(
                f"evaluate: predictions must be numbers (a Series, array, list or one-"
                f"column frame); found a Series of {predictions.dtype}"
            )
        values = predictions.cast(pl.Float64).to_numpy()
    else:
        try:
            values = np.asarray(predictions, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise MonitoringError(
                f"evaluate: predictions must be numbers (a Series, array, list or one-"
                f"column frame); {exc}"
            ) from None
    if values.ndim != 1 or len(values) != rows:
        raise MonitoringError(
            f"evaluate: {values.size:,} predictions for an eval set of {rows:,} rows; give "
            f"one prediction per row, in the eval set's row order"
        )
    return values


def evaluate(
    store: FeatureStore,
    model_version: ModelVersion | str,
    eval_set: Any,
    *,
    predictions: Any,
    label_column: str,
    metrics: Sequence[str] | None = None,
    threshold: float = 0.5,
    prediction_column: str | None = None,
) -> Evaluation:
    from featstore.registry import code_version, write_parquet_atomically

    mv = _model(store, model_version)
    ts = _eval_set(store, eval_set)
    frame = ts.to_polars()
    if label_column not in frame.columns:
        raise MonitoringError(
            f"evaluate: eval set {ts.id!r} has no column {label_column!r}; its columns are "
            f"{frame.columns}"
        )
    labels = frame.get_column(label_column)
    if not (labels.dtype.is_numeric() or labels.dtype == pl.Boolean):
        raise MonitoringError(
            f"evaluate: label column {label_column!r} of eval set {ts.id!r} holds "
            f"{labels.dtype} values; labels must be numbers (0/1 for classification) or "
            f"booleans"
        )
    if labels.null_count():
        raise MonitoringError(
            f"evaluate: {labels.null_count():,} labels of eval set {ts.id!r} are null; "
            f"drop those rows before saving the eval set"
        )
    y = labels.cast(pl.Float64).to_numpy()
    p = _predictions(predictions, frame.height, prediction_column)
    task = m.task_of(y)
    if metrics is None:
        chosen = m.default_metrics(task)
    elif isinstance(metrics, str):
        raise MonitoringError(
            f"evaluate: metrics must be a sequence of names, found the string {metrics!r}; "
            f"pass [{metrics!r}]"
        )
    else:
        chosen = tuple(_in_order(list(dict.fromkeys(metrics))))
        if not chosen:
            raise MonitoringError(
                f"evaluate: metrics is empty; name at least one, e.g. "
                f"{list(m.default_metrics(task))}, or leave it out for those"
            )
    values = m.compute_all(chosen, y, p, threshold=threshold)
    digest = hashlib.sha256(p.astype("<f8").tobytes()).hexdigest()
    key = json.dumps(
        [mv.id, ts.content_id, digest, label_column, list(chosen), float(threshold)]
    ).encode()
    evaluation_id = hashlib.sha256(key).hexdigest()[:32]
    ref = node_id(NodeKind.EVALUATION, evaluation_id)
    found = store.catalog.report_body(ref)
    if found is not None:
        return Evaluation.from_json(json.loads(found))
    now = iso(utc_now())
    final = store.offline.root / "evaluations" / mv.name / f"{evaluation_id}.parquet"
    record = Evaluation(
        evaluation_id=evaluation_id,
        model=mv.name,
        model_version=mv.version,
        eval_set=ts.id,
        eval_content_id=ts.content_id,
        label_column=label_column,
        threshold=float(threshold),
        task=task,
        rows=frame.height,
        metrics=values,
        predictions_sha256=digest,
        code_version=code_version(),
        environment=environment(),
        created_at=now,
        relative_path=store.offline.relative(final),
    )
    kept = pl.DataFrame({PREDICTION: p, LABEL: y})
    with write_parquet_atomically(
        kept, store.offline, store.catalog, lock=("evaluations", mv.name)
    ) as publish:
        publish(final)
        try:
            with store.catalog.transaction() as tx:
                if not tx.add_report(
                    id=ref,
                    kind="evaluation",
                    subject=mv.name,
                    created_at=now,
                    path=record.relative_path,
                    body=json.dumps(record.to_json(), sort_keys=True),
                ):
                    return record  # another process recorded the same evaluation
                tx.add_node(
                    ref,
                    NodeKind.EVALUATION,
                    mv.name,
                    now,
                    {"model_version": mv.version, "eval_set": ts.id, "metrics": values},
                )
                tx.add_edges(
                    [(mv.id, ref, EdgeKind.EVALUATED_IN), (ts.id, ref, EdgeKind.EVALUATED_IN)]
                )
        except BaseException:
            final.unlink(missing_ok=True)
            raise
    return record


def evaluations(
    store: FeatureStore, model: str, version: int | None = None, eval_set: Any = None
) -> list[Evaluation]:
    """Recorded evaluations of a model (a version, an eval set), oldest first."""
    content_id = _eval_set(store, eval_set).content_id if eval_set is not None else None
    out = []
    for body in store.catalog.report_bodies("evaluation", model):
        ev = Evaluation.from_json(json.loads(body))
        if version is not None and ev.model_version != version:
            continue
        if content_id is not None and ev.eval_content_id != content_id:
            continue
        out.append(ev)
    return out


# -- comparison ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Comparison:
    """Model versions' metrics on one eval set, with paired-bootstrap intervals of each
    version's difference from the ``baseline`` (the first version given)."""

    eval_set: str
    baseline: str
    metrics: tuple[str, ...]
    n_boot: int
    seed: int
    confidence: float
    frame: pl.DataFrame

    def to_polars(self) -> pl.DataFrame:
        """One row per model version: each metric, and for the versions other than the
        baseline ``<metric>_diff``, ``<metric>_low``, ``<metric>_high``."""
        return self.frame

    def __repr__(self) -> str:
        return (
            f"Comparison({self.frame.height} versions on {self.eval_set}, baseline "
            f"{self.baseline}, {self.n_boot} paired resamples, seed {self.seed})"
        )

    def _repr_html_(self) -> str:
        from html import escape

        from featstore.monitoring.html import frame_table

        return f"<p><b>Comparison</b> on {escape(self.eval_set)}</p>" + frame_table(self.frame)


def compare(
    store: FeatureStore,
    model_versions: Sequence[ModelVersion | str],
    eval_set: Any,
    *,
    metrics: Sequence[str] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> Comparison:
    from featstore.records import read_verified

    if len(model_versions) < 1:
        raise MonitoringError("compare: give at least one model version")
    ts = _eval_set(store, eval_set)
    chosen: list[Evaluation] = []
    for given in model_versions:
        mv = _model(store, given)
        found = evaluations(store, mv.name, mv.version, ts)
        if not found:
            raise MonitoringError(
                f"compare: {mv.id} has no recorded evaluation on {ts.id!r}; evaluate it "
                f"first with store.evaluate({mv.id!r}, {ts.id!r}, predictions=...)"
            )
        chosen.append(found[-1])
    names = list(metrics) if metrics is not None else list(chosen[0].metrics)
    for ev in chosen:
        lacking = [n for n in names if n not in ev.metrics]
        if lacking:
            raise MonitoringError(
                f"compare: the evaluation of {ev.model_id} lacks metric {lacking[0]!r}; it "
                f"has {list(ev.metrics)}"
            )
    labels = {ev.label_column for ev in chosen}
    thresholds = {ev.threshold for ev in chosen}
    if len(labels) > 1 or len(thresholds) > 1:
        raise MonitoringError(
            f"compare: the evaluations used different label columns {sorted(labels)} or "
            f"thresholds {sorted(thresholds)}; evaluate every version the same way"
        )
    preds: dict[str, npt.NDArray[np.float64]] = {}
    y: npt.NDArray[np.float64] | None = None
    for ev in chosen:
        path = store.offline.root / ev.relative_path
        store.offline.check_inside(path)
        kept = read_verified(path, None, f"evaluation {ev.id!r}")
        preds[ev.model_id] = kept.get_column(PREDICTION).to_numpy()
        y = kept.get_column(LABEL).to_numpy()
    assert y is not None
    baseline = chosen[0].model_id
    rows = []
    intervals = {
        name: m.paired_bootstrap(
            y,
            preds,
            name,
            baseline=baseline,
            n_boot=n_boot,
            seed=seed,
            confidence=confidence,
            threshold=chosen[0].threshold,
        )
        if len(preds) > 1
        else {}
        for name in names
    }
    for ev in chosen:
        row: dict[str, Any] = {"model": ev.model_id, "evaluation": ev.id}
        for name in names:
            row[name] = float(ev.metrics[name])
            ci = intervals[name].get(ev.model_id)
            row[f"{name}_diff"] = ci["diff"] if ci else None
            row[f"{name}_low"] = ci["low"] if ci else None
            row[f"{name}_high"] = ci["high"] if ci else None
        rows.append(row)
    schema: dict[str, Any] = {"model": pl.String, "evaluation": pl.String}
    for name in names:
        schema.update({name: pl.Float64, f"{name}_diff": pl.Float64})
        schema.update({f"{name}_low": pl.Float64, f"{name}_high": pl.Float64})
    return Comparison(
        eval_set=ts.id,
        baseline=baseline,
        metrics=tuple(names),
        n_boot=n_boot,
        seed=seed,
        confidence=confidence,
        frame=pl.DataFrame(rows, schema=schema),
    )


# -- the promotion gate ------------------------------------------------------------------

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    "<": operator.lt,
}
_REQUIREMENT = re.compile(r"\s*(>=|<=|==|!=|>|<)\s*([-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?)\s*$")


def parse_requirement(metric: str, text: str) -> tuple[str, float]:
    found = _REQUIREMENT.match(text) if isinstance(text, str) else None
    if found is None:
        raise GateError(
            f"requirement on {metric!r}: {text!r} is not '<op> <number>' with op one of "
            f"{list(OPERATORS)}, e.g. {{'{metric}': '>= 0.80'}}"
        )
    return found.group(1), float(found.group(2))


def check_gate(
    store: FeatureStore,
    name: str,
    version: int,
    require: Mapping[str, str],
    eval_set: Any = None,
) -> Evaluation:
    """The evaluation that meets every requirement, or GateError saying which fails.
    The version's latest evaluation (on ``eval_set``, when given) is checked."""
    parsed = {metric: parse_requirement(metric, text) for metric, text in require.items()}
    store.get_model(name, version)  # NotFoundError for an unknown model or version
    found = evaluations(store, name, version, eval_set)
    if not found:
        # the eval set by its id (the repr of a TrainingSet is its whole manifest)
        where = f" on {_eval_set(store, eval_set).id!r}" if eval_set is not None else ""
        raise GateError(
            f"cannot move the alias to model {name!r} version {version}: it has no recorded "
            f"evaluation{where}; evaluate it first with store.evaluate(...)"
        )
    ev = found[-1]
    for metric, (op, bound) in parsed.items():
        if metric not in ev.metrics:
            raise GateError(
                f"cannot move the alias to {ev.model_id}: its evaluation {ev.id} on "
                f"{ev.eval_set} lacks metric {metric!r} (it has {sorted(ev.metrics)}); "
                f"evaluate it with metrics=[..., {metric!r}]"
            )
        value = float(ev.metrics[metric])
        if not OPERATORS[op](value, bound):
            raise GateError(
                f"cannot move the alias to {ev.model_id}: {metric} is {value:.6g} on "
                f"{ev.eval_set} (evaluation {ev.id}), which fails the requirement "
                f"{metric} {op} {bound:g}"
            )
    return ev
