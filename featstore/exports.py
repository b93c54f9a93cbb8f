"""Lineage exports: node-link JSON (and import), GraphML, DOT, Mermaid, OpenLineage.

All functions take a networkx graph as built by :class:`featstore.lineage.Lineage`
(node attributes ``kind``, ``name``, ``created_at``, ``attrs``; edge attribute ``kind``).

Every text export is well-formed whatever the node ids and attributes hold (a source
file's path may contain quotes, newlines or control characters):

- GraphML writes a string XML 1.0 cannot carry (C0 control characters other than tab
  and newline, carriage return, lone surrogates, U+FFFE, U+FFFF) or one that starts
  with :data:`GRAPHML_ESCAPE_MARKER` as the marker followed by the string with each
  backslash doubled and each such character as ``\\uXXXX``; every other string is
  written unchanged. :func:`graphml_unescape` reverses it.
- DOT escapes backslash, double quote, newline (``\\n``), carriage return (``\\r``),
  other control characters and lone surrogates (``\\uXXXX``) in quoted strings.
- Mermaid writes ``#``, ``"``, ``<``, ``>`` and backtick as entity codes, a newline as
  ``<br/>`` and other control characters as visible ``\\uXXXX`` text.
"""

from __future__ import annotations

import io
import json
import re
import uuid
from typing import Any

import networkx as nx

from featstore._version import __version__
from featstore.catalog import Catalog
from featstore.errors import LineageError, did_you_mean
from featstore.lineage import NODE_KINDS

__all__ = [
    "GRAPHML_ESCAPE_MARKER",
    "from_node_link",
    "graphml_unescape",
    "openlineage_events",
    "to_dot",
    "to_graphml",
    "to_mermaid",
    "to_node_link",
]

NODE_LINK_FORMAT = "featstore.lineage.node-link/1"
PRODUCER = "https://pypi.org/project/featstore/"
OPENLINEAGE_SCHEMA = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
EDGE_KINDS = (
    "has_snapshot",
    "feeds",
    "read_by",
    "materialized_by",
    "selected_by",
    "features_of",
    "trained",
    "predicted",
)
GRAPHML_ESCAPE_MARKER = "featstore-escaped:"
"""Prefix of a GraphML string value or id that :func:`graphml_unescape` must decode."""


def to_node_link(graph: nx.MultiDiGraph) -> dict[str, Any]:
    """The graph as node-link JSON (schemas/lineage_node_link.schema.json)."""
    data = nx.node_link_data(graph, edges="edges")
    return {"format": NODE_LINK_FORMAT, "featstore_version": __version__, **data}


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


_NODE_ID = re.compile(
    r"(source|file|view|service|run|training_set|model|prediction_batch):.+", re.DOTALL
)
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
        if not _NODE_ID.fullmatch(node_id):
            raise _bad(
                where,
                "has an id that is not '<prefix>:<name>' with prefix one of source, file, "
                "view, service, run, training_set, model, prediction_batch",
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


# -- GraphML ---------------------------------------------------------------------------

# what XML 1.0 cannot carry, even as a character reference, and carriage return, which
# XML parsers read back as a newline
_XML_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\r\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_GRAPHML_ESCAPE = re.compile(r"\\(?:\\|u([0-9a-f]{4}))")


def _graphml_text(value: str) -> str:
    if not _XML_UNSAFE.search(value) and not value.startswith(GRAPHML_ESCAPE_MARKER):
        return value
    body = _XML_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", value.replace("\\", "\\\\"))
    return GRAPHML_ESCAPE_MARKER + body


def graphml_unescape(text: str) -> str:
    r"""The original of a node id, edge key or value read from :func:`to_graphml` output.

    A string that starts with :data:`GRAPHML_ESCAPE_MARKER` held characters XML 1.0
    cannot carry: the marker is removed, ``\\`` becomes a backslash and ``\uXXXX`` the
    character U+XXXX. Any other string is returned unchanged.

    >>> graphml_unescape("featstore-escaped:/data/a\\u0001b.parquet")
    '/data/a\x01b.parquet'
    >>> graphml_unescape("featstore-escaped:C:\\\\data\\u000d")
    'C:\\data\r'
    >>> graphml_unescape("/data/a.parquet")
    '/data/a.parquet'
    """
    if not text.startswith(GRAPHML_ESCAPE_MARKER):
        return text
    return _GRAPHML_ESCAPE.sub(
        lambda m: chr(int(m.group(1), 16)) if m.group(1) else "\\",
        text[len(GRAPHML_ESCAPE_MARKER) :],
    )


def _graphml_value(value: Any) -> Any:
    return _graphml_text(value) if isinstance(value, str) else value


def _graphml_str(value: Any) -> str:
    return _graphml_text(value if isinstance(value, str) else "" if value is None else str(value))


def _flat(graph: nx.MultiDiGraph) -> nx.MultiDiGraph:
    flat = nx.MultiDiGraph()
    for node, data in graph.nodes(data=True):
        flat.add_node(
            _graphml_value(node),
            kind=_graphml_str(data.get("kind", "")),
            name=_graphml_str(data.get("name", "")),
            created_at=_graphml_str(data.get("created_at", "")),
            attrs=_graphml_text(json.dumps(data.get("attrs", {}), sort_keys=True, default=str)),
        )
    for src, dst, key, data in graph.edges(keys=True, data=True):
        flat.add_edge(
            _graphml_value(src),
            _graphml_value(dst),
            key=_graphml_value(key),
            kind=_graphml_str(data.get("kind", str(key))),
        )
    return flat


def to_graphml(graph: nx.MultiDiGraph) -> str:
    """GraphML text; node ``attrs`` are serialised as a JSON string attribute.

    The text is always well-formed XML: a string XML 1.0 cannot carry is written
    escaped (undo with :func:`graphml_unescape`); every other string as it is.
    """
    buffer = io.BytesIO()
    nx.write_graphml(_flat(graph), buffer)
    return buffer.getvalue().decode()


# -- DOT and Mermaid -------------------------------------------------------------------

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


def _label(node: Any, data: dict[str, Any]) -> str:
    kind = str(data.get("kind", ""))
    if kind == "source_file":
        attrs = data.get("attrs")
        path = str(attrs.get("path", node) if isinstance(attrs, dict) else node)
        return f"{kind}\n{path.rsplit('/', 1)[-1]}"
    short = str(node).split(":", 1)[-1]
    if len(short) > 40:
        short = short[:37] + "..."
    return f"{kind}\n{short}"


def _sort_key(edge: tuple[Any, Any, dict[str, Any]]) -> tuple[str, str, str]:
    return (str(edge[0]), str(edge[1]), str(edge[2].get("kind", "")))


# in a quoted string: backslash, quote, control characters (not tab), DEL, line and
# paragraph separators, lone surrogates (which UTF-8 cannot encode)
_DOT_SPECIAL = re.compile('[\\\\"\x00-\x08\x0a-\x1f\x7f\u2028\u2029\ud800-\udfff]')
_DOT_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r"}


def _dot_char(match: re.Match[str]) -> str:
    char = match.group()
    return _DOT_ESCAPES.get(char) or f"\\u{ord(char):04x}"


def _dot_quote(text: Any) -> str:
    """A DOT quoted string; each text has one spelling, so distinct ids stay distinct."""
    return '"' + _DOT_SPECIAL.sub(_dot_char, str(text)) + '"'


def to_dot(graph: nx.MultiDiGraph) -> str:
    """Graphviz DOT text, nodes coloured by kind (render with ``dot -Tsvg``)."""
    lines = ["digraph lineage {", "  rankdir=LR;", '  node [shape=box, style="rounded,filled"];']
    for node, data in sorted(graph.nodes(data=True), key=lambda n: str(n[0])):
        color = _COLORS.get(str(data.get("kind", "")), "#ffffff")
        lines.append(
            f"  {_dot_quote(node)} [label={_dot_quote(_label(node, data))}, fillcolor={_dot_quote(color)}];"
        )
    for src, dst, data in sorted(graph.edges(data=True), key=_sort_key):
        lines.append(
            f"  {_dot_quote(src)} -> {_dot_quote(dst)} [label={_dot_quote(data.get('kind', ''))}];"
        )
    lines.append("}")
    return "\n".join(lines) + "\n"


# Mermaid has no escapes, only entity codes: '#' starts one, '"' ends a label, '<' and '>'
# would be read as HTML, a backtick starts a Markdown string, '|' ends an edge label.
# Other control characters are shown as visible \uXXXX text.
_MERMAID_ENTITIES = {
    "#": "#35;",
    '"': "#quot;",
    "<": "#lt;",
    ">": "#gt;",
    "`": "#96;",
    "|": "#124;",
    "\n": "<br/>",
}
_MERMAID_SPECIAL = re.compile('[#"<>`|\x00-\x1f\x7f\u2028\u2029\ud800-\udfff]')
_MERMAID_WORD = re.compile("[A-Za-z0-9_]+")


def _mermaid_char(match: re.Match[str]) -> str:
    char = match.group()
    return _MERMAID_ENTITIES.get(char) or f"\\u{ord(char):04x}"


def _mermaid_text(text: Any) -> str:
    return _MERMAID_SPECIAL.sub(_mermaid_char, str(text))


def _mermaid_class(kind: Any) -> str:
    return re.sub("[^A-Za-z0-9_]", "_", str(kind)) or "node"


def _mermaid_edge_label(kind: Any) -> str:
    text = str(kind)
    return text if _MERMAID_WORD.fullmatch(text) else f'"{_mermaid_text(text)}"'


def to_mermaid(graph: nx.MultiDiGraph) -> str:
    """Mermaid flowchart text (paste into Markdown that renders Mermaid)."""
    ids = {node: f"n{i}" for i, node in enumerate(sorted(graph.nodes, key=str))}
    lines = ["flowchart LR"]
    for node, data in sorted(graph.nodes(data=True), key=lambda n: str(n[0])):
        label = _mermaid_text(_label(node, data))
        lines.append(f'  {ids[node]}["{label}"]:::{_mermaid_class(data.get("kind", "node"))}')
    for src, dst, data in sorted(graph.edges(data=True), key=_sort_key):
        lines.append(f"  {ids[src]} -->|{_mermaid_edge_label(data.get('kind', ''))}| {ids[dst]}")
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
    for body in reversed(catalog.run_bodies()):
        run = json.loads(body)
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
    for row in catalog.training_sets():
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
    for row in catalog.prediction_batches():
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
