"""The lineage explorer's data: neighbourhoods, hop-by-hop expansion, groups of similar
siblings, search, node details and the path of one explained prediction.

The whole graph's structure (ids, kinds, names and adjacency, no attribute documents) is
read into memory once, as a few flat lists, so that each request of the explorer is a few
dictionary look-ups: a ±2-hop view of a 100k-node store answers in milliseconds. The
attribute documents of the nodes a response shows are read from the catalog per request.
The structure is re-read when the catalog has changed (checked at most every
:data:`FRESH_SECONDS`).

Every response is plain JSON. Nodes carry a readable ``label`` and ``sub`` line (a run is
"spend · 296e1f5b" over "2024-01-01 → 2024-04-01", never a bare hex id), their
``kind``, the ``layer`` they are drawn in (sources left, predictions and reports right)
and their in and out degrees. When one node has more than :data:`GROUP_MIN` neighbours
of one kind on one side, they come as one *group* node (``kind`` ``"group"``) that
:func:`lineage_api`'s ``group`` operation opens.
"""

from __future__ import annotations

import heapq
import json
import threading
import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from featstore.errors import LineageError, did_you_mean
from featstore.lineage_ids import NODE_KINDS, NodeKind

if TYPE_CHECKING:
    from featstore.store import FeatureStore

__all__ = [
    "FRESH_SECONDS",
    "GROUP_MIN",
    "KIND_LAYERS",
    "GraphSource",
    "lineage_api",
]

GROUP_MIN = 8  # more neighbours of one kind on one side than this: one group node
GROUP_PAGE = 500  # the members a group's opening shows at most
MAX_HOPS = 6
FRESH_SECONDS = 2.0
SEARCH_LIMIT = 50

# drawing columns, left to right: where data comes from to what it produced
KIND_LAYERS: dict[str, int] = {
    NodeKind.SOURCE: 0,
    NodeKind.SOURCE_FILE: 1,
    NodeKind.FEATURE_VIEW: 2,
    NodeKind.FEATURE_SERVICE: 3,
    NodeKind.MATERIALIZATION_RUN: 3,
    NodeKind.TRAINING_SET: 4,
    NodeKind.MODEL_VERSION: 5,
    NodeKind.EVALUATION: 6,
    NodeKind.PREDICTION_BATCH: 6,
    NodeKind.LABEL_BATCH: 7,
    NodeKind.SKEW_REPORT: 7,
    NodeKind.DRIFT_REPORT: 8,
}

_KIND_NOUNS: dict[str, tuple[str, str]] = {
    NodeKind.SOURCE: ("source", "sources"),
    NodeKind.SOURCE_FILE: ("source file", "source files"),
    NodeKind.FEATURE_VIEW: ("feature view", "feature views"),
    NodeKind.FEATURE_SERVICE: ("feature service", "feature services"),
    NodeKind.MATERIALIZATION_RUN: ("run", "runs"),
    NodeKind.TRAINING_SET: ("training set", "training sets"),
    NodeKind.MODEL_VERSION: ("model version", "model versions"),
    NodeKind.PREDICTION_BATCH: ("prediction batch", "prediction batches"),
    NodeKind.LABEL_BATCH: ("label batch", "label batches"),
    NodeKind.DRIFT_REPORT: ("drift report", "drift reports"),
    NodeKind.SKEW_REPORT: ("skew report", "skew reports"),
    NodeKind.EVALUATION: ("evaluation", "evaluations"),
}


def kind_noun(kind: str, count: int = 1) -> str:
    one, many = _KIND_NOUNS.get(kind, (kind.replace("_", " "), kind.replace("_", " ") + "s"))
    return one if count == 1 else many


def _day(text: Any) -> str:
    """``2024-01-01T00:00:00.000000`` -> ``2024-01-01``, or with the time when it has one."""
    if not isinstance(text, str) or len(text) < 10:
        return "?"
    day, _, clock = text.partition("T")
    clock = clock[:8]
    return day if clock in ("", "00:00:00") else f"{day} {clock[:5]}"


def _short(text: Any, n: int = 8) -> str:
    return str(text)[:n] if text is not None else "?"


def _basename(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1] or path


def _metric_line(metrics: Any, limit: int = 2) -> str:
    if not isinstance(metrics, dict) or not metrics:
        return ""
    parts = []
    for key in sorted(metrics)[:limit]:
        value = metrics[key]
        parts.append(f"{key}={value:.3g}" if isinstance(value, float) else f"{key}={value}")
    return " ".join(parts)


def node_label(
    node_id: str, kind: str, name: str, created_at: str, attrs: Mapping[str, Any]
) -> tuple[str, str]:
    """A node's readable label and second line (never a bare hex id)."""
    a = attrs
    if kind == NodeKind.SOURCE:
        return name, f"{a.get('source_kind') or 'source'} source"
    if kind == NodeKind.SOURCE_FILE:
        path = str(a.get("path") or name)
        rows = a.get("rows")
        size = a.get("size")
        sub = ", ".join(
            x for x in (f"{rows:,} rows" if isinstance(rows, int) else "", _bytes(size)) if x
        )
        return _basename(path), sub or f"of {a.get('source') or 'a source'}"
    if kind == NodeKind.FEATURE_VIEW:
        return name, f"version {_short(a.get('version') or node_id.rsplit('@', 1)[-1])}"
    if kind == NodeKind.FEATURE_SERVICE:
        return name, f"service, version {_short(node_id.rsplit('@', 1)[-1])}"
    if kind == NodeKind.MATERIALIZATION_RUN:
        label = f"{name} · {_short(a.get('view_version'))}"
        sub = f"{_day(a.get('start'))} → {_day(a.get('end'))}"
        rows = a.get("rows")
        if isinstance(rows, int):
            sub += f", {rows:,} rows"
        return label, sub
    if kind == NodeKind.TRAINING_SET:
        rows = a.get("rows")
        sub = f"{_short(a.get('content_id'))}"
        if isinstance(rows, int):
            sub += f", {rows:,} rows"
        return name, sub
    if kind == NodeKind.MODEL_VERSION:
        version = a.get("version", node_id.rsplit("@", 1)[-1])
        return f"{name} v{version}", _metric_line(a.get("metrics")) or "model version"
    if kind == NodeKind.PREDICTION_BATCH:
        rows = a.get("rows")
        sub = _day(created_at)
        if isinstance(rows, int):
            sub = f"{rows:,} rows, {sub}"
        return f"{name} v{a.get('model_version', '?')} predictions", sub
    if kind == NodeKind.LABEL_BATCH:
        rows = a.get("rows")
        return f"{name} labels", (f"{rows:,} rows, " if isinstance(rows, int) else "") + _day(
            created_at
        )
    if kind == NodeKind.DRIFT_REPORT:
        drifted = a.get("drifted") or []
        total = a.get("features")
        return "drift report", f"{len(drifted)} of {total} drifted, {_day(created_at)}"
    if kind == NodeKind.SKEW_REPORT:
        skewed = a.get("skewed") or []
        return f"{name} skew", f"{len(skewed)} skewed, {_day(created_at)}"
    if kind == NodeKind.EVALUATION:
        return f"{name} v{a.get('model_version', '?')} evaluation", _metric_line(
            a.get("metrics")
        ) or _day(created_at)
    return name or node_id, kind


def _bytes(size: Any) -> str:
    if not isinstance(size, int):
        return ""
    if size < 1024:
        return f"{size:,} B"
    scaled = float(size)
    for unit in ("KB", "MB", "GB"):
        scaled /= 1024
        if scaled < 1024 or unit == "GB":
            return f"{scaled:.1f} {unit}"
    return ""


class _Structure:
    """The whole lineage's shape: ids, kinds and names by position, and adjacency lists
    of ``(position, edge kind)``. No attribute documents."""

    def __init__(self, store: FeatureStore) -> None:
        with store.catalog.snapshot() as tx:
            node_rows = tx.lineage_node_heads()
            edge_rows = tx.lineage_all_edges()
        self.ids: list[str] = []
        self.kinds: list[str] = []
        self.names: list[str] = []
        at: dict[int, int] = {}
        for p, (nid, i, k, n) in enumerate(node_rows):
            at[nid] = p
            self.ids.append(i)
            self.kinds.append(k)
            self.names.append(n)
        self.pos = {i: p for p, i in enumerate(self.ids)}
        succ: list[list[tuple[int, str]]] = [[] for _ in self.ids]
        pred: list[list[tuple[int, str]]] = [[] for _ in self.ids]
        for src, dst, kind in edge_rows:
            a, b = at[src], at[dst]
            succ[a].append((b, kind))
            pred[b].append((a, kind))
        self.succ = succ
        self.pred = pred
        # lower-case "id name" per node, for substring search
        self.haystack = [f"{i}\n{n}".lower() for i, n in zip(self.ids, self.names, strict=True)]
        self.stamp = (len(node_rows), len(edge_rows))


class GraphSource:
    """The explorer's view of one store's lineage (see the module docstring). Thread-safe:
    the server may call it from several threads."""

    def __init__(self, store: FeatureStore) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._structure = _Structure(store)
        self._checked = time.monotonic()

    @property
    def store(self) -> FeatureStore:
        return self._store

    def structure(self) -> _Structure:
        """The structure, re-read when the catalog's node or edge count has changed."""
        with self._lock:
            now = time.monotonic()
            if now - self._checked >= FRESH_SECONDS:
                self._checked = now
                if self._store.catalog.lineage_size() != self._structure.stamp:
                    self._structure = _Structure(self._store)
            return self._structure

    def default_node(self) -> str:
        """Where the explorer opens without a node: the first feature view, else the
        first node; LineageError when the lineage is empty."""
        st = self.structure()
        views = [i for i, k in zip(st.ids, st.kinds, strict=True) if k == NodeKind.FEATURE_VIEW]
        if views:
            return min(views)
        if st.ids:
            return min(st.ids)
        raise LineageError("the lineage is empty: apply definitions and materialize first")

    # -- nodes as the explorer shows them ------------------------------------------------

    def _docs(self, ids: Iterable[str]) -> dict[str, tuple[str, dict[str, Any]]]:
        out: dict[str, tuple[str, dict[str, Any]]] = {}
        for _nid, i, _k, _n, created, attrs in self._store.catalog.lineage_nodes(ids):
            out[i] = (created, json.loads(attrs))
        return out

    def _node_json(
        self, st: _Structure, p: int, docs: Mapping[str, tuple[str, dict[str, Any]]]
    ) -> dict[str, Any]:
        node_id, kind, name = st.ids[p], st.kinds[p], st.names[p]
        created, attrs = docs.get(node_id, ("", {}))
        label, sub = node_label(node_id, kind, name, created, attrs)
        return {
            "id": node_id,
            "kind": kind,
            "name": name,
            "label": label,
            "sub": sub,
            "layer": KIND_LAYERS.get(kind, len(KIND_LAYERS)),
            "in": len(st.pred[p]),
            "out": len(st.succ[p]),
        }

    def _position(self, st: _Structure, node_id: str) -> int:
        p = st.pos.get(node_id)
        if p is None:
            close = [i for i in st.ids if i.startswith(node_id.split(":", 1)[0] + ":")][:200]
            raise LineageError(
                f"unknown lineage node {node_id!r}"
                + (did_you_mean(node_id, close) if close else "; search for it by name")
            )
        return p

    # -- the operations ------------------------------------------------------------------

    def neighbourhood(self, node_id: str, up: int = 2, down: int = 2) -> dict[str, Any]:
        """The node, ``up`` hops of ancestors and ``down`` hops of descendants, with the
        edges among them; many similar siblings come as one group."""
        st = self.structure()
        center = self._position(st, node_id)
        shown: set[int] = {center}
        groups: dict[str, dict[str, Any]] = {}
        edges: set[tuple[int, int, str]] = set()
        group_edges: list[dict[str, Any]] = []
        for hops, upward in ((up, True), (down, False)):
            frontier = [center]
            for _ in range(hops):
                step: list[int] = []
                for v in frontier:
                    found = self._around(st, v, upward, shown, groups, edges, group_edges)
                    step.extend(found)
                frontier = step
                if not frontier:
                    break
        return self._response(st, shown, edges, groups, group_edges, center=node_id)

    def expand(self, node_id: str) -> dict[str, Any]:
        """The node's direct neighbours on both sides (similar siblings grouped)."""
        st = self.structure()
        p = self._position(st, node_id)
        shown: set[int] = {p}
        groups: dict[str, dict[str, Any]] = {}
        edges: set[tuple[int, int, str]] = set()
        group_edges: list[dict[str, Any]] = []
        for upward in (True, False):
            self._around(st, p, upward, shown, groups, edges, group_edges)
        return self._response(st, shown, edges, groups, group_edges, center=node_id)

    def group(self, anchor: str, side: str, kind: str, offset: int = 0) -> dict[str, Any]:
        """The members of one group: ``anchor``'s neighbours of ``kind`` on ``side``
        (``"up"`` or ``"down"``), :data:`GROUP_PAGE` at a time from ``offset``."""
        if side not in ("up", "down"):
            raise LineageError(f"a group's side is 'up' or 'down'; found {side!r}")
        st = self.structure()
        p = self._position(st, anchor)
        adj = st.pred[p] if side == "up" else st.succ[p]
        members = sorted({q for q, _ in adj if st.kinds[q] == kind}, key=st.ids.__getitem__)
        page = members[offset : offset + GROUP_PAGE]
        shown = {p, *page}
        edges = {(q, p, k) if side == "up" else (p, q, k) for q, k in adj if q in shown}
        out = self._response(st, shown, edges, {}, [], center=anchor)
        out["total"] = len(members)
        out["offset"] = offset
        out["next"] = offset + GROUP_PAGE if offset + GROUP_PAGE < len(members) else None
        return out

    def search(self, query: str, limit: int = 20) -> dict[str, Any]:
        """Nodes whose id or name contains ``query`` (case-insensitive): exact ids first,
        then names that start with it, then the rest, each in id order."""
        q = query.strip().lower()
        if not q:
            return {"query": query, "results": [], "total": 0}
        limit = max(1, min(limit, SEARCH_LIMIT))
        st = self.structure()
        hits = [p for p, text in enumerate(st.haystack) if q in text]
        total = len(hits)

        def rank(p: int) -> tuple[int, str]:
            node_id, name = st.ids[p], st.names[p].lower()
            first = (
                0 if node_id.lower() == q else 1 if name == q else 2 if name.startswith(q) else 3
            )
            return first, node_id

        best = heapq.nsmallest(limit, hits, key=rank)
        docs = self._docs(st.ids[p] for p in best)
        return {
            "query": query,
            "total": total,
            "results": [self._node_json(st, p, docs) for p in best],
        }

    def node(self, node_id: str) -> dict[str, Any]:
        """One node with its attributes and how many neighbours of each kind it has."""
        st = self.structure()
        p = self._position(st, node_id)
        docs = self._docs([node_id])
        out = self._node_json(st, p, docs)
        created, attrs = docs.get(node_id, ("", {}))
        out["created_at"] = created
        out["attrs"] = attrs
        for side, adj in (("upstream", st.pred[p]), ("downstream", st.succ[p])):
            counts: dict[str, int] = {}
            for q, _ in adj:
                counts[st.kinds[q]] = counts.get(st.kinds[q], 0) + 1
            out[side] = {k: counts[k] for k in [*NODE_KINDS, *sorted(counts)] if k in counts}
        return out

    def explain(self, batch: str, row: int) -> dict[str, Any]:
        """The path behind one prediction row: the batch, its model version, training set,
        the feature views and runs that gave each value, and their source files, with the
        explanation's table of values."""
        explained = self._store.lineage.explain(batch, row)
        st = self.structure()
        wanted: set[str] = {str(explained["prediction_batch"])}
        model = explained.get("model_version") or {}
        if model.get("id"):
            wanted.add(str(model["id"]))
        if explained.get("training_set"):
            wanted.add(str(explained["training_set"]))
        for item in explained.get("features", []):
            for key in ("view_node", "run"):
                if item.get(key):
                    wanted.add(str(item[key]))
        paths = {f.get("path") for f in explained.get("source_files", [])}
        for run in explained.get("runs", {}):
            p = st.pos.get(run)
            if p is None:
                continue
            for q, _ in st.pred[p]:
                if st.kinds[q] == NodeKind.SOURCE_FILE and st.names[q] in paths:
                    wanted.add(st.ids[q])
        shown = {st.pos[i] for i in wanted if i in st.pos}
        edges = {(a, b, k) for a in shown for b, k in st.succ[a] if b in shown}
        out = self._response(st, shown, edges, {}, [], center=str(explained["prediction_batch"]))
        out["path"] = sorted(st.ids[p] for p in shown)
        out["table"] = [
            {
                "feature": f"{item['view']}:{item['feature']}",
                "value": item.get("value"),
                "event_timestamp": item.get("event_timestamp"),
                "view": item.get("view_node"),
                "run": item.get("run"),
            }
            for item in explained.get("features", [])
        ]
        out["row"] = row
        out["model_version"] = model.get("id")
        out["training_set"] = explained.get("training_set")
        jsonable: dict[str, Any] = _jsonable(out)
        return jsonable

    # -- helpers ---------------------------------------------------------------------------

    def _around(
        self,
        st: _Structure,
        v: int,
        upward: bool,
        shown: set[int],
        groups: dict[str, dict[str, Any]],
        edges: set[tuple[int, int, str]],
        group_edges: list[dict[str, Any]],
    ) -> list[int]:
        """Add ``v``'s neighbours on one side; many of one kind become a group. Returns
        the newly shown neighbours (the next frontier)."""
        adj = st.pred[v] if upward else st.succ[v]
        by_kind: dict[str, list[tuple[int, str]]] = {}
        for q, k in adj:
            by_kind.setdefault(st.kinds[q], []).append((q, k))
        new: list[int] = []
        for kind, items in by_kind.items():
            distinct = {q for q, _ in items}
            if len(distinct - shown) > GROUP_MIN:
                side = "up" if upward else "down"
                gid = f"group:{st.ids[v]}|{side}|{kind}"
                if gid not in groups:
                    groups[gid] = {
                        "id": gid,
                        "kind": "group",
                        "member_kind": kind,
                        "anchor": st.ids[v],
                        "side": side,
                        "count": len(distinct),
                        "label": f"{len(distinct):,} {kind_noun(kind, len(distinct))}",
                        "sub": "click to open",
                        "layer": KIND_LAYERS.get(kind, len(KIND_LAYERS)),
                        "in": 0,
                        "out": 0,
                    }
                    edge_kind = items[0][1]
                    group_edges.append(
                        {"source": gid, "target": st.ids[v], "kind": edge_kind}
                        if upward
                        else {"source": st.ids[v], "target": gid, "kind": edge_kind}
                    )
                continue
            for q, k in items:
                edges.add((q, v, k) if upward else (v, q, k))
                if q not in shown:
                    shown.add(q)
                    new.append(q)
        return new

    def _response(
        self,
        st: _Structure,
        shown: set[int],
        edges: set[tuple[int, int, str]],
        groups: dict[str, dict[str, Any]],
        group_edges: list[dict[str, Any]],
        *,
        center: str,
    ) -> dict[str, Any]:
        # edges among the shown nodes that the walk did not step along (e.g. a run that
        # feeds a training set two hops away)
        for a in shown:
            for b, k in st.succ[a]:
                if b in shown:
                    edges.add((a, b, k))
        order = sorted(shown, key=lambda p: (KIND_LAYERS.get(st.kinds[p], 99), st.ids[p]))
        docs = self._docs(st.ids[p] for p in order)
        return {
            "center": center,
            "nodes": [self._node_json(st, p, docs) for p in order] + list(groups.values()),
            "edges": [
                {"source": st.ids[a], "target": st.ids[b], "kind": k}
                for a, b, k in sorted(edges, key=lambda e: (st.ids[e[0]], st.ids[e[1]], e[2]))
            ]
            + group_edges,
        }


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _int(params: Mapping[str, str], key: str, default: int, low: int, high: int) -> int:
    raw = params.get(key)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise LineageError(f"parameter {key!r} must be a whole number; found {raw!r}") from None
    if not low <= value <= high:
        raise LineageError(f"parameter {key!r} must be between {low} and {high}; found {value}")
    return value


def _required(params: Mapping[str, str], key: str, op: str) -> str:
    value = params.get(key)
    if not value:
        raise LineageError(f"lineage operation {op!r} needs the parameter {key!r}")
    return value


OPERATIONS = ("graph", "expand", "group", "search", "node", "explain", "kinds")


def lineage_api(source: GraphSource, op: str, params: Mapping[str, str]) -> dict[str, Any]:
    """One request of the explorer: ``op`` with its query parameters, as JSON-able data.
    Raises :class:`~featstore.errors.LineageError` for an unknown node or a bad
    parameter."""
    if op == "graph":
        node = params.get("node") or source.default_node()
        return source.neighbourhood(
            node,
            _int(params, "up", 2, 0, MAX_HOPS),
            _int(params, "down", 2, 0, MAX_HOPS),
        )
    if op == "expand":
        return source.expand(_required(params, "node", op))
    if op == "group":
        return source.group(
            _required(params, "anchor", op),
            _required(params, "side", op),
            _required(params, "kind", op),
            _int(params, "offset", 0, 0, 2**31),
        )
    if op == "search":
        return source.search(params.get("q", ""), _int(params, "limit", 20, 1, SEARCH_LIMIT))
    if op == "node":
        return source.node(_required(params, "id", op))
    if op == "explain":
        return source.explain(_required(params, "batch", op), _int(params, "row", 0, 0, 2**62))
    if op == "kinds":
        return {
            "kinds": [
                {"kind": k, "layer": KIND_LAYERS.get(k, 99), "noun": kind_noun(k, 2)}
                for k in NODE_KINDS
            ]
        }
    raise LineageError(f"unknown lineage operation {op!r}" + did_you_mean(op, OPERATIONS))
