"""One writer at a time per object: the lock every writer of a view, a training-set
name or a model's predictions takes, and that gc takes before deleting.

Two locks make it: the store directory's file lock (processes on this machine) and the
catalog's writer lock (every machine sharing a PostgreSQL catalog; nothing more for the
embedded SQLite catalog, whose writers all share the directory)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from featstore.catalog import Catalog
from featstore.dtypes import file_metadata
from featstore.offline import OfflineStore

__all__ = ["exclusive", "prediction_metadata", "retrieval_metadata", "training_set_metadata"]


@contextmanager
def exclusive(
    offline: OfflineStore, catalog: Catalog, name: str, *, kind: str = "view"
) -> Iterator[None]:
    """Hold the writer lock of ``kind``/``name`` for the block."""
    with offline.lock(name, kind=kind), catalog.writer_lock(f"{kind}/{name}"):
        yield


def _views(manifest: Mapping[str, Any] | None) -> str | None:
    """The manifest's view versions as JSON ``["view@version", ...]`` (None without)."""
    if not manifest or "features" not in manifest:
        return None
    return json.dumps([f"{item['view']}@{item['version']}" for item in manifest["features"]])


def training_set_metadata(name: str, manifest: Mapping[str, Any]) -> dict[str, str]:
    """The key-value metadata of a saved training set's Parquet file (docs/files.md):
    what it is and what it was built from, nothing that changes between rebuilds."""
    return file_metadata(
        training_set=name,
        content_id=manifest.get("content_id"),
        mode=manifest.get("mode"),
        views=_views(manifest),
    )


def prediction_metadata(
    model: str, version: int, batch_id: str, retrieval: Mapping[str, Any] | None
) -> dict[str, str]:
    """The key-value metadata of a prediction batch's Parquet file (docs/files.md)."""
    return file_metadata(
        model=model,
        model_version=version,
        batch_id=batch_id,
        content_id=(retrieval or {}).get("content_id"),
        views=_views(retrieval),
    )


def retrieval_metadata(manifest: Mapping[str, Any]) -> dict[str, str]:
    """The key-value metadata of a retrieval written with ``RetrievalResult.to_parquet``."""
    return file_metadata(
        content_id=manifest.get("content_id"), mode=manifest.get("mode"), views=_views(manifest)
    )
