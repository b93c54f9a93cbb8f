"""The lineage graph: queries over the catalog's nodes and edges, and the networkx graph.

Node ids are readable strings (docs/lineage.md):

==================  ===========================================  ===================
kind                id                                           example
==================  ===========================================  ===================
source              ``source:<name>``                            ``source:txns``
source_file         ``file:<absolute path>@<sha256[:12]>``       ``file:/d/a.parquet@3f2a1c9b0d4e``
feature_view        ``view:<name>@<version>``                    ``view:spending@3f2a1c9b0d4e``
feature_service     ``service:<name>@<version>``                 ``service:churn_v1@9a8b7c6d5e4f``
materialization_run ``run:<run id>``                             ``run:5d41402abc4b2a76...``
training_set        ``training_set:<name>@<content id>``         ``training_set:churn_train@ab12...``
model_version       ``model:<name>@<version number>``            ``model:churn@3``
prediction_batch    ``prediction_batch:<batch id>``              ``prediction_batch:7f3e...``
==================  ===========================================  ===================

Edges point downstream, from what was read to what was produced, and carry a ``kind``.
One-off queries run as recursive SQL in the catalog and hand networkx only the subgraph
that matters; :attr:`Lineage.graph` loads the whole graph once for repeated queries and
users' own algorithms.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from featstore.catalog import Catalog
from featstore.errors import LineageError, did_you_mean

__all__ = ["NODE_KINDS", "Lineage", "Node"]

NODE_KINDS = (
    "source",
    "source_file",
    "feature_view",
    "feature_service",
    "materialization_run",
    "training_set",
    "model_version",
    "prediction_batch",
)


@dataclass(frozen=True, slots=True)
class Node:
    """A lineage node as stored in the catalog."""

    id: str
    kind: str
    name: str
    created_at: str
    attrs: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


def _check_kinds(kinds: Iterable[str] | None) -> set[str] | None:
    if kinds is None:
        return None
    wanted = {kinds} if isinstance(kinds, str) else set(kinds)
    unknown = sorted(wanted - set(NODE_KINDS))
    if unknown:
        raise LineageError(
            f"unknown node kind {unknown[0]!r}" + did_you_mean(unknown[0], NODE_KINDS)
        )
    return wanted


_UP = """
WITH RECURSIVE walk(id) AS (
    SELECT ? UNION SELECT e.src FROM edges e JOIN walk w ON e.dst = w.id
)
SELECT n.id, n.kind, n.name, n.created_at, n.attrs FROM walk JOIN nodes n ON n.id = walk.id
"""
_DOWN = """
WITH RECURSIVE walk(id) AS (
    SELECT ? UNION SELECT e.dst FROM edges e JOIN walk w ON e.src = w.id
)
SELECT n.id, n.kind, n.name, n.created_at, n.attrs FROM walk JOIN nodes n ON n.id = walk.id
"""


class Lineage:
    """Lineage queries for one store. Reach it as ``store.lineage``.

    Queries answer from the catalog (recursive SQL) unless the whole graph has been
    loaded with :attr:`graph` or :meth:`load`, after which they run on networkx.
    """

    def __init__(
        self,
        catalog: Catalog,
        *,
        namespace: str = "featstore",
        explainer: Callable[[str, int], dict[str, Any]] | None = None,
    ) -> None:
        self._catalog = catalog
        self._graph: nx.MultiDiGraph | None = None
        self._namespace = namespace
        self._explainer = explainer

    # -- the whole graph -------------------------------------------------------------

    @property
    def graph(self) -> nx.MultiDiGraph:
        """The whole lineage graph (loaded on first access; :meth:`load` refreshes it)."""
        if self._graph is None:
            self.load()
        assert self._graph is not None
        return self._graph

    def load(self) -> nx.MultiDiGraph:
        """Load (or reload) the whole graph from the catalog."""
        graph = nx.MultiDiGraph()
        with self._catalog.snapshot() as tx:
            for row in tx.all("SELECT id, kind, name, created_at, attrs FROM nodes"):
                graph.add_node(
                    row["id"],
                    kind=row["kind"],
                    name=row["name"],
                    created_at=row["created_at"],
                    attrs=json.loads(row["attrs"]),
                )
            graph.add_edges_from(
                (r["src"], r["dst"], r["kind"], {"kind": r["kind"]})
                for r in tx.all("SELECT src, dst, kind FROM edges")
            )
        self._graph = graph
        return graph

    def unload(self) -> None:
        """Forget the loaded graph; queries go back to the catalog."""
        self._graph = None

    # -- queries ---------------------------------------------------------------------

    def node(self, node_id: str) -> Node:
        """One node, or LineageError with a suggestion."""
        if self._graph is not None and node_id in self._graph:
            data = self._graph.nodes[node_id]
            return Node(node_id, data["kind"], data["name"], data["created_at"], data["attrs"])
        row = self._catalog.one(
            "SELECT id, kind, name, created_at, attrs FROM nodes WHERE id = ?", (node_id,)
        )
        if row is None:
            prefix = node_id.split(":", 1)[0]
            similar = [
                r["id"]
                for r in self._catalog.all(
                    "SELECT id FROM nodes WHERE id >= ? AND id < ? LIMIT 200",
                    (prefix + ":", prefix + ";"),
                )
            ]
            if not similar:  # a typo in the kind prefix: look for nodes of the same name
                name = node_id.split(":", 1)[-1].rsplit("@", 1)[0]
                similar = [
                    r["id"]
                    for r in self._catalog.all(
                        "SELECT id FROM nodes WHERE name = ? LIMIT 200", (name,)
                    )
                ]
            hint = (
                did_you_mean(node_id, similar)
                if similar
                else (
                    "; no node has a similar id (ids look like 'source:<name>', "
                    "'view:<name>@<version>', 'model:<name>@<version>', 'prediction_batch:<id>')"
                )
            )
            raise LineageError(f"unknown lineage node {node_id!r}{hint}")
        return _node(row)

    def upstream(self, node_id: str, kinds: Sequence[str] | str | None = None) -> list[Node]:
        """Everything ``node_id`` depends on (its ancestors), optionally only some kinds."""
        return self._walk(node_id, kinds, up=True)

    def downstream(self, node_id: str, kinds: Sequence[str] | str | None = None) -> list[Node]:
        """Everything affected if ``node_id`` changes (its descendants)."""
        return self._walk(node_id, kinds, up=False)

    impact = downstream

    def _walk(self, node_id: str, kinds: Sequence[str] | str | None, *, up: bool) -> list[Node]:
        wanted = _check_kinds(kinds)
        self.node(node_id)
        if self._graph is not None and node_id in self._graph:
            found = (nx.ancestors if up else nx.descendants)(self._graph, node_id)
            nodes = [self.node(n) for n in found]
        else:
            rows = self._catalog.all(_UP if up else _DOWN, (node_id,))
            nodes = [_node(r) for r in rows if r["id"] != node_id]
        if wanted is not None:
            nodes = [n for n in nodes if n.kind in wanted]
        return sorted(
            nodes, key=lambda n: (NODE_KINDS.index(n.kind) if n.kind in NODE_KINDS else 99, n.id)
        )

    def subgraph(self, node_id: str, *, direction: str = "both") -> nx.MultiDiGraph:
        """The node with its ancestors (``"up"``), descendants (``"down"``) or both, and
        the edges among them, fetched from the catalog."""
        if direction not in ("up", "down", "both"):
            raise LineageError(f"direction must be 'up', 'down' or 'both'; found {direction!r}")
        ids = {node_id}
        if direction in ("up", "both"):
            ids |= {n.id for n in self.upstream(node_id)}
        if direction in ("down", "both"):
            ids |= {n.id for n in self.downstream(node_id)}
        return self._induced(ids)

    def path(self, source: str, target: str) -> list[str]:
        """A shortest directed path of node ids from ``source`` to ``target``."""
        self.node(source)
        self.node(target)
        if self._graph is not None and source in self._graph and target in self._graph:
            graph = self._graph
        else:  # no graph loaded, or it predates one of the nodes: ask the catalog
            between = {source, target}
            between |= {r["id"] for r in self._catalog.all(_DOWN, (source,))} & {
                r["id"] for r in self._catalog.all(_UP, (target,))
            }
            graph = self._induced(between)
        try:
            return list(nx.shortest_path(graph, source, target))
        except nx.NetworkXNoPath:
            raise LineageError(f"no lineage path from {source!r} to {target!r}") from None

    def window(self, start: str, end: str) -> nx.MultiDiGraph:
        """The nodes created in ``[start, end)`` (ISO text) and the edges among them."""
        rows = self._catalog.all(
            "SELECT id FROM nodes WHERE created_at >= ? AND created_at < ?", (start, end)
        )
        return self._induced({r["id"] for r in rows})

    def model_graph(self, name: str) -> nx.MultiDiGraph:
        """Every version of model ``name`` with its upstream and downstream."""
        rows = self._catalog.all(
            "SELECT id FROM nodes WHERE kind = 'model_version' AND name = ?", (name,)
        )
        if not rows:
            names = [
                r["name"]
                for r in self._catalog.all(
                    "SELECT DISTINCT name FROM nodes WHERE kind = 'model_version'"
                )
            ]
            raise LineageError(
                f"no model named {name!r} in the lineage" + did_you_mean(name, names)
            )
        ids: set[str] = set()
        for row in rows:
            ids |= set(self.subgraph(row["id"]).nodes)
        return self._induced(ids)

    def explain(self, prediction_batch: str | Any, row: int) -> dict[str, Any]:
        """For one prediction row: the model version, its training set, each feature value
        with its event time, view version and materialization run, and the source files
        (with fingerprints and whether they are unchanged on disk)."""
        if self._explainer is None:
            raise LineageError("explain needs a FeatureStore; use store.lineage.explain")
        batch_id = prediction_batch if isinstance(prediction_batch, str) else prediction_batch.id
        return self._explainer(batch_id, row)

    # -- exports ---------------------------------------------------------------------

    def export(self, fmt: str, graph: nx.MultiDiGraph | None = None) -> str:
        """The graph (default: the whole graph) as ``json`` (node-link), ``graphml``,
        ``dot`` or ``mermaid`` text."""
        from featstore import exports

        target = self.graph if graph is None else graph
        if fmt == "json":
            return json.dumps(exports.to_node_link(target), indent=1, sort_keys=True, default=str)
        writers = {
            "graphml": exports.to_graphml,
            "dot": exports.to_dot,
            "mermaid": exports.to_mermaid,
        }
        if fmt not in writers:
            raise LineageError(
                f"unknown export format {fmt!r}" + did_you_mean(fmt, ["json", *writers])
            )
        return writers[fmt](target)

    def openlineage_events(self) -> list[dict[str, Any]]:
        """OpenLineage RunEvents (JSON dicts), one per materialization run, saved training
        set and prediction batch."""
        from featstore.exports import openlineage_events

        return openlineage_events(self._catalog, self._namespace)

    def _induced(self, ids: set[str]) -> nx.MultiDiGraph:
        if self._graph is not None and all(i in self._graph for i in ids):
            return nx.MultiDiGraph(self._graph.subgraph(ids))
        graph = nx.MultiDiGraph()
        id_list = sorted(ids)
        for chunk in _chunks(id_list, 500):
            marks = ",".join("?" * len(chunk))
            for row in self._catalog.all(
                f"SELECT id, kind, name, created_at, attrs FROM nodes WHERE id IN ({marks})",
                tuple(chunk),
            ):
                graph.add_node(
                    row["id"],
                    kind=row["kind"],
                    name=row["name"],
                    created_at=row["created_at"],
                    attrs=json.loads(row["attrs"]),
                )
            for row in self._catalog.all(
                f"SELECT src, dst, kind FROM edges WHERE src IN ({marks})", tuple(chunk)
            ):
                if row["dst"] in ids:
                    graph.add_edge(row["src"], row["dst"], key=row["kind"], kind=row["kind"])
        return graph


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _node(row: Any) -> Node:
    return Node(row["id"], row["kind"], row["name"], row["created_at"], json.loads(row["attrs"]))
