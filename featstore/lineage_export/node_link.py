"""Node-link JSON (``--format json``), and reading it back.

The document follows schemas/lineage_node_link.schema.json: networkx's node-link data
(edges under ``edges``) with the ``format`` and ``featstore_version`` of the writer.
"""

from __future__ import annotations

import json
import re
from typing import Any

import networkx as nx

from featstore._version import __version__
from featstore.errors import LineageError, did_you_mean
from featstore.lineage_export._registry import ExportFormat
from featstore.lineage_ids import EDGE_KINDS, NODE_KINDS, has_known_prefix, prefix_names

__all__ = ["FORMAT", "NODE_LINK_FORMAT", "from_node_link", "to_node_link", "write"]

NODE_LINK_FORMAT = "featstore.lineage.node-link/1"


def to_node_link(graph: nx.MultiDiGraph) -> dict[str, Any]:
    """The graph as node-link JSON (schemas/lineage_node_link.schema.json)."""
    data = nx.node_link_data(graph, edges="edges")
    return {"format": NODE_LINK_FORMAT, "featstore_version": __version__, **data}


def write(graph: nx.MultiDiGraph) -> str:
    """The node-link document as indented JSON text, keys sorted."""
    return json.dumps(to_node_link(graph), indent=1, sort_keys=True, default=str)


FORMAT = ExportFormat("json", write, "node-link JSON (schemas/lineage_node_link.schema.json)")


def from_node_link(document: dict[str, Any]) -> nx.MultiDiGraph:
    """Rebuild a graph from :func:`to_node_link` output (a parsed JSON document).

    Raises
    ------
    LineageError
        If ``document`` does not follow schemas/lineage_node_link.schema.json; the
        message names the first problem and where it is (``nodes[3]``, ``edges[0]``).
    """
    _check_node_link(document)
    graph = nx.MultiDiGraph()
    graph.graph.update(document.get("graph", {}))
    for node in document["nodes"]:
        graph.add_node(node["id"])
        graph.nodes[node["id"]].update((k, v) for k, v in node.items() if k != "id")
    for edge in document["edges"]:
        data = {k: v for k, v in edge.items() if k not in ("source", "target", "key")}
        graph.add_edge(edge["source"], edge["target"], key=edge["key"])
        graph.edges[edge["source"], edge["target"], edge["key"]].update(data)
    return graph


_CREATED_AT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}")


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    names = {str: "string", list: "array", tuple: "array", dict: "object"}
    for kind, name in names.items():
        if isinstance(value, kind):
            return name
    return type(value).__name__


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _bad(where: str, problem: str) -> LineageError:
    return LineageError(f"node-link document: {where}{problem}")


def _member(item: dict[str, Any], key: str, where: str, kind: type, expected: str) -> Any:
    if key not in item:
        raise _bad(where, f"has no {key!r}")
    value = item[key]
    if not isinstance(value, kind):
        raise _bad(where, f"{key!r} must be {expected}, found {_json_type(value)} {_show(value)}")
    return value


def _check_node_link(document: Any) -> None:
    if isinstance(document, str | bytes | bytearray):
        raise LineageError(
            f"node-link document must be a parsed JSON object (dict), found "
            f"{type(document).__name__}; pass json.loads(text)"
        )
    if not isinstance(document, dict):
        raise LineageError(
            f"node-link document must be a JSON object (dict), found {_json_type(document)}"
        )
    if document.get("format") != NODE_LINK_FORMAT:
        raise LineageError(
            f"not a featstore node-link document: format is {document.get('format')!r}, "
            f"expected {NODE_LINK_FORMAT!r}"
        )
    for flag in ("directed", "multigraph"):
        if flag not in document:
            raise _bad("", f"missing {flag!r} (must be true)")
        if document[flag] is not True:
            raise _bad("", f"{flag!r} must be true, found {_show(document[flag])}")
    if "featstore_version" in document and not isinstance(document["featstore_version"], str):
        raise _bad(
            "",
            f"'featstore_version' must be a string, found {_show(document['featstore_version'])}",
        )
    if "graph" in document and not isinstance(document["graph"], dict):
        raise _bad("", f"'graph' must be an object, found {_json_type(document['graph'])}")
    for key in ("nodes", "edges"):
        if key not in document:
            hint = ""
            if key == "edges" and "links" in document:
                hint = (
                    "; found 'links': featstore writes edges under 'edges', as "
                    "networkx.node_link_data(graph, edges='edges') does"
                )
            raise _bad("", f"missing {key!r}{hint}")
        if not isinstance(document[key], list | tuple):
            raise _bad("", f"{key!r} must be an array, found {_json_type(document[key])}")
    seen: dict[str, int] = {}
    for i, node in enumerate(document["nodes"]):
        where = f"nodes[{i}] "
        if not isinstance(node, dict):
            raise _bad(where, f"must be an object, found {_json_type(node)} {_show(node)}")
        node_id = _member(node, "id", where, str, "a string")
        where = f"nodes[{i}] (id {node_id!r}) "
        if not has_known_prefix(node_id):
            raise _bad(
                where,
                f"has an id that is not '<prefix>:<name>' with prefix one of {prefix_names()}",
            )
        if node_id in seen:
            raise _bad(where, f"repeats the id of nodes[{seen[node_id]}]")
        seen[node_id] = i
        kind = _member(node, "kind", where, str, "a string")
        if kind not in NODE_KINDS:
            raise _bad(where, f"has unknown kind {kind!r}" + did_you_mean(kind, NODE_KINDS))
        _member(node, "name", where, str, "a string")
        created = _member(node, "created_at", where, str, "a string")
        if not _CREATED_AT.fullmatch(created):
            raise _bad(
                where,
                f"'created_at' must be a UTC instant like '2024-01-01T00:00:00.000000', "
                f"found {_show(created)}",
            )
        _member(node, "attrs", where, dict, "an object")
    keys: dict[tuple[str, str, str], int] = {}
    for i, edge in enumerate(document["edges"]):
        where = f"edges[{i}] "
        if not isinstance(edge, dict):
            raise _bad(where, f"must be an object, found {_json_type(edge)} {_show(edge)}")
        ends = []
        for end in ("source", "target"):
            value = _member(edge, end, where, str, "a node id (string)")
            if value not in seen:
                raise _bad(where, f"refers to unknown node {value!r} as its {end}")
            ends.append(value)
        key = _member(edge, "key", where, str, "a string")
        kind = _member(edge, "kind", where, str, "a string")
        if kind not in EDGE_KINDS:
            raise _bad(where, f"has unknown kind {kind!r}" + did_you_mean(kind, EDGE_KINDS))
        triple = (ends[0], ends[1], key)
        if triple in keys:
            raise _bad(
                where,
                f"repeats edges[{keys[triple]}] ({ends[0]!r} -> {ends[1]!r}, key {key!r})",
            )
        keys[triple] = i
