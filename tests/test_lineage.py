"""Lineage recorded by the operations themselves, queried from a new process (recursive
SQL and the whole loaded graph), and explain() of single predictions."""

from __future__ import annotations

import itertools
import os
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from helpers import BOTH_CATALOGS
from lineage_helpers import (
    LATEST_AS_OF,
    PROFILES,
    TS_BATCH_ROWS,
    World,
    all_txns,
    build_world,
    definitions,
    edge_set,
    expected_value,
    run_json,
    sha256_of,
    world_fixture,
)

import featstore as fs
from featstore.lineage import NODE_KINDS

ID_PATTERNS = {
    "source": r"source:[A-Za-z_][\w.-]*",
    "source_file": r"file:/.+@[0-9a-f]{12}",
    "feature_view": r"view:[A-Za-z_][\w.-]*@[0-9a-f]{12}",
    "feature_service": r"service:[A-Za-z_][\w.-]*@[0-9a-f]{12}",
    "materialization_run": r"run:[0-9a-f]{32}",
    "training_set": r"training_set:[A-Za-z_][\w.-]*@[0-9a-f]{16}",
    "model_version": r"model:[A-Za-z_][\w.-]*@[1-9][0-9]*",
    "prediction_batch": r"prediction_batch:[0-9a-f]{32}",
    "label_batch": r"label_batch:[0-9a-f]{32}",
    "drift_report": r"drift_report:[0-9a-f]{32}",
    "skew_report": r"skew_report:[0-9a-f]{32}",
    "evaluation": r"evaluation:[0-9a-f]{32}",
}


pytestmark = BOTH_CATALOGS

world = world_fixture("lineage")


# the monitoring operations' nodes: all downstream of the training set or the batch
MONITORING = ("drift", "skew", "labels", "evaluation")


def _ids(w: World) -> dict[str, str]:
    """Short names for the ids every test talks about."""
    txn0, txn1 = (os.path.abspath(p) for p in w.txn_files)
    csv = os.path.abspath(w.profile_file)
    return {
        "src_txns": "source:txns",
        "src_profiles": "source:profiles",
        "file0": f"file:{txn0}@{sha256_of(txn0)[:12]}",
        "file1": f"file:{txn1}@{sha256_of(txn1)[:12]}",
        "csv": f"file:{csv}@{sha256_of(csv)[:12]}",
        "spend": f"view:spend@{w.spend.version}",
        "profile": f"view:profile@{w.profile.version}",
        "service": f"service:churn_svc@{w.store.get_feature_service('churn_svc')['version']}",
        "run_spend": f"run:{w.runs['spend'].run_id}",
        "run_profile": f"run:{w.runs['profile'].run_id}",
        "ts": f"training_set:churn_train@{w.result.content_id}",
        "model": "model:churn@1",
        "batch": f"prediction_batch:{w.batch.batch_id}",
        "ts_batch": f"prediction_batch:{w.ts_batch.batch_id}",
        "drift": w.extra["drift"].id,
        "skew": w.extra["skew"].id,
        "labels": w.extra["labels"].id,
        "evaluation": w.extra["evaluation"].id,
    }


def _expected_edges(i: dict[str, str]) -> set[tuple[str, str, str]]:
    return {
        (i["src_txns"], i["spend"], "feeds"),
        (i["src_profiles"], i["profile"], "feeds"),
        (i["spend"], i["service"], "selected_by"),
        (i["profile"], i["service"], "selected_by"),
        (i["src_txns"], i["file0"], "has_snapshot"),
        (i["src_txns"], i["file1"], "has_snapshot"),
        (i["src_profiles"], i["csv"], "has_snapshot"),
        (i["file0"], i["run_spend"], "read_by"),
        (i["file1"], i["run_spend"], "read_by"),
        (i["csv"], i["run_profile"], "read_by"),
        (i["spend"], i["run_spend"], "materialized_by"),
        (i["profile"], i["run_profile"], "materialized_by"),
        (i["spend"], i["ts"], "features_of"),
        (i["profile"], i["ts"], "features_of"),
        (i["run_spend"], i["ts"], "read_by"),
        (i["run_profile"], i["ts"], "read_by"),
        (i["service"], i["ts"], "selected_by"),
        (i["ts"], i["model"], "trained"),
        (i["model"], i["batch"], "predicted"),
        (i["spend"], i["batch"], "features_of"),
        (i["profile"], i["batch"], "features_of"),
        (i["run_spend"], i["batch"], "read_by"),
        (i["run_profile"], i["batch"], "read_by"),
        (i["service"], i["batch"], "selected_by"),
        (i["model"], i["ts_batch"], "predicted"),
        (i["ts"], i["drift"], "compared_in"),
        (i["batch"], i["drift"], "compared_in"),
        (i["batch"], i["skew"], "checked_in"),
        (i["batch"], i["labels"], "labeled_by"),
        (i["model"], i["evaluation"], "evaluated_in"),
        (i["ts"], i["evaluation"], "evaluated_in"),
    }


# -- recorded by the operations ------------------------------------------------------------


def test_operations_record_every_node_kind_with_documented_ids(world: World) -> None:
    ids = _ids(world)
    rows = world.store.catalog.lineage_all_nodes()  # (nid, id, kind, name, created_at, attrs)
    found = {r[1]: r[2] for r in rows}
    assert set(found.values()) == set(NODE_KINDS)
    kinds = {
        "src_txns": "source",
        "src_profiles": "source",
        "file0": "source_file",
        "file1": "source_file",
        "csv": "source_file",
        "spend": "feature_view",
        "profile": "feature_view",
        "service": "feature_service",
        "run_spend": "materialization_run",
        "run_profile": "materialization_run",
        "ts": "training_set",
        "model": "model_version",
        "batch": "prediction_batch",
        "ts_batch": "prediction_batch",
        "drift": "drift_report",
        "skew": "skew_report",
        "labels": "label_batch",
        "evaluation": "evaluation",
    }
    assert found == {ids[k]: kind for k, kind in kinds.items()}
    for node_id, kind in found.items():
        assert re.fullmatch(ID_PATTERNS[kind], node_id), (kind, node_id)
    # the objects users hold know their own node ids
    assert world.training_set.id == ids["ts"]
    assert world.model.id == ids["model"]
    assert world.batch.id == ids["batch"]
    assert world.runs["spend"].id == ids["run_spend"]


def test_operations_record_typed_edges(world: World) -> None:
    try:
        assert edge_set(world.store.lineage.graph) == _expected_edges(_ids(world))
    finally:
        world.store.lineage.unload()


def test_source_file_nodes_carry_fingerprints(world: World) -> None:
    lineage = world.store.lineage
    for path in [*world.txn_files, world.profile_file]:
        path = Path(os.path.abspath(path))
        node = lineage.node(f"file:{path}@{sha256_of(path)[:12]}")
        stat = path.stat()
        assert node.kind == "source_file"
        assert node.attrs["path"] == str(path)
        assert node.attrs["size"] == stat.st_size
        assert node.attrs["mtime_ns"] == stat.st_mtime_ns
        assert node.attrs["sha256"] == sha256_of(path)
        if path.suffix == ".parquet":
            assert node.attrs["rows"] == pq.ParquetFile(path).metadata.num_rows


def test_csv_source_file_fingerprint_has_row_count(world: World) -> None:
    path = os.path.abspath(world.profile_file)
    node = world.store.lineage.node(f"file:{path}@{sha256_of(path)[:12]}")
    assert node.attrs["rows"] == len(PROFILES)


def test_node_attributes_describe_the_objects(world: World) -> None:
    ids = _ids(world)
    lineage = world.store.lineage
    ts = lineage.node(ids["ts"])
    assert ts.name == "churn_train"
    assert ts.attrs["content_id"] == world.result.content_id
    assert ts.attrs["rows"] == world.entity.height
    assert ts.attrs["entity_hash"] == world.result.manifest["entity_hash"]
    model = lineage.node(ids["model"])
    assert (model.name, model.attrs["version"]) == ("churn", 1)
    assert model.attrs["metrics"] == {"auc": 0.81, "logloss": 0.4}
    batch = lineage.node(ids["batch"])
    assert (batch.name, batch.attrs["model_version"], batch.attrs["rows"]) == ("churn", 1, 3)
    run = lineage.node(ids["run_spend"])
    assert run.attrs["view_version"] == world.spend.version
    assert run.attrs["files"] == list(world.runs["spend"].files)


def test_node_ids_are_stable_across_processes_and_reruns(tmp_path: Path) -> None:
    w = build_world(tmp_path)
    try:
        before = {r[1] for r in w.store.catalog.lineage_all_nodes()}
        store_path = w.store_path
    finally:
        w.store.close()
    # a new process applies the same definitions and re-materializes unchanged files
    out = run_json(f"""
        import json, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from pathlib import Path
        import featstore as fs
        from lineage_helpers import MAT_END, MAT_START, definitions
        d = definitions(Path({str(tmp_path)!r}))
        with fs.FeatureStore({str(store_path)!r}, progress=False, threads=1) as store:
            store.apply(list(d.values()))
            runs = store.materialize(MAT_START, MAT_END)
            ids = [r[1] for r in store.catalog.lineage_all_nodes()]
        print(json.dumps({{"ids": ids, "runs": [r.id for r in runs]}}))
    """)
    after = set(out["ids"])
    assert before <= after
    assert after - before == set(out["runs"])
    assert len(out["runs"]) == 2


# -- queries from a new process --------------------------------------------------------------

QUERY_CODE = r"""
import json
import featstore as fs

IDS = json.loads({ids!r})


def dump_graph(graph):
    return {{
        "nodes": {{n: d for n, d in graph.nodes(data=True)}},
        "edges": sorted([s, t, d["kind"]] for s, t, d in graph.edges(data=True)),
    }}


def error(call):
    try:
        call()
    except Exception as exc:
        return [type(exc).__name__, str(exc)]
    return None


def answers(lineage):
    def nodes(found):
        return [{{"id": n.id, "kind": n.kind, "name": n.name, "attrs": n.attrs}} for n in found]

    return {{
        "up_files": nodes(lineage.upstream(IDS["batch"], kinds=["source_file"])),
        "up_files_ts_batch": nodes(lineage.upstream(IDS["ts_batch"], kinds="source_file")),
        "up_all": nodes(lineage.upstream(IDS["batch"])),
        "down_txns": nodes(
            lineage.downstream("source:txns", kinds=["model_version", "prediction_batch"])
        ),
        "impact_csv": nodes(lineage.impact(IDS["csv"])),
        "path_file_model": lineage.path(IDS["file0"], IDS["model"]),
        "path_source_batch": lineage.path("source:profiles", IDS["ts_batch"]),
        "sub_up": dump_graph(lineage.subgraph(IDS["model"], direction="up")),
        "sub_down": dump_graph(lineage.subgraph(IDS["ts"], direction="down")),
        "sub_both": dump_graph(lineage.subgraph(IDS["run_profile"])),
        "window_late": dump_graph(lineage.window(IDS["ts_created"], "9999-12-31")),
        "window_early": dump_graph(lineage.window("0000", IDS["ts_created"])),
        "model_graph": dump_graph(lineage.model_graph("churn")),
        "explain": lineage.explain(IDS["batch"], 0),
        "errors": {{
            "unknown_node": error(lambda: lineage.upstream("model:chrun@1")),
            "unknown_kind": error(lambda: lineage.upstream(IDS["batch"], kinds=["modle_version"])),
            "unknown_model": error(lambda: lineage.model_graph("chrun")),
            "no_path": error(lambda: lineage.path(IDS["model"], "source:txns")),
            "bad_direction": error(lambda: lineage.subgraph(IDS["model"], direction="sideways")),
        }},
    }}


with fs.FeatureStore({store!r}, progress=False) as store:
    lineage = store.lineage
    sql = answers(lineage)
    loaded_during_sql = lineage.loaded or lineage._graph is not None
    lineage.load()
    graph = lineage.graph
    whole = {{"nodes": graph.number_of_nodes(), "edges": graph.number_of_edges()}}
    in_memory = answers(lineage)
print(json.dumps({{"sql": sql, "graph": in_memory, "loaded_during_sql": loaded_during_sql,
                  "whole": whole}}, default=str))
"""


@pytest.fixture(scope="module")
def answers(world: World) -> dict[str, Any]:
    ids = _ids(world) | {"ts_created": world.training_set.created_at}
    import json

    return run_json(QUERY_CODE.format(ids=json.dumps(ids), store=str(world.store_path)))


def test_new_process_sql_and_loaded_graph_answer_the_same(
    answers: dict[str, Any], world: World
) -> None:
    assert answers["loaded_during_sql"] is False, "one-off queries must not load the whole graph"
    assert answers["whole"] == {
        "nodes": len(_ids(world)),
        "edges": len(_expected_edges(_ids(world))),
    }
    sql, graph = answers["sql"], answers["graph"]
    assert sql.keys() == graph.keys()
    for key in sql:
        assert sql[key] == graph[key], key


@pytest.mark.parametrize("mode", ["sql", "graph"])
def test_upstream_source_files_with_fingerprints(
    answers: dict[str, Any], world: World, mode: str
) -> None:
    ids = _ids(world)
    for key in ("up_files", "up_files_ts_batch"):
        found = answers[mode][key]
        assert [n["id"] for n in found] == sorted([ids["file0"], ids["file1"], ids["csv"]])
        for node in found:
            path = node["attrs"]["path"]
            stat = os.stat(path)
            assert node["kind"] == "source_file"
            assert (node["attrs"]["size"], node["attrs"]["mtime_ns"]) == (
                stat.st_size,
                stat.st_mtime_ns,
            )
            assert node["attrs"]["sha256"] == sha256_of(path)
            if path.endswith(".parquet"):
                assert node["attrs"]["rows"] == pq.ParquetFile(path).metadata.num_rows
    up_all = {n["id"] for n in answers[mode]["up_all"]}
    assert up_all == {
        ids[k]
        for k in (
            "src_txns",
            "src_profiles",
            "file0",
            "file1",
            "csv",
            "spend",
            "profile",
            "service",
            "run_spend",
            "run_profile",
            "ts",
            "model",
        )
    }
    # sorted by kind order, then id
    kinds = [n["kind"] for n in answers[mode]["up_all"]]
    assert kinds == sorted(kinds, key=NODE_KINDS.index)


@pytest.mark.parametrize("mode", ["sql", "graph"])
def test_downstream_impact_and_paths(answers: dict[str, Any], world: World, mode: str) -> None:
    ids = _ids(world)
    a = answers[mode]
    assert [n["id"] for n in a["down_txns"]] == [
        ids["model"],
        *sorted([ids["batch"], ids["ts_batch"]]),
    ]
    assert {n["id"] for n in a["impact_csv"]} == {
        ids[k] for k in ("run_profile", "ts", "model", "batch", "ts_batch", *MONITORING)
    }
    assert a["path_file_model"] == [ids["file0"], ids["run_spend"], ids["ts"], ids["model"]]
    path = a["path_source_batch"]
    assert path[0] == "source:profiles"
    assert path[-1] == ids["ts_batch"]
    edges = {(s, t) for s, t, _ in _expected_edges(ids)}
    assert all((s, t) in edges for s, t in itertools.pairwise(path))
    assert len(path) == 5  # source -> view -> training set -> model -> batch (or via the run)


@pytest.mark.parametrize("mode", ["sql", "graph"])
def test_subgraphs_windows_and_model_graph(
    answers: dict[str, Any], world: World, mode: str
) -> None:
    ids = _ids(world)
    a = answers[mode]
    everything = _expected_edges(ids)

    def induced(keys: set[str]) -> list[list[str]]:
        nodes = {ids[k] for k in keys}
        return sorted([s, t, k] for s, t, k in everything if s in nodes and t in nodes)

    up = {
        "model",
        "ts",
        "spend",
        "profile",
        "service",
        "run_spend",
        "run_profile",
        "file0",
        "file1",
        "csv",
        "src_txns",
        "src_profiles",
    }
    assert set(a["sub_up"]["nodes"]) == {ids[k] for k in up}
    assert a["sub_up"]["edges"] == induced(up)
    assert a["sub_up"]["nodes"][ids["model"]]["kind"] == "model_version"
    down = {"ts", "model", "batch", "ts_batch", *MONITORING}
    assert set(a["sub_down"]["nodes"]) == {ids[k] for k in down}
    assert a["sub_down"]["edges"] == induced(down)
    both = {"run_profile", "profile", "src_profiles", "csv", "ts", "model", "batch", "ts_batch"}
    both |= set(MONITORING)
    assert set(a["sub_both"]["nodes"]) == {ids[k] for k in both}
    assert a["sub_both"]["edges"] == induced(both)
    late = {"ts", "model", "batch", "ts_batch", *MONITORING}
    assert set(a["window_late"]["nodes"]) == {ids[k] for k in late}
    assert a["window_late"]["edges"] == induced(late)
    assert not set(a["window_early"]["nodes"]) & {ids[k] for k in late}
    assert ids["run_spend"] in a["window_early"]["nodes"]
    assert set(a["model_graph"]["nodes"]) == set(ids.values())
    assert a["model_graph"]["edges"] == sorted(list(e) for e in everything)


@pytest.mark.parametrize("mode", ["sql", "graph"])
def test_query_errors_name_the_problem(answers: dict[str, Any], mode: str) -> None:
    errors = answers[mode]["errors"]
    assert errors["unknown_node"][0] == "LineageError"
    assert "model:chrun@1" in errors["unknown_node"][1]
    assert "did you mean 'model:churn@1'" in errors["unknown_node"][1]
    assert errors["unknown_kind"][0] == "LineageError"
    assert "did you mean 'model_version'" in errors["unknown_kind"][1]
    assert errors["unknown_model"][0] == "LineageError"
    assert "did you mean 'churn'" in errors["unknown_model"][1]
    assert errors["no_path"][0] == "LineageError"
    assert "no lineage path" in errors["no_path"][1]
    assert errors["bad_direction"][0] == "LineageError"


def test_unknown_nodes_raise_lineage_error_in_process(world: World) -> None:
    lineage = world.store.lineage
    for call in (
        lambda: lineage.node("source:txn"),
        lambda: lineage.downstream("source:txn"),
        lambda: lineage.path("source:txn", "model:churn@1"),
        lambda: lineage.subgraph("source:txn"),
    ):
        with pytest.raises(
            fs.LineageError, match=r"unknown lineage node 'source:txn'; did you mean 'source:txns'"
        ):
            call()
    with pytest.raises(fs.LineageError, match="unknown node kind 'views'"):
        lineage.downstream("source:txns", kinds="views")
    # a typo in the kind prefix still gets a useful suggestion, never "nothing is registered"
    with pytest.raises(fs.LineageError, match="unknown lineage node") as info:
        lineage.node("modle:churn@1")
    assert "nothing is registered" not in str(info.value)
    assert "model:churn@1" in str(info.value)


def test_loaded_graph_handles_nodes_recorded_after_loading(tmp_path: Path) -> None:
    w = build_world(tmp_path)
    try:
        lineage = w.store.lineage
        lineage.load()
        newer = w.store.register_model("churn", w.training_set)
        # the node is newer than the loaded graph: queries still answer (or raise a
        # LineageError), never a raw networkx error
        up = {n.id for n in lineage.upstream(newer.id, kinds="training_set")}
        assert up == {w.training_set.id}
        assert lineage.path(w.training_set.id, newer.id) == [w.training_set.id, newer.id]
        lineage.load()
        assert newer.id in lineage.graph
    finally:
        w.store.close()


# -- explain ---------------------------------------------------------------------------------


def _check_explained(w: World, explained: dict[str, Any], customer: int, as_of: datetime) -> None:
    ids = _ids(w)
    assert explained["model_version"]["id"] == ids["model"]
    assert explained["model_version"]["version"] == 1
    assert explained["training_set"] == ids["ts"]
    assert explained["as_of"] == as_of
    assert explained["prediction"]["customer_id"] == customer
    by_feature = {f["feature"]: f for f in explained["features"]}
    assert set(by_feature) == {"amount", "age"}
    truth = {
        "amount": (all_txns(), w.spend, "run_spend"),
        "age": (PROFILES, w.profile, "run_profile"),
    }
    used_runs = set()
    for name, (rows, view, run_key) in truth.items():
        value, event_ts = expected_value(rows, customer, as_of)
        item = by_feature[name]
        assert item["value"] == value, (name, customer, as_of)
        assert item["event_timestamp"] == event_ts
        assert item["view_version"] == view.version
        assert item["view_node"] == f"view:{view.name}@{view.version}"
        assert item["missing_files"] == []
        if value is None:
            assert item["run"] is None
        else:
            assert item["run"] == ids[run_key]
            assert item["file"] in w.runs[view.name].files
            used_runs.add(view.name)
    expected_files = set()
    if "spend" in used_runs:
        expected_files |= {os.path.abspath(p) for p in w.txn_files}
    if "profile" in used_runs:
        expected_files.add(os.path.abspath(w.profile_file))
    files = {f["path"]: f for f in explained["source_files"]}
    assert set(files) == expected_files
    for path, fp in files.items():
        stat = os.stat(path)
        assert (fp["size"], fp["mtime_ns"], fp["sha256"]) == (
            stat.st_size,
            stat.st_mtime_ns,
            sha256_of(path),
        )
        assert fp["unchanged"] is True


@pytest.mark.parametrize("row", [0, 1, 2])
def test_explain_batch_logged_with_features(world: World, row: int) -> None:
    explained = world.store.lineage.explain(world.batch, row)
    customer = world.latest.frame["customer_id"][row]
    _check_explained(world, explained, customer, LATEST_AS_OF)
    # the explained values are the ones the model was given
    for item in explained["features"]:
        assert item["value"] == world.latest.frame[item["feature"]][row]
    assert explained["prediction_batch"] == world.batch.id
    assert explained["prediction"]["prediction_id"] == f"{world.batch.batch_id}:{row}"


@pytest.mark.parametrize("row", range(len(TS_BATCH_ROWS)))
def test_explain_batch_logged_with_timestamp_column(world: World, row: int) -> None:
    customer, ts, score = TS_BATCH_ROWS[row]
    explained = world.store.lineage.explain(world.ts_batch.id, row)
    assert explained["prediction"]["score"] == score
    _check_explained(world, explained, customer, ts)


def test_explain_from_a_new_process_matches(answers: dict[str, Any], world: World) -> None:
    here = world.store.lineage.explain(world.batch, 0)
    there = answers["sql"]["explain"]
    assert there["model_version"]["id"] == here["model_version"]["id"]
    assert there["training_set"] == here["training_set"]
    assert [(f["feature"], f["value"], f["run"]) for f in there["features"]] == [
        (f["feature"], f["value"], f["run"]) for f in here["features"]
    ]
    assert [f["sha256"] for f in there["source_files"]] == [
        f["sha256"] for f in here["source_files"]
    ]


def test_explain_errors(world: World) -> None:
    with pytest.raises(fs.LineageError, match="row 3 is out of range"):
        world.store.lineage.explain(world.batch, 3)
    with pytest.raises(fs.FeatstoreError, match="prediction_batch:nope"):
        world.store.lineage.explain("prediction_batch:nope", 0)


def test_explain_flags_changed_source_files(tmp_path: Path) -> None:
    w = build_world(tmp_path)
    try:
        changed = os.path.abspath(w.txn_files[1])
        st = os.stat(changed)
        os.utime(changed, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
        explained = w.store.lineage.explain(w.batch, 0)
        flags = {f["path"]: f["unchanged"] for f in explained["source_files"]}
        assert flags[changed] is False
        assert flags[os.path.abspath(w.txn_files[0])] is True
    finally:
        w.store.close()


def test_explain_needs_a_store() -> None:
    from featstore.catalog import SQLiteCatalog as Catalog
    from featstore.lineage import Lineage

    lineage = Lineage.__new__(Lineage)
    Lineage.__init__(lineage, Catalog.__new__(Catalog))
    with pytest.raises(fs.LineageError, match="needs a FeatureStore"):
        lineage.explain("prediction_batch:x", 0)


def test_definitions_helper_matches_world(world: World) -> None:
    # guards the subprocess tests: the helper rebuilds the very same versions
    d = definitions(world.root)
    assert d["spend"].version == world.spend.version
    assert d["profile"].version == world.profile.version


@pytest.mark.parametrize("mode", ["sql", "loaded"])
def test_counts_by_kind_match_the_walks(world: World, mode: str) -> None:
    lineage = world.store.lineage
    if mode == "loaded":
        lineage.load()
    try:
        for node in ("source:txns", "source:profiles", world.model.id, world.batch.id):
            for walk, counts in (
                (lineage.upstream, lineage.upstream_counts),
                (lineage.downstream, lineage.downstream_counts),
            ):
                kinds = [n.kind for n in walk(node)]
                found = counts(node)
                assert found == {k: kinds.count(k) for k in NODE_KINDS if k in kinds}
                assert list(found) == [k for k in NODE_KINDS if k in kinds]  # kind order
        assert lineage.downstream_counts("source:txns")["prediction_batch"] == 2
        with pytest.raises(fs.LineageError, match="unknown lineage node 'source:txn'"):
            lineage.downstream_counts("source:txn")
    finally:
        lineage.unload()
