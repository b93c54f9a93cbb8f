"""Ground truth as it arrives: labels matched to logged predictions.

A label frame is matched by ``prediction_id`` when it has that column, otherwise by the
model's entity keys and time: each label goes to the latest prediction of the model for
the same keys made at or before the label's timestamp (of several made at the same
instant, the one logged last). A ``prediction_id`` matches only as log_predictions wrote
it (``<batch_id>:<row>``). A null or NaN label is refused. A label that matches no
prediction is an error that names how many and shows some (nothing is written), unless
``skip_unmatched=True``, which writes the matched ones and records how many did not
match. When a prediction is labelled again later, the latest label counts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import polars as pl

from featstore.errors import MonitoringError, NotFoundError
from featstore.lineage_ids import EdgeKind, NodeKind, node_id
from featstore.offline import new_id
from featstore.records import PredictionBatch
from featstore.retrieval import entity_frame, find_timestamp_column
from featstore.timeutil import iso, utc_expr, utc_now

if TYPE_CHECKING:
    from featstore.store import FeatureStore

__all__ = ["LabelBatch", "labels_of", "log_labels"]

LABEL = "label"
PREDICTION_ID = "prediction_id"


@dataclass(frozen=True, slots=True)
class LabelBatch:
    """Labels logged in one call: ``rows`` matched predictions (in ``batches``),
    ``unmatched`` labels that matched none (only with ``skip_unmatched=True``)."""

    batch_id: str
    model: str
    relative_path: str
    rows: int
    unmatched: int
    label_column: str
    batches: tuple[str, ...]
    created_at: str
    content_hash: str

    @property
    def id(self) -> str:
        return node_id(NodeKind.LABEL_BATCH, self.batch_id)

    def to_json(self) -> dict[str, Any]:
        return {
            "batch_id": self.batch_id,
            "model": self.model,
            "path": self.relative_path,
            "rows": self.rows,
            "unmatched": self.unmatched,
            "label_column": self.label_column,
            "batches": list(self.batches),
            "created_at": self.created_at,
            "content_hash": self.content_hash,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LabelBatch:
        return cls(
            batch_id=data["batch_id"],
            model=data["model"],
            relative_path=data["path"],
            rows=int(data["rows"]),
            unmatched=int(data["unmatched"]),
            label_column=data["label_column"],
            batches=tuple(data["batches"]),
            created_at=data["created_at"],
            content_hash=data["content_hash"],
        )


def _batches(store: FeatureStore, model: str | None) -> list[PredictionBatch]:
    out = []
    for row in store.catalog.prediction_batches():
        if model is None or row["model"] == model:
            out.append(PredictionBatch.loads(row["body"], root=store.offline.root))
    return out


def _batches_named(
    store: FeatureStore, table: pl.DataFrame, model: str | None
) -> list[PredictionBatch]:
    """The batches (of ``model``, when given) that the frame's prediction ids name, read
    one by one: labelling a few predictions does not read every batch of the store."""
    named = (
        table.get_column(PREDICTION_ID)
        .cast(pl.String)
        .str.split_exact(":", 1)
        .struct.field("field_0")
        .drop_nulls()
        .unique()
        .sort()
    )
    out = []
    for batch_id in named.to_list():
        body = store.catalog.prediction_batch_body(batch_id)
        if body is None:
            continue
        batch = PredictionBatch.loads(body, root=store.offline.root)
        if model is None or batch.model == model:
            out.append(batch)
    return out


def log_labels(
    store: FeatureStore,
    frame: Any,
    *,
    model: str | None = None,
    label_column: str = LABEL,
    timestamp_column: str | None = None,
    skip_unmatched: bool = False,
) -> LabelBatch:
    table = entity_frame(frame)
    what = "log_labels"
    if label_column not in table.columns:
        raise MonitoringError(
            f"{what}: the frame has no label column {label_column!r}; its columns are "
            f"{table.columns}; pass label_column= naming the ground truth"
        )
    if table.height == 0:
        raise MonitoringError(f"{what}: the frame has no rows")
    _check_labels(table.get_column(label_column), what)
    if model is not None:
        store.get_model(model)  # NotFoundError for an unknown model
    by_id = PREDICTION_ID in table.columns
    batches = _batches_named(store, table, model) if by_id else _batches(store, model)
    if not batches and (not by_id or not _batches(store, model)):
        raise MonitoringError(
            f"{what}: no predictions are logged"
            + (f" for model {model!r}" if model else "")
            + "; log_predictions first, then their labels"
        )
    if by_id:
        matched, unmatched = _by_prediction_id(table, batches)
    else:
        if model is None:
            raise MonitoringError(
                f"{what}: the frame has no {PREDICTION_ID!r} column, so labels are matched "
                f"by entity keys and time, which needs model=<name>"
            )
        matched, unmatched = _by_keys(store, table, batches, model, timestamp_column)
    if unmatched.height and not skip_unmatched:
        shown = unmatched.head(3).to_dicts()
        raise MonitoringError(
            f"{what}: {unmatched.height:,} of {table.height:,} labels match no logged "
            f"prediction{' of model ' + repr(model) if model else ''} (for example "
            f"{shown}); nothing was written. Fix the ids or keys, or pass "
            f"skip_unmatched=True to log the {matched.height:,} that match"
        )
    if matched.height == 0:
        raise MonitoringError(f"{what}: none of the {table.height:,} labels match a prediction")
    dup = matched.filter(pl.col(PREDICTION_ID).is_duplicated())
    if dup.height:
        first = dup.get_column(PREDICTION_ID)[0]
        count = dup.filter(pl.col(PREDICTION_ID) == first).height
        raise MonitoringError(
            f"{what}: prediction {first!r} has {count} labels in this frame; give each "
            f"prediction one label"
        )
    models = sorted(set(matched.get_column("__model").to_list()))
    if len(models) > 1:
        raise MonitoringError(
            f"{what}: the labels match predictions of models {models}; log the labels of "
            f"each model separately (model=...)"
        )
    owner = models[0]
    touched = sorted(set(matched.get_column("__batch").to_list()))
    rows = matched.select(
        pl.col(PREDICTION_ID),
        pl.col(label_column).alias(LABEL),
    )
    return _write(store, rows, owner, label_column, touched, unmatched.height)


def _check_labels(labels: pl.Series, what: str) -> None:
    """Refuse labels that are not numbers or booleans, and null and NaN labels: they are
    no ground truth, and one of them would make every later performance report of the
    model fail."""
    if not (labels.dtype.is_numeric() or labels.dtype in (pl.Boolean, pl.Null)):
        raise MonitoringError(
            f"{what}: the labels are {labels.dtype} values; log numbers (0/1 for a "
            f"classifier) or booleans"
        )
    bad = labels.is_null()
    if labels.dtype.is_float():
        bad = bad | labels.is_nan()
    count = int(bad.sum())
    if count:
        raise MonitoringError(
            f"{what}: {count:,} of {labels.len():,} labels are null or NaN; drop those rows "
            f"(log their labels once they are known); nothing was written"
        )


def _by_prediction_id(
    table: pl.DataFrame, batches: list[PredictionBatch]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    known = pl.DataFrame(
        {
            "__batch": [b.batch_id for b in batches],
            "__model": [b.model for b in batches],
            "__rows": [b.rows for b in batches],
        },
        schema={"__batch": pl.String, "__model": pl.String, "__rows": pl.Int64},
    )
    ids = table.with_columns(
        pl.col(PREDICTION_ID)
        .cast(pl.String)
        .str.split_exact(":", 1)
        .struct.rename_fields(["__batch", "__row"])
        .alias("__parts")
    ).unnest("__parts")
    joined = ids.with_columns(pl.col("__row").cast(pl.Int64, strict=False)).join(
        known, on="__batch", how="left"
    )
    ok = (
        pl.col("__model").is_not_null()
        & pl.col("__row").is_not_null()
        & (pl.col("__row") >= 0)
        & (pl.col("__row") < pl.col("__rows"))
        # exactly the id log_predictions wrote: not '<batch>:01', '<batch>:+1', ...
        & (
            pl.col(PREDICTION_ID).cast(pl.String)
            == pl.concat_str(pl.col("__batch"), pl.lit(":"), pl.col("__row").cast(pl.String))
        )
    )
    matched = joined.filter(ok)
    unmatched = joined.filter(~ok).select(table.columns)
    return matched, unmatched


def _by_keys(
    store: FeatureStore,
    table: pl.DataFrame,
    batches: list[PredictionBatch],
    model: str,
    timestamp_column: str | None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    keys = sorted(
        {
            k
            for b in batches
            for item in store.get_model(b.model, b.model_version).features
            for k in store.definitions.view_record(item.view, item.version)["join_keys"]
        }
    )
    missing = [k for k in keys if k not in table.columns]
    if missing:
        raise MonitoringError(
            f"log_labels: the frame has neither {PREDICTION_ID!r} nor entity key "
            f"{missing[0]!r} of model {model!r}; include the prediction ids, or the keys "
            f"{keys} and a timestamp"
        )
    ts = find_timestamp_column(table, timestamp_column)
    # in logging order (batches oldest first, rows in order), then stably by time: of
    # several predictions at the same instant the one logged last is the latest
    predictions = pl.concat(
        [
            b.to_polars()
            .select(*keys, "as_of", PREDICTION_ID)
            .with_columns(pl.lit(b.batch_id).alias("__batch"), pl.lit(b.model).alias("__model"))
            for b in batches
        ],
        how="vertical_relaxed",
    ).sort("as_of", maintain_order=True)
    labels = table.with_row_index("__label_row").with_columns(
        utc_expr(ts, table.schema[ts], owner="log_labels frame").alias("__labeled_at"),
        *_keys_as(table, predictions, keys),
    )
    preds = predictions.rename({PREDICTION_ID: "__pid"})
    joined = (
        labels.drop(PREDICTION_ID, strict=False)
        .sort("__labeled_at")
        .join_asof(
            preds,
            left_on="__labeled_at",
            right_on="as_of",
            by=keys,
            strategy="backward",
            check_sortedness=False,  # both sides are sorted by time above
        )
        .sort("__label_row")
    )
    ok = pl.col("__pid").is_not_null()
    matched = joined.filter(ok).with_columns(pl.col("__pid").alias(PREDICTION_ID))
    unmatched = joined.filter(~ok).select(table.columns)
    return matched, unmatched


def _keys_as(table: pl.DataFrame, predictions: pl.DataFrame, keys: list[str]) -> list[pl.Expr]:
    """The label frame's keys cast to the predictions' key types where they differ (an
    Int32 key matches an Int64 one of the same value); refused when they cannot match."""
    out = []
    for key in keys:
        given, logged = table.schema[key], predictions.schema[key]
        if given == logged:
            continue
        if given.is_integer() and logged.is_integer():
            # a value the logged type cannot hold matches no prediction
            out.append(pl.col(key).cast(logged, strict=False))
        elif given == pl.Null:
            out.append(pl.col(key).cast(logged))
        else:
            raise MonitoringError(
                f"log_labels: entity key {key!r} is {given} in the frame but {logged} in the "
                f"logged predictions; cast it to {logged}"
            )
    return out


def _write(
    store: FeatureStore,
    rows: pl.DataFrame,
    model: str,
    label_column: str,
    batches: list[str],
    unmatched: int,
) -> LabelBatch:
    from featstore.registry import write_parquet_atomically
    from featstore.versioning import frame_digest

    batch_id = new_id()
    now = iso(utc_now())
    final = store.offline.root / "labels" / model / f"{batch_id}.parquet"
    record = LabelBatch(
        batch_id=batch_id,
        model=model,
        relative_path=store.offline.relative(final),
        rows=rows.height,
        unmatched=unmatched,
        label_column=label_column,
        batches=tuple(batches),
        created_at=now,
        content_hash=frame_digest(rows),
    )
    with write_parquet_atomically(
        rows, store.offline, store.catalog, lock=("labels", model)
    ) as publish:
        publish(final)
        try:
            with store.catalog.transaction() as tx:
                tx.add_label_batch(
                    batch_id=batch_id,
                    model=model,
                    path=record.relative_path,
                    rows=rows.height,
                    created_at=now,
                    body=json.dumps(record.to_json(), sort_keys=True),
                )
                tx.add_node(
                    record.id,
                    NodeKind.LABEL_BATCH,
                    model,
                    now,
                    {"rows": rows.height, "unmatched": unmatched, "label_column": label_column},
                )
                tx.add_edges(
                    [
                        (node_id(NodeKind.PREDICTION_BATCH, b), record.id, EdgeKind.LABELED_BY)
                        for b in batches
                    ]
                )
        except BaseException:
            final.unlink(missing_ok=True)
            raise
    return record


def labels_of(store: FeatureStore, model: str) -> pl.DataFrame:
    """Every label of a model's predictions (``prediction_id``, ``label``), the latest
    per prediction."""
    from featstore.records import read_verified

    parts = []
    for seq, body in enumerate(store.catalog.label_batch_bodies(model)):
        record = LabelBatch.from_json(json.loads(body))
        path = store.offline.root / record.relative_path
        store.offline.check_inside(path)
        frame = read_verified(path, record.content_hash, f"label batch {record.id!r}")
        parts.append(frame.with_columns(pl.lit(seq).alias("__seq")))
    if not parts:
        raise NotFoundError(
            f"no labels are logged for model {model!r}; log them with store.log_labels"
        )
    return (
        pl.concat(parts, how="vertical_relaxed")
        .sort("__seq")
        .unique(PREDICTION_ID, keep="last", maintain_order=True)
        .drop("__seq")
    )
