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
    table, served = _served_features(table, features, sorted(keys), model_version)
    # the frame's own columns, the columns featstore adds, then the served features it added
    added_served = [c for c in served if c not in entity_frame(frame).columns]
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
    ).select(
        *[c for c in table.columns if c not in added_served],
        "prediction_id",
        "model_name",
        "model_version",
        "as_of",
        *added_served,
    )
    return registry.log_predictions(
        store.catalog,
        store.offline,
        model_version,
        batch_rows,
        batch_id=batch_id,
        retrieval=retrieval,
        as_of=moment,
        record_statistics=store.record_statistics,
        extra={"served_features": served} if served else None,
    )


def _served_features(
    table: pl.DataFrame,
    features: RetrievalResult | None,
    keys: list[str],
    model_version: ModelVersion,
) -> tuple[pl.DataFrame, dict[str, str]]:
    """The frame with the feature values the model was served, and which column holds
    which feature (``view@version:feature``): the retrieval's feature columns, taken
    from ``frame`` when it has them, else from the retrieval, row by row when the rows
    line up (same count, same keys in order) or by key when the retrieval has one row
    per key. Otherwise no served values are recorded (and skew cannot check the batch)."""
    if features is None:
        return table, {}
    served: dict[str, str] = {}
    for item in features.manifest["features"]:
        for feature, column in zip(item["features"], item["columns"], strict=False):
            served[column] = f"{item['view']}@{item['version']}:{feature}"
    missing = [c for c in served if c not in table.columns]
    if not missing:
        return table, served
    given = features.frame
    lined_up = given.height == table.height and all(
        k in given.columns and given.get_column(k).equals(table.get_column(k)) for k in keys
    )
    if lined_up:
        return table.with_columns(given.select(missing)), served
    # another row order (e.g. sorted by score): match rows by key, where the retrieval has
    # one row per key (latest values); otherwise the served values cannot be told apart
    if (
        keys
        and all(k in given.columns for k in keys)
        and not given.select(keys).is_duplicated().any()
    ):
        try:
            joined = table.join(given.select(*keys, *missing), on=keys, how="left", validate="m:1")
        except pl.exceptions.PolarsError:
            return table, {}
        if joined.height == table.height:
            return joined, served
    return table, {}
