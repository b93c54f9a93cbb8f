"""The lineage explorer's data (featstore.ui.graph) and the pictures drawn from it
(featstore.ui.draw), against networkx walks over ``store.lineage.graph``."""

from __future__ import annotations

import os
import re
import stat
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import networkx as nx
import pytest
from lineage_helpers import World, many_files_store, world_fixture

import featstore as fs
from featstore.errors import LineageError
from featstore.lineage_ids import NodeKind
from featstore.ui import graph as graph_module
from featstore.ui.draw import DrawError, draw, layout, render_svg
from featstore.ui.graph import GraphSource, lineage_api

world = world_fixture("ui_graph")

HEX_ID = re.compile(r"\b[0-9a-f]{16,}\b")


@pytest.fixture(scope="module")
def source(world: World) -> Iterator[GraphSource]:
    store = fs.FeatureStore(world.store_path, read_only=True, progress=False)
    yield GraphSource(store)
    store.close()


def _within(graph: nx.MultiDiGraph, start: str, hops: int, *, up: bool) -> set[str]:
    """Nodes at most ``hops`` steps from ``start`` against (up) or along the edges."""
    seen, frontier = {start}, {start}
    for _ in range(hops):
        step = set()
        for v in frontier:
            step |= set(graph.predecessors(v) if up else graph.successors(v))
        frontier = step - seen
        seen |= frontier
    return seen


def test_neighbourhood_is_the_hops_up_and_down_with_every_edge_among_them(
    world: World, source: GraphSource, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(graph_module, "GROUP_MIN", 10**9)  # no groups: the plain walk
    graph = world.store.lineage.graph
    for start in [
        world.model.id,
        world.spend.node_id
        if hasattr(world.spend, "node_id")
        else f"view:spend@{world.spend.version}",
        f"prediction_batch:{world.batch.batch_id}",
    ]:
        for up, down in [(0, 0), (1, 0), (0, 1), (2, 2), (3, 1)]:
            got = source.neighbourhood(start, up, down)
            expected = _within(graph, start, up, up=True) | _within(graph, start, down, up=False)
            assert {n["id"] for n in got["nodes"]} == expected, (start, up, down)
            expected_edges = {
                (a, b, k) for a, b, k in graph.edges(keys=True) if a in expected and b in expected
            }
            assert {(e["source"], e["target"], e["kind"]) for e in got["edges"]} == expected_edges
            assert got["center"] == start


def test_labels_are_readable_never_a_bare_hex_id(world: World, source: GraphSource) -> None:
    got = source.neighbourhood(world.model.id, 6, 6)
    by_id = {n["id"]: n for n in got["nodes"]}
    for run in world.runs.values():
        node = by_id[f"run:{run.run_id}"]
        assert node["label"] == f"{run.view} · {run.view_version[:8]}"
        assert node["sub"] == f"2024-01-01 → 2024-04-01, {run.rows:,} rows"
    for node in got["nodes"]:
        assert node["label"], node
        assert not HEX_ID.search(node["label"]), node
        assert node["layer"] == graph_module.KIND_LAYERS[node["kind"]]
    assert by_id[world.model.id]["label"] == "churn v1"
    assert "auc=0.81" in by_id[world.model.id]["sub"]


def test_search_finds_by_name_and_id_exact_ids_first(world: World, source: GraphSource) -> None:
    found = source.search("CHURN")
    graph = world.store.lineage.graph
    expected = {n for n, d in graph.nodes(data=True) if "churn" in f"{n}\n{d['name']}".lower()}
    assert found["total"] == len(expected)
    assert {r["id"] for r in found["results"]} <= expected
    exact = source.search(world.model.id)
    assert exact["results"][0]["id"] == world.model.id
    assert source.search("   ")["results"] == []
    assert source.search("no-such-thing-anywhere")["total"] == 0


def test_node_details_count_neighbours_by_kind(world: World, source: GraphSource) -> None:
    got = source.node(world.model.id)
    graph = world.store.lineage.graph
    ups: dict[str, int] = {}
    for p in graph.predecessors(world.model.id):
        ups[graph.nodes[p]["kind"]] = ups.get(graph.nodes[p]["kind"], 0) + 1
    assert got["upstream"] == ups
    assert got["attrs"]["metrics"] == {"auc": 0.81, "logloss": 0.4}
    with pytest.raises(LineageError, match=r"unknown lineage node 'model:chrun@1'.*model:churn@1"):
        source.node("model:chrun@1")


def test_explain_path_runs_from_the_source_files_to_the_batch(
    world: World, source: GraphSource
) -> None:
    batch = f"prediction_batch:{world.batch.batch_id}"
    got = source.explain(batch, 0)
    path = set(got["path"])
    assert {batch, world.model.id, world.training_set.id} <= path
    assert {f"run:{r.run_id}" for r in world.runs.values()} <= path
    assert any(p.startswith("file:") for p in path)
    explained = world.store.lineage.explain(batch, 0)
    assert [r["value"] for r in got["table"]] == [f["value"] for f in explained["features"]]
    graph = world.store.lineage.graph
    for p in path - {batch}:  # every node of the path reaches the batch
        assert nx.has_path(graph, p, batch), p


def test_api_rejects_bad_parameters_with_the_parameter_named(source: GraphSource) -> None:
    with pytest.raises(LineageError, match="'up' must be between 0 and 6"):
        lineage_api(source, "graph", {"up": "9"})
    with pytest.raises(LineageError, match="'down' must be a whole number"):
        lineage_api(source, "graph", {"down": "two"})
    with pytest.raises(LineageError, match="needs the parameter 'node'"):
        lineage_api(source, "expand", {})
    with pytest.raises(LineageError, match=r"unknown lineage operation .grpah.*.graph."):
        lineage_api(source, "grpah", {})
    assert lineage_api(source, "graph", {})["center"].startswith("view:")


# -- many similar siblings -------------------------------------------------------------

FILES = 14


@pytest.fixture(scope="module")
def many_files(tmp_path_factory: pytest.TempPathFactory) -> Iterator[fs.FeatureStore]:
    path = many_files_store(tmp_path_factory.mktemp("many_files"), FILES)
    opened = fs.FeatureStore(path, read_only=True, progress=False)
    yield opened
    opened.close()


def test_many_siblings_of_one_kind_come_as_one_group_that_opens(
    many_files: fs.FeatureStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = GraphSource(many_files)
    run = next(n for n in many_files.lineage.graph if n.startswith("run:"))
    got = source.neighbourhood(run, 1, 0)
    groups = [n for n in got["nodes"] if n["kind"] == "group"]
    assert len(groups) == 1
    group = groups[0]
    assert group["member_kind"] == NodeKind.SOURCE_FILE
    assert group["count"] == FILES
    assert group["label"] == f"{FILES} source files"
    assert not any(n["kind"] == NodeKind.SOURCE_FILE for n in got["nodes"])
    assert {"source": group["id"], "target": run, "kind": "read_by"} in got["edges"]
    opened = source.group(group["anchor"], group["side"], group["member_kind"])
    files = [n for n in opened["nodes"] if n["kind"] == NodeKind.SOURCE_FILE]
    assert opened["total"] == FILES
    assert len(files) == FILES
    assert opened["next"] is None
    assert sorted(n["label"] for n in files) == [f"day-{d:02d}.parquet" for d in range(FILES)]
    monkeypatch.setattr(graph_module, "GROUP_PAGE", 5)
    page = source.group(group["anchor"], "up", NodeKind.SOURCE_FILE, offset=10)
    assert page["next"] is None
    assert len([n for n in page["nodes"] if n["id"] != run]) == 4
    assert source.group(group["anchor"], "up", NodeKind.SOURCE_FILE)["next"] == 5


# -- pictures --------------------------------------------------------------------------


def test_layout_puts_kinds_left_to_right_and_never_overlaps(
    source: GraphSource, world: World
) -> None:
    data = source.neighbourhood(world.model.id, 6, 6)
    pos, width, height = layout(data["nodes"], data["edges"])
    by_layer: dict[int, set[float]] = {}
    for n in data["nodes"]:
        by_layer.setdefault(n["layer"], set()).add(pos[n["id"]][0])
    xs = [next(iter(v)) for _, v in sorted(by_layer.items())]
    assert all(len(v) == 1 for v in by_layer.values())  # one column per layer
    assert xs == sorted(xs)
    assert len(set(xs)) == len(xs)
    boxes = sorted(pos.values())
    assert len(set(boxes)) == len(boxes)
    assert all(0 <= x <= width and 0 <= y <= height for x, y in boxes)


def test_svg_is_xml_with_every_label_and_a_legend(
    source: GraphSource, world: World, tmp_path: Path
) -> None:
    out = tmp_path / "model.svg"
    info = draw(source, world.model.id, out, up=2, down=1)
    tree = ET.parse(out)  # noqa: S314 (a file this test wrote)
    text = " ".join(t.text or "" for t in tree.iter("{http://www.w3.org/2000/svg}text"))
    data = source.neighbourhood(world.model.id, 2, 1)
    assert info["nodes"] == len(data["nodes"])
    for n in data["nodes"]:
        assert n["label"][:20] in text
    for noun in ("model version", "training set", "prediction batch"):
        assert noun in text  # the legend
    svg = render_svg(data)
    assert svg.count("marker-end=") == len(data["edges"])


def test_png_and_html_and_failures_leave_no_file(
    source: GraphSource, world: World, tmp_path: Path
) -> None:
    pytest.importorskip("graphviz")
    import shutil

    if shutil.which("dot") is None:
        pytest.skip("Graphviz's programs are not installed (apt-get install graphviz)")
    png = tmp_path / "model.png"
    draw(source, world.model.id, png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = tmp_path / "model.html"
    draw(source, world.model.id, page)
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(page.stat().st_mode) == 0o666 & ~umask  # not a temporary file's 0600
    text = page.read_text()
    assert world.model.id in text
    assert "FeatstoreExplorer.mount" in text
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", text)  # nothing from the network
    with pytest.raises(DrawError, match=r"must end in \.html, \.svg or \.png"):
        draw(source, world.model.id, tmp_path / "model.pdf")
    with pytest.raises(LineageError, match="unknown lineage node"):
        draw(source, "model:nope@1", tmp_path / "nope.svg")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.html", "model.png"]


def _offline_keys(data: dict[str, Any]) -> set[str]:
    return set(data["responses"])


def test_html_embeds_every_expansion_of_what_it_shows(source: GraphSource, world: World) -> None:
    from featstore.ui.draw import offline_data

    data = offline_data(source, world.model.id, 1, 1)
    keys = _offline_keys(data)
    first = data["responses"][f"graph:{world.model.id}"]
    for n in first["nodes"]:
        assert f"expand:{n['id']}" in keys
        assert f"node:{n['id']}" in keys
    batch = f"prediction_batch:{world.batch.batch_id}"
    assert f"explain:{batch}#0" in keys


def test_hostile_text_cannot_leave_the_embedded_data_or_the_svg_text() -> None:
    from featstore.ui.draw import render_html

    evil = "</script><script>alert(1)</script><b>&amp;"
    node = {
        "id": f"file:/x/{evil}@ab",
        "kind": "source_file",
        "name": evil,
        "label": evil,
        "sub": evil,
        "layer": 1,
        "in": 0,
        "out": 0,
    }
    data = {"center": node["id"], "nodes": [node], "edges": []}
    page = render_html(
        {"start": node["id"], "up": 1, "down": 1, "responses": {f"graph:{node['id']}": data}},
        title=evil,
    )
    assert "<script>alert(1)" not in page
    assert page.count("</script>") == 3  # the data's, the explorer's and the mount's
    svg = render_svg(data, title=evil)
    assert "<script>" not in svg
    assert "&lt;/script&gt;" in svg
    ET.fromstring(svg)  # noqa: S314 (text this test made)
