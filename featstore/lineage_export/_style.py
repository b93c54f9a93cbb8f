"""What the diagram formats (DOT, Mermaid) share: colours by kind, labels, edge order."""

from __future__ import annotations

from typing import Any

from featstore.lineage_ids import NodeKind

__all__ = ["COLORS", "edge_sort_key", "label"]

COLORS: dict[str, str] = {
    NodeKind.SOURCE: "#d8e8f8",
    NodeKind.SOURCE_FILE: "#eef4fb",
    NodeKind.FEATURE_VIEW: "#d9f2d9",
    NodeKind.FEATURE_SERVICE: "#e8f7e0",
    NodeKind.MATERIALIZATION_RUN: "#fff2cc",
    NodeKind.TRAINING_SET: "#fde0c5",
    NodeKind.MODEL_VERSION: "#f8cecc",
    NodeKind.PREDICTION_BATCH: "#e1d5e7",
}
"""Fill colour of each node kind, in kind order."""


def label(node: Any, data: dict[str, Any]) -> str:
    kind = str(data.get("kind", ""))
    if kind == NodeKind.SOURCE_FILE:
        attrs = data.get("attrs")
        path = str(attrs.get("path", node) if isinstance(attrs, dict) else node)
        return f"{kind}\n{path.rsplit('/', 1)[-1]}"
    short = str(node).split(":", 1)[-1]
    if len(short) > 40:
        short = short[:37] + "..."
    return f"{kind}\n{short}"


def edge_sort_key(edge: tuple[Any, Any, dict[str, Any]]) -> tuple[str, str, str]:
    return (str(edge[0]), str(edge[1]), str(edge[2].get("kind", "")))
