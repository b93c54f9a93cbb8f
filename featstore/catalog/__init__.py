"""The catalog: a store's record of definitions, runs, files, training sets, models,
prediction batches and lineage, behind one protocol (:class:`Catalog`).

Backends: the embedded SQLite file (``catalog.db`` in the store directory, the default)
and PostgreSQL (``catalog="postgresql://..."``, for teams; needs ``featstore[postgres]``).
"""

from __future__ import annotations

from pathlib import Path

from featstore.catalog.base import FORMAT_VERSION, Catalog
from featstore.catalog.ops import ReadOps, WriteOps
from featstore.catalog.sqlite import SQLiteCatalog, Tx
from featstore.catalog.urls import is_url, redact
from featstore.errors import ConfigError

__all__ = [
    "FORMAT_VERSION",
    "Catalog",
    "ReadOps",
    "SQLiteCatalog",
    "Tx",
    "WriteOps",
    "is_url",
    "open_catalog",
    "redact",
]


def open_catalog(
    spec: str | None, store_dir: Path, *, create: bool, read_only: bool = False
) -> Catalog:
    """The catalog a store uses: ``None`` or ``"sqlite"`` for the embedded file in
    ``store_dir``, a ``postgresql://`` URL for a PostgreSQL database."""
    if spec is None or spec == "sqlite":
        return SQLiteCatalog(store_dir / "catalog.db", create=create, read_only=read_only)
    if is_url(spec):
        from featstore.catalog.postgres import PostgresCatalog

        return PostgresCatalog(spec, create=create, read_only=read_only)
    raise ConfigError(
        f"unknown catalog {spec!r}: use 'sqlite' (the default, a file in the store "
        f"directory) or a PostgreSQL URL such as 'postgresql://user@host:5432/db'"
    )
