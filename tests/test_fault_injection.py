"""Crash safety by fault injection: run operations in a subprocess, SIGKILL it at random
moments, and check that readers see the state before or after, never a mix; that no
partial file is visible; that catalog, lineage and files agree; and that re-running the
operation completes it (docs/commit-protocol.md).

The default suite kills a handful of times; ``-m slow`` kills 30 times (20 on PostgreSQL) per
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
from typing import Any

import polars as pl
import pyarrow.parquet as pq
import pytest
from fault_worker import FEATURES, make_data, month_start, open_store
from helpers import ON_BOTH, SLOW_ON_POSTGRESQL

import featstore as fs

# on PostgreSQL the default suite runs test_catalog_postgres's kills (every operation)
pytestmark = pytest.mark.usefixtures("catalog_env")

WORKER = Path(__file__).with_name("fault_worker.py")


def _many(catalog_backend: str) -> int:
    """Kills per operation in the slow suite: 30 on SQLite; 20 on PostgreSQL, whose
    kills test_catalog_postgres also runs (mixed, 24 more), to keep CI within its time."""
    return 30 if catalog_backend == "sqlite" else 20


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

    def listed_files() -> dict[str, dict[str, Any]]:
        """Every offline file the catalog lists, of every view (active or not)."""
        paths = {p for view in cat.current_names("feature_view") for p in cat.file_paths(view)}
        return cat.files(sorted(paths))

    for row in listed_files().values():
        if not row["active"]:
            continue
        path = store.offline.absolute(row["path"])
        assert path.exists(), f"active file missing: {row['path']}"
        assert pq.ParquetFile(path).metadata.num_rows == row["rows"]
    runs = [json.loads(body) for body in cat.run_bodies()]
    for run in runs:
        assert cat.lineage_node(f"run:{run['run_id']}")
        for rel in run["files"]:
            assert cat.files([rel]) or not store.offline.absolute(rel).exists()
    training_sets = cat.training_sets()
    batches = cat.prediction_batches()
    for table, rows, column, prefix in (
        ("training_sets", training_sets, "id", ""),
        ("prediction_batches", batches, "batch_id", "prediction_batch:"),
    ):
        for row in rows:
            assert store.offline.absolute(row["path"]).exists(), f"{table} row without file"
            assert cat.lineage_node(prefix + row[column])
    versions = [json.loads(body)["version"] for body in cat.model_version_bodies("model")]
    assert versions == list(range(1, len(versions) + 1))
    models = [json.loads(body) for body in cat.model_version_bodies()]
    recorded = {
        "materialization_run": {f"run:{r['run_id']}" for r in runs},
        "training_set": {r["id"] for r in training_sets},
        "model_version": {f"model:{m['name']}@{m['version']}" for m in models},
        "prediction_batch": {f"prediction_batch:{r['batch_id']}" for r in batches},
    }
    nodes = cat.lineage_all_nodes()  # (nid, id, kind, name, created_at, attrs)
    for kind, ids in recorded.items():
        assert {n[1] for n in nodes if n[2] == kind} == ids, f"orphan or missing {kind} nodes"
    store.gc()
    listed = set(listed_files())
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
        start = month_start(month).isoformat(timespec="microseconds")
        recorded = sum(1 for run in store.runs() if run["start"] == start)
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


@SLOW_ON_POSTGRESQL
@pytest.mark.parametrize("kills", [4])
def test_killed_materialization_leaves_before_or_after(
    data: Path, reference: list[pl.DataFrame], tmp_path: Path, kills: int
) -> None:
    kill_materialize(data, reference, tmp_path, kills)


@pytest.mark.slow
@ON_BOTH
def test_killed_materialization_many_times(
    data: Path, reference: list[pl.DataFrame], tmp_path: Path, catalog_backend: str
) -> None:
    kills = _many(catalog_backend)
    survived = kill_materialize(data, reference, tmp_path, kills)
    print(f"materialize: {survived} of {kills} runs killed midway")


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
        "save_training_set": len(store.catalog.training_set_ids()),
        "register_model": sum(count for _, _, count in store.catalog.model_summaries()),
        "log_predictions": len(store.catalog.prediction_batches()),
    }
    store.close()
    return out


@SLOW_ON_POSTGRESQL
def test_killed_training_set_model_and_prediction_writes_leave_no_trace(
    data: Path, tmp_path: Path
) -> None:
    kill_registry_ops(data, tmp_path, 2)


@pytest.mark.slow
@ON_BOTH
def test_killed_training_set_model_and_prediction_writes_many_times(
    data: Path, tmp_path: Path, catalog_backend: str
) -> None:
    survived = kill_registry_ops(data, tmp_path, _many(catalog_backend))
    print(f"registry ops killed midway: {survived}")
