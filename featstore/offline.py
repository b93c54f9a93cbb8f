"""The offline store's file layout, atomic file publication and locks.

Layout under the store directory::

    offline/<view>/<version>/<YYYY-MM>/part-<run_id>.parquet   feature rows
    staging/<run_id>/                                           files being written
    locks/<name>.lock                                           advisory locks (fcntl)
    tmp/                                                        DuckDB spill space

A file becomes visible to readers only when the catalog lists it as active; files are
written in ``staging/``, fsynced, then renamed into place before the catalog commit.
Anything in ``staging/`` or ``offline/`` that the catalog does not list is garbage from
a failed or killed run and is removed by :meth:`OfflineStore.collect_garbage`.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from featstore.errors import StorageError
from featstore.names import validate_name

__all__ = ["OfflineStore", "fsync_dir", "new_id"]


def new_id() -> str:
    """A new random run / artifact id (32 hex digits)."""
    return uuid.uuid4().hex


def fsync_dir(path: Path) -> None:
    """Flush a directory entry (so a rename survives a power loss)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_file(path: Path) -> None:
    """Flush a file's content to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _check_hex(value: str, what: str) -> None:
    if not (0 < len(value) <= 64 and all(c in "0123456789abcdef" for c in value)):
        raise ValueError(f"{what} {value!r} is not a hex digest")


class OfflineStore:
    """Paths and file operations of one store directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.offline = root / "offline"
        self.staging_root = root / "staging"
        self.locks = root / "locks"
        self.tmp = root / "tmp"
        for folder in (self.offline, self.staging_root, self.locks, self.tmp):
            folder.mkdir(parents=True, exist_ok=True)

    def view_dir(self, view: str, version: str) -> Path:
        validate_name(view, "feature view")
        _check_hex(version, "version")
        return self.offline / view / version

    def final_path(self, view: str, version: str, bucket: str, run_id: str) -> Path:
        _check_hex(run_id, "run id")
        if len(bucket) != 7 or not bucket.replace("-", "").isdigit():
            raise ValueError(f"bad bucket {bucket!r}")
        return self.view_dir(view, version) / bucket / f"part-{run_id}.parquet"

    def relative(self, path: Path) -> str:
        """A path as stored in the catalog: relative to the store root, with '/'."""
        return path.relative_to(self.root).as_posix()

    def absolute(self, relative: str) -> Path:
        """The inverse of :meth:`relative`, refusing anything outside the store."""
        path = (self.root / relative).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise StorageError(
                f"catalog path {relative!r} points outside the store {str(self.root)!r}; the "
                f"catalog was edited by hand or is corrupt: restore it from a backup"
            )
        return path

    @contextmanager
    def lock(self, name: str) -> Iterator[None]:
        """An exclusive advisory lock across processes, released on exit or death."""
        validate_name(name, "lock")
        with open(self.locks / f"{name}.lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    @contextmanager
    def staging(self, run_id: str) -> Iterator[Path]:
        """A private directory for one run's files, removed when the run ends.

        A lock file inside marks it live; :meth:`collect_garbage` removes staging
        directories whose owner died (their lock is free).
        """
        folder = self.staging_root / run_id
        folder.mkdir(parents=True)
        handle = open(folder / ".lock", "a")  # noqa: SIM115 (held for the whole run)
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)
            handle.close()

    def publish(self, staged: Path, final: Path) -> None:
        """Move a fully written, fsynced file into its final place."""
        fsync_file(staged)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staged, final)
        fsync_dir(final.parent)

    def collect_staging(self) -> list[str]:
        """Delete staging directories whose run died (their lock is free)."""
        removed: list[str] = []
        for folder in self.staging_root.iterdir():
            try:
                handle = open(folder / ".lock", "a")  # noqa: SIM115
            except OSError:
                continue
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a live run owns it
            finally:
                handle.close()
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(self.relative(folder))
        return removed

    def collect_orphans(self, view: str, live: set[str]) -> list[str]:
        """Delete a view's offline files that the catalog does not list.

        Call it holding the view's lock, so no run is between publishing and committing.
        ``live`` holds the catalog's relative paths of the view's files.
        """
        removed: list[str] = []
        folder = self.offline / view
        if not folder.is_dir():
            return removed
        for path in folder.rglob("*.parquet"):
            rel = self.relative(path)
            if rel not in live:
                path.unlink(missing_ok=True)
                removed.append(rel)
        return removed
