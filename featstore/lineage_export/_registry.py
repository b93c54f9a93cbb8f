"""The registry of lineage export formats (see :mod:`featstore.lineage_export`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import networkx as nx

from featstore.errors import LineageError, did_you_mean

__all__ = ["ExportFormat", "Writer", "export", "format_names", "get_format", "register_format"]

Writer = Callable[[nx.MultiDiGraph], str]
"""A graph writer: the whole text of one export."""


@dataclass(frozen=True, slots=True)
class ExportFormat:
    """One lineage export format: ``name`` is what ``Lineage.export`` and ``--format``
    take, ``write`` turns a graph into the text."""

    name: str
    write: Writer
    description: str


_FORMATS: dict[str, ExportFormat] = {}  # in the order they were registered


def register_format(fmt: ExportFormat) -> ExportFormat:
    """Add a format (after those already registered); registering the same format
    again does nothing. LineageError if another format already has its name."""
    existing = _FORMATS.setdefault(fmt.name, fmt)
    if existing != fmt:
        raise LineageError(f"an export format named {fmt.name!r} is already registered")
    return fmt


def format_names() -> tuple[str, ...]:
    """The names of the export formats, built-in first: json, graphml, dot, mermaid."""
    return tuple(_FORMATS)


def get_format(name: str) -> ExportFormat:
    """The format called ``name``; LineageError with a suggestion if there is none."""
    fmt = _FORMATS.get(name)
    if fmt is None:
        raise LineageError(f"unknown export format {name!r}" + did_you_mean(name, _FORMATS))
    return fmt


def export(graph: nx.MultiDiGraph, name: str) -> str:
    """The graph as text in the format called ``name``."""
    return get_format(name).write(graph)
