"""Lineage graph exports, one module per format, listed in a small registry.

Each format is one module of this package that defines ``FORMAT`` (an
:class:`ExportFormat`: a name, a writer and a description) and is registered below: a
new format is a new module and its name there (nothing is imported by name at run
time). :meth:`featstore.lineage.Lineage.export`,
:meth:`~featstore.lineage.Lineage.export_formats` and ``featstore lineage export
--format`` take their formats from the registry. Modules whose names start with ``_``
are helpers; :mod:`~featstore.lineage_export.openlineage` (events read from the catalog,
not a graph) is not a format. Code outside the package adds a format with
:func:`register_format` (before the command line is imported, to be one of its
``--format`` choices).

Every writer takes a networkx graph as built by :class:`featstore.lineage.Lineage`
(node attributes ``kind``, ``name``, ``created_at``, ``attrs``; edge attribute ``kind``)
and returns text.
"""

from __future__ import annotations

from featstore.lineage_export import dot, graphml, mermaid, node_link
from featstore.lineage_export._registry import (
    ExportFormat,
    Writer,
    export,
    format_names,
    get_format,
    register_format,
)

__all__ = ["ExportFormat", "Writer", "export", "format_names", "get_format", "register_format"]

# the built-in formats, in the order they are listed (a new format: a module, named here)
for _fmt in (node_link.FORMAT, graphml.FORMAT, dot.FORMAT, mermaid.FORMAT):
    register_format(_fmt)
