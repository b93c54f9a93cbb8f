"""Model queries over the registry: summaries per name, and search by tags and metrics."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from featstore import registry
from featstore.records import ModelSummary, ModelVersion, TrainingSet
from featstore.retrieval import RetrievalResult

if TYPE_CHECKING:
    from featstore.store import FeatureStore

__all__ = ["list_models", "register_model", "search_model_versions"]


def list_models(store: FeatureStore) -> list[ModelSummary]:
    """One summary per model name: latest version, version count and aliases."""
    return [
        ModelSummary(
            name=name,
            latest_version=latest,
            versions=count,
            aliases=registry.aliases(store.catalog, name),
        )
        for name, latest, count in store.catalog.model_summaries()
    ]


def search_model_versions(
    store: FeatureStore,
    name: str | None = None,
    *,
    tags: dict[str, str] | None = None,
    order_by: str | None = None,
    descending: bool = True,
    limit: int | None = None,
) -> list[ModelVersion]:
    """Model versions matching ``name`` and all ``tags``, ordered by a metric
    (``order_by="auc"``); versions without that metric come last."""
    found = [
        mv
        for mv in registry.list_model_versions(store.catalog, name)
        if all(mv.tags.get(k) == str(v) for k, v in (tags or {}).items())
    ]
    if order_by is not None:
        with_metric = [mv for mv in found if order_by in mv.metrics]
        with_metric.sort(key=lambda mv: mv.metrics[order_by], reverse=descending)
        found = with_metric + [mv for mv in found if order_by not in mv.metrics]
    return found[:limit] if limit is not None else found


def register_model(
    store: FeatureStore,
    name: str,
    training_set: TrainingSet | RetrievalResult | str | None,
    *,
    artifact: str | os.PathLike[str] | None = None,
    params: dict[str, Any] | None = None,
    metrics: dict[str, float] | None = None,
    tags: dict[str, str] | None = None,
) -> ModelVersion:
    """Register a new model version; a RetrievalResult is saved first as a training set
    named after the model, a string names a saved one."""
    registry.check_model_args(name, metrics)  # before the training set is saved
    if isinstance(training_set, RetrievalResult):
        training_set = store.save_training_set(training_set, f"{name}_training")
    elif isinstance(training_set, str):
        training_set = store.get_training_set(training_set)
    return registry.register_model(
        store.catalog,
        name,
        training_set,
        artifact=artifact,
        params=params,
        metrics=metrics,
        tags=tags,
    )
