"""The lineage graph: queries over the catalog's nodes and edges, and the networkx graph.

Node ids are readable strings (docs/lineage.md), spelled and read only by
:mod:`featstore.lineage_ids` (``node_id``, ``parse_node_id``, ``NodeKind``, ``EdgeKind``):

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
One-off queries run as recursive SQL over the catalog's integer-keyed edges and hand
networkx only the subgraph that matters. :meth:`Lineage.load` reads the whole lineage into
a compact in-memory index for many queries in a row; :attr:`Lineage.graph` is the whole
networkx graph, for users' own algorithms.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import networkx as nx

from featstore.catalog import Catalog
from featstore.errors import LineageError, did_you_mean
from featstore.lineage_ids import NODE_KINDS, NodeKind
from featstore.records.lineage import Explanation, Node, NodeList  # the lineage node record

__all__ = ["NODE_KINDS", "Explanation", "Lineage", "Node", "NodeList"]


# the kinds whose id shapes the hint of an unknown node id shows
_HINT_KINDS = (
    NodeKind.SOURCE,
    NodeKind.FEATURE_VIEW,
    NodeKind.MODEL_VERSION,
    NodeKind.PREDICTION_BATCH,
)


def _in_kind_order(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Rows ``(id, kind, ...)`` ordered by kind (NODE_KINDS order), then id: one C-level
    sort by id, then a stable split by kind, much cheaper than a Python sort key."""
    rows.sort()  # ids are unique, so this orders by id
    by_kind: dict[str, list[tuple[Any, ...]]] = {kind: [] for kind in NODE_KINDS}
    other: list[tuple[Any, ...]] = []
    for row in rows:
        by_kind.get(row[1], other).append(row)
    return [row for group in [*by_kind.values(), other] for row in group]


def _sorted_nodes(rows: list[tuple[Any, ...]]) -> NodeList:
    """Nodes from ``(id, kind, name, created_at, attrs)`` rows, in kind order."""
    return NodeList(Node(*row) for row in _in_kind_order(rows))


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


class _Index:
    """The whole lineage in memory, compactly: nodes numbered in the order queries return
    them (kind, then id), adjacency as tuples of those numbers, one Node object each."""

    def __init__(self, catalog: Catalog) -> None:
        with catalog.snapshot() as tx:
            rows = _in_kind_order(
                [(i, k, n, c, a, nid) for nid, i, k, n, c, a in tx.lineage_all_nodes()]
            )
            self.nodes = [Node(i, k, n, c, a) for i, k, n, c, a, _ in rows]
            self.pos = {node.id: p for p, node in enumerate(self.nodes)}
            at = {row[5]: p for p, row in enumerate(rows)}
            del rows
            succ: list[list[int]] = [[] for _ in self.nodes]
            pred: list[list[int]] = [[] for _ in self.nodes]
            for src, dst, _ in tx.lineage_all_edges():
                a, b = at[src], at[dst]
                succ[a].append(b)
                pred[b].append(a)
            del at
            self.succ = [tuple(x) for x in succ]
            self.pred = [tuple(x) for x in pred]

    def walk(self, node_id: str, wanted: set[str] | None, *, up: bool) -> NodeList:
        nodes = self.nodes
        found = sorted(self.reach(node_id, up=up))
        if wanted is None:
            return NodeList([nodes[p] for p in found])
        return NodeList([nodes[p] for p in found if nodes[p].kind in wanted])

    def reach(self, node_id: str, *, up: bool) -> set[int]:
        """The positions of the node's ancestors or descendants."""
        adj = self.pred if up else self.succ
        start = self.pos[node_id]
        seen = {start}
        frontier = [start]
        while frontier:
            step: set[int] = set()
            for v in frontier:
                step.update(adj[v])
            step -= seen
            seen |= step
            frontier = list(step)
        seen.discard(start)
        return seen


class Lineage:
    """Lineage queries for one store. Reach it as ``store.lineage``.

    Queries answer from the catalog (recursive SQL over integer-keyed edges) unless
    :meth:`load` has read the whole lineage into a compact in-memory index, after which
    they answer from memory. :attr:`graph` is the whole networkx graph, built on demand
    for your own algorithms; queries do not need it.
    """

    def __init__(
        self,
        catalog: Catalog,
        *,
        namespace: str = "featstore",
        explainer: Callable[[str, int], dict[str, Any]] | None = None,
    ) -> None:
        self._catalog = catalog
        self._index: _Index | None = None
        self._graph: nx.MultiDiGraph | None = None
        self._namespace = namespace
        self._explainer = explainer

    # -- the whole lineage in memory -----------------------------------------------

    @property
    def loaded(self) -> bool:
        """Whether queries answer from memory (after :meth:`load`)."""
        return self._index is not None

    def load(self) -> Lineage:
        """Read the whole lineage into memory (a compact index, not networkx), so that
        many queries in a row answer in microseconds to milliseconds. The index is a
        snapshot: call ``load()`` again to see later operations, ``unload()`` to go back
        to the catalog. Returns this object."""
        self._index = _Index(self._catalog)
        self._graph = None
        return self

    def unload(self) -> None:
        """Forget the loaded index and graph; queries go back to the catalog."""
        self._index = None
        self._graph = None

    @property
    def graph(self) -> nx.MultiDiGraph:
        """The whole lineage as a networkx MultiDiGraph, for your own algorithms. Built
        from the catalog on first access and kept until :meth:`load` or :meth:`unload`.
        Node data: ``kind``, ``name``, ``created_at``, ``attrs``; edge key and data
        ``kind``."""
        if self._graph is None:
            self._graph = self._whole_graph()
        return self._graph

    def _whole_graph(self) -> nx.MultiDiGraph:
        graph = nx.MultiDiGraph()
        with self._catalog.snapshot() as tx:
            ids: dict[int, str] = {}
            nodes = []
            for nid, i, k, n, c, a in tx.lineage_all_nodes():
                ids[nid] = i
                nodes.append((i, {"kind": k, "name": n, "created_at": c, "attrs": json.loads(a)}))
            graph.add_nodes_from(nodes)
            del nodes
            graph.add_edges_from(
                (ids[src], ids[dst], kind, {"kind": kind})
                for src, dst, kind in tx.lineage_all_edges()
            )
        return graph

    # -- queries ---------------------------------------------------------------------

    def node(self, node_id: str) -> Node:
        """One node, or LineageError with a suggestion."""
        if self._index is not None and node_id in self._index.pos:
            return self._index.nodes[self._index.pos[node_id]]
        row = self._catalog.lineage_node(node_id)
        if row is None:
            # same kind prefix, or (a typo in the prefix) the same name
            similar = self._catalog.lineage_ids_like(node_id)
            hint = (
                did_you_mean(node_id, similar)
                if similar
                else (
                    "; no node has a similar id (ids look like "
                    + ", ".join(repr(k.template) for k in _HINT_KINDS)
                    + ")"
                )
            )
            raise LineageError(f"unknown lineage node {node_id!r}{hint}")
        return Node(*row)

    def upstream(self, node_id: str, kinds: Sequence[str] | str | None = None) -> NodeList:
        """Everything ``node_id`` depends on (its ancestors), optionally only some kinds."""
        return self._walk(node_id, kinds, up=True)

    def downstream(self, node_id: str, kinds: Sequence[str] | str | None = None) -> NodeList:
        """Everything affected if ``node_id`` changes (its descendants)."""
        return self._walk(node_id, kinds, up=False)

    impact = downstream

    def upstream_counts(self, node_id: str) -> dict[str, int]:
        """How many ancestors of each kind ``node_id`` has (NODE_KINDS order, no zeros)."""
        return self._counts(node_id, up=True)

    def downstream_counts(self, node_id: str) -> dict[str, int]:
        """How many descendants of each kind ``node_id`` has: the size of an impact,
        without building every node (much cheaper when the answer is large)."""
        return self._counts(node_id, up=False)

    def _counts(self, node_id: str, *, up: bool) -> dict[str, int]:
        if self._index is not None and node_id in self._index.pos:
            nodes = self._index.nodes
            found = Counter(nodes[p].kind for p in self._index.reach(node_id, up=up))
        else:
            self.node(node_id)  # an unknown id raises LineageError with a suggestion
            found = Counter(self._catalog.lineage_walk_counts(node_id, up=up))
        ordered = [*NODE_KINDS, *sorted(set(found) - set(NODE_KINDS))]
        return {kind: found[kind] for kind in ordered if found[kind]}

    def _walk(self, node_id: str, kinds: Sequence[str] | str | None, *, up: bool) -> NodeList:
        wanted = _check_kinds(kinds)
        if wanted is not None and not wanted:  # no kinds asked for: nothing to return
            self.node(node_id)
            return NodeList()
        if self._index is not None and node_id in self._index.pos:
            return self._index.walk(node_id, wanted, up=up)
        ks = sorted(wanted) if wanted is not None else []
        rows = self._catalog.lineage_walk(node_id, up=up, kinds=ks)
        if not rows:
            self.node(node_id)  # an unknown id raises LineageError with a suggestion
        return _sorted_nodes(rows)

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
        else:  # only the nodes between the two
            between = {source, target}
            between |= {n.id for n in self.downstream(source)} & {
                n.id for n in self.upstream(target)
            }
            graph = self._induced(between)
        try:
            return list(nx.shortest_path(graph, source, target))
        except nx.NetworkXNoPath:
            raise LineageError(f"no lineage path from {source!r} to {target!r}") from None

    def window(self, start: str, end: str) -> nx.MultiDiGraph:
        """The nodes created in ``[start, end)`` (ISO text) and the edges among them."""
        return self._induced(set(self._catalog.lineage_ids_created(start, end)))

    def model_graph(self, name: str) -> nx.MultiDiGraph:
        """Every version of model ``name`` with its upstream and downstream."""
        rows = self._catalog.lineage_ids_of(NodeKind.MODEL_VERSION, name)
        if not rows:
            names = self._catalog.lineage_names_of(NodeKind.MODEL_VERSION)
            raise LineageError(
                f"no model named {name!r} in the lineage" + did_you_mean(name, names)
            )
        ids: set[str] = set()
        for node_id in rows:
            ids |= set(self.subgraph(node_id).nodes)
        return self._induced(ids)

    def explain(self, prediction_batch: str | Any, row: int) -> Explanation:
        """For one prediction row: the model version, its training set, each feature value
        with its event time, view version and materialization run, and the source files
        (with fingerprints and whether they are unchanged on disk)."""
        if self._explainer is None:
            raise LineageError("explain needs a FeatureStore; use store.lineage.explain")
        batch_id = prediction_batch if isinstance(prediction_batch, str) else prediction_batch.id
        found = self._explainer(batch_id, row)
        return found if isinstance(found, Explanation) else Explanation(found)

    # -- exports ---------------------------------------------------------------------

    @staticmethod
    def export_formats() -> tuple[str, ...]:
        """The formats :meth:`export` writes (one module each in
        :mod:`featstore.lineage_export`): ``json`` (node-link), ``graphml``, ``dot``,
        ``mermaid``, and any other registered."""
        from featstore.lineage_export import format_names

        return format_names()

    def export(self, fmt: str, graph: nx.MultiDiGraph | None = None) -> str:
        """The graph (default: the whole graph) as text in one of
        :meth:`export_formats`: ``json`` (node-link), ``graphml``, ``dot`` or ``mermaid``."""
        from featstore.lineage_export import get_format

        writer = get_format(fmt).write  # an unknown format raises before the graph is built
        return writer(self.graph if graph is None else graph)

    def openlineage_events(self) -> list[dict[str, Any]]:
        """OpenLineage RunEvents (JSON dicts): START and COMPLETE for each materialization
        run, saved training set, model version and prediction batch, with facets
        (docs/openlineage.md)."""
        from featstore.lineage_export.openlineage import openlineage_events

        return openlineage_events(self._catalog, self._namespace)

    def _induced(self, ids: set[str]) -> nx.MultiDiGraph:
        if self._graph is not None and all(i in self._graph for i in ids):
            return nx.MultiDiGraph(self._graph.subgraph(ids))
        graph = nx.MultiDiGraph()
        nids: dict[int, str] = {}
        for nid, i, k, n, c, a in self._catalog.lineage_nodes(ids):
            nids[nid] = i
            graph.add_node(i, kind=k, name=n, created_at=c, attrs=json.loads(a))
        for src, dst, kind in self._catalog.lineage_edges_from(nids):
            if dst in nids:
                graph.add_edge(nids[src], nids[dst], key=kind, kind=kind)
        return graph
