"""GraphML (``--format graphml``).

Node ids are ``n0``, ``n1``, ... (XML NMTOKENs, in the order of the featstore ids) and
edge ids ``e0``, ``e1``, ... (unique in the document); the featstore id of a node is its
``featstore_id`` attribute and the key of an edge its ``featstore_key`` attribute.
:func:`from_graphml` reads the graph back with the featstore ids.

A string XML 1.0 cannot carry (C0 control characters other than tab and newline,
carriage return, lone surrogates, U+FFFE, U+FFFF) or one that starts with
:data:`GRAPHML_ESCAPE_MARKER` is written as the marker followed by the string with each
backslash doubled and each such character as ``\\uXXXX``; every other string is written
unchanged. :func:`graphml_unescape` reverses it. Node ``attrs`` are one JSON string.
"""

from __future__ import annotations

import io
import json
import re
from typing import Any

import networkx as nx

from featstore.lineage_export._registry import ExportFormat

__all__ = ["FORMAT", "GRAPHML_ESCAPE_MARKER", "from_graphml", "graphml_unescape", "to_graphml"]

GRAPHML_ESCAPE_MARKER = "featstore-escaped:"
"""Prefix of a GraphML string value or id that :func:`graphml_unescape` must decode."""

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
    ids = {node: f"n{i}" for i, node in enumerate(sorted(graph.nodes, key=str))}
    for node, data in sorted(graph.nodes(data=True), key=lambda n: str(n[0])):
        flat.add_node(
            ids[node],
            featstore_id=_graphml_str(node),
            kind=_graphml_str(data.get("kind", "")),
            name=_graphml_str(data.get("name", "")),
            created_at=_graphml_str(data.get("created_at", "")),
            attrs=_graphml_text(json.dumps(data.get("attrs", {}), sort_keys=True, default=str)),
        )
    edges = sorted(
        graph.edges(keys=True, data=True), key=lambda e: (ids[e[0]], ids[e[1]], str(e[2]))
    )
    for i, (src, dst, key, data) in enumerate(edges):
        flat.add_edge(
            ids[src],
            ids[dst],
            key=f"e{i}",
            featstore_key=_graphml_str(key),
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


def from_graphml(text: str, *, decode: bool = True) -> nx.MultiDiGraph:
    """The graph of :func:`to_graphml` text, with featstore ids as node ids and edge
    keys as keys. With ``decode`` (the default), strings are unescaped
    (:func:`graphml_unescape`) and ``attrs`` is decoded from JSON: the graph exported;
    without, every value is the text as written."""
    parsed = nx.read_graphml(io.BytesIO(text.encode()), force_multigraph=True, edge_key_type=str)

    def value(v: Any) -> Any:
        return graphml_unescape(v) if decode and isinstance(v, str) else v

    graph = nx.MultiDiGraph()
    names = {}
    for short, data in parsed.nodes(data=True):
        rest = {k: value(v) for k, v in data.items() if k != "featstore_id"}
        if decode and isinstance(rest.get("attrs"), str):
            rest["attrs"] = json.loads(rest["attrs"])
        names[short] = value(data.get("featstore_id", short))
        graph.add_node(names[short], **rest)
    for src, dst, key, data in parsed.edges(keys=True, data=True):
        rest = {k: value(v) for k, v in data.items() if k != "featstore_key"}
        graph.add_edge(names[src], names[dst], key=value(data.get("featstore_key", key)), **rest)
    return graph


FORMAT = ExportFormat("graphml", to_graphml, "GraphML (node attrs as a JSON string)")
