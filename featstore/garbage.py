"""Garbage collection: deleting what no reader can see, under each writer's lock."""

from __future__ import annotations

from typing import TYPE_CHECKING

from featstore import registry
from featstore.writers import exclusive

if TYPE_CHECKING:
    from featstore.store import FeatureStore

__all__ = ["gc"]


def gc(store: FeatureStore) -> list[str]:
    """Delete files no reader can see: expired superseded files, and what killed
    writers left (unlisted offline, training-set and prediction files, dead staging
    directories), each under the lock its writers hold. Deletes only what featstore
    wrote, never through a symbolic link (a link found raises StorageError).
    Returns the store-relative paths removed."""
    from featstore.materialize import _collect_view_garbage

    removed: list[str] = []
    for view in store.offline.names("view"):
        with exclusive(store.offline, store.catalog, view):
            removed += _collect_view_garbage(view, store.catalog, store.offline, staging=False)
    removed += registry.collect_garbage(store.catalog, store.offline)
    removed += store.offline.collect_staging()
    return removed
