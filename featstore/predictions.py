"""Logging predictions: the frame a model scored, tied to the model version and the
retrieval its features came from."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import polars as pl

from featstore import registry
from featstore.errors import NotFoundError, PointInTimeError
from featstore.lineage_ids import NodeKind, node_id, strip_prefix
from featstore.offline import new_id
from featstore.registry import ModelVersion, PredictionBatch
from featstore.retrieval import (
    RetrievalResult,
    entity_frame,
    find_timestamp_column,
)
from featstore.timeutil import as_utc, utc_expr

if TYPE_CHECKING:
    pass

if TYPE_CHECKING:
    from featstore.store import FeatureStore

__all__ = ["log_predictions"]


def log_predictions(
    store: FeatureStore,
    model_version: ModelVersion | str,
    frame: Any,
    *,
    features: RetrievalResult | None = None,
    timestamp_column: str | None = None,
    as_of: datetime | date | str | None = None,
) -> PredictionBatch:
    """Write predictions to Parquet and record a prediction batch.

    ``frame`` holds the entity keys and the predictions. Each row gets
    ``prediction_id``, ``model_name``, ``model_version`` and ``as_of`` (the moment its
    features describe: ``as_of``, else ``timestamp_column``, else the ``as_of`` of
    ``features`` from get_latest_features, else an ``event_timestamp`` column).
    ``features``, the retrieval the predictions were computed from, pins the exact
    feature files for :meth:`Lineage.explain`.
    """
    if isinstance(model_version, str):
        name, _, version = strip_prefix(NodeKind.MODEL_VERSION, model_version).partition("@")
        if version and not version.isdecimal():
            raise NotFoundError(
                f"log_predictions: model reference {model_version!r} is not "
                f"{NodeKind.MODEL_VERSION.template!r} with a version number, e.g. "
                f"{node_id(NodeKind.MODEL_VERSION, name, 1)!r}"
            )
        model_version = store.get_model(name, int(version) if version else None)
    table = entity_frame(frame)
    clash = [
        c for c in ("prediction_id", "model_name", "model_version", "as_of") if c in table.columns
    ]
    if clash:
        raise PointInTimeError(
            f"log_predictions: the frame already has column {clash[0]!r}, which featstore "
            f"adds; rename it"
        )
    retrieval = features.manifest if features is not None else None
    views = (
        [(item["view"], item["version"]) for item in retrieval["features"]]
        if retrieval is not None and "features" in retrieval
        else [(item.view, item.version) for item in model_version.features]
    )
    keys = {k for v in views for k in store.definitions.view_record(*v)["join_keys"]}
    missing = sorted(k for k in keys if k not in table.columns)
    if missing:
        raise PointInTimeError(
            f"log_predictions: the frame lacks entity key {missing[0]!r} of the features "
            f"model {model_version.id} uses; include the keys next to the predictions"
        )
    moment: datetime | None = None
    if as_of is not None:
        moment = as_utc(as_of, "as_of")
        moment_expr = pl.lit(moment, dtype=pl.Datetime("us"))
    elif timestamp_column is not None or (retrieval or {}).get("as_of") is None:
        column = find_timestamp_column(table, timestamp_column)
        moment_expr = utc_expr(column, table.schema[column], owner="log_predictions frame")
    else:
        moment = datetime.fromisoformat(retrieval["as_of"])  # type: ignore[index]
        moment_expr = pl.lit(moment, dtype=pl.Datetime("us"))
    batch_id = new_id()
    batch_rows = table.with_columns(
        pl.format(f"{batch_id}:{{}}", pl.int_range(pl.len())).alias("prediction_id"),
        pl.lit(model_version.name).alias("model_name"),
        pl.lit(model_version.version).alias("model_version"),
        moment_expr.alias("as_of"),
    )
    return registry.log_predictions(
        store.catalog,
        store.offline,
        model_version,
        batch_rows,
        batch_id=batch_id,
        retrieval=retrieval,
        as_of=moment,
    )
