"""Mermaid flowchart (``--format mermaid``).

Labels are quoted, and in them ``#``, both quotes, ``<``, ``>``, ``&``, backtick, ``|``,
``;`` and brackets (``[]``, ``()``, ``{}``) are written as Mermaid entity codes
(``#quot;``, ``#35;``, ...), a newline as ``<br/>`` and other control characters as
visible ``\\uXXXX`` text: a label shows its text as written and never ends a shape,
a label or a statement.
"""

from __future__ import annotations

import re
from typing import Any

import networkx as nx

from featstore.lineage_export._registry import ExportFormat
from featstore.lineage_export._style import COLORS, edge_sort_key, label

__all__ = ["FORMAT", "to_mermaid"]

# Mermaid has no escapes, only entity codes: '#' starts one, '"' ends a label, '<', '>'
# and '&' would be read as HTML, a backtick starts a Markdown string, '|' ends an edge
# label, brackets end a shape where a renderer does not honour the quotes, ';' ends a
# statement. Other control characters are shown as visible \uXXXX text.
_MERMAID_ENTITIES = {
    "#": "#35;",
    '"': "#quot;",
    "'": "#39;",
    "<": "#lt;",
    ">": "#gt;",
    "&": "#amp;",
    "`": "#96;",
    "|": "#124;",
    ";": "#59;",
    "[": "#91;",
    "]": "#93;",
    "(": "#40;",
    ")": "#41;",
    "{": "#123;",
    "}": "#125;",
    "\n": "<br/>",
}
_MERMAID_SPECIAL = re.compile(
    "[" + re.escape("".join(_MERMAID_ENTITIES)) + "\x00-\x1f\x7f\u2028\u2029\ud800-\udfff]"
)
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
        text = _mermaid_text(label(node, data))
        lines.append(f'  {ids[node]}["{text}"]:::{_mermaid_class(data.get("kind", "node"))}')
    for src, dst, data in sorted(graph.edges(data=True), key=edge_sort_key):
        lines.append(f"  {ids[src]} -->|{_mermaid_edge_label(data.get('kind', ''))}| {ids[dst]}")
    for kind, color in COLORS.items():
        lines.append(f"  classDef {kind} fill:{color},stroke:#555")
    return "\n".join(lines) + "\n"


FORMAT = ExportFormat("mermaid", to_mermaid, "Mermaid flowchart")
