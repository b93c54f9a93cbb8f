"""Graphviz DOT (``--format dot``), nodes coloured by kind.

Quoted strings escape backslash, double quote, newline (``\\n``), carriage return
(``\\r``), other control characters and lone surrogates (``\\uXXXX``).
"""

from __future__ import annotations

import re
from typing import Any

import networkx as nx

from featstore.lineage_export._registry import ExportFormat
from featstore.lineage_export._style import COLORS, edge_sort_key, label

__all__ = ["FORMAT", "to_dot"]

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
        color = COLORS.get(str(data.get("kind", "")), "#ffffff")
        lines.append(
            f"  {_dot_quote(node)} [label={_dot_quote(label(node, data))}, fillcolor={_dot_quote(color)}];"
        )
    for src, dst, data in sorted(graph.edges(data=True), key=edge_sort_key):
        lines.append(
            f"  {_dot_quote(src)} -> {_dot_quote(dst)} [label={_dot_quote(data.get('kind', ''))}];"
        )
    lines.append("}")
    return "\n".join(lines) + "\n"


FORMAT = ExportFormat("dot", to_dot, "Graphviz DOT, nodes coloured by kind")
