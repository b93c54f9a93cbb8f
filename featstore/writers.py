"""One writer at a time per object: the lock every writer of a view, a training-set
name or a model's predictions takes, and that gc takes before deleting.

Two locks make it: the store directory's file lock (processes on this machine) and the
catalog's writer lock (every machine sharing a PostgreSQL catalog; nothing more for the
embedded SQLite catalog, whose writers all share the directory)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from featstore.catalog import Catalog
from featstore.offline import OfflineStore

__all__ = ["exclusive"]


@contextmanager
def exclusive(
    offline: OfflineStore, catalog: Catalog, name: str, *, kind: str = "view"
) -> Iterator[None]:
    """Hold the writer lock of ``kind``/``name`` for the block."""
    with offline.lock(name, kind=kind), catalog.writer_lock(f"{kind}/{name}"):
        yield
