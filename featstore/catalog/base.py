"""What every catalog backend provides: the domain operations, one transaction boundary.

A backend (``sqlite.py``, ``postgres.py``) supplies a connection and four primitives
(``_rows``, ``_run``, ``_runmany``, plus its transaction and snapshot blocks); the domain
operations themselves live in :mod:`featstore.catalog.ops`, written once in the SQL that
SQLite and PostgreSQL share (``?`` placeholders, ``ON CONFLICT``, ``WITH RECURSIVE``).
Nothing outside this package writes SQL against the catalog.

Reads may be made on the catalog itself (each statement sees the latest committed state)
or inside :meth:`Catalog.snapshot` (all see one state). Writes are made only inside
:meth:`Catalog.transaction`, which serialises writers across processes and machines and
commits all or nothing.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterator
from contextlib import AbstractContextManager

from featstore.catalog.ops import ReadOps, WriteOps

__all__ = ["FORMAT_VERSION", "Catalog"]

# the one catalog format, whatever the backend; docs/catalog.md describes it
FORMAT_VERSION = 4


class Catalog(ReadOps):
    """A store's catalog: definitions, runs and files, training sets, models, aliases,
    prediction batches and lineage."""

    #: a description for messages: a file path or a URL without its password
    location: str
    #: True when opened read-only: reads work, :meth:`transaction` raises CatalogError
    read_only: bool

    @abstractmethod
    def transaction(self) -> AbstractContextManager[WriteOps]:
        """A write transaction: all or nothing; one writer at a time."""
        ...

    @abstractmethod
    def snapshot(self) -> AbstractContextManager[ReadOps]:
        """A read transaction: every read inside sees one state (nested blocks join)."""
        ...

    @abstractmethod
    def writer_lock(self, resource: str) -> AbstractContextManager[None]:
        """Exclude other writers of ``resource`` (e.g. ``view/<name>``), held across a
        long operation, on every machine that shares this catalog."""
        ...

    @abstractmethod
    def close(self) -> None: ...


def chunks(items: list[str], size: int = 500) -> Iterator[list[str]]:
    """``items`` in slices of at most ``size``: IN lists stay under parameter limits."""
    for i in range(0, len(items), size):
        yield items[i : i + size]
