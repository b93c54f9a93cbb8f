"""Storage hardening (issue 8, items 12-14, 16 and parts of 17): featstore deletes and
writes only what it owns, never through a symbolic link; killed writers leave nothing
that gc does not remove; concurrent writers never collect each other's staging; a
damaged or foreign catalog is never mistaken for a new store; a read-only store reads
and says "read-only" when asked to write; bad store paths, configs and model versions
are refused with clear errors that change nothing.

Each test reproduces the failure the issue describes; bad-input tests check the
exception type, the message, and that no file and no catalog row changed.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from helpers import END, START, make_events

import featstore as fs
from featstore.catalog import SQLiteCatalog as Catalog
from featstore.offline import OfflineStore

PACKAGE_ROOT = Path(fs.__file__).resolve().parent.parent


# -- a pristine store, copied for each test ---------------------------------------------


def _definitions() -> list[Any]:
    customer = fs.Entity("customer", join_keys=["customer_id"])
    tx = fs.DataFrameSource("tx", data=make_events(120), timestamp_column="ts")
    amounts = fs.FeatureView("amounts", entity=customer, source=tx, features=["amount"])
    return [customer, tx, amounts]


def _entities() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "customer_id": [0, 1, 2, 3],
            "event_timestamp": [datetime(2024, 2, 1), datetime(2024, 3, 1)] * 2,
            "label": [0, 1, 1, 0],
        }
    )


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with a materialized view, a training set, a model with an alias and a
    prediction batch (closed, so the catalog file holds everything)."""
    path = tmp_path_factory.mktemp("pristine") / "store"
    with fs.FeatureStore(path, progress=False, threads=1) as store:
        store.apply(_definitions())
        store.materialize(START, END)
        result = store.get_historical_features(_entities(), features=["amounts:amount"])
        ts = store.save_training_set(result, "churn_train")
        mv = store.register_model("churn", ts, metrics={"auc": 0.7})
        store.set_alias("churn", "production", mv.version)
        store.log_predictions(
            mv, pl.DataFrame({"customer_id": [0, 1], "score": [0.2, 0.8]}), as_of=END
        )
    return path


@dataclass
class Copy:
    path: Path  # this test's copy of the pristine store
    outside: Path  # a directory outside the store (what must never be touched)
    opened: list[fs.FeatureStore]

    def open(self, path: Path | None = None, **kwargs: Any) -> fs.FeatureStore:
        store = fs.FeatureStore(path or self.path, progress=False, threads=1, **kwargs)
        self.opened.append(store)
        return store


@pytest.fixture
def copy(pristine: Path, tmp_path: Path) -> Iterator[Copy]:
    path = tmp_path / "store"
    shutil.copytree(pristine, path)
    outside = tmp_path / "outside"
    outside.mkdir()
    c = Copy(path, outside, [])
    yield c
    for store in c.opened:
        store.close()


def catalog_rows(store_dir: Path) -> dict[str, list[str]]:
    """Every row of every catalog table (read-only, so looking changes nothing)."""
    uri = (store_dir / "catalog.db").absolute().as_uri() + "?mode=ro"
    with closing(sqlite3.connect(uri, uri=True)) as con:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {
            t: sorted(repr(r) for r in con.execute(f'SELECT * FROM "{t}"')) for t in sorted(tables)
        }


def files(root: Path, *, skip: tuple[str, ...] = ("locks", "tmp")) -> dict[str, bytes | str]:
    """Every entry under ``root`` (not following links): file bytes, ``dir`` or the link
    target; the catalog database and ``skip`` folders (lock files, spill space) left out."""
    out: dict[str, bytes | str] = {}
    if not root.exists():
        return out
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        rel = Path(dirpath).relative_to(root)
        if rel == Path("."):
            dirnames[:] = [d for d in dirnames if d not in skip]
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            key = (rel / name).as_posix()
            if key.startswith("catalog.db"):
                continue
            if path.is_symlink():
                out[key] = f"link:{os.readlink(path)}"
            elif path.is_dir():
                out[key] = "dir"
            else:
                out[key] = path.read_bytes()
    return out


def _plant_outside_parquet(folder: Path) -> dict[str, bytes | str]:
    """Files named exactly like featstore's own, in a directory featstore does not own."""
    month = folder / "2024-01"
    month.mkdir(parents=True)
    (month / ("part-" + "ab" * 16 + ".parquet")).write_bytes(b"PAR1 user data")
    (folder / ("cd" * 8 + ".parquet")).write_bytes(b"PAR1 more user data")
    return files(folder)


# -- 12: featstore only deletes and writes what it owns ------------------------------------


def _version(store: fs.FeatureStore) -> str:
    return str(store.get_feature_view("amounts")["version"])


@pytest.mark.parametrize("where", ["view", "version", "month"])
def test_gc_never_follows_a_symlink_out_of_the_store(copy: Copy, where: str) -> None:
    """gc followed ``offline/<view>`` linked to an outside directory and deleted the
    Parquet files there. Now a link anywhere under ``offline/`` is refused before
    anything is deleted."""
    store = copy.open()
    victim = copy.outside / "victim"
    victim.mkdir()
    outside_before = _plant_outside_parquet(victim)
    version = _version(store)
    link = {
        "view": copy.path / "offline" / "linked_view",
        "version": copy.path / "offline" / "amounts" / ("e" * 12),
        "month": copy.path / "offline" / "amounts" / version / "2030-01",
    }[where]
    link.symlink_to(victim, target_is_directory=True)
    store_before = files(copy.path)

    with pytest.raises(fs.StorageError, match=r"is a symbolic link.*never writes or deletes"):
        store.gc()

    assert files(victim) == outside_before, "gc deleted files outside the store"
    assert files(copy.path) == store_before
    rel = link.relative_to(copy.path).as_posix()
    with pytest.raises(fs.StorageError, match=rf"'{rel}' in store .* is a symbolic link"):
        store.gc()


def test_staging_cleanup_never_follows_a_symlink_out_of_the_store(copy: Copy) -> None:
    """A symlinked ``staging/`` had a directory outside the store removed (and a .lock
    file created in it)."""
    victim = copy.outside / "work"
    (victim / ("ab" * 16)).mkdir(parents=True)  # named like a staging directory
    (victim / ("ab" * 16) / "results.parquet").write_bytes(b"PAR1 precious")
    (victim / "notes").mkdir()
    (victim / "notes" / "todo.txt").write_text("keep me")
    before = files(victim)
    shutil.rmtree(copy.path / "staging")
    (copy.path / "staging").symlink_to(victim, target_is_directory=True)
    store = copy.open()

    with pytest.raises(fs.StorageError, match=r"'staging' in store .* is a symbolic link"):
        store.gc()
    store.apply(_definitions())
    with pytest.raises(fs.StorageError, match=r"'staging' in store .* is a symbolic link"):
        store.materialize(START, END)  # its staging cleanup and its staging directory
    assert files(victim) == before


def _outside_link(copy: Copy, rel: str) -> Path:
    """Make ``rel`` under the store a link to a fresh outside directory; return that."""
    target = copy.outside / rel.replace("/", "_")
    target.mkdir()
    link = copy.path / rel
    if link.is_dir():
        shutil.move(str(link), str(target / "_moved"))  # keep nothing featstore wrote in it
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target, target_is_directory=True)
    return target


@pytest.mark.parametrize(
    "rel",
    [
        "training_sets/fresh_name",
        "training_sets",
        "predictions/churn",
        "predictions",
        "predictions/churn/2",
    ],
)
def test_training_sets_and_predictions_are_never_written_through_a_symlink(
    copy: Copy, rel: str
) -> None:
    """save_training_set and log_predictions wrote through symlinked
    ``training_sets/<name>`` and ``predictions/<model>`` to outside paths."""
    store = copy.open()
    store.apply(_definitions())
    result = store.get_historical_features(_entities(), features=["amounts:amount"])
    model = store.register_model("churn", None) if rel.endswith("/2") else store.get_model("churn")
    target = _outside_link(copy, rel)
    outside_before = files(copy.outside)
    store_before, rows_before = files(copy.path), catalog_rows(copy.path)

    scored = pl.DataFrame({"customer_id": [1], "p": [0.5]})
    write: Callable[[], Any] = (
        (lambda: store.save_training_set(result, "fresh_name"))
        if rel.startswith("training_sets")
        else (lambda: store.log_predictions(model, scored, as_of=END))
    )

    with pytest.raises(fs.StorageError, match=r"is a symbolic link.*replace the link"):
        write()

    assert files(copy.outside) == outside_before, f"written through the link to {target}"
    assert files(copy.path) == store_before
    assert catalog_rows(copy.path) == rows_before


def test_a_content_id_never_leads_a_training_set_out_of_its_folder(copy: Copy) -> None:
    """The training-set path is built from the manifest's content id: a doctored one
    ('../../..') wrote the file outside the store."""
    store = copy.open()
    result = store.get_historical_features(_entities(), features=["amounts:amount"])
    escape = os.path.relpath(copy.outside / "evil", copy.path / "training_sets" / "x")
    doctored = replace(result, manifest={**result.manifest, "content_id": escape})
    store_before, rows_before = files(copy.path), catalog_rows(copy.path)

    with pytest.raises(fs.DefinitionError, match=r"content id '.*evil' is not a hex digest"):
        store.save_training_set(doctored, "x")
    assert files(copy.outside) == {}
    assert files(copy.path) == store_before
    assert catalog_rows(copy.path) == rows_before


@pytest.mark.parametrize("folder", ["locks", "tmp"])
def test_locks_and_spill_space_are_never_written_through_a_symlink(copy: Copy, folder: str) -> None:
    """Lock files and DuckDB's spill files would land outside the store through a
    symlinked ``locks/`` or ``tmp/``."""
    shutil.rmtree(copy.path / folder)
    (copy.path / folder).symlink_to(copy.outside, target_is_directory=True)
    store = copy.open()
    rows_before = catalog_rows(copy.path)
    link_error = rf"'{folder}' in store .* is a symbolic link"
    if folder == "tmp":
        with pytest.raises(fs.StorageError, match=link_error):
            store.apply(_definitions())  # DuckDB starts with its spill directory
        assert catalog_rows(copy.path) == rows_before
    else:
        store.apply(_definitions())
        with pytest.raises(fs.StorageError, match=link_error):
            store.materialize(START, END)
        assert catalog_rows(copy.path)["files"] == rows_before["files"]
    assert files(copy.outside) == {}


def test_a_store_reached_through_a_symlink_works(copy: Copy, tmp_path: Path) -> None:
    """The store root itself may be a link (users do that): everything works through it
    and lands in the real directory."""
    alias = tmp_path / "alias"
    alias.symlink_to(copy.path, target_is_directory=True)
    store = copy.open(alias)
    store.apply(_definitions())
    store.materialize(datetime(2024, 3, 1), END)
    result = store.get_historical_features(_entities(), features=["amounts:amount"])
    ts = store.save_training_set(result, "via_link")
    store.log_predictions(
        store.get_model("churn"), pl.DataFrame({"customer_id": [1], "p": [0.5]}), as_of=END
    )
    assert store.gc() == []
    assert (copy.path / "training_sets" / "via_link" / f"{ts.content_id}.parquet").is_file()
    assert store.get_training_set(ts.id).to_polars().equals(result.frame)


def test_gc_deletes_only_files_featstore_names_as_its_own(copy: Copy) -> None:
    """Files featstore would never write (other names, other folders) are not garbage."""
    store = copy.open()
    keep = [
        copy.path / "offline" / "amounts" / "README.txt",
        copy.path / "offline" / "amounts" / _version(store) / "notes.parquet",
        copy.path / "offline" / "not a view" / "x.parquet",
        copy.path / "training_sets" / "churn_train" / "export.csv",
        copy.path / "predictions" / "churn" / "latest" / ("ab" * 16 + ".parquet"),
        copy.path / "staging" / "not-a-run",
    ]
    for path in keep:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"user file")
    assert store.gc() == []
    assert all(p.exists() for p in keep)


# -- 13: killed writes leave nothing behind, everywhere ----------------------------------

_KILL_BEFORE_COMMIT = """
import os, sys
from datetime import datetime
import polars as pl
import featstore as fs
from featstore.catalog import SQLiteCatalog as Catalog

store = fs.FeatureStore(sys.argv[1], progress=False, threads=1)
entities = pl.DataFrame({{"customer_id": [0, 1], "event_timestamp": [datetime(2024, 3, 1)] * 2}})
result = store.get_historical_features(entities, features=["amounts:amount"])
model = store.get_model("churn")
Catalog.transaction = lambda self: os._exit(9)  # killed after publishing, before committing
{op}
"""


@pytest.mark.parametrize(
    ("op", "folder"),
    [
        ('store.save_training_set(result, "killed")', "training_sets"),
        (
            'store.log_predictions(model, pl.DataFrame({"customer_id": [1], "p": [0.5]}),'
            " as_of=datetime(2024, 5, 1))",
            "predictions",
        ),
    ],
    ids=["save_training_set", "log_predictions"],
)
def test_gc_removes_what_a_killed_training_set_or_prediction_write_left(
    copy: Copy, op: str, folder: str
) -> None:
    """After save_training_set or log_predictions was killed before its commit, gc()
    left the orphan Parquet forever (it scanned only offline/ and staging/)."""
    rows_before = catalog_rows(copy.path)
    listed_before = files(copy.path / folder)
    code = _KILL_BEFORE_COMMIT.format(op=op)
    proc = subprocess.run(
        [sys.executable, "-c", code, str(copy.path)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(PACKAGE_ROOT)},
        check=False,
    )
    assert proc.returncode == 9, proc.stderr
    left = set(files(copy.path / folder)) - set(listed_before)
    assert any(p.endswith(".parquet") for p in left), "the killed writer published nothing"

    removed = copy.open().gc()

    assert {f"{folder}/{p}" for p in left if p.endswith(".parquet")} <= set(removed)
    assert {p for p in files(copy.path / folder) if p.endswith(".parquet")} == {
        p for p in listed_before if p.endswith(".parquet")
    }
    assert catalog_rows(copy.path) == rows_before


def _pause_commit(store: fs.FeatureStore, during: Callable[[], None]) -> None:
    """Run ``during`` when ``store`` is about to commit its next write (published but
    not yet listed)."""
    real = store.catalog.transaction
    fired = []

    def transaction() -> Any:
        if not fired:
            fired.append(True)
            during()
        return real()

    store.catalog.transaction = transaction  # type: ignore[method-assign]


@pytest.mark.parametrize("kind", ["training_set", "predictions"])
def test_gc_never_removes_a_file_between_its_publication_and_its_commit(
    copy: Copy, kind: str
) -> None:
    """gc now collects training_sets/ and predictions/; it must wait for a writer that
    has published its file and not yet committed it, never delete it."""
    writer, collector = copy.open(), copy.open()
    result = writer.get_historical_features(_entities(), features=["amounts:amount"])
    removed: list[str] = []
    thread = threading.Thread(target=lambda: removed.extend(collector.gc()))

    def run_gc() -> None:
        thread.start()
        thread.join(timeout=2.0)
        assert thread.is_alive(), "gc did not wait for the writer's lock"

    _pause_commit(writer, run_gc)
    if kind == "training_set":
        saved = writer.save_training_set(result, "in_flight")
        path = saved.path
    else:
        batch = writer.log_predictions(
            writer.get_model("churn"), pl.DataFrame({"customer_id": [1], "p": [0.5]}), as_of=END
        )
        path = batch.path
    thread.join(timeout=60)
    assert not thread.is_alive()
    assert path.is_file(), "gc deleted a file whose writer was about to commit it"
    assert writer.offline.relative(path) not in removed
    assert pl.read_parquet(path).height > 0


# -- 14: concurrent writers do not destroy each other's work -----------------------------


def test_concurrent_writers_never_collect_each_others_staging(
    copy: Copy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer's freshly created staging directory (before its lock was taken) was
    deleted by another writer's staging cleanup, which crashed the first with
    FileNotFoundError. Reproduced deterministically: the other writer's cleanup runs
    right after the directory is made, before its lock is taken."""
    owner = OfflineStore(copy.path)
    other = OfflineStore(copy.path)  # flock: another descriptor acts as another process
    collected: list[str] = []
    collector = threading.Thread(target=lambda: collected.extend(other.collect_staging()))
    real_mkdir = os.mkdir
    started: list[bool] = []

    def mkdir(path: Any, *args: Any, **kwargs: Any) -> None:
        real_mkdir(path, *args, **kwargs)
        if Path(path).parent == owner.staging_root and not started:
            started.append(True)
            collector.start()  # the other writer's cleanup, at the worst moment
            collector.join(timeout=1.0)

    monkeypatch.setattr(os, "mkdir", mkdir)
    run_id = "5e" * 16
    with owner.staging(run_id) as folder:
        (folder / "2024-01.parquet").write_bytes(b"PAR1 being written")
        assert (folder / "2024-01.parquet").exists()
    collector.join(timeout=30)
    assert not collector.is_alive()
    assert f"staging/{run_id}" not in collected
    assert not (copy.path / "staging" / run_id).exists()  # removed by its owner


def test_staging_of_dead_writers_is_collected_even_without_a_lock_file(copy: Copy) -> None:
    """A writer killed between creating its directory and locking it leaves a directory
    without .lock; a writer killed later leaves one with a free lock: both are garbage.
    A live writer's directory is kept."""
    dead_early = copy.path / "staging" / ("0a" * 16)
    dead_late = copy.path / "staging" / ("0b" * 16)
    dead_early.mkdir()
    dead_late.mkdir()
    (dead_late / ".lock").touch()
    (dead_late / "2024-01.parquet").write_bytes(b"PAR1")
    store = copy.open()
    with store.offline.staging("0c" * 16) as live:
        removed = store.gc()
        assert live.is_dir()
    assert set(removed) == {"staging/" + "0a" * 16, "staging/" + "0b" * 16}
    assert list((copy.path / "staging").iterdir()) == []


# -- 16: a damaged or foreign catalog is never mistaken for a new store ------------------


def _damage(db: Path, how: str) -> None:
    data = db.read_bytes()
    if how == "emptied":
        db.write_bytes(b"")
    elif how == "zeroed":
        db.write_bytes(bytes(len(data)))
    elif how == "truncated":
        db.write_bytes(data[: len(data) // 3])
    elif how == "not-sqlite":
        db.write_text("id,name\n1,not a database\n")
    elif how == "pages-corrupt":
        db.write_bytes(data[:4096] + bytes(b ^ 0x5A for b in data[4096:]))
    elif how == "missing":
        db.unlink()
    elif how == "foreign":
        db.unlink()
        with closing(sqlite3.connect(db)) as con:
            con.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
            con.execute("INSERT INTO invoices VALUES (1, 9.5)")
            con.commit()
    elif how == "no-meta-row":
        with closing(sqlite3.connect(db)) as con:
            con.execute("DELETE FROM meta")
            con.commit()
    elif how == "bad-meta-value":
        with closing(sqlite3.connect(db)) as con:
            con.execute("UPDATE meta SET value = 'three' WHERE key = 'format_version'")
            con.commit()
    else:
        raise AssertionError(how)


DAMAGE = {
    "emptied": r"catalog\.db' is empty \(0 bytes\).*featstore\.json.*restore catalog\.db from a backup",
    "zeroed": r"catalog\.db'.*not a database.*restore catalog\.db from a backup",
    "truncated": r"catalog\.db'.*(malformed|not a database).*restore catalog\.db from a backup",
    "not-sqlite": r"catalog\.db'.*not a database.*restore catalog\.db from a backup",
    "pages-corrupt": r"catalog\.db'.*(malformed|not a database).*restore catalog\.db from a backup",
    "missing": r"catalog\.db' is missing.*featstore\.json.*restore catalog\.db from a backup",
    "foreign": r"catalog\.db' holds no featstore catalog.*never initialises.*backup",
    "no-meta-row": r"catalog\.db' holds no featstore catalog.*never initialises.*backup",
    "bad-meta-value": r"format_version 'three' is not a format number.*backup",
}


@pytest.mark.parametrize("how", sorted(DAMAGE))
def test_a_damaged_catalog_is_never_mistaken_for_a_new_store(copy: Copy, how: str) -> None:
    """A truncated, zeroed or non-SQLite catalog raised a raw sqlite3.DatabaseError; an
    emptied one opened silently as a new, empty store."""
    db = copy.path / "catalog.db"
    _damage(db, how)
    before = {**files(copy.path, skip=()), "catalog": db.read_bytes() if db.exists() else b""}

    def open_and_read() -> None:
        copy.open().list_definitions()  # a damaged page may show only when it is read

    with pytest.raises(fs.CatalogError, match=DAMAGE[how]) as caught:
        open_and_read()
    assert str(db) in str(caught.value)

    after = {**files(copy.path, skip=()), "catalog": db.read_bytes() if db.exists() else b""}
    assert after == before, "the damaged store was changed (initialised over?)"


def test_a_foreign_database_without_a_store_config_is_not_initialised(tmp_path: Path) -> None:
    """A directory holding someone else's SQLite file named catalog.db (no featstore.json)
    is not a new store: featstore never initialises over an existing file."""
    path = tmp_path / "project"
    path.mkdir()
    _damage_target = path / "catalog.db"
    with closing(sqlite3.connect(_damage_target)) as con:
        con.execute("CREATE TABLE notes (body TEXT)")
        con.commit()
    before = files(path, skip=()), _damage_target.read_bytes()
    with pytest.raises(fs.CatalogError, match=r"is an SQLite database but not a featstore catalog"):
        fs.FeatureStore(path, progress=False)
    assert (files(path, skip=()), _damage_target.read_bytes()) == before


def test_a_new_directory_is_initialised(tmp_path: Path) -> None:
    """Only a directory with neither featstore.json nor a catalog is a new store."""
    with fs.FeatureStore(tmp_path / "new", progress=False) as store:
        assert store.list_definitions() == []
        assert not store.read_only
    assert json.loads((tmp_path / "new" / "featstore.json").read_text())["format_version"] >= 3
    with fs.FeatureStore(tmp_path / "new", progress=False, create=False) as again:
        assert again.list_definitions() == []


def test_a_store_half_created_by_a_killed_process_is_created(tmp_path: Path) -> None:
    """A process killed while creating a store leaves at most an empty catalog.db and no
    featstore.json (the config is written last): that is still a new store."""
    path = tmp_path / "half"
    path.mkdir()
    (path / "catalog.db").write_bytes(b"")
    with fs.FeatureStore(path, progress=False) as store:
        assert store.list_definitions() == []
    assert (path / "featstore.json").is_file()


def test_processes_creating_one_store_at_once_all_succeed(tmp_path: Path) -> None:
    """The creation order (catalog, then config) never makes a racing opener see a
    half-made store as damaged or foreign."""
    path = tmp_path / "raced"
    code = (
        "import sys, featstore as fs\n"
        "with fs.FeatureStore(sys.argv[1], progress=False) as s:\n"
        "    print(len(s.list_definitions()))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(PACKAGE_ROOT)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(6)
    ]
    results = [(p.communicate(timeout=120), p.returncode) for p in procs]
    assert all(rc == 0 and out.strip() == "0" for (out, _), rc in results), results


# -- 17: read-only stores, error wording, store paths, configs, model versions -----------

_READ_ONLY_CHILD = """
import json, sys
from datetime import datetime
import polars as pl
import featstore as fs

out = {}
store = fs.FeatureStore(sys.argv[1], progress=False, threads=1)
out["read_only"] = store.read_only
out["views"] = [r["name"] for r in store.list_definitions()]
entities = pl.DataFrame({"customer_id": [0, 1], "event_timestamp": [datetime(2024, 3, 1)] * 2})
result = store.get_historical_features(entities, features=["amounts:amount"])
out["rows"] = result.frame.height
version = store.get_feature_view("amounts")["version"]
out["upstream"] = [n.id for n in store.lineage.upstream(f"view:amounts@{version}")]
out["downstream"] = sorted(n.kind for n in store.lineage.downstream("source:tx"))
out["training_set"] = store.get_training_set("churn_train").to_polars().height
out["alias"] = store.get_model("churn", alias="production").version
writes = {
    "apply": lambda: store.apply([fs.Entity("other", join_keys=["k"])]),
    "save_training_set": lambda: store.save_training_set(result, "new_name"),
    "register_model": lambda: store.register_model("churn", None),
    "set_alias": lambda: store.set_alias("churn", "staging", 1),
    "log_predictions": lambda: store.log_predictions(
        store.get_model("churn"), pl.DataFrame({"customer_id": [1], "p": [0.5]}),
        as_of=datetime(2024, 5, 1)),
    "gc": store.gc,
}
out["errors"] = {}
for name, write in writes.items():
    try:
        write()
    except fs.FeatstoreError as exc:
        out["errors"][name] = [type(exc).__name__, str(exc)]
    else:
        out["errors"][name] = None
store.close()
print(json.dumps(out))
"""


def _without_write_override() -> None:
    """In the child: drop CAP_DAC_OVERRIDE (root ignores permission bits otherwise)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(24, 1, 0, 0, 0) != 0:  # PR_CAPBSET_DROP, CAP_DAC_OVERRIDE
        os._exit(77)


def _chmod_tree(root: Path, *, writable: bool) -> None:
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            path = Path(dirpath) / name
            mode = path.stat().st_mode
            path.chmod(mode | 0o200 if writable else mode & ~0o222)
    mode = root.stat().st_mode
    root.chmod(mode | 0o200 if writable else mode & ~0o222)


@pytest.mark.parametrize("without", [(), ("tmp", "locks", "staging")])
def test_a_read_only_store_reads_and_says_read_only_on_write(
    copy: Copy, without: tuple[str, ...]
) -> None:
    """On a store directory without write permission, opening said "another process may
    hold the write lock for more than 60s" (SQLite cannot set up WAL there) and the
    offline store's mkdir of tmp/ or locks/ failed. Reads must work; writes must say
    "read-only"."""
    if sys.platform != "linux":
        pytest.skip("drops a Linux capability to make permission bits bind root")
    for folder in without:  # a store copied without its scratch folders
        shutil.rmtree(copy.path / folder)
    before = files(copy.path, skip=()), (copy.path / "catalog.db").read_bytes()
    _chmod_tree(copy.path, writable=False)
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _READ_ONLY_CHILD, str(copy.path)],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "PYTHONPATH": str(PACKAGE_ROOT)},
            preexec_fn=_without_write_override if os.geteuid() == 0 else None,
            check=False,
        )
    finally:
        _chmod_tree(copy.path, writable=True)
    if proc.returncode == 77:
        pytest.skip("running as root without CAP_SETPCAP: cannot make the store read-only")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["read_only"] is True
    assert out["views"] == ["amounts"]
    assert out["rows"] == 2
    assert out["upstream"] == ["source:tx"]
    assert "model_version" in out["downstream"]
    assert out["training_set"] == 4
    assert out["alias"] == 1
    for name, error in out["errors"].items():
        assert error is not None, f"{name} wrote to a read-only store"
        kind, message = error
        assert kind in ("CatalogError", "StorageError"), (name, error)
        assert "read-only" in message, (name, message)
        assert "another process may hold the write lock" not in message, (name, message)
    assert (files(copy.path, skip=()), (copy.path / "catalog.db").read_bytes()) == before


def test_a_read_only_store_with_unfolded_changes_says_so(
    copy: Copy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read-only catalog whose write-ahead log still holds changes cannot be read
    exactly without writing: refused, saying what to do (never a stale read)."""
    store = copy.open()
    holder = sqlite3.connect(copy.path / "catalog.db", isolation_level=None)
    holder.execute("PRAGMA wal_autocheckpoint = 0")
    holder.execute("INSERT INTO meta (key, value) VALUES ('note', 'in the WAL only')")
    shutil.copytree(copy.path, copy.outside / "frozen")  # a copy taken while it was open
    holder.close()
    store.close()
    frozen = copy.outside / "frozen"
    (frozen / "catalog.db-shm").unlink(missing_ok=True)
    assert (frozen / "catalog.db-wal").stat().st_size > 0
    real_connect = sqlite3.connect  # simulate a read-only directory (root ignores the bits)

    def connect(database: str, *args: Any, **kwargs: Any) -> sqlite3.Connection:
        if "mode=ro" not in database:
            raise sqlite3.OperationalError("attempt to write a readonly database")
        if "immutable" not in database:
            raise sqlite3.OperationalError("unable to open database file")
        return real_connect(database, *args, **kwargs)

    monkeypatch.setattr("featstore.catalog.sqlite.sqlite3.connect", connect)
    with pytest.raises(fs.CatalogError, match=r"read-only and its write-ahead log.*writable"):
        Catalog(frozen / "catalog.db", create=False)


def test_only_a_real_lock_timeout_says_another_process_holds_the_lock(copy: Copy) -> None:
    """A disk-full error said "another process may hold the write lock for more than
    60s": only a lock timeout says that now."""
    store = copy.open()
    pages = store.catalog.one("PRAGMA page_count")[0]
    store.catalog.all(f"PRAGMA max_page_count = {pages}")  # the disk is now "full"
    rows_before = catalog_rows(copy.path)
    with pytest.raises(fs.CatalogError, match=r"disk is full.*free space") as caught:
        store.register_model("churn", None, params={"blob": "x" * 200_000})
    assert "another process may hold the write lock" not in str(caught.value)
    assert catalog_rows(copy.path) == rows_before

    holder = sqlite3.connect(copy.path / "catalog.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        waiting = Catalog(copy.path / "catalog.db", max_wait_s=0.2)
        timeout = r"database is locked.*another process may hold the write lock"
        with pytest.raises(fs.CatalogError, match=timeout), waiting.transaction():
            pass
        waiting.close()
    finally:
        holder.execute("ROLLBACK")
        holder.close()


@pytest.mark.parametrize("under", [False, True])
def test_a_store_path_is_a_directory_never_a_file(tmp_path: Path, under: bool) -> None:
    """FeatureStore(path) on an existing file, or under one, raised a raw
    FileExistsError / NotADirectoryError."""
    regular = tmp_path / "data.csv"
    regular.write_text("a,b\n1,2\n")
    path = regular / "store" if under else regular
    before = files(tmp_path, skip=())
    for create in (True, False):
        with pytest.raises(fs.ConfigError, match=r"is a file, not a store directory") as caught:
            fs.FeatureStore(path, progress=False, create=create)
        assert str(path) in str(caught.value)
    assert files(tmp_path, skip=()) == before


@pytest.mark.parametrize(
    "value",
    [
        "Infinity",
        "-Infinity",
        "NaN",
        "1e999",
        "1.5",
        "3.0",
        "true",
        "false",
        "null",
        "-1",
        "0",
        "100000000000000000000000000000",
        '"3"',
        "[3]",
    ],
)
def test_a_config_format_version_must_be_a_format_number(copy: Copy, value: str) -> None:
    """featstore.json with Infinity or 1e999 let an OverflowError escape; a float, bool,
    negative or huge number must be refused too."""
    config = copy.path / "featstore.json"
    config.write_text(f'{{"format_version": {value}, "created_by": "0.1"}}')
    before = files(copy.path, skip=()), catalog_rows(copy.path)
    with pytest.raises(fs.ConfigError, match=r"featstore\.json is not a featstore config"):
        copy.open()
    assert (files(copy.path, skip=()), catalog_rows(copy.path)) == before


@pytest.mark.parametrize(
    ("call", "exc", "match"),
    [
        (lambda s: s.set_alias("churn", "production", 1.9), fs.DefinitionError, r"found 1\.9"),
        (lambda s: s.set_alias("churn", "production", True), fs.DefinitionError, r"found True"),
        (lambda s: s.set_alias("churn", "production", "1"), fs.DefinitionError, r"found '1'"),
        (lambda s: s.set_alias("churn", "production", 0), fs.NotFoundError, r"no version 0"),
        (lambda s: s.set_alias("churn", "production", -1), fs.NotFoundError, r"no version -1"),
        (lambda s: s.set_alias("churn", "production", 2**70), fs.NotFoundError, r"no version"),
        (lambda s: s.get_model("churn", 1.5), fs.DefinitionError, r"found 1\.5"),
        (lambda s: s.get_model("churn", False), fs.DefinitionError, r"found False"),
        (lambda s: s.get_model("churn", 0), fs.NotFoundError, r"count up from 1"),
        (lambda s: s.rollback("churn", 1), fs.DefinitionError, r"alias .* must be a string"),
    ],
    ids=[
        "alias-float",
        "alias-bool",
        "alias-str",
        "alias-zero",
        "alias-negative",
        "alias-huge",
        "get-float",
        "get-bool",
        "get-zero",
        "rollback-int-alias",
    ],
)
def test_a_model_version_is_a_whole_number(
    copy: Copy, call: Callable[[fs.FeatureStore], Any], exc: type[Exception], match: str
) -> None:
    """set_alias(version=1.9) or version=True silently pointed the alias at version 1."""
    store = copy.open()
    before = files(copy.path), catalog_rows(copy.path)
    with pytest.raises(exc, match=match) as caught:
        call(store)
    assert "'churn'" in str(caught.value)
    assert (files(copy.path), catalog_rows(copy.path)) == before
    assert store.aliases("churn") == {"production": 1}


def test_no_raw_sqlite_error_escapes_the_catalog(copy: Copy) -> None:
    """Any SQLite error reaching the user is a CatalogError naming the catalog."""
    store = copy.open()
    with pytest.raises(fs.CatalogError, match=r"catalog '.*catalog\.db': no such table"):
        store.catalog.all("SELECT * FROM no_such_table")
    unique = r"catalog '.*catalog\.db': UNIQUE constraint failed"
    with pytest.raises(fs.CatalogError, match=unique), store.catalog.transaction() as tx:
        tx.execute("INSERT INTO meta (key, value) VALUES ('format_version', 'x')")
    assert store.catalog.one("SELECT value FROM meta WHERE key = 'format_version'")[0] == str(
        fs.catalog.FORMAT_VERSION
    )
    column = r"catalog '.*catalog\.db': no such column"
    with pytest.raises(fs.CatalogError, match=column), store.catalog.snapshot() as tx:
        tx.all("SELECT nonsense FROM meta")


def test_killed_write_reproduction_is_self_contained() -> None:
    """The subprocess snippets above are valid Python (a cheap guard for the template)."""
    compile(textwrap.dedent(_KILL_BEFORE_COMMIT.format(op="pass")), "<kill>", "exec")
    compile(_READ_ONLY_CHILD, "<ro>", "exec")
