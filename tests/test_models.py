"""The model registry: versions per name, what a version records (params, metrics, tags,
artifact hash, code version, features), aliases with history and rollback, listing and
search, all readable from a new process."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import datetime
from pathlib import Path

import pytest
from helpers import BOTH_CATALOGS
from lineage_helpers import World, run_json, sha256_of, world_fixture

import featstore as fs

pytestmark = BOTH_CATALOGS

world = world_fixture("models")


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        [
            "git",
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "-c",
            "commit.gpgsign=false",
            *args,
        ],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


@pytest.fixture
def no_git_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_CEILING_DIRECTORIES"):
        monkeypatch.delenv(var, raising=False)


# -- versions and what they record -----------------------------------------------------------


def test_versions_count_up_per_name(world: World) -> None:
    store = world.store
    a = [store.register_model("m_count_a", None).version for _ in range(3)]
    b = store.register_model("m_count_b", None).version
    assert a == [1, 2, 3]
    assert b == 1
    assert store.get_model("m_count_a").version == 3
    assert store.get_model("m_count_a", 2).version == 2
    assert [mv.version for mv in store.list_model_versions("m_count_a")] == [1, 2, 3]
    assert store.lineage.node("model:m_count_a@3").attrs["version"] == 3


def test_version_records_everything(world: World) -> None:
    mv = world.model
    assert (mv.name, mv.version, mv.id) == ("churn", 1, "model:churn@1")
    assert mv.training_set == world.training_set.id
    assert mv.params == {"depth": 3, "lr": 0.1}
    assert mv.metrics == {"auc": 0.81, "logloss": 0.4}
    assert mv.tags == {"team": "growth", "stage": "dev"}
    assert mv.artifact == str(world.artifact.resolve())
    assert mv.artifact_sha256 == sha256_of(world.artifact)
    assert list(mv.features) == world.training_set.manifest["features"]  # records == dicts
    assert mv.feature_service == world.training_set.manifest["feature_service"]
    assert set(mv.code_version) == {"git_commit", "git_dirty"}
    again = world.store.get_model("churn", 1)
    assert again.to_record() == mv.to_record()
    # the lineage: the training set trained it
    up = world.store.lineage.upstream(mv.id, kinds="training_set")
    assert [n.id for n in up] == [world.training_set.id]


def test_artifact_params_tags_and_metric_checks(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = world.store
    remote = store.register_model("m_remote", None, artifact="s3://bucket/model.pkl")
    assert (remote.artifact, remote.artifact_sha256) == ("s3://bucket/model.pkl", None)
    (tmp_path / "weights.bin").write_bytes(b"w")
    monkeypatch.chdir(tmp_path)
    local = store.register_model(
        "m_remote",
        None,
        artifact="weights.bin",
        params={"when": datetime(2024, 1, 2), "layers": [1, 2]},
        tags={"n": 3},
    )
    assert local.artifact == str(tmp_path / "weights.bin")
    assert local.artifact_sha256 == sha256_of(tmp_path / "weights.bin")
    assert local.params == {"when": "2024-01-02 00:00:00", "layers": [1, 2]}
    assert local.tags == {"n": "3"}
    with pytest.raises(fs.DefinitionError, match="metric 'auc' must be a number; found 'high'"):
        store.register_model("m_remote", None, metrics={"auc": "high"})
    with pytest.raises(fs.DefinitionError, match="metric 'ok' must be a number"):
        store.register_model("m_remote", None, metrics={"ok": True})
    with pytest.raises(fs.DefinitionError, match="model name 'bad model'"):
        store.register_model("bad model", None)
    assert store.get_model("m_remote").version == 2, "a rejected registration took a version"


def test_register_from_a_retrieval_result_or_a_training_set_id(world: World) -> None:
    store = world.store
    from_result = store.register_model("m_from_result", world.result)
    assert (
        from_result.training_set == f"training_set:m_from_result_training@{world.result.content_id}"
    )
    assert store.get_training_set("m_from_result_training").manifest == world.result.manifest
    from_id = store.register_model("m_from_id", world.training_set.id)
    assert from_id.training_set == world.training_set.id
    with pytest.raises(fs.NotFoundError, match="unknown training set"):
        store.register_model("m_from_id", "training_set:nope@0000")


def test_unknown_models_and_versions(world: World) -> None:
    with pytest.raises(fs.NotFoundError, match="unknown model 'chrun'; did you mean 'churn'"):
        world.store.get_model("chrun")
    with pytest.raises(fs.NotFoundError, match="model 'churn' has no version 99"):
        world.store.get_model("churn", 99)


# -- code version --------------------------------------------------------------------------


def test_code_version_inside_a_git_work_tree(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_git_env: None
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / "train.py").write_text("print('train')\n")
    _git(repo, "add", "train.py")
    _git(repo, "commit", "-q", "-m", "first")
    head = _git(repo, "rev-parse", "HEAD")
    (repo / "sub").mkdir()
    monkeypatch.chdir(repo / "sub")
    clean = world.store.register_model("m_git", None)
    assert clean.code_version == {"git_commit": head, "git_dirty": False}
    assert world.store.lineage.node(clean.id).attrs["git_commit"] == head
    (repo / "train.py").write_text("print('changed')\n")
    dirty = world.store.register_model("m_git", None)
    assert dirty.code_version == {"git_commit": head, "git_dirty": True}
    # untracked files do not make a tree dirty
    (repo / "train.py").write_text("print('train')\n")
    (repo / "notes.txt").write_text("scratch")
    assert world.store.register_model("m_git", None).code_version["git_dirty"] is False


def test_code_version_outside_a_git_work_tree(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_git_env: None
) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    monkeypatch.chdir(plain)
    mv = world.store.register_model("m_nogit", None)
    assert mv.code_version == {"git_commit": None, "git_dirty": None}


# -- aliases -------------------------------------------------------------------------------


def test_aliases_history_and_rollback(world: World) -> None:
    store = world.store
    for _ in range(3):
        store.register_model("m_alias", None)
    with pytest.raises(fs.NotFoundError, match="has no alias 'production'"):
        store.get_model("m_alias", alias="production")
    with pytest.raises(
        fs.NotFoundError, match="alias 'production' of model 'm_alias': it was never set"
    ):
        store.rollback("m_alias", "production")
    store.set_alias("m_alias", "production", 1)
    with pytest.raises(fs.NotFoundError, match="has no earlier version than 1"):
        store.rollback("m_alias", "production")
    store.set_alias("m_alias", "production", 2)
    store.set_alias("m_alias", "production", 3)
    store.set_alias("m_alias", "staging", 3)
    assert store.get_model("m_alias", alias="production").version == 3
    assert store.rollback("m_alias", "production").version == 2
    assert store.get_model("m_alias", alias="production").version == 2
    assert store.rollback("m_alias", "production").version == 1  # twice
    assert store.get_model("m_alias", alias="production").version == 1
    with pytest.raises(fs.NotFoundError, match="has no earlier version than 1"):
        store.rollback("m_alias", "production")
    assert store.get_model("m_alias", alias="staging").version == 3, (
        "rollback touched another alias"
    )
    history = store.alias_history("m_alias", "production")
    assert [(h["action"], h["version"]) for h in history] == [
        ("set", 1),
        ("set", 2),
        ("set", 3),
        ("rollback", 2),
        ("rollback", 1),
    ]
    times = [h["at"] for h in history]
    assert times == sorted(times)
    # setting after a rollback, then rolling back, returns to where the rollback left it
    store.set_alias("m_alias", "production", 3)
    assert store.rollback("m_alias", "production").version == 1


def test_alias_errors(world: World) -> None:
    store = world.store
    store.register_model("m_alias_err", None)
    with pytest.raises(fs.NotFoundError, match="model 'm_alias_err' has no version 5"):
        store.set_alias("m_alias_err", "production", 5)
    with pytest.raises(fs.NotFoundError, match="unknown model 'm_alias_er'"):
        store.set_alias("m_alias_er", "production", 1)
    with pytest.raises(fs.DefinitionError, match="alias name 'prod uction'"):
        store.set_alias("m_alias_err", "prod uction", 1)
    assert store.alias_history("m_alias_err", "production") == []


# -- listing and search ----------------------------------------------------------------------


def _search_fixture(store: fs.FeatureStore) -> None:
    if any(m["name"] == "m_search" for m in store.list_models()):
        return
    specs = [
        ({"auc": 0.70}, {"team": "a", "kind": "gbm"}),
        ({"auc": 0.90}, {"team": "b", "kind": "gbm"}),
        ({}, {"team": "a", "kind": "gbm"}),
        ({"auc": 0.80, "f1": 0.5}, {"team": "a", "kind": "lr"}),
    ]
    for metrics, tags in specs:
        store.register_model("m_search", None, metrics=metrics, tags=tags)
    store.set_alias("m_search", "champion", 2)


def test_list_models(world: World) -> None:
    _search_fixture(world.store)
    listed = {m["name"]: m for m in world.store.list_models()}
    assert listed["m_search"] == {
        "name": "m_search",
        "latest_version": 4,
        "versions": 4,
        "aliases": {"champion": 2},
    }
    assert listed["churn"]["latest_version"] == 1
    assert list(listed) == sorted(listed)


def test_search_model_versions(world: World) -> None:
    store = world.store
    _search_fixture(store)
    gbm_a = store.search_model_versions("m_search", tags={"team": "a", "kind": "gbm"})
    assert [mv.version for mv in gbm_a] == [1, 3]
    by_auc = store.search_model_versions("m_search", order_by="auc")
    assert [mv.version for mv in by_auc] == [2, 4, 1, 3]  # without the metric: last
    ascending = store.search_model_versions("m_search", order_by="auc", descending=False)
    assert [mv.version for mv in ascending] == [1, 4, 2, 3]
    best_a = store.search_model_versions("m_search", tags={"team": "a"}, order_by="auc", limit=1)
    assert [mv.version for mv in best_a] == [4]
    anywhere = store.search_model_versions(tags={"team": "growth"})
    assert [mv.id for mv in anywhere] == ["model:churn@1"]
    assert store.search_model_versions("m_search", tags={"team": "z"}) == []


def test_registry_readable_from_a_new_process(world: World) -> None:
    store = world.store
    _search_fixture(store)
    for _ in range(2):
        store.register_model("m_remote_read", None, metrics={"auc": 0.5})
    store.set_alias("m_remote_read", "production", 1)
    store.set_alias("m_remote_read", "production", 2)
    store.rollback("m_remote_read", "production")
    out = run_json(f"""
        import json
        import featstore as fs
        with fs.FeatureStore({str(world.store_path)!r}, progress=False) as store:
            print(json.dumps({{
                "churn": store.get_model("churn", 1).to_record(),
                "production": store.get_model("m_remote_read", alias="production").version,
                "history": [dict(h) for h in store.alias_history("m_remote_read", "production")],
                "listed": [dict(m) for m in store.list_models()],
                "search": [
                    mv.version
                    for mv in store.search_model_versions("m_search", order_by="auc")
                ],
                "versions": [mv.id for mv in store.list_model_versions("m_remote_read")],
            }}))
    """)
    assert out["churn"] == json.loads(json.dumps(world.model.to_record()))
    assert out["production"] == 1
    assert out["history"] == store.alias_history("m_remote_read", "production")
    assert out["listed"] == store.list_models()
    assert out["search"] == [2, 4, 1, 3]
    assert out["versions"] == ["model:m_remote_read@1", "model:m_remote_read@2"]


def test_model_graph_has_every_version(world: World) -> None:
    store = world.store
    store.register_model("m_graph", world.training_set)
    store.register_model("m_graph", None)
    graph = store.lineage.model_graph("m_graph")
    assert {"model:m_graph@1", "model:m_graph@2", world.training_set.id} <= set(graph.nodes)
    assert graph.has_edge(world.training_set.id, "model:m_graph@1", key="trained")
    assert graph.in_degree("model:m_graph@2") == 0
    assert os.path.isabs(store.get_model("churn").artifact or "")


def _write_lock_held(store: fs.FeatureStore) -> bool:
    """Whether some connection holds the catalog's write lock right now, asked from a
    connection of its own without waiting: SQLite's ``BEGIN IMMEDIATE``; on PostgreSQL
    the transaction-scoped advisory lock every write transaction takes first."""
    import sqlite3

    from featstore.catalog import SQLiteCatalog
    from featstore.catalog.postgres import _LOCKS, _WRITE_KEY, PostgresCatalog

    catalog = store.catalog
    if isinstance(catalog, PostgresCatalog):
        import psycopg

        with psycopg.connect(catalog.url, autocommit=True) as probe, probe.transaction():
            row = probe.execute(
                "SELECT pg_try_advisory_xact_lock(%s, %s)", (_LOCKS, _WRITE_KEY)
            ).fetchone()
            return not (row and row[0])
    assert isinstance(catalog, SQLiteCatalog)
    probe_db = sqlite3.connect(catalog.path, timeout=0, isolation_level=None)
    try:
        probe_db.execute("BEGIN IMMEDIATE")
        probe_db.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError:
        return True
    finally:
        probe_db.close()


def test_git_is_not_asked_while_holding_the_catalog_write_lock(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """code_version runs git (up to seconds); every other writer would wait on it."""
    import featstore.registry as fs_registry

    seen: list[bool] = []
    real = fs_registry.code_version

    def probing(cwd: str | None = None) -> dict[str, object]:
        seen.append(_write_lock_held(world.store))
        return real(cwd)

    monkeypatch.setattr(fs_registry, "code_version", probing)
    world.store.register_model("m_lock", None)
    assert seen == [False], "register_model ran git inside its write transaction"
