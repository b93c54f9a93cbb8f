"""The catalog's on-disk format: lineage edges keyed by integer node ids (format 2), the
in-place upgrade of a format-1 store, and edges that must name recorded nodes."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from lineage_helpers import World, edge_set, world_fixture

import featstore as fs
from featstore.catalog import FORMAT_VERSION
from featstore.catalog import SQLiteCatalog as Catalog
from featstore.lineage import Node

world = world_fixture("format")

# the lineage tables as format 1 wrote them: edges keyed by node id strings
_V1_LINEAGE = """
CREATE TABLE nodes_v1 (
    id TEXT PRIMARY KEY, kind TEXT NOT NULL, name TEXT NOT NULL,
    created_at TEXT NOT NULL, attrs TEXT NOT NULL
);
INSERT INTO nodes_v1 SELECT id, kind, name, created_at, attrs FROM nodes ORDER BY nid;
CREATE TABLE edges_v1 (
    src TEXT NOT NULL, dst TEXT NOT NULL, kind TEXT NOT NULL, PRIMARY KEY (src, dst, kind)
) WITHOUT ROWID;
INSERT INTO edges_v1 SELECT s.id, d.id, e.kind FROM edges e
    JOIN nodes s ON s.nid = e.src JOIN nodes d ON d.nid = e.dst;
DROP TABLE edges;
DROP TABLE nodes;
ALTER TABLE nodes_v1 RENAME TO nodes;
ALTER TABLE edges_v1 RENAME TO edges;
CREATE INDEX nodes_kind ON nodes (kind, name);
CREATE INDEX edges_dst ON edges (dst, src);
UPDATE meta SET value = '1' WHERE key = 'format_version';
"""


def _downgrade_copy(world: World, target: Path) -> Path:
    """A copy of the world's store as format 1 wrote it."""
    world.store.catalog.all("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copytree(world.store.path, target)
    with sqlite3.connect(target / "catalog.db") as con:
        con.executescript(_V1_LINEAGE)
    (target / "featstore.json").write_text(json.dumps({"format_version": 1, "created_by": "0.1"}))
    return target


def _answers(store: fs.FeatureStore) -> dict[str, object]:
    lineage = store.lineage
    batch = store.catalog.one("SELECT id FROM nodes WHERE kind = 'prediction_batch'")
    assert batch is not None
    return {
        "edges": sorted(edge_set(lineage.graph)),
        "up": [(n.id, n.attrs) for n in lineage.upstream(batch["id"])],
        "down": [n.id for n in lineage.downstream("source:txns")],
        "files": [n.id for n in lineage.upstream(batch["id"], kinds=["source_file"])],
    }


def test_a_format_1_store_is_upgraded_in_place_and_answers_the_same(
    world: World, tmp_path: Path
) -> None:
    expected = _answers(world.store)
    old = _downgrade_copy(world, tmp_path / "old_store")
    with sqlite3.connect(old / "catalog.db") as con:
        assert con.execute("SELECT typeof(src) FROM edges LIMIT 1").fetchone() == ("text",)

    with fs.FeatureStore(old, progress=False) as store:
        assert _answers(store) == expected
        # new lineage lands in the upgraded tables, joined to the old nodes
        store.register_model("after_upgrade", None)
        assert [n.id for n in store.lineage.upstream("model:after_upgrade@1")] == []

    with sqlite3.connect(old / "catalog.db") as con:
        assert con.execute("SELECT typeof(src) FROM edges LIMIT 1").fetchone() == ("integer",)
        assert con.execute("SELECT value FROM meta WHERE key = 'format_version'").fetchone() == (
            str(FORMAT_VERSION),
        )
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert not {"nodes_v1", "edges_v1"} & tables
    config = json.loads((old / "featstore.json").read_text())
    assert config["format_version"] == FORMAT_VERSION


def test_an_edge_to_an_unrecorded_node_is_refused_and_rolls_back(world: World) -> None:
    catalog = world.store.catalog
    before = catalog.one("SELECT count(*) AS n FROM edges")["n"]

    def record() -> None:
        with catalog.transaction() as tx:
            tx.add_node("model:somebody@1", "model_version", "somebody", "2024-01-01", {})
            tx.add_edges([("source:txns", "model:nobody@1", "trained")])

    with pytest.raises(fs.CatalogError, match="unrecorded node 'model:nobody@1'"):
        record()
    assert catalog.one("SELECT count(*) AS n FROM edges")["n"] == before
    assert catalog.one("SELECT 1 FROM nodes WHERE id = 'model:somebody@1'") is None


def test_nodes_compare_by_identity_and_parse_attrs_once(world: World) -> None:
    lineage = world.store.lineage
    node = lineage.node("source:txns")
    again = lineage.node("source:txns")
    assert node == again
    assert hash(node) == hash(again)
    assert node is not again
    assert node.attrs is node.attrs  # parsed once, then kept
    assert node.attrs["timestamp_column"] == "ts"
    assert "source:txns" in repr(node)
    assert Node("x", "source", "x", "t", {"a": 1}).attrs == {"a": 1}
    assert Node("x", "source", "x", "t", '{"a": 1}').attrs == {"a": 1}


def test_load_snapshot_answers_like_sql_until_unloaded(world: World) -> None:
    lineage = world.store.lineage
    sql_up = lineage.upstream("model:churn@1")
    sql_down = lineage.downstream("source:profiles", kinds="prediction_batch")
    try:
        assert lineage.load() is lineage
        assert lineage.loaded
        assert lineage.upstream("model:churn@1") == sql_up
        assert lineage.downstream("source:profiles", kinds="prediction_batch") == sql_down
        assert lineage.node("source:txns") is lineage.node("source:txns")  # from the index
    finally:
        lineage.unload()
    assert not lineage.loaded


def test_opening_a_current_catalog_needs_no_write_lock(world: World) -> None:
    """A process holding the write lock (a long publish) does not stop others opening."""
    holder = sqlite3.connect(world.store.path / "catalog.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        reader = Catalog(world.store.path / "catalog.db", max_wait_s=0.0)
        assert reader.one("SELECT kind FROM nodes WHERE id = 'source:txns'")["kind"] == "source"
        reader.close()
    finally:
        holder.execute("ROLLBACK")
        holder.close()


# -- format 3 -> 4: the monitoring tables ----------------------------------------------

_V3 = """
DROP TABLE statistics;
DROP TABLE reports;
DROP TABLE label_batches;
UPDATE meta SET value = '3' WHERE key = 'format_version';
"""


def test_a_format_3_store_gains_the_monitoring_tables(world: World, tmp_path: Path) -> None:
    world.store.catalog.all("PRAGMA wal_checkpoint(TRUNCATE)")
    old = tmp_path / "v3"
    shutil.copytree(world.store.path, old)
    with sqlite3.connect(old / "catalog.db") as con:
        con.executescript(_V3)
    (old / "featstore.json").write_text(json.dumps({"format_version": 3, "created_by": "0.1"}))
    with fs.FeatureStore(old, progress=False) as store:
        # what format 3 recorded reads as before; what it never recorded says so
        assert store.get_training_set(world.training_set.id) == world.training_set
        with pytest.raises(fs.MonitoringError, match="no statistics are recorded"):
            store.statistics(world.training_set.id)
        report = store.drift(world.training_set, world.batch)  # reads the reference's rows
        assert not report.reference_from_statistics
        assert store.get_drift_report(report.id) == report
    with sqlite3.connect(old / "catalog.db") as con:
        assert con.execute("SELECT value FROM meta WHERE key = 'format_version'").fetchone() == (
            str(FORMAT_VERSION),
        )
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"statistics", "reports", "label_batches"} <= tables


def test_a_format_3_postgresql_catalog_is_upgraded(tmp_path: Path, postgres_server: str) -> None:
    import pgserver
    import psycopg

    url = pgserver.fresh_database_url(postgres_server)
    try:
        with fs.FeatureStore(tmp_path / "s", catalog=url) as store:
            store.register_model("m", None)
        with psycopg.connect(url, autocommit=True) as con:
            for table in ("statistics", "reports", "label_batches"):
                con.execute(f"DROP TABLE {table}")
            con.execute("UPDATE meta SET value = '3' WHERE key = 'format_version'")
        with pytest.raises(fs.CatalogError, match=r"format version 3 .* without read_only"):
            fs.FeatureStore(tmp_path / "s", read_only=True)
        with fs.FeatureStore(tmp_path / "s") as store:
            assert store.get_model("m").version == 1
            assert store.catalog.report_bodies("drift") == []
        with psycopg.connect(url) as con:
            row = con.execute("SELECT value FROM meta WHERE key = 'format_version'").fetchone()
        assert row == (str(FORMAT_VERSION),)
    finally:
        pgserver.drop_database(url, postgres_server)
