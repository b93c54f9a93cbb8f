"""Lineage exports: node-link JSON (round trip and JSON Schema), GraphML, DOT, Mermaid
(with hostile names), and OpenLineage RunEvents validated against the transcribed 2-0-2
spec (facets, live emission and the client: tests/test_openlineage.py)."""

from __future__ import annotations

import copy
import io
import json
import os
import re
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import jsonschema
import networkx as nx
import pytest
from helpers import BOTH_CATALOGS
from lineage_helpers import (
    World,
    build_world,
    edge_set,
    format_checker,
    node_map,
    openlineage_validator,
    run_json,
    world_fixture,
)

import featstore as fs
from featstore import exports
from featstore.lineage_export.graphml import from_graphml

NODE_LINK_SCHEMA = Path(__file__).resolve().parents[1] / "schemas" / "lineage_node_link.schema.json"
AT = "2024-01-01T00:00:00.000000"


pytestmark = BOTH_CATALOGS

world = world_fixture("exports")


@pytest.fixture(scope="module")
def graph(world: World) -> nx.MultiDiGraph:
    return world.store.lineage.load().graph


def _full_edges(graph: nx.MultiDiGraph) -> set[tuple[str, str, Any, str]]:
    return {
        (s, t, k, json.dumps(d, sort_keys=True)) for s, t, k, d in graph.edges(keys=True, data=True)
    }


def tiny_graph() -> nx.MultiDiGraph:
    g = nx.MultiDiGraph()
    g.add_node("source:txns", kind="source", name="txns", created_at=AT, attrs={"path": "/d/t"})
    g.add_node(
        "file:/d/t/a.parquet@3f2a1c9b0d4e",
        kind="source_file",
        name="/d/t/a.parquet",
        created_at=AT,
        attrs={"path": "/d/t/a.parquet", "rows": 3},
    )
    g.add_node(
        "view:spend@0123456789ab", kind="feature_view", name="spend", created_at=AT, attrs={}
    )
    g.add_edge(
        "source:txns", "file:/d/t/a.parquet@3f2a1c9b0d4e", key="has_snapshot", kind="has_snapshot"
    )
    g.add_edge("source:txns", "view:spend@0123456789ab", key="feeds", kind="feeds")
    return g


# -- node-link JSON --------------------------------------------------------------------------


def test_node_link_round_trip(world: World, graph: nx.MultiDiGraph) -> None:
    text = world.store.lineage.export("json")
    document = json.loads(text)
    assert document["format"] == "featstore.lineage.node-link/1"
    assert document["featstore_version"] == fs.__version__
    assert len(document["nodes"]) == graph.number_of_nodes() == 18  # 14 + 4 monitoring
    assert len(document["edges"]) == graph.number_of_edges() == 31
    back = exports.from_node_link(document)
    assert isinstance(back, nx.MultiDiGraph)
    assert node_map(back) == node_map(graph)
    assert _full_edges(back) == _full_edges(graph)
    assert nx.is_isomorphic(
        back, graph, node_match=lambda a, b: a == b, edge_match=lambda a, b: a == b
    )
    # a subgraph round-trips too
    sub = world.store.lineage.subgraph(world.batch.id, direction="up")
    again = exports.from_node_link(json.loads(world.store.lineage.export("json", sub)))
    assert node_map(again) == node_map(sub)
    assert _full_edges(again) == _full_edges(sub)


def test_node_link_validates_against_its_schema(world: World) -> None:
    if not NODE_LINK_SCHEMA.exists():
        pytest.skip(f"{NODE_LINK_SCHEMA} does not exist yet (the lead writes it)")
    schema = json.loads(NODE_LINK_SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema, format_checker=format_checker())
    document = json.loads(world.store.lineage.export("json"))
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]
    assert errors == []
    # the schema is not vacuous
    broken = copy.deepcopy(document)
    broken["nodes"][0]["kind"] = "spreadsheet"
    assert not validator.is_valid(broken)


def test_from_node_link_rejects_other_documents() -> None:
    with pytest.raises(fs.LineageError, match="not a featstore node-link document"):
        exports.from_node_link({"directed": True, "nodes": [], "edges": []})


# -- GraphML, DOT, Mermaid -------------------------------------------------------------------


def test_graphml_parses_back(world: World, graph: nx.MultiDiGraph) -> None:
    text = world.store.lineage.export("graphml")
    back = nx.read_graphml(io.BytesIO(text.encode()), force_multigraph=True)
    assert set(back.nodes) == {f"n{i}" for i in range(graph.number_of_nodes())}
    ids = {short: data["featstore_id"] for short, data in back.nodes(data=True)}
    assert sorted(ids.values()) == sorted(graph.nodes)
    for short, parsed in back.nodes(data=True):
        data = graph.nodes[ids[short]]
        assert (parsed["kind"], parsed["name"], parsed["created_at"]) == (
            data["kind"],
            data["name"],
            data["created_at"],
        )
        assert json.loads(parsed["attrs"]) == data["attrs"]
    assert {(ids[s], ids[t], d["kind"]) for s, t, d in back.edges(data=True)} == edge_set(graph)
    assert {(ids[s], ids[t], d["featstore_key"]) for s, t, d in back.edges(data=True)} == {
        (s, t, k) for s, t, k in graph.edges(keys=True)
    }
    again = from_graphml(text)  # the graph exported, featstore ids and all
    assert node_map(again) == node_map(graph)
    assert _full_edges(again) == _full_edges(graph)


_NMTOKEN = re.compile(r"[A-Za-z0-9._:-]+")  # XML NMTOKEN (the ASCII part of NameChar)
HOSTILE_NAMES = [
    "we\"ird <name> & 'quoted'",
    "a|b[c](d){e}#f;g`h",
    "1 starts with a digit",
    "spaces and\ttabs\nnewlines",
    "ünïcödé/日本/🙂",
    "featstore-escaped:x\x01",
]


def hostile_graph() -> nx.MultiDiGraph:
    g = nx.MultiDiGraph()
    previous = None
    for i, name in enumerate(HOSTILE_NAMES):
        node = f"source:{name}" if i % 2 else f"file:/d/{name}.parquet@3f2a1c9b0d4e"
        g.add_node(node, kind="source", name=name, created_at=AT, attrs={"path": name})
        if previous is not None:
            g.add_edge(previous, node, key="feeds", kind="feeds")
            g.add_edge(previous, node, key=f"odd {name}", kind=f"odd {name}")
        previous = node
    return g


def test_graphml_ids_are_nmtokens_and_unique_with_hostile_names() -> None:
    g = hostile_graph()
    text = exports.to_graphml(g)
    root = ET.fromstring(text.encode())  # noqa: S314 (our own output): well-formed
    ns = "{http://graphml.graphdrawing.org/xmlns}"
    nodes = root.iter(f"{ns}node")
    node_ids = [n.get("id") or "" for n in nodes]
    edge_ids = [e.get("id") or "" for e in root.iter(f"{ns}edge")]
    assert len(node_ids) == g.number_of_nodes()
    assert len(edge_ids) == g.number_of_edges()
    for found in node_ids + edge_ids:
        assert _NMTOKEN.fullmatch(found), found
    assert len(set(node_ids)) == len(node_ids)
    assert len(set(edge_ids)) == len(edge_ids)  # "feeds" is a key of several edges
    back = nx.read_graphml(io.BytesIO(text.encode()), force_multigraph=True)
    assert back.number_of_nodes() == g.number_of_nodes()
    assert back.number_of_edges() == g.number_of_edges()
    again = from_graphml(text)
    assert node_map(again) == node_map(g)
    assert _full_edges(again) == _full_edges(g)


def test_mermaid_labels_escape_hostile_names() -> None:
    g = hostile_graph()
    text = exports.to_mermaid(g)
    node_labels = re.findall(r'^  n\d+\["(.*)"\]:::[A-Za-z0-9_]+$', text, re.M)
    edge_labels = re.findall(r'^  n\d+ -->\|(?:[A-Za-z0-9_]+|"(.*)")\| n\d+$', text, re.M)
    assert len(node_labels) == g.number_of_nodes()
    assert len([e for e in edge_labels if e]) == g.number_of_edges() // 2  # the "odd ..." ones
    for found in [*node_labels, *edge_labels]:
        inside = re.sub(r"#(?:[0-9]+|quot|lt|gt|amp);", "", found.replace("<br/>", ""))
        assert not re.search(r"[#\"'<>|\[\](){}`;&\n\x00-\x1f]", inside), found
    assert "we#quot;ird #lt;name#gt; #amp; #39;quoted#39;" in text
    assert "a#124;b#91;c#93;#40;d#41;#123;e#125;#35;f#59;g#96;h" in text
    assert "spaces and\\u0009tabs<br/>newlines" in text


def test_dot_golden() -> None:
    assert exports.to_dot(tiny_graph()) == (
        "digraph lineage {\n"
        "  rankdir=LR;\n"
        '  node [shape=box, style="rounded,filled"];\n'
        '  "file:/d/t/a.parquet@3f2a1c9b0d4e" '
        '[label="source_file\\na.parquet", fillcolor="#eef4fb"];\n'
        '  "source:txns" [label="source\\ntxns", fillcolor="#d8e8f8"];\n'
        '  "view:spend@0123456789ab" '
        '[label="feature_view\\nspend@0123456789ab", fillcolor="#d9f2d9"];\n'
        '  "source:txns" -> "file:/d/t/a.parquet@3f2a1c9b0d4e" [label="has_snapshot"];\n'
        '  "source:txns" -> "view:spend@0123456789ab" [label="feeds"];\n'
        "}\n"
    )


def test_mermaid_golden() -> None:
    text = exports.to_mermaid(tiny_graph())
    lines = text.splitlines()
    assert lines[:6] == [
        "flowchart LR",
        '  n0["source_file<br/>a.parquet"]:::source_file',
        '  n1["source<br/>txns"]:::source',
        '  n2["feature_view<br/>spend@0123456789ab"]:::feature_view',
        "  n1 -->|has_snapshot| n0",
        "  n1 -->|feeds| n2",
    ]
    assert [line.split()[1] for line in lines[6:]] == [
        "source",
        "source_file",
        "feature_view",
        "feature_service",
        "materialization_run",
        "training_set",
        "model_version",
        "prediction_batch",
    ]
    assert all(line.startswith("  classDef ") for line in lines[6:])


def test_dot_has_every_node_and_edge(world: World, graph: nx.MultiDiGraph) -> None:
    text = world.store.lineage.export("dot")
    lines = text.splitlines()
    assert lines[0] == "digraph lineage {"
    assert lines[-1] == "}"
    node_lines = {
        m.group(1): m.group(2)
        for m in re.finditer(
            r'^  "([^"]+)" \[label="([^"]*)", fillcolor="#[0-9a-f]{6}"\];$', text, re.M
        )
    }
    assert set(node_lines) == set(graph.nodes)
    for node, label in node_lines.items():
        assert label.startswith(graph.nodes[node]["kind"] + "\\n")
    edge_lines = {
        (m.group(1), m.group(2), m.group(3))
        for m in re.finditer(r'^  "([^"]+)" -> "([^"]+)" \[label="([a-z_]+)"\];$', text, re.M)
    }
    assert edge_lines == edge_set(graph)
    assert len(lines) == 3 + graph.number_of_nodes() + graph.number_of_edges() + 1


def test_mermaid_has_every_node_and_edge(world: World, graph: nx.MultiDiGraph) -> None:
    text = world.store.lineage.export("mermaid")
    lines = text.splitlines()
    assert lines[0] == "flowchart LR"
    nodes = {
        m.group(1): (m.group(2), m.group(3))
        for m in re.finditer(r'^  (n\d+)\["([^"]*)"\]:::([a-z_]+)$', text, re.M)
    }
    ids = {f"n{i}": node for i, node in enumerate(sorted(graph.nodes))}
    assert set(nodes) == set(ids)
    for short, (label, kind) in nodes.items():
        node = ids[short]
        assert kind == graph.nodes[node]["kind"]
        expected = (
            os.path.basename(graph.nodes[node]["attrs"]["path"])
            if kind == "source_file"
            else node.split(":", 1)[1]
        )
        assert label == f"{kind}<br/>{expected}"
    edges = {
        (ids[m.group(1)], ids[m.group(3)], m.group(2))
        for m in re.finditer(r"^  (n\d+) -->\|([a-z_]+)\| (n\d+)$", text, re.M)
    }
    assert edges == edge_set(graph)


def test_labels_are_escaped_and_shortened() -> None:
    g = nx.MultiDiGraph()
    odd = 'source:we"ird\\name'
    long = "training_set:" + "x" * 60
    g.add_node(odd, kind="source", name="weird", created_at=AT, attrs={})
    g.add_node(long, kind="training_set", name="x", created_at=AT, attrs={})
    g.add_edge(odd, long, key="read_by", kind="read_by")
    dot = exports.to_dot(g)
    assert '"source:we\\"ird\\\\name"' in dot
    assert f'"training_set\\n{"x" * 37}..."' in dot
    mermaid = exports.to_mermaid(g)
    assert "we#quot;ird" in mermaid
    assert '"ird' not in mermaid


def test_export_subgraph_and_unknown_format(world: World) -> None:
    sub = world.store.lineage.subgraph(world.model.id, direction="down")
    dot = world.store.lineage.export("dot", sub)
    # the model's batches, their skew report, labels and drift check, its evaluation
    assert dot.count(" -> ") == sub.number_of_edges() == 6
    assert "source:txns" not in dot
    with pytest.raises(
        fs.LineageError, match="unknown export format 'grapml'; did you mean 'graphml'"
    ):
        world.store.lineage.export("grapml")


# -- OpenLineage ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def events(world: World) -> list[dict[str, Any]]:
    return world.store.lineage.openlineage_events()


def test_openlineage_events_validate(events: list[dict[str, Any]]) -> None:
    validator = openlineage_validator()
    assert events
    for event in events:
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(event)]
        assert errors == [], event


def test_openlineage_start_and_complete_per_run_training_set_model_and_batch(
    world: World, events: list[dict[str, Any]]
) -> None:
    jobs = sorted((e["job"]["name"], e["eventType"]) for e in events)
    once = [
        "materialize.spend",
        "materialize.profile",
        "training_set.churn_train",
        "register_model.churn",
        "predict.churn",
        "predict.churn",
    ]
    assert jobs == sorted((j, t) for j in once for t in ("START", "COMPLETE"))
    namespace = "featstore://store"  # the store directory's name, not its path
    assert {e["job"]["namespace"] for e in events} == {namespace}
    run_ids = [e["run"]["runId"] for e in events if e["eventType"] == "COMPLETE"]
    assert len(set(run_ids)) == len(run_ids) == 6
    assert all(uuid.UUID(r).version == 5 for r in run_ids)
    times = [e["eventTime"] for e in events]
    assert times == sorted(times)
    by_job: dict[str, list[dict[str, Any]]] = {}
    for e in events:
        if e["eventType"] == "COMPLETE":
            by_job.setdefault(e["job"]["name"], []).append(e)
    spend = by_job["materialize.spend"][0]
    assert sorted((i["namespace"], i["name"]) for i in spend["inputs"]) == sorted(
        ("file", os.path.abspath(p)) for p in world.txn_files
    )
    assert [(o["namespace"], o["name"]) for o in spend["outputs"]] == [(namespace, "offline/spend")]
    assert spend["outputs"][0]["facets"]["version"]["datasetVersion"] == world.spend.version
    training = by_job["training_set.churn_train"][0]
    assert {i["name"] for i in training["inputs"]} == {"offline/spend", "offline/profile"}
    assert training["outputs"][0]["name"] == "training_sets/churn_train"
    model = by_job["register_model.churn"][0]
    assert [i["name"] for i in model["inputs"]] == ["training_sets/churn_train"]
    assert [o["name"] for o in model["outputs"]] == ["models/churn"]
    outputs = {
        e["outputs"][0]["facets"]["version"]["datasetVersion"]: e for e in by_job["predict.churn"]
    }
    with_features = outputs[world.batch.batch_id]
    assert with_features["outputs"][0]["name"] == "predictions/churn"
    assert {i["name"] for i in with_features["inputs"]} == {
        "offline/spend",
        "offline/profile",
        "models/churn",
    }
    plain = outputs[world.ts_batch.batch_id]
    assert [i["name"] for i in plain["inputs"]] == ["models/churn"]


def test_openlineage_events_are_stable_across_processes(
    world: World, events: list[dict[str, Any]]
) -> None:
    assert world.store.lineage.openlineage_events() == events
    there = run_json(f"""
        import json
        import featstore as fs
        with fs.FeatureStore({str(world.store_path)!r}, progress=False) as store:
            print(json.dumps(store.lineage.openlineage_events()))
    """)
    assert there == events


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("run", "runId"), "run-1"),
        (("eventType",), "DONE"),
        (("eventTime",), "2024-01-01T00:00:00"),
        (("eventTime",), "yesterday"),
        (("producer",), "not a uri"),
        (("schemaURL",), None),
        (("job", "name"), None),
        (("run", "facets", "custom"), {"_producer": "https://x.example/p"}),
        (("job", "facets", "custom"), {"_schemaURL": "https://x.example/s"}),
        (
            ("outputs", 0, "facets", "schema"),
            {"_producer": "::", "_schemaURL": "https://x.example/s"},
        ),
        (("inputs", 0, "namespace"), None),
    ],
)
def test_openlineage_schema_rejects_broken_events(
    events: list[dict[str, Any]], path: tuple[Any, ...], value: Any
) -> None:
    validator = openlineage_validator()
    event = copy.deepcopy(next(e for e in events if e["eventType"] == "COMPLETE"))
    assert validator.is_valid(event)
    target = event
    for part in path[:-1]:
        target = target.setdefault(part, {}) if isinstance(part, str) else target[part]
    if value is None:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    assert not validator.is_valid(event)


def test_format_checker_really_checks_formats() -> None:
    checker = format_checker()
    assert checker.conforms("2024-01-01T00:00:00.5Z", "date-time")
    assert not checker.conforms("2024-13-01T00:00:00Z", "date-time")
    assert checker.conforms(
        "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent", "uri"
    )
    assert not checker.conforms("relative/path", "uri")
    assert checker.conforms(str(uuid.uuid4()), "uuid")
    assert not checker.conforms("1234", "uuid")


def test_openlineage_events_of_an_empty_store(tmp_path: Path) -> None:
    with fs.FeatureStore(tmp_path / "empty", progress=False) as store:
        assert store.lineage.openlineage_events() == []
        assert json.loads(store.lineage.export("json"))["nodes"] == []


def test_openlineage_events_with_rematerialization(tmp_path: Path) -> None:
    w = build_world(tmp_path)
    try:
        w.store.materialize("2024-02-01", "2024-03-01", views=["spend"])
        events = w.store.lineage.openlineage_events()
        assert [e["job"]["name"] for e in events].count("materialize.spend") == 4
        spend = [e for e in events if e["job"]["name"] == "materialize.spend"]
        assert len({e["run"]["runId"] for e in spend}) == 2  # START and COMPLETE of each
        assert {e["outputs"][0]["name"] for e in spend if e["outputs"]} == {"offline/spend"}
        validator = openlineage_validator()
        assert all(validator.is_valid(e) for e in events)
    finally:
        w.store.close()
