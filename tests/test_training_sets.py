"""Saved training sets: records, manifests, idempotent saves, byte-identical rebuilds,
and what verify/rebuild say once their inputs change or disappear."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from helpers import BOTH_CATALOGS
from lineage_helpers import (
    LATEST_AS_OF,
    MAT_END,
    MAT_START,
    World,
    build_world,
    run_json,
    world_fixture,
)

import featstore as fs
import featstore.materialize as fs_materialize
from featstore.retrieval import frame_bytes, frame_hash, make_manifest

pytestmark = BOTH_CATALOGS

world = world_fixture("training_sets")


@pytest.fixture
def own_world(tmp_path: Path) -> Iterator[World]:
    """A world this test may change (files deleted, sources touched, re-materialized)."""
    w = build_world(tmp_path)
    yield w
    w.store.close()


def _active_files(store: fs.FeatureStore, view: str) -> set[str]:
    """The active offline files of every version of ``view``."""
    listed = store.catalog.files(sorted(store.catalog.file_paths(view)))
    return {path for path, row in listed.items() if row["active"]}


# -- records ---------------------------------------------------------------------------------


def test_save_get_by_id_and_name_and_list(world: World) -> None:
    ts = world.training_set
    assert ts.name == "churn_train"
    assert ts.content_id == world.result.content_id
    assert ts.id == f"training_set:churn_train@{world.result.content_id}"
    assert ts.rows == world.entity.height
    assert (
        ts.path == world.store_path / "training_sets" / "churn_train" / f"{ts.content_id}.parquet"
    )
    assert ts.path.is_file()
    assert frame_bytes(ts.to_polars()) == frame_bytes(world.result.frame)
    by_id = world.store.get_training_set(ts.id)
    by_name = world.store.get_training_set("churn_train")
    for found in (by_id, by_name):
        assert (found.id, found.path, found.rows, found.created_at) == (
            ts.id,
            ts.path,
            ts.rows,
            ts.created_at,
        )
        assert found.manifest == world.result.manifest
    assert [t.id for t in world.store.list_training_sets()] == [ts.id]


def test_manifest_content(world: World) -> None:
    m = world.training_set.manifest
    assert m["mode"] == "historical"
    assert m["entity_hash"] == frame_hash(world.entity)
    assert m["entity_rows"] == world.entity.height == world.training_set.rows
    assert m["timestamp_column"] == "event_timestamp"
    assert m["bitemporal"] is False
    assert m["full_feature_names"] is False
    assert m["features"] == [
        {
            "view": "spend",
            "version": world.spend.version,
            "features": ["amount"],
            "columns": ["amount"],
        },
        {
            "view": "profile",
            "version": world.profile.version,
            "features": ["age"],
            "columns": ["age"],
        },
    ]
    assert m["feature_service"] == {
        "name": "churn_svc",
        "version": world.store.get_feature_service("churn_svc")["version"],
    }
    # every file it read, with the view version and the run that wrote it
    assert {f["path"] for f in m["files"]} == {
        *world.runs["spend"].files,
        *world.runs["profile"].files,
    }
    for f in m["files"]:
        view = f["view"]
        assert f["version"] == world.runs[view].view_version
        assert f["run_id"] == world.runs[view].run_id
        assert (world.store_path / f["path"]).is_file()
    # the content id is what make_manifest derives from the rest of the manifest
    assert (
        m["content_id"]
        == make_manifest(**{k: v for k, v in m.items() if k != "content_id"})["content_id"]
    )
    assert re.fullmatch(r"[0-9a-f]{16}", m["content_id"])


def test_content_id_depends_on_the_request(world: World) -> None:
    fewer = world.store.get_historical_features(world.entity.head(4), world.service)
    assert fewer.content_id != world.result.content_id
    other = world.store.get_historical_features(world.entity, ["spend:amount"])
    assert other.content_id != world.result.content_id
    full = world.store.get_historical_features(world.entity, world.service, full_feature_names=True)
    assert full.content_id != world.result.content_id


def test_saving_again_returns_the_same_record(world: World) -> None:
    ts = world.training_set
    mtime = ts.path.stat().st_mtime_ns
    again = world.store.save_training_set(world.result, "churn_train")
    assert (again.id, again.created_at, again.path) == (ts.id, ts.created_at, ts.path)
    assert ts.path.stat().st_mtime_ns == mtime, "the saved file was rewritten"
    rows = [r for r in world.store.catalog.training_sets() if r["name"] == "churn_train"]
    assert [r["id"] for r in rows] == [ts.id]
    # the same retrieval run again has the same content id
    same = world.store.get_historical_features(world.entity, world.service)
    assert same.content_id == ts.content_id
    assert world.store.save_training_set(same, "churn_train").id == ts.id


def test_training_set_errors(world: World) -> None:
    with pytest.raises(
        fs.NotFoundError, match="unknown training set 'churn_trian'; did you mean 'churn_train'"
    ):
        world.store.get_training_set("churn_trian")
    with pytest.raises(fs.NotFoundError, match="unknown training set"):
        world.store.rebuild_training_set("training_set:churn_train@0000000000000000")
    with pytest.raises(fs.DefinitionError, match="training set name 'bad name'"):
        world.store.save_training_set(world.result, "bad name")


# -- rebuilds --------------------------------------------------------------------------------


def test_rebuild_is_byte_identical(world: World) -> None:
    saved = world.training_set.to_polars()
    for ref in (world.training_set, world.training_set.id, "churn_train"):
        rebuilt = world.store.rebuild_training_set(ref)
        assert frame_bytes(rebuilt.frame) == frame_bytes(saved)
        assert rebuilt.manifest == world.training_set.manifest
    assert world.store.verify_training_set(world.training_set) == {
        "missing_files": [],
        "changed_files": [],
        "changed_sources": [],
        "missing_sources": [],
    }


def test_rebuild_from_a_new_process(world: World) -> None:
    import hashlib

    out = run_json(f"""
        import hashlib, json
        import featstore as fs
        from featstore.retrieval import frame_bytes
        with fs.FeatureStore({str(world.store_path)!r}, progress=False) as store:
            ts = store.get_training_set("churn_train")
            rebuilt = store.rebuild_training_set(ts.id)
            digest = hashlib.sha256(frame_bytes(rebuilt.frame)).hexdigest()
            print(json.dumps({{"id": ts.id, "digest": digest,
                              "verify": dict(store.verify_training_set(ts.id)),
                              "listed": [t.id for t in store.list_training_sets()]}}))
    """)
    assert out["id"] == world.training_set.id
    assert out["digest"] == hashlib.sha256(frame_bytes(world.training_set.to_polars())).hexdigest()
    assert out["verify"] == {
        "missing_files": [],
        "changed_files": [],
        "changed_sources": [],
        "missing_sources": [],
    }
    assert world.training_set.id in out["listed"]


def test_rebuild_latest_mode_with_options(world: World) -> None:
    result = world.store.get_latest_features(
        {"customer_id": [3, 1, 2, 1]},
        ["spend:amount", "profile:age"],
        as_of=LATEST_AS_OF,
        full_feature_names=True,
        include_event_timestamps=True,
    )
    ts = world.store.save_training_set(result, "latest_scoring")
    assert ts.manifest["mode"] == "latest"
    assert ts.manifest["as_of"] == "2024-03-15T00:00:00.000000"
    assert "spend__event_timestamp" in ts.to_polars().columns
    rebuilt = world.store.rebuild_training_set(ts)
    assert frame_bytes(rebuilt.frame) == frame_bytes(result.frame)
    assert rebuilt.frame["spend__amount"].to_list() == [9, 50, 40, 50]


def test_rebuild_after_rematerializing_uses_the_superseded_files(own_world: World) -> None:
    w = own_world
    store, ts = w.store, w.training_set
    old_files = {f["path"] for f in ts.manifest["files"]}
    store.materialize(MAT_START, MAT_END)
    # the old files are superseded (inactive) but kept for the grace period
    assert not old_files & (_active_files(store, "spend") | _active_files(store, "profile"))
    assert all((store.path / p).is_file() for p in old_files)
    assert store.verify_training_set(ts) == {
        "missing_files": [],
        "changed_files": [],
        "changed_sources": [],
        "missing_sources": [],
    }
    rebuilt = store.rebuild_training_set(ts.id)
    assert frame_bytes(rebuilt.frame) == frame_bytes(ts.to_polars())
    # a new retrieval reads the new files and gives the same rows
    fresh = store.get_historical_features(w.entity, w.service)
    assert not {f["path"] for f in fresh.manifest["files"]} & old_files
    assert frame_bytes(fresh.frame) == frame_bytes(ts.to_polars())

    # once the grace period is over, gc deletes them: verify and rebuild say so
    fs_materialize_grace = fs_materialize.SUPERSEDED_GRACE
    try:
        fs_materialize.SUPERSEDED_GRACE = timedelta(microseconds=-1)
        store.gc()
    finally:
        fs_materialize.SUPERSEDED_GRACE = fs_materialize_grace
    assert not any((store.path / p).exists() for p in old_files)
    report = store.verify_training_set(ts)
    assert report["missing_files"] == sorted(old_files)
    with pytest.raises(fs.MaterializationError, match="cannot be rebuilt"):
        store.rebuild_training_set(ts)


def test_deleted_offline_file_is_reported(own_world: World) -> None:
    w = own_world
    ts = w.training_set
    victim = sorted(f["path"] for f in ts.manifest["files"] if f["view"] == "profile")[0]
    (w.store.path / victim).unlink()
    assert w.store.verify_training_set(ts) == {
        "missing_files": [victim],
        "changed_files": [],
        "changed_sources": [],
        "missing_sources": [],
    }
    with pytest.raises(fs.MaterializationError, match=re.escape(repr(victim))) as info:
        w.store.rebuild_training_set(ts.id)
    assert ts.id in str(info.value)
    assert "1 offline file(s)" in str(info.value)


def test_changed_raw_sources_are_reported(own_world: World) -> None:
    w = own_world
    ts = w.training_set
    touched = os.path.abspath(w.txn_files[0])
    st = os.stat(touched)
    os.utime(touched, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    assert w.store.verify_training_set(ts) == {
        "missing_files": [],
        "changed_files": [],
        "changed_sources": [touched],
        "missing_sources": [],
    }
    # a new content with the same size and mtime would go unnoticed; a rewrite changes size
    csv = os.path.abspath(w.profile_file)
    with open(csv, "a") as handle:
        handle.write("2,2024-03-30T00:00:00,41\n")
    assert w.store.verify_training_set(ts)["changed_sources"] == sorted([touched, csv])
    # a deleted raw file is reported as missing, not as changed
    gone = os.path.abspath(w.txn_files[1])
    os.unlink(gone)
    report = w.store.verify_training_set(ts)
    assert report["changed_sources"] == sorted([touched, csv])
    assert report["missing_sources"] == [gone]
    # the offline files are intact: the rebuild still reproduces the saved frame
    rebuilt = w.store.rebuild_training_set(ts)
    assert frame_bytes(rebuilt.frame) == frame_bytes(ts.to_polars())


def test_saved_training_set_file_is_content_addressed(world: World) -> None:
    frame = pl.read_parquet(world.training_set.path)
    assert frame.columns == ["customer_id", "event_timestamp", "label", "amount", "age"]
    assert frame["amount"].to_list() == [10, 40, 50, None, 9]
    assert frame["age"].to_list() == [30, 40, 31, 40, 50]
    # naive timestamps are stored as UTC instants (docs/files.md); featstore reads them naive
    assert frame["event_timestamp"].to_list()[0] == datetime(2024, 1, 20, tzinfo=UTC)
    assert world.training_set.to_polars()["event_timestamp"].to_list()[0] == datetime(2024, 1, 20)


def test_resaving_after_rematerializing_stays_rebuildable(own_world: World) -> None:
    w = own_world
    w.store.materialize(MAT_START, MAT_END)
    fresh = w.store.get_historical_features(w.entity, w.service)
    saved = w.store.save_training_set(fresh, "churn_train")
    grace = fs_materialize.SUPERSEDED_GRACE
    try:
        fs_materialize.SUPERSEDED_GRACE = timedelta(microseconds=-1)
        w.store.gc()
    finally:
        fs_materialize.SUPERSEDED_GRACE = grace
    assert w.store.verify_training_set(saved)["missing_files"] == []
    assert frame_bytes(w.store.rebuild_training_set(saved).frame) == frame_bytes(fresh.frame)
