"""The offline store's file layout, atomic file publication, locks and ownership checks.

Layout under the store directory::

    offline/<view>/<version>/<YYYY-MM>/part-<run_id>.parquet   feature rows
    training_sets/<name>/<content id>.parquet                   saved training sets
    predictions/<model>/<version>/<batch id>.parquet            prediction batches
    active/<view>/<version>/<YYYY-MM>.parquet                   the active file of each
                                                                month (a hard link): the
                                                                glob other engines read
    staging/<run_id>/                                           files being written
    locks/<view>.lock, locks/<kind>/<name>.lock                 advisory locks (featstore.locks)
    tmp/                                                        DuckDB spill space

A file becomes visible to readers only when the catalog lists it; files are written in
``staging/``, fsynced, then renamed into place before the catalog commit. Anything in
these folders that the catalog does not list is garbage from a failed or killed writer
and is removed by the collectors below (under the lock its writer holds).

``active/`` is derived from the catalog after each commit (:meth:`OfflineStore.sync_active`):
one hard link (a copy where the filesystem has none) per active month file, so that a
glob over it never sees a superseded file. featstore itself reads only catalog paths.

featstore only deletes and writes what it owns. The store root may be a symbolic link,
but nothing below it may be: every write checks that each existing directory between
the root and its target is a real directory, every delete walks without following links,
and a link found on the way is refused with a StorageError naming it (see
:meth:`OfflineStore.check_inside`). Only names featstore itself writes are deleted.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import stat
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from featstore import locks
from featstore.errors import CatalogError, DefinitionError, StorageError
from featstore.names import validate_name

__all__ = ["OfflineStore", "fsync_dir", "new_id"]

# what featstore writes under each kind's folder, relative to ``<folder>/<name>/``
_OWNED = {
    "view": re.compile(r"[0-9a-f]{1,64}/\d{4}-\d{2}/part-[0-9a-f]{1,64}\.parquet"),
    "training_set": re.compile(r"[0-9a-f]{1,64}\.parquet"),
    "predictions": re.compile(r"[1-9][0-9]*/[0-9a-f]{1,64}\.parquet"),
    "labels": re.compile(r"[0-9a-f]{1,64}\.parquet"),
    "evaluations": re.compile(r"[0-9a-f]{1,64}\.parquet"),
}
_FOLDERS = {
    "view": "offline",
    "training_set": "training_sets",
    "predictions": "predictions",
    "labels": "labels",
    "evaluations": "evaluations",
}
_LOCK_FOLDERS = {**_FOLDERS, "view": ""}
# ``active/<view>/``: a month's link, and a link being made (a writer killed meanwhile
# leaves it; the next sync removes it)
_ACTIVE_LINK = re.compile(r"[0-9a-f]{1,64}/(\d{4}-\d{2})\.parquet")
_ACTIVE_TEMP = re.compile(r"[0-9a-f]{1,64}/\.\d{4}-\d{2}\.parquet\.[0-9a-f]{32}\.tmp")
# held while a staging directory is created and locked (microseconds) and while staging
# is inspected for collection; a dot name, so that no view's lock (locks/<view>.lock) can be it
_STAGING_GUARD = ".staging.lock"
_READ_ONLY = (errno.EROFS, errno.EACCES, errno.EPERM)
# a filesystem (or a share) that cannot hard-link, or not this many links, or across devices
_NO_LINKS = tuple(
    getattr(errno, n)
    for n in ("EPERM", "EXDEV", "EMLINK", "ENOTSUP", "EOPNOTSUPP", "ENOSYS")
    if hasattr(errno, n)
)


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


def _is_hex(value: str) -> bool:
    return 0 < len(value) <= 64 and all(c in "0123456789abcdef" for c in value)


def _check_hex(value: str, what: str) -> None:
    if not (isinstance(value, str) and _is_hex(value)):
        raise ValueError(f"{what} {value!r} is not a hex digest")


def _is_name(value: str) -> bool:
    try:
        validate_name(value, "name")
    except DefinitionError:
        return False
    return True


class OfflineStore:
    """Paths and file operations of one store directory."""

    def __init__(self, root: Path, *, read_only: bool = False) -> None:
        self.root = root
        self.read_only = read_only
        self.offline = root / "offline"
        self.staging_root = root / "staging"
        self.locks = root / "locks"
        self.training_sets = root / "training_sets"
        self.predictions = root / "predictions"
        self.active = root / "active"
        self._tmp = root / "tmp"
        for folder in () if read_only else (self.offline, self.staging_root, self.locks, self._tmp):
            try:
                os.lstat(folder)
            except FileNotFoundError:
                try:
                    os.mkdir(folder)
                except FileExistsError:
                    pass
                except OSError as exc:
                    if exc.errno not in _READ_ONLY:
                        raise self._write_error(folder, exc) from exc
                    # a read-only store: reads work; a write says read-only when it needs it

    @property
    def tmp(self) -> Path:
        """DuckDB's spill directory: a real directory in the store (created if possible)."""
        self.check_inside(self._tmp)
        if not self.read_only:
            with contextlib.suppress(OSError):  # exists, or a read-only store (DuckDB then
                os.mkdir(self._tmp)  # reports it only if it must spill)
        return self._tmp

    # -- paths ----------------------------------------------------------------------

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
        if path.is_relative_to(self.root):
            return path.relative_to(self.root).as_posix()
        return path.relative_to(self.root.resolve()).as_posix()  # a resolved path

    def absolute(self, relative: str) -> Path:
        """The inverse of :meth:`relative`, refusing anything outside the store."""
        path = (self.root / relative).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise StorageError(
                f"catalog path {relative!r} points outside the store {str(self.root)!r} (to "
                f"{str(path)!r}): a symbolic link inside the store leads out of it, or the "
                f"catalog was edited by hand or is corrupt; replace the link with the real "
                f"directory, or restore the catalog from a backup"
            )
        return path

    # -- ownership ------------------------------------------------------------------

    def check_inside(self, path: Path, *, create: bool = False) -> Path:
        """Check that ``path`` is the store's own: below the store root, with every
        existing component from the root down to it (``path`` included) a real entry,
        never a symbolic link, and every component above ``path`` a real directory.

        With ``create``, ``path`` and its missing parents are created as directories.
        Raises StorageError naming the offending path and the fix; returns ``path``.
        """
        parts = self._parts(path)
        current = self.root
        for i, part in enumerate(parts):
            current = current / part
            last = i == len(parts) - 1
            try:
                st = os.lstat(current)
            except FileNotFoundError:
                if not create:
                    return path  # nothing further down exists yet
                try:
                    os.mkdir(current)
                except FileExistsError:
                    pass  # made by another process just now: checked below
                except OSError as exc:
                    raise self._write_error(current, exc) from exc
                st = os.lstat(current)
            if stat.S_ISLNK(st.st_mode):
                raise self._link_error(current)
            if (create or not last) and not stat.S_ISDIR(st.st_mode):
                raise StorageError(
                    f"{self._rel(current)!r} in store {str(self.root)!r} is a file where "
                    f"featstore keeps a directory; move it out of the store and retry"
                )
        return path

    def _parts(self, path: Path) -> tuple[str, ...]:
        if not path.is_relative_to(self.root):
            raise StorageError(
                f"{str(path)!r} is outside the store {str(self.root)!r}; featstore only "
                f"writes and deletes inside its store directory"
            )
        parts = path.relative_to(self.root).parts
        if any(p in ("", ".", "..") for p in parts):
            raise StorageError(f"{str(path)!r}: a store path never contains '.' or '..'")
        return parts

    def _rel(self, path: Path) -> str:
        try:
            return self.relative(path)
        except ValueError:
            return str(path)

    def _link_error(self, path: Path) -> StorageError:
        try:
            target = f" (to {os.readlink(path)!r})"
        except OSError:
            target = ""
        return StorageError(
            f"{self._rel(path)!r} in store {str(self.root)!r} is a symbolic link{target}; "
            f"featstore never writes or deletes through a link: replace the link with a real "
            f"directory inside the store (move its contents in), or remove it, and retry"
        )

    def _write_error(self, path: Path, exc: OSError) -> StorageError:
        where = f"{self._rel(path)!r} in store {str(self.root)!r}"
        if exc.errno in _READ_ONLY:
            return StorageError(
                f"cannot write {where}: the store is read-only ({exc.strerror}); reads work, "
                f"but to change it open the store from a writable location or fix its "
                f"permissions"
            )
        if exc.errno == errno.ENOSPC:
            return StorageError(
                f"cannot write {where}: no space left on the device holding the store; "
                f"free space and retry"
            )
        return StorageError(f"cannot write {where}: {exc}")

    def _walk_owned(self, top: Path) -> list[Path]:
        """Every file under ``top``, never following a link (a link found is refused
        before anything is deleted)."""
        self.check_inside(top)
        if not top.is_dir():
            return []
        files: list[Path] = []

        def fail(exc: OSError) -> None:
            if not isinstance(exc, FileNotFoundError):  # removed meanwhile: nothing to do
                raise StorageError(f"cannot list {self._rel(Path(exc.filename))!r}: {exc}")

        for dirpath, dirnames, filenames in os.walk(top, followlinks=False, onerror=fail):
            folder = Path(dirpath)
            for name in dirnames + filenames:
                if (folder / name).is_symlink():
                    raise self._link_error(folder / name)
            files += [folder / f for f in filenames]
        return files

    def names(self, kind: str = "view") -> list[str]:
        """The names with a folder of ``kind`` (``view``: ``offline/<view>``,
        ``training_set``, ``predictions``), sorted; entries featstore could not have
        written are ignored, a link is refused."""
        top = self.root / _FOLDERS[kind]
        self.check_inside(top)
        if not top.is_dir():
            return []
        out = []
        with os.scandir(top) as entries:
            for entry in entries:
                if entry.is_symlink():
                    raise self._link_error(Path(entry.path))
                if entry.is_dir(follow_symlinks=False) and _is_name(entry.name):
                    out.append(entry.name)
        return sorted(out)

    # -- locks ----------------------------------------------------------------------

    def _open_lock(self, path: Path) -> int:
        self.check_inside(path.parent, create=True)
        self.check_inside(path)
        try:
            return locks.open_lock_file(path)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise self._link_error(path) from exc
            raise self._write_error(path, exc) from exc

    @contextmanager
    def _exclusive(self, path: Path) -> Iterator[None]:
        fd = self._open_lock(path)
        try:
            locks.acquire(fd, path=self._rel(path))
            yield
        finally:
            os.close(fd)  # releases the lock

    @contextmanager
    def lock(self, name: str, *, kind: str = "view") -> Iterator[None]:
        """An exclusive advisory lock across processes, released on exit or death.

        ``kind="view"`` (``locks/<view>.lock``): held by materialization and gc of the
        view. ``training_set`` and ``predictions`` (``locks/<kind>/<name>.lock``): held by
        a writer of that training-set name or model from before it publishes its file
        until after its commit, and by gc, so gc never removes a file about to be listed.
        """
        validate_name(name, "lock")
        self._refuse_read_only(f"lock {kind} {name!r}")
        folder = self.locks / _LOCK_FOLDERS[kind] if _LOCK_FOLDERS[kind] else self.locks
        with self._exclusive(folder / f"{name}.lock"):
            yield

    def _refuse_read_only(self, what: str) -> None:
        if self.read_only:  # the same error as every refused write of the catalog
            raise CatalogError(
                f"cannot {what}: store {str(self.root)!r} was opened with read_only=True; "
                f"reads work, but to change the store open it without read_only"
            )

    # -- staging --------------------------------------------------------------------

    @contextmanager
    def staging(self, run_id: str) -> Iterator[Path]:
        """A private directory for one run's files, removed when the run ends.

        Its ``.lock`` file, locked exclusively for the whole run, marks it live: a
        collector treats a directory as live iff it cannot take that lock without
        waiting. The directory is created and locked while holding the staging guard
        (exclusively, for microseconds), and :meth:`collect_staging` inspects
        directories only while holding it too: so a collector never sees a directory
        between its creation and its locking.
        """
        _check_hex(run_id, "run id")
        self._refuse_read_only("stage a file")
        self.check_inside(self.staging_root, create=True)
        folder = self.staging_root / run_id
        with self._exclusive(self.locks / _STAGING_GUARD):
            try:
                os.mkdir(folder)
            except OSError as exc:
                raise self._write_error(folder, exc) from exc
            try:
                fd = locks.open_lock_file(folder / ".lock", new=True)
            except OSError as exc:
                shutil.rmtree(folder, ignore_errors=True)
                raise self._write_error(folder / ".lock", exc) from exc
            try:
                # free: it is new, and collectors only try it while holding the guard
                locks.acquire(fd, path=self._rel(folder / ".lock"))
            except BaseException:
                os.close(fd)
                shutil.rmtree(folder, ignore_errors=True)
                raise
        try:
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)
            os.close(fd)
            if os.name == "nt":  # Windows cannot delete the open .lock: again, closed
                shutil.rmtree(folder, ignore_errors=True)

    def collect_staging(self) -> list[str]:
        """Delete staging directories whose run died (their lock is free)."""
        top = self.staging_root
        self.check_inside(top)
        if not top.is_dir():
            return []
        dead: list[tuple[Path, int | None]] = []
        try:
            with self._exclusive(self.locks / _STAGING_GUARD):
                # no writer is between creating its directory and locking it now
                with os.scandir(top) as entries:
                    found = sorted(entries, key=lambda e: e.name)
                for entry in found:
                    folder = Path(entry.path)
                    if entry.is_symlink():
                        raise self._link_error(folder)
                    if not entry.is_dir(follow_symlinks=False) or not _is_hex(entry.name):
                        continue  # not a directory featstore made
                    is_dead, fd = self._own_if_dead(folder)
                    if is_dead:
                        dead.append((folder, fd))
            removed: list[str] = []
            for folder, _ in dead:
                # locked by us now, or lock-less (its writer died before locking it)
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(self.relative(folder))
            return removed
        finally:
            for folder, fd in dead:
                if fd is not None:
                    os.close(fd)
                    if os.name == "nt":  # Windows cannot delete the open .lock
                        shutil.rmtree(folder, ignore_errors=True)

    def _own_if_dead(self, folder: Path) -> tuple[bool, int | None]:
        """Whether a staging directory's run is dead, and then the descriptor of its
        ``.lock``, locked by us (None if it has no usable lock file)."""
        if (folder / ".lock").is_symlink():  # also where the open cannot refuse links
            return True, None  # a link, which featstore never makes: no run's
        try:
            fd = locks.open_lock_file(folder / ".lock")
        except FileNotFoundError:
            return False, None  # removed meanwhile by its finished owner
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                return True, None  # a link, which featstore never makes: no run's
            raise self._write_error(folder / ".lock", exc) from exc
        try:
            taken = locks.try_acquire(fd)
        except BaseException:
            os.close(fd)
            raise
        if not taken:
            os.close(fd)
            return False, None  # a live run owns it
        return True, fd

    # -- publish and collect --------------------------------------------------------

    def publish(self, staged: Path, final: Path) -> None:
        """Move a fully written, fsynced file into its final place (checked to be the
        store's own: no link on the way)."""
        fsync_file(staged)
        self.check_inside(final.parent, create=True)
        self.check_inside(final)
        try:
            os.replace(staged, final)
        except OSError as exc:
            raise self._write_error(final, exc) from exc
        fsync_dir(final.parent)

    def collect_orphans(self, name: str, live: set[str], *, kind: str = "view") -> list[str]:
        """Delete the files of a view (``offline/<name>``), training-set name or model's
        predictions that the catalog does not list.

        Call it holding ``lock(name, kind=kind)``, so no writer is between publishing and
        committing. ``live`` holds the catalog's relative paths of that name's files. Only
        files named as featstore names them are deleted; a link anywhere below refuses
        the whole collection (nothing deleted).
        """
        validate_name(name, kind.replace("_", " "))
        top = self.root / _FOLDERS[kind] / name
        owned = _OWNED[kind]
        doomed = [
            path
            for path in self._walk_owned(top)
            if owned.fullmatch(path.relative_to(top).as_posix()) and self.relative(path) not in live
        ]
        removed: list[str] = []
        for path in doomed:
            path.unlink(missing_ok=True)
            removed.append(self.relative(path))
        return removed

    # -- the active glob ------------------------------------------------------------

    def active_glob(self, view: str, version: str) -> Path:
        """The glob that matches exactly the active files of a view version:
        ``active/<view>/<version>/*.parquet``."""
        validate_name(view, "feature view")
        _check_hex(version, "version")
        return self.active / view / version / "*.parquet"

    def sync_active(self, view: str, files: dict[tuple[str, str], Path]) -> list[str]:
        """Make ``active/<view>/`` hold exactly ``files`` (``(version, month) -> path``
        of each active file): one hard link per month named ``<YYYY-MM>.parquet``,
        replaced atomically (``os.replace``), so a glob sees each month's old file or its
        new one, never both. A filesystem without hard links gets a copy. Links no longer
        active and temporaries a killed writer left are removed. Call it holding the
        view's lock, after the catalog commit. Returns the store-relative paths removed."""
        validate_name(view, "feature view")
        top = self.active / view
        wanted = {
            top / version / f"{bucket}.parquet": path for (version, bucket), path in files.items()
        }
        removed: list[str] = []
        for found in self._walk_owned(top):
            rel = found.relative_to(top).as_posix()
            stale = _ACTIVE_TEMP.fullmatch(rel) or (
                _ACTIVE_LINK.fullmatch(rel) and found not in wanted
            )
            if stale:
                found.unlink(missing_ok=True)
                removed.append(self.relative(found))
        for target, source in sorted(wanted.items()):
            if not source.is_file():  # deleted outside featstore: not served, not globbed
                if target.is_file():
                    target.unlink(missing_ok=True)
                    removed.append(self.relative(target))
                continue
            if self._same_file(target, source):
                continue
            self.check_inside(target.parent, create=True)
            self.check_inside(target)
            temp = target.with_name(f".{target.name}.{new_id()}.tmp")
            try:
                try:
                    os.link(source, temp)
                except OSError as exc:
                    if exc.errno not in _NO_LINKS:
                        raise
                    shutil.copy2(source, temp)  # keeps the modification time: see _same_file
                    fsync_file(temp)
                os.replace(temp, target)
            except OSError as exc:
                temp.unlink(missing_ok=True)
                raise self._write_error(target, exc) from exc
            fsync_dir(target.parent)
        return removed

    @staticmethod
    def _same_file(target: Path, source: Path) -> bool:
        try:
            a, b = os.stat(target), os.stat(source)
        except OSError:
            return False
        if (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino):
            return True
        return (a.st_size, a.st_mtime_ns) == (b.st_size, b.st_mtime_ns)  # a copy
