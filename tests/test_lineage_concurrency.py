"""Durability and concurrency of training sets, model versions and prediction batches:
a failure inside the catalog transaction leaves nothing behind, and processes writing at
the same time lose nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from helpers import BOTH_CATALOGS
from lineage_helpers import World, world_fixture

import featstore as fs
import featstore.registry as fs_registry
from featstore.catalog import WriteOps

pytestmark = BOTH_CATALOGS

world = world_fixture("concurrency")


def _state(store: fs.FeatureStore) -> dict[str, Any]:
    """Everything the three operations may write: catalog rows, lineage, files."""

    cat = store.catalog
    models = [json.loads(body) for body in cat.model_version_bodies()]
    ids = {nid: node_id for nid, node_id, *_ in cat.lineage_all_nodes()}
    return {
        "training_sets": sorted(cat.training_set_ids()),
        "model_versions": sorted((m["name"], m["version"]) for m in models),
        "batches": sorted(b["batch_id"] for b in cat.prediction_batches()),
        "nodes": sorted(ids.values()),
        "edges": sorted((ids[src], ids[dst], kind) for src, dst, kind in cat.lineage_all_edges()),
        "files": sorted(
            str(p.relative_to(store.path))
            for sub in ("training_sets", "predictions")
            for p in (store.path / sub).rglob("*")
            if p.is_file()
        ),
        "staging": sorted(p.name for p in (store.path / "staging").iterdir()),
    }


class Injected(Exception):
    pass


@pytest.fixture(
    params=[("add_edges", Injected), ("add_node", Injected), ("add_edges", KeyboardInterrupt)],
    ids=["add_edges", "add_node", "add_edges-KeyboardInterrupt"],
)
def broken_tx(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> type[BaseException]:
    """Make a statement midway through the catalog transaction raise."""
    method, error = request.param

    def fail(self: WriteOps, *args: Any, **kwargs: Any) -> None:
        raise error("injected failure")

    # every backend's transaction object inherits the statement from WriteOps
    monkeypatch.setattr(WriteOps, method, fail)
    return error


# -- failures inside the transaction ---------------------------------------------------------


def test_failed_save_training_set_leaves_nothing(
    world: World, broken_tx: type[BaseException]
) -> None:
    before = _state(world.store)
    result = world.store.get_historical_features(world.entity.head(3), world.service)
    with pytest.raises(broken_tx, match="injected"):
        world.store.save_training_set(result, "doomed")
    assert _state(world.store) == before
    assert not list((world.store.path / "training_sets").rglob(f"{result.content_id}.parquet"))


def test_failed_register_model_leaves_nothing(world: World, broken_tx: type[BaseException]) -> None:
    before = _state(world.store)
    with pytest.raises(broken_tx, match="injected"):
        world.store.register_model("churn", world.training_set, metrics={"auc": 0.5})
    assert _state(world.store) == before
    assert world.store.get_model("churn").version == 1


def test_failed_log_predictions_leaves_nothing(
    world: World, broken_tx: type[BaseException]
) -> None:
    before = _state(world.store)
    frame = world.latest.frame.select("customer_id").with_columns(pl.lit(0.5).alias("score"))
    with pytest.raises(broken_tx, match="injected"):
        world.store.log_predictions(world.model, frame, features=world.latest)
    assert _state(world.store) == before


def test_operations_work_again_after_a_failure(world: World) -> None:
    # the failures above consumed nothing: versions and files continue normally
    mv = world.store.register_model("churn", world.training_set)
    assert mv.version == 2
    ts = world.store.save_training_set(
        world.store.get_historical_features(world.entity.head(3), world.service), "doomed"
    )
    assert ts.path.is_file()
    world.store.log_predictions(
        mv, pl.DataFrame({"customer_id": [1], "s": [1.0]}), as_of="2024-03-01"
    )


def test_racing_save_keeps_the_committed_file(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two savers of the same training set: the second one checked before the first
    committed. It must neither delete the committed file nor fail with a raw SQL error."""
    result = world.store.get_historical_features(world.entity.tail(2), world.service)
    first = world.store.save_training_set(result, "raced")
    real = fs_registry.get_training_set

    def not_yet_committed(catalog: Any, offline: Any, ref: str, *, missing_ok: bool = False) -> Any:
        if missing_ok:
            return None  # what the second saver saw before the first one committed
        return real(catalog, offline, ref, missing_ok=missing_ok)

    monkeypatch.setattr(fs_registry, "get_training_set", not_yet_committed)
    second = world.store.save_training_set(result, "raced")
    monkeypatch.undo()
    assert second.id == first.id
    assert first.path.is_file(), "the committed training set's file was deleted"
    assert world.store.get_training_set(first.id).created_at == first.created_at
    rebuilt = world.store.rebuild_training_set(first.id)
    assert rebuilt.frame.equals(result.frame)


# -- real processes at the same time ---------------------------------------------------------

WORKER = textwrap.dedent("""
    import json, os, sys, time
    from datetime import datetime
    import polars as pl
    import featstore as fs

    store_path, ts_id, tag, go, count = sys.argv[1:6]
    out = []
    with fs.FeatureStore(store_path, progress=False, threads=1) as store:
        frame = pl.DataFrame({"customer_id": [1, 2], "score": [0.1, 0.2]})
        while not os.path.exists(go):
            time.sleep(0.002)
        for i in range(int(count)):
            mv = store.register_model("race", ts_id, metrics={"i": i}, tags={"worker": tag})
            batch = store.log_predictions(mv, frame, as_of="2024-03-01")
            entity = pl.DataFrame(
                {"customer_id": [1], "event_timestamp": [datetime(2024, 3, 1)], "k": [i]})
            saved = store.save_training_set(
                store.get_historical_features(entity, ["spend:amount"]), "shared")
            out.append([mv.version, batch.batch_id, saved.id])
    print(json.dumps(out))
""")


def test_two_processes_register_and_predict_without_lost_writes(
    world: World, tmp_path: Path
) -> None:
    workers, per_worker = 2, 10
    go = tmp_path / "go"
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                WORKER,
                str(world.store_path),
                world.training_set.id,
                f"w{n}",
                str(go),
                str(per_worker),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for n in range(workers)
    ]
    time.sleep(0.3)
    go.touch()
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    store = world.store
    versions = [v for res in results for v, _, _ in res]
    assert sorted(versions) == list(range(1, workers * per_worker + 1)), (
        "a version was lost or doubled"
    )
    for res in results:
        mine = [v for v, _, _ in res]
        assert mine == sorted(mine)
    recorded = store.list_model_versions("race")
    assert [mv.version for mv in recorded] == list(range(1, workers * per_worker + 1))
    by_worker = {f"w{n}": sorted(v for v, _, _ in results[n]) for n in range(workers)}
    for mv in recorded:
        assert mv.version in by_worker[mv.tags["worker"]]
        assert mv.training_set == world.training_set.id
    lineage = store.lineage
    for res in results:
        for version, batch_id, _ in res:
            batch = store.get_prediction_batch(batch_id)
            assert (batch["model"], batch["model_version"]) == ("race", version)
            frame = pl.read_parquet(store.path / batch["path"])
            assert frame["model_version"].to_list() == [version, version]
            up = [
                n.id
                for n in lineage.upstream(f"prediction_batch:{batch_id}", kinds="model_version")
            ]
            assert up == [f"model:race@{version}"]
    down = {n.id for n in lineage.downstream(world.training_set.id, kinds="model_version")}
    assert {f"model:race@{v}" for v in range(1, 21)} <= down
    # both processes saved the same ten training sets: each once, every file in place
    saved = {ts_id for res in results for _, _, ts_id in res}
    assert len(saved) == per_worker
    for ts_id in saved:
        ts = store.get_training_set(ts_id)
        assert ts.path.is_file()
        assert store.verify_training_set(ts)["missing_files"] == []
    assert not list((store.path / "staging").iterdir())
