"""The embedded catalog: definitions, runs, files and lineage in SQLite (WAL mode).

SQLite allows many readers and one writer at a time across processes. Every write goes
through :meth:`Catalog.transaction`, which takes the write lock up front
(``BEGIN IMMEDIATE``), retries with bounded exponential backoff while another process
holds it, and commits or rolls back as a whole. Readers are never blocked by writers in
WAL mode. The schema is documented in ``docs/catalog.md``.
"""

from __future__ import annotations

import os
import random
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from featstore.catalog.base import FORMAT_VERSION, Catalog
from featstore.catalog.ops import Row, WriteOps
from featstore.errors import CatalogError, ConfigError

__all__ = ["SQLiteCatalog", "Tx"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
-- every version of every definition ever applied; body is JSON (schemas/definition.schema.json)
CREATE TABLE IF NOT EXISTS definitions (
    kind       TEXT NOT NULL,
    name       TEXT NOT NULL,
    version    TEXT NOT NULL,
    body       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (kind, name, version)
);
-- the version of each name that retrieval uses by default
CREATE TABLE IF NOT EXISTS current_definitions (
    kind       TEXT NOT NULL,
    name       TEXT NOT NULL,
    version    TEXT NOT NULL,
    applied_at TEXT NOT NULL,
    PRIMARY KEY (kind, name)
);
-- one row per successful materialization run; body is JSON (schemas/run.schema.json)
CREATE TABLE IF NOT EXISTS runs (
    run_id       TEXT PRIMARY KEY,
    view         TEXT NOT NULL,
    view_version TEXT NOT NULL,
    start_ts     TEXT NOT NULL,
    end_ts       TEXT NOT NULL,
    rows         INTEGER NOT NULL,
    started_at   TEXT NOT NULL,
    finished_at  TEXT NOT NULL,
    body         TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_view ON runs (view, view_version, end_ts);
-- offline-store Parquet files; readers only ever read files listed here with active = 1
CREATE TABLE IF NOT EXISTS files (
    path         TEXT PRIMARY KEY,
    view         TEXT NOT NULL,
    view_version TEXT NOT NULL,
    bucket       TEXT NOT NULL,
    min_ts       TEXT,
    max_ts       TEXT,
    rows         INTEGER NOT NULL,
    bytes        INTEGER NOT NULL,
    run_id       TEXT NOT NULL,
    active       INTEGER NOT NULL,
    superseded_at TEXT,
    mtime_ns     INTEGER,  -- format 3: modification time and content hash when published
    sha256       TEXT
);
CREATE INDEX IF NOT EXISTS files_active ON files (view, view_version, active, bucket);
-- input files read by a run, with their fingerprints
CREATE TABLE IF NOT EXISTS run_inputs (
    run_id   TEXT NOT NULL,
    path     TEXT NOT NULL,
    size     INTEGER,
    mtime_ns INTEGER,
    rows     INTEGER,
    sha256   TEXT,
    PRIMARY KEY (run_id, path)
);
-- content hashes of input files, keyed by what makes them cheap to reuse
CREATE TABLE IF NOT EXISTS fingerprint_cache (
    path     TEXT NOT NULL,
    size     INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    rows     INTEGER,
    sha256   TEXT NOT NULL,
    PRIMARY KEY (path, size, mtime_ns)
);
-- saved training sets; manifest is JSON (schemas/training_set_manifest.schema.json)
CREATE TABLE IF NOT EXISTS training_sets (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    content_id TEXT NOT NULL,
    path       TEXT NOT NULL,
    rows       INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    manifest   TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS training_sets_name ON training_sets (name, created_at);
-- model versions: version numbers increase per name, assigned inside the write transaction
CREATE TABLE IF NOT EXISTS model_versions (
    name         TEXT NOT NULL,
    version      INTEGER NOT NULL,
    training_set TEXT,
    created_at   TEXT NOT NULL,
    body         TEXT NOT NULL,
    PRIMARY KEY (name, version)
);
-- alias history, append-only: 'set' pushes a version, 'rollback' pops back to the previous
CREATE TABLE IF NOT EXISTS alias_events (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    name    TEXT NOT NULL,
    alias   TEXT NOT NULL,
    action  TEXT NOT NULL,
    version INTEGER NOT NULL,
    at      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS alias_events_name ON alias_events (name, alias, seq);
-- prediction batches written by log_predictions; body is JSON
CREATE TABLE IF NOT EXISTS prediction_batches (
    batch_id      TEXT PRIMARY KEY,
    model         TEXT NOT NULL,
    model_version INTEGER NOT NULL,
    path          TEXT NOT NULL,
    rows          INTEGER NOT NULL,
    created_at    TEXT NOT NULL,
    body          TEXT NOT NULL
);
-- monitoring: statistics of offline files, training sets and prediction batches (body is
-- JSON); drift reports, evaluations and skew reports; logged labels
CREATE TABLE IF NOT EXISTS statistics (
    subject TEXT PRIMARY KEY,
    kind    TEXT NOT NULL,
    body    TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS reports (
    id         TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    subject    TEXT,
    created_at TEXT NOT NULL,
    path       TEXT,
    body       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS reports_kind ON reports (kind, subject, created_at);
CREATE TABLE IF NOT EXISTS label_batches (
    batch_id   TEXT PRIMARY KEY,
    model      TEXT NOT NULL,
    path       TEXT NOT NULL,
    rows       INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    body       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS label_batches_model ON label_batches (model, created_at);
-- lineage: nodes and typed edges (upstream -> downstream); attrs is JSON. Edges refer to
-- nodes by their integer nid, so recursive walks compare integers, not id strings.
CREATE TABLE IF NOT EXISTS nodes (
    nid        INTEGER PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE,
    kind       TEXT NOT NULL,
    name       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    attrs      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS nodes_kind ON nodes (kind, name);
CREATE INDEX IF NOT EXISTS nodes_created ON nodes (created_at);
CREATE TABLE IF NOT EXISTS edges (
    src  INTEGER NOT NULL,
    dst  INTEGER NOT NULL,
    kind TEXT NOT NULL,
    PRIMARY KEY (src, dst, kind)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS edges_dst ON edges (dst, src);
"""

_RETRYABLE = ("database is locked", "database is busy", "database table is locked")
_DAMAGED = ("not a database", "malformed", "file is encrypted", "database corrupt")


class SQLiteCatalog(Catalog):
    """A connection to one store's ``catalog.db``. Not shared between threads.

    ``create=False`` opens an existing catalog only: a missing, empty or foreign file is
    a CatalogError, never initialised (the store directory says a store exists). A
    catalog in a directory that cannot be written is opened read-only (``read_only``):
    reads work, writes raise CatalogError saying the store is read-only. ``read_only=True``
    asks for that mode: nothing is written, not even the journal mode or an upgrade.
    """

    def __init__(
        self,
        path: Path,
        *,
        max_wait_s: float = 60.0,
        create: bool = True,
        read_only: bool = False,
    ) -> None:
        self.path = path
        self.location = str(path)
        self.max_wait_s = max_wait_s
        self.read_only = False
        self._asked_read_only = read_only
        self._conn: sqlite3.Connection
        if (read_only or not create) and not path.is_file():
            what = "is not a file" if path.exists() else "is missing"
            raise CatalogError(self._damaged(what))
        if read_only:
            self._open_read_only()
            try:
                self._check_format(self._read_format(), create=False)
            except BaseException:
                self._conn.close()
                raise
            return
        uri = path.absolute().as_uri() + ("" if create else "?mode=rw")  # rw: never create
        conn: sqlite3.Connection | None = None
        try:
            conn = self._conn = self._connect(uri)
            found = self._read_format()
        except CatalogError as exc:
            if conn is not None:
                conn.close()
            if not _read_only_failure(exc.__cause__, path):
                raise
            self._open_read_only()
            found = self._read_format()
        try:
            self._check_format(found, create=create)
        except BaseException:
            self._conn.close()
            raise

    def _check_format(self, found: int | None, *, create: bool) -> None:
        """Use, create or upgrade the opened catalog, whose format is ``found``."""
        if found is not None and found > FORMAT_VERSION:
            raise ConfigError(
                f"store catalog {str(self.path)!r} has format version {found}, newer "
                f"than this featstore understands ({FORMAT_VERSION}); upgrade featstore"
            )
        if found == FORMAT_VERSION:  # the common case needs no write lock
            if not self.read_only and self._journal_mode() != "wal":
                self._retrying(lambda: self._conn.execute("PRAGMA journal_mode=WAL").fetchall())
            return
        if found is None and not create:
            empty = self.path.stat().st_size == 0
            raise CatalogError(
                self._damaged(
                    "is empty (0 bytes)"
                    if empty
                    else "holds no featstore catalog (no format_version in a meta table)"
                )
            )
        if self.read_only:
            raise CatalogError(
                f"store catalog {str(self.path)!r} is read-only and "
                + ("has no featstore tables" if found is None else f"in format {found}")
                + f"; it must be {'created' if found is None else 'upgraded'} by a process "
                f"that can write the store directory: open it once from a writable location"
            )
        if found is None:
            self._refuse_foreign()
        self._retrying(lambda: self._conn.execute("PRAGMA journal_mode=WAL").fetchall())
        self._create_or_upgrade()

    def _refuse_foreign(self) -> None:
        """Refuse an SQLite file that holds tables but no featstore meta table, before
        anything is written to it."""
        with self.snapshot() as tx:
            if _format_version(tx, self.path) is not None:
                return  # another process created the catalog since we looked
            foreign = tx.one("SELECT 1 FROM sqlite_master LIMIT 1") is not None
        if foreign:
            raise CatalogError(
                f"{str(self.path)!r} is an SQLite database but not a featstore catalog (it "
                f"has tables, none of them featstore's meta table); featstore never "
                f"initialises over an existing file: move it away, or create the store in "
                f"another directory"
            )

    def _connect(self, uri: str) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(
                uri, uri=True, timeout=5.0, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise self._error(exc) from exc
        try:
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
        except sqlite3.Error as exc:
            conn.close()
            raise self._error(exc) from exc
        return conn

    def _open_read_only(self) -> None:
        """Open a catalog whose directory cannot be written (a read-only mount, or no
        write permission). SQLite needs the WAL index (``-shm``) to read a WAL database;
        without it the file is opened immutable, which is exact when the WAL is empty
        (a cleanly closed store) and refused otherwise."""
        if not self.path.is_file():
            raise CatalogError(
                f"cannot create store catalog {str(self.path)!r}: the store directory is "
                f"read-only; create the store in a writable directory"
            )
        uri = self.path.absolute().as_uri()
        self.read_only = True
        try:
            conn = self._connect(uri + "?mode=ro")
        except CatalogError:
            pass  # SQLite cannot set up the WAL index without writing
        else:
            try:
                conn.execute("SELECT count(*) FROM sqlite_master").fetchall()
                self._conn = conn
                return
            except sqlite3.OperationalError:
                conn.close()
        wal = self.path.with_name(self.path.name + "-wal")
        if wal.exists() and wal.stat().st_size > 0:
            raise CatalogError(
                f"store catalog {str(self.path)!r} is read-only and its write-ahead log "
                f"{wal.name!r} holds changes that were not checkpointed (a writer did not "
                f"close the store, or is still running): open the store once from a "
                f"writable location so the log is folded into the catalog, then retry"
            )
        self._conn = self._connect(uri + "?mode=ro&immutable=1")

    def _journal_mode(self) -> str:
        rows = self._retrying(lambda: self._conn.execute("PRAGMA journal_mode").fetchall())
        return str(rows[0][0]).lower() if rows else ""

    def _read_format(self) -> int | None:
        with self.snapshot() as tx:
            return _format_version(tx, self.path)

    def _damaged(self, what: str) -> str:
        return (
            f"store catalog {str(self.path)!r} {what}, but the featstore.json beside it "
            f"says a feature store lives there: the catalog was deleted, truncated or "
            f"replaced. featstore never initialises over an existing store: restore "
            f"catalog.db from a backup (or create a new store in an empty directory)"
        )

    def _create_or_upgrade(self) -> None:
        with self.transaction() as tx:
            found = _format_version(tx, self.path)  # again: another process may have been first
            if found is not None and found > FORMAT_VERSION:
                raise ConfigError(
                    f"store catalog {str(self.path)!r} has format version {found}, newer "
                    f"than this featstore understands ({FORMAT_VERSION}); upgrade featstore"
                )
            if found is None and tx.one("SELECT 1 FROM sqlite_master LIMIT 1") is not None:
                raise CatalogError(
                    f"{str(self.path)!r} is an SQLite database but not a featstore catalog; "
                    f"featstore never initialises over an existing file: move it away"
                )
            if found == 1:
                _rename_v1_lineage(tx)
            tx.executescript_in_tx(_SCHEMA)
            if found == 1:
                _copy_v1_lineage(tx)
            if found in (1, 2):
                _add_file_mtimes(tx)
            if found != FORMAT_VERSION:
                tx.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('format_version', ?)",
                    (str(FORMAT_VERSION),),
                )

    def close(self) -> None:
        self._conn.close()

    def _error(self, exc: sqlite3.Error, *, timed_out: bool = False) -> CatalogError:
        """A CatalogError for an SQLite error, saying what it means and what to do."""
        text = str(exc)
        low = text.lower()
        if timed_out:
            hint = f"another process may hold the write lock for more than {self.max_wait_s:.0f}s"
        elif "readonly" in low or "read-only" in low:
            hint = (
                "the store is read-only: reads work, but to change it open the store from a "
                "writable location or fix its permissions"
            )
        elif "disk is full" in low:
            hint = "the disk holding the store is full: free space and retry"
        elif "disk i/o error" in low:
            hint = (
                "an I/O error reading or writing the catalog: check the disk; if it persists, "
                "restore catalog.db from a backup"
            )
        elif any(m in low for m in _DAMAGED):
            hint = (
                "the file is damaged or not a featstore catalog: restore catalog.db from a backup"
            )
        elif "unable to open database file" in low:
            hint = "check that the file exists and that its directory can be read"
        else:
            return CatalogError(f"catalog {str(self.path)!r}: {text}")
        return CatalogError(f"catalog {str(self.path)!r}: {text}; {hint}")

    def _retrying(self, op: Any) -> Any:
        deadline = time.monotonic() + self.max_wait_s
        delay = 0.01
        while True:
            try:
                return op()
            except sqlite3.OperationalError as exc:
                busy = any(m in str(exc) for m in _RETRYABLE)
                if not busy or time.monotonic() > deadline:
                    raise self._error(exc, timed_out=busy) from exc
                time.sleep(delay * (0.5 + random.random()))  # noqa: S311 (jitter, not crypto)
                delay = min(delay * 2, 1.0)
            except sqlite3.Error as exc:
                raise self._error(exc) from exc

    def _rollback(self) -> None:
        try:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass  # SQLite rolled back already (e.g. after an I/O error)

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        """A write transaction: all or nothing, retried while the database is locked."""
        if self.read_only:
            why = (
                "it was opened with read_only=True"
                if self._asked_read_only
                else "the store directory cannot be written"
            )
            raise CatalogError(
                f"catalog {str(self.path)!r} is open read-only ({why}): reads work, but to "
                f"change the store open it from a writable location without read_only"
            )
        self._retrying(lambda: self._conn.execute("BEGIN IMMEDIATE"))
        try:
            yield Tx(self._conn)
        except sqlite3.Error as exc:
            self._rollback()
            raise self._error(exc) from exc
        except BaseException:
            self._rollback()
            raise
        else:
            try:
                self._retrying(lambda: self._conn.execute("COMMIT"))
            except BaseException:
                self._rollback()
                raise

    # -- primitives (autocommit reads: each statement sees the latest commit) ------------

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        def run() -> list[Row]:
            cursor = self._conn.cursor()
            cursor.row_factory = None
            return cursor.execute(sql, tuple(params)).fetchall()

        rows: list[Row] = self._retrying(run)
        return rows

    def _run(self, sql: str, params: Sequence[Any] = ()) -> None:
        raise CatalogError("catalog writes happen only inside a transaction")

    _runmany = _run  # type: ignore[assignment]

    # -- raw SQL, for tests of this backend and for debugging ---------------------------

    def all(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        return list(self._retrying(lambda: self._conn.execute(sql, params).fetchall()))

    def one(self, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Row | None:
        rows = self.all(sql, params)
        return rows[0] if rows else None

    def tuples(self, sql: str, params: tuple[Any, ...] = ()) -> list[Row]:
        return self._rows(sql, params)

    @contextmanager
    def writer_lock(self, resource: str) -> Iterator[None]:
        """Writers of one store share its directory, whose file locks already exclude
        each other: nothing more to take here."""
        yield

    @contextmanager
    def snapshot(self) -> Iterator[Tx]:
        """A read transaction: several reads that see one consistent state.

        Every read on this catalog inside the block (``all``, ``one``, ``tuples``) sees
        the same state; nested snapshots join the outer one.
        """
        if self._conn.in_transaction:
            yield Tx(self._conn)
            return
        self._retrying(lambda: self._conn.execute("BEGIN DEFERRED"))
        try:
            # a deferred transaction takes its snapshot at its first read: read now
            self._retrying(
                lambda: self._conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
            )
            yield Tx(self._conn)
        except sqlite3.Error as exc:
            raise self._error(exc) from exc
        finally:
            self._rollback()


class Tx(WriteOps):
    """Statements inside one transaction."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        cursor = self._conn.cursor()
        cursor.row_factory = None
        return cursor.execute(sql, tuple(params)).fetchall()

    def _run(self, sql: str, params: Sequence[Any] = ()) -> None:
        self._conn.execute(sql, tuple(params))

    def _runmany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self._conn.executemany(sql, [tuple(r) for r in rows])

    # raw SQL for this backend's own schema work (format checks, upgrades)
    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> None:
        self._conn.execute(sql, params)

    def tuples(self, sql: str, params: tuple[Any, ...] = ()) -> Iterator[Row]:
        cursor = self._conn.cursor()
        cursor.row_factory = None
        return iter(cursor.execute(sql, params))

    def executescript_in_tx(self, script: str) -> None:
        code = "\n".join(line for line in script.splitlines() if not line.lstrip().startswith("--"))
        for statement in code.split(";"):
            if statement.strip():
                self._conn.execute(statement)

    def all(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        return list(self._conn.execute(sql, params).fetchall())

    def one(self, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self._conn.execute(sql, params).fetchone()
        return row


def _read_only_failure(exc: BaseException | None, path: Path) -> bool:
    """Whether an error opening a catalog means its directory cannot be written."""
    if not isinstance(exc, sqlite3.OperationalError):
        return False
    text = str(exc).lower()
    if "readonly" in text or "read-only" in text:
        return True
    return "unable to open database file" in text and not os.access(path.parent, os.W_OK)


def _format_version(tx: Tx, path: Path) -> int | None:
    if tx.one("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'") is None:
        return None
    row = tx.one("SELECT value FROM meta WHERE key = 'format_version'")
    if row is None:
        return None
    value = row["value"]
    if not (isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 10):
        raise CatalogError(
            f"store catalog {str(path)!r}: its format_version {value!r} is not a format "
            f"number; the catalog is damaged: restore catalog.db from a backup"
        )
    return int(value)


def _add_file_mtimes(tx: Tx) -> None:
    """Format 3 records each offline file's modification time and content hash; older
    rows keep nulls (their size is still checked)."""
    columns = {row[1] for row in tx.tuples("PRAGMA table_info(files)")}
    if "mtime_ns" not in columns:
        tx.execute("ALTER TABLE files ADD COLUMN mtime_ns INTEGER")
    if "sha256" not in columns:
        tx.execute("ALTER TABLE files ADD COLUMN sha256 TEXT")


def _rename_v1_lineage(tx: Tx) -> None:
    """Format 1 keyed edges by node id strings: move its lineage tables aside."""
    tx.execute("DROP INDEX IF EXISTS nodes_kind")
    tx.execute("DROP INDEX IF EXISTS edges_dst")
    tx.execute("ALTER TABLE nodes RENAME TO nodes_v1")
    tx.execute("ALTER TABLE edges RENAME TO edges_v1")


def _copy_v1_lineage(tx: Tx) -> None:
    tx.execute(
        "INSERT INTO nodes (id, kind, name, created_at, attrs) "
        "SELECT id, kind, name, created_at, attrs FROM nodes_v1 ORDER BY rowid"
    )
    tx.execute(
        "INSERT OR IGNORE INTO edges (src, dst, kind) SELECT s.nid, d.nid, e.kind "
        "FROM edges_v1 e JOIN nodes s ON s.id = e.src JOIN nodes d ON d.id = e.dst"
    )
    tx.execute("DROP TABLE nodes_v1")
    tx.execute("DROP TABLE edges_v1")
