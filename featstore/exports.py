"""Lineage exports: node-link JSON (and import), GraphML, DOT, Mermaid, OpenLineage.

The writers live one module per format in :mod:`featstore.lineage_export` (see its
registry, :func:`featstore.lineage_export.format_names`); this module keeps the names
they had here. All functions take a networkx graph as built by
:class:`featstore.lineage.Lineage` (node attributes ``kind``, ``name``, ``created_at``, ``attrs``; edge attribute ``kind``).

Every text export is well-formed whatever the node ids and attributes hold (a source
file's path may contain quotes, newlines or control characters):

- GraphML writes a string XML 1.0 cannot carry (C0 control characters other than tab
  and newline, carriage return, lone surrogates, U+FFFE, U+FFFF) or one that starts
  with :data:`GRAPHML_ESCAPE_MARKER` as the marker followed by the string with each
  backslash doubled and each such character as ``\\uXXXX``; every other string is
  written unchanged. :func:`graphml_unescape` reverses it.
- DOT escapes backslash, double quote, newline (``\\n``), carriage return (``\\r``),
  other control characters and lone surrogates (``\\uXXXX``) in quoted strings.
- Mermaid writes ``#``, ``"``, ``'``, ``<``, ``>``, ``|``, ``&``, ``;``, brackets, braces,
  parentheses and backtick as entity codes, a newline as ``<br/>`` and other control
  characters as visible ``\\uXXXX`` text.
"""

from __future__ import annotations

# the constants this module defined and the GraphML escaping that tests check directly
# stay importable from here (``X as X``: an explicit re-export)
from featstore.lineage_export.dot import to_dot
from featstore.lineage_export.graphml import GRAPHML_ESCAPE_MARKER, graphml_unescape, to_graphml
from featstore.lineage_export.graphml import _graphml_text as _graphml_text
from featstore.lineage_export.mermaid import to_mermaid
from featstore.lineage_export.node_link import NODE_LINK_FORMAT as NODE_LINK_FORMAT
from featstore.lineage_export.node_link import from_node_link, to_node_link
from featstore.lineage_export.openlineage import OPENLINEAGE_SCHEMA as OPENLINEAGE_SCHEMA
from featstore.lineage_export.openlineage import PRODUCER as PRODUCER
from featstore.lineage_export.openlineage import openlineage_events
from featstore.lineage_ids import EDGE_KINDS as EDGE_KINDS
from featstore.lineage_ids import NODE_KINDS as NODE_KINDS

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
