"""Lineage exports: node-link JSON (and import), GraphML, DOT, Mermaid, OpenLineage.

All functions take a networkx graph as built by :class:`featstore.lineage.Lineage`
(node attributes ``kind``, ``name``, ``created_at``, ``attrs``; edge attribute ``kind``).
"""

from __future__ import annotations

import io
import json
import uuid
from typing import Any

import networkx as nx

from featstore import __version__
from featstore.catalog import Catalog
from featstore.errors import LineageError

__all__ = [
    "from_node_link",
    "openlineage_events",
    "to_dot",
    "to_graphml",
    "to_mermaid",
    "to_node_link",
]

NODE_LINK_FORMAT = "featstore.lineage.node-link/1"
PRODUCER = "https://pypi.org/project/featstore/"
OPENLINEAGE_SCHEMA = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"


def to_node_link(graph: nx.MultiDiGraph) -> dict[str, Any]:
    """The graph as node-link JSON (schemas/lineage_node_link.schema.json)."""
    data = nx.node_link_data(graph, edges="edges")
    return {"format": NODE_LINK_FORMAT, "featstore_version": __version__, **data}


def from_node_link(document: dict[str, Any]) -> nx.MultiDiGraph:
    """Rebuild a graph from :func:`to_node_link` output."""
    if document.get("format") != NODE_LINK_FORMAT:
        raise LineageError(
            f"not a featstore node-link document: format is {document.get('format')!r}, "
            f"expected {NODE_LINK_FORMAT!r}"
        )
    body = {k: v for k, v in document.items() if k not in ("format", "featstore_version")}
    graph = nx.node_link_graph(body, directed=True, multigraph=True, edges="edges")
    return nx.MultiDiGraph(graph)


def _flat(graph: nx.MultiDiGraph) -> nx.MultiDiGraph:
    flat = nx.MultiDiGraph()
    for node, data in graph.nodes(data=True):
        flat.add_node(
            node,
            kind=data.get("kind", ""),
            name=data.get("name", ""),
            created_at=data.get("created_at", ""),
            attrs=json.dumps(data.get("attrs", {}), sort_keys=True, default=str),
        )
    for src, dst, key, data in graph.edges(keys=True, data=True):
        flat.add_edge(src, dst, key=key, kind=data.get("kind", str(key)))
    return flat


def to_graphml(graph: nx.MultiDiGraph) -> str:
    """GraphML text; node ``attrs`` are serialised as a JSON string attribute."""
    buffer = io.BytesIO()
    nx.write_graphml(_flat(graph), buffer)
    return buffer.getvalue().decode()


_COLORS = {
    "source": "#d8e8f8",
    "source_file": "#eef4fb",
    "feature_view": "#d9f2d9",
    "feature_service": "#e8f7e0",
    "materialization_run": "#fff2cc",
    "training_set": "#fde0c5",
    "model_version": "#f8cecc",
    "prediction_batch": "#e1d5e7",
}


def _label(node: str, data: dict[str, Any]) -> str:
    kind = data.get("kind", "")
    if kind == "source_file":
        path = data.get("attrs", {}).get("path", node)
        return f"{kind}\n{path.rsplit('/', 1)[-1]}"
    short = node.split(":", 1)[-1]
    if len(short) > 40:
        short = short[:37] + "..."
    return f"{kind}\n{short}"


def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(graph: nx.MultiDiGraph) -> str:
    """Graphviz DOT text, nodes coloured by kind (render with ``dot -Tsvg``)."""
    lines = ["digraph lineage {", "  rankdir=LR;", '  node [shape=box, style="rounded,filled"];']
    for node, data in sorted(graph.nodes(data=True)):
        color = _COLORS.get(data.get("kind", ""), "#ffffff")
        lines.append(
            f"  {_dot_quote(node)} [label={_dot_quote(_label(node, data))}, fillcolor={_dot_quote(color)}];"
        )
    for src, dst, data in sorted(
        graph.edges(data=True), key=lambda e: (e[0], e[1], e[2].get("kind", ""))
    ):
        lines.append(
            f"  {_dot_quote(src)} -> {_dot_quote(dst)} [label={_dot_quote(data.get('kind', ''))}];"
        )
    lines.append("}")
    return "\n".join(lines) + "\n"


def _mermaid_text(text: str) -> str:
    return text.replace('"', "#quot;").replace("\n", "<br/>")


def to_mermaid(graph: nx.MultiDiGraph) -> str:
    """Mermaid flowchart text (paste into Markdown that renders Mermaid)."""
    ids = {node: f"n{i}" for i, node in enumerate(sorted(graph.nodes))}
    lines = ["flowchart LR"]
    for node, data in sorted(graph.nodes(data=True)):
        lines.append(
            f'  {ids[node]}["{_mermaid_text(_label(node, data))}"]:::{data.get("kind", "node")}'
        )
    for src, dst, data in sorted(
        graph.edges(data=True), key=lambda e: (e[0], e[1], e[2].get("kind", ""))
    ):
        lines.append(f"  {ids[src]} -->|{data.get('kind', '')}| {ids[dst]}")
    for kind, color in _COLORS.items():
        lines.append(f"  classDef {kind} fill:{color},stroke:#555")
    return "\n".join(lines) + "\n"


# -- OpenLineage -----------------------------------------------------------------------


def _run_uuid(text: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"featstore:{text}"))


def _time(text: str) -> str:
    return text + "Z" if not text.endswith("Z") else text


def _dataset(namespace: str, name: str, **facets: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"namespace": namespace, "name": name}
    if facets:
        out["facets"] = {
            key: {"_producer": PRODUCER, "_schemaURL": url, **body}
            for key, (url, body) in facets.items()
        }
    return out


def _event(
    namespace: str, job: str, run_key: str, at: str, inputs: list[Any], outputs: list[Any]
) -> dict[str, Any]:
    return {
        "eventType": "COMPLETE",
        "eventTime": _time(at),
        "producer": PRODUCER,
        "schemaURL": OPENLINEAGE_SCHEMA,
        "run": {"runId": _run_uuid(run_key), "facets": {}},
        "job": {"namespace": namespace, "name": job, "facets": {}},
        "inputs": inputs,
        "outputs": outputs,
    }


def openlineage_events(catalog: Catalog, namespace: str) -> list[dict[str, Any]]:
    """One OpenLineage COMPLETE RunEvent per materialization run, saved training set and
    prediction batch, oldest first."""
    events: list[tuple[str, dict[str, Any]]] = []
    for row in catalog.all("SELECT body FROM runs"):
        run = json.loads(row["body"])
        inputs = [
            _dataset("file", i["path"])
            if not i["path"].startswith(("memory:", "sql:"))
            else _dataset(namespace, i["path"])
            for i in run["inputs"]
        ]
        output = _dataset(namespace, f"offline/{run['view']}/{run['view_version']}")
        events.append(
            (
                run["finished_at"],
                _event(
                    namespace,
                    f"materialize.{run['view']}",
                    run["run_id"],
                    run["finished_at"],
                    inputs,
                    [output],
                ),
            )
        )
    for row in catalog.all("SELECT id, name, created_at, manifest, path FROM training_sets"):
        manifest = json.loads(row["manifest"])
        inputs = [
            _dataset(namespace, f"offline/{f['view']}/{f['version']}") for f in manifest["features"]
        ]
        events.append(
            (
                row["created_at"],
                _event(
                    namespace,
                    f"training_set.{row['name']}",
                    row["id"],
                    row["created_at"],
                    inputs,
                    [_dataset(namespace, row["path"])],
                ),
            )
        )
    for row in catalog.all(
        "SELECT batch_id, model, model_version, path, created_at, body FROM prediction_batches"
    ):
        body = json.loads(row["body"])
        retrieval = body.get("retrieval") or {}
        inputs = [
            _dataset(namespace, f"offline/{f['view']}/{f['version']}")
            for f in retrieval.get("features", [])
        ]
        inputs.append(_dataset(namespace, f"models/{row['model']}/{row['model_version']}"))
        events.append(
            (
                row["created_at"],
                _event(
                    namespace,
                    f"predict.{row['model']}",
                    row["batch_id"],
                    row["created_at"],
                    inputs,
                    [_dataset(namespace, row["path"])],
                ),
            )
        )
    return [event for _, event in sorted(events, key=lambda e: e[0])]
