"""Crash safety by fault injection: run operations in a subprocess, SIGKILL it at random
moments, and check that readers see the state before or after, never a mix; that no
partial file is visible; that catalog, lineage and files agree; and that re-running the
operation completes it (docs/commit-protocol.md).

The default suite kills a handful of times; ``-m slow`` kills at least 50 times per
operation.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest
from fault_worker import FEATURES, make_data, month_start, open_store

import featstore as fs

WORKER = Path(__file__).with_name("fault_worker.py")
MONTHS = 12


def run_worker(
    store: Path, data: Path, op: str, arg: str = "0", kill_after: float | None = None
) -> bool:
    """Run the worker; kill it after ``kill_after`` seconds. True if it completed."""
    proc = subprocess.Popen(
        [sys.executable, str(WORKER), str(store), str(data), op, arg],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    if kill_after is not None:
        try:
            proc.wait(timeout=kill_after)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
    out, err = proc.communicate(timeout=120)
    if proc.returncode not in (0, -signal.SIGKILL):
        raise AssertionError(f"worker {op} failed ({proc.returncode}):\n{err}")
    return proc.returncode == 0 and "ok" in out


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("fault_data")
    make_data(folder)
    return folder


@pytest.fixture(scope="module")
def reference(data: Path, tmp_path_factory: pytest.TempPathFactory) -> list[pl.DataFrame]:
    """Retrieval results after months 0..i are materialized, for every i."""
    store = open_store(tmp_path_factory.mktemp("fault_ref") / "store", data)
    labels = pl.read_parquet(data / "labels.parquet")
    results = []
    for i in range(MONTHS):
        store.materialize(month_start(i), month_start(i + 1))
        results.append(store.get_historical_features(labels, features=FEATURES).to_polars())
    store.close()
    return results


def assert_consistent(store_dir: Path) -> fs.FeatureStore:
    """Catalog, lineage and files agree; nothing unlisted is visible after gc."""
    store = fs.FeatureStore(store_dir, progress=False)
    cat = store.catalog
    for row in cat.all("SELECT path, rows FROM files WHERE active = 1"):
        path = store.offline.absolute(row["path"])
        assert path.exists(), f"active file missing: {row['path']}"
        assert pq.ParquetFile(path).metadata.num_rows == row["rows"]
    for row in cat.all("SELECT run_id, body FROM runs"):
        assert cat.one("SELECT 1 FROM nodes WHERE id = ?", (f"run:{row['run_id']}",))
        for rel in json.loads(row["body"])["files"]:
            assert cat.one("SELECT 1 FROM files WHERE path = ?", (rel,)) is not None or not (
                store.offline.absolute(rel).exists()
            )
    for table, column, prefix in (
        ("training_sets", "id", ""),
        ("prediction_batches", "batch_id", "prediction_batch:"),
    ):
        for row in cat.all(f"SELECT {column} AS id, path FROM {table}"):
            assert store.offline.absolute(row["path"]).exists(), f"{table} row without file"
            assert cat.one("SELECT 1 FROM nodes WHERE id = ?", (prefix + row["id"],))
    versions = [
        r["version"]
        for r in cat.all("SELECT version FROM model_versions WHERE name = 'model' ORDER BY version")
    ]
    assert versions == list(range(1, len(versions) + 1))
    for kind, sql in (
        ("materialization_run", "SELECT 'run:' || run_id AS id FROM runs"),
        ("training_set", "SELECT id FROM training_sets"),
        ("model_version", "SELECT 'model:' || name || '@' || version AS id FROM model_versions"),
        (
            "prediction_batch",
            "SELECT 'prediction_batch:' || batch_id AS id FROM prediction_batches",
        ),
    ):
        nodes = {r["id"] for r in cat.all("SELECT id FROM nodes WHERE kind = ?", (kind,))}
        assert nodes == {r["id"] for r in cat.all(sql)}, f"orphan or missing {kind} nodes"
    store.gc()
    listed = {r["path"] for r in cat.all("SELECT path FROM files")}
    on_disk = {store.offline.relative(p) for p in store.offline.offline.rglob("*.parquet")}
    assert on_disk == listed
    assert not list(store.offline.staging_root.iterdir())
    return store


def calibrate(store: Path, data: Path, op: str, arg: str = "0") -> float:
    start = time.perf_counter()
    assert run_worker(store, data, op, arg)
    return time.perf_counter() - start


def kill_materialize(data: Path, reference: list[pl.DataFrame], root: Path, kills: int) -> int:
    store_dir = root / "store"
    duration = calibrate(store_dir, data, "materialize", "0")
    labels = pl.read_parquet(data / "labels.parquet")
    rng = random.Random(kills)
    survived = 0
    for n in range(kills):
        month = n + 1 if n + 1 < MONTHS else rng.randrange(MONTHS)
        done_before = min(n + 1, MONTHS) - 1 if n + 1 < MONTHS else MONTHS - 1
        completed = run_worker(
            store_dir, data, "materialize", str(month), kill_after=rng.uniform(0.2, 1.05) * duration
        )
        store = assert_consistent(store_dir)
        recorded = store.catalog.one(
            "SELECT count(*) AS n FROM runs WHERE start_ts = ? ",
            (month_start(month).isoformat(timespec="microseconds"),),
        )["n"]
        seen = store.get_historical_features(labels, features=FEATURES).to_polars()
        expected_after = reference[max(done_before, month)]
        expected_before = (
            reference[done_before - 1]
            if month > done_before and done_before > 0
            else reference[done_before]
        )
        if month == done_before + 1 and n + 1 < MONTHS:
            expected_before, expected_after = reference[done_before], reference[month]
        assert seen.equals(expected_after) or seen.equals(expected_before), (
            f"mixed state after kill {n}"
        )
        if completed or recorded:
            assert seen.equals(expected_after)
        store.close()
        survived += not completed
        # re-running the operation completes it
        fresh = open_store(store_dir, data)
        fresh.materialize(month_start(month), month_start(month + 1))
        assert (
            fresh.get_historical_features(labels, features=FEATURES)
            .to_polars()
            .equals(expected_after)
        )
        fresh.close()
    return survived


@pytest.mark.parametrize("kills", [4])
def test_killed_materialization_leaves_before_or_after(
    data: Path, reference: list[pl.DataFrame], tmp_path: Path, kills: int
) -> None:
    kill_materialize(data, reference, tmp_path, kills)


@pytest.mark.slow
def test_killed_materialization_many_times(
    data: Path, reference: list[pl.DataFrame], tmp_path: Path
) -> None:
    survived = kill_materialize(data, reference, tmp_path, 50)
    print(f"materialize: {survived} of 50 runs killed midway")


def prepared_store(root: Path, data: Path) -> Path:
    store_dir = root / "store"
    store = open_store(store_dir, data)
    store.materialize(month_start(0), month_start(MONTHS))
    labels = pl.read_parquet(data / "labels.parquet")
    training = store.save_training_set(
        store.get_historical_features(labels, features=FEATURES), "base"
    )
    store.register_model("model", training, metrics={"auc": 0.5})
    store.close()
    return store_dir


def kill_registry_ops(data: Path, root: Path, kills: int) -> dict[str, int]:
    store_dir = prepared_store(root, data)
    rng = random.Random(kills)
    survived: dict[str, int] = {}
    for op, arg in (("save_training_set", "x"), ("register_model", "5"), ("log_predictions", "0")):
        duration = calibrate(store_dir, data, op, arg)
        survived[op] = 0
        for n in range(kills):
            arg_n = f"k{n}" if op == "save_training_set" else arg
            before = _counts(store_dir)
            completed = run_worker(
                store_dir, data, op, arg_n, kill_after=rng.uniform(0.2, 1.05) * duration
            )
            store = assert_consistent(store_dir)
            after = _counts(store_dir)
            if op != "register_model":
                assert after[op] - before[op] in (0, 1)
                if completed:
                    assert after[op] == before[op] + 1
            store.close()
            survived[op] += not completed
        # re-running completes
        assert run_worker(store_dir, data, op, "final" if op == "save_training_set" else arg)
        assert_consistent(store_dir).close()
    store = fs.FeatureStore(store_dir, progress=False)
    for ts in store.list_training_sets():
        assert store.rebuild_training_set(ts).frame.equals(ts.to_polars())
    store.close()
    return survived


def _counts(store_dir: Path) -> dict[str, int]:
    store = fs.FeatureStore(store_dir, progress=False)
    out = {
        "save_training_set": store.catalog.one("SELECT count(*) AS n FROM training_sets")["n"],
        "register_model": store.catalog.one("SELECT count(*) AS n FROM model_versions")["n"],
        "log_predictions": store.catalog.one("SELECT count(*) AS n FROM prediction_batches")["n"],
    }
    store.close()
    return out


def test_killed_training_set_model_and_prediction_writes_leave_no_trace(
    data: Path, tmp_path: Path
) -> None:
    kill_registry_ops(data, tmp_path, 2)


@pytest.mark.slow
def test_killed_training_set_model_and_prediction_writes_many_times(
    data: Path, tmp_path: Path
) -> None:
    survived = kill_registry_ops(data, tmp_path, 50)
    print(f"registry ops killed midway: {survived}")
