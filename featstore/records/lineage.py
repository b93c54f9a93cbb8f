"""The lineage node record (catalog table ``nodes``; a node of the node-link export),
the list of nodes a lineage query returns (:class:`NodeList`) and the explanation of one
prediction (:class:`Explanation`)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar, Self

from featstore import display
from featstore.errors import CatalogError
from featstore.lineage_ids import NODE_KINDS, NodeKind
from featstore.records._codec import Row
from featstore.records._reader import _RESTORE, _decode, _label, _parse, _Reader
from featstore.records._values import thaw_json

__all__ = ["Explanation", "Node", "NodeList"]


class Node:
    """A lineage node as the catalog stores it (a row of ``nodes``; a node of the
    node-link export), read-only.

    ``attrs`` is the node's JSON document, parsed on first access: a query that returns
    many nodes does not pay for documents nobody reads, and the constructor checks
    nothing (it is called once per node of a whole lineage). Nodes are equal when their
    id, kind, name and creation time are. :meth:`from_json` and :meth:`from_row` decode
    and check a stored node; :meth:`attrs_json` is ``attrs`` as the catalog stores it.

    >>> node = Node("source:txns", "source", "txns", "2024-01-31T00:00:00.000000", '{"a": 1}')
    >>> node.attrs, Node.from_json(node.to_json()) == node
    ({'a': 1}, True)
    """

    __slots__ = ("_attrs", "_raw", "created_at", "id", "kind", "name")

    _LABEL: ClassVar[str] = "lineage node"
    _HINT: ClassVar[str] = _RESTORE

    id: str
    kind: str
    name: str
    created_at: str
    _raw: str | None
    _attrs: dict[str, Any] | None

    def __init__(
        self, id: str, kind: str, name: str, created_at: str, attrs: dict[str, Any] | str
    ) -> None:
        self.id, self.kind, self.name, self.created_at = id, kind, name, created_at
        self._raw, self._attrs = (attrs, None) if isinstance(attrs, str) else (None, attrs)

    @property
    def attrs(self) -> dict[str, Any]:
        if self._attrs is None:
            parsed: dict[str, Any] = json.loads(self._raw or "{}")
            self._attrs, self._raw = parsed, None
        return self._attrs

    def attrs_json(self) -> str:
        """``attrs`` as JSON text, the way the catalog stores it (sorted keys)."""
        return self._raw if self._raw is not None else json.dumps(self.attrs, sort_keys=True)

    def _key(self) -> tuple[str, str, str, str]:
        return (self.id, self.kind, self.name, self.created_at)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Node) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"Node(id={self.id!r}, kind={self.kind!r}, name={self.name!r})"

    def _repr_html_(self) -> str:
        """The node's id, kind, name and creation time, and its attributes as a nested
        table (an encoded schema as ``column: dtype`` rows, never the base64 text)."""
        facts = [
            ("id", self.id),
            ("kind", self.kind),
            ("name", self.name),
            ("created", _instant(self.created_at)),
        ]
        attrs = _readable(self.attrs)
        parts = [display.title("Node", self.id), display.kv_table(facts)]
        if attrs:
            parts.append(display.section("attributes", display.kv_table(attrs.items())))
        return display.block(parts)

    # -- the codec

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "name": self.name,
            "created_at": self.created_at,
            "attrs": thaw_json(self.attrs),
        }

    def dumps(self) -> str:
        return json.dumps(self.to_json(), sort_keys=True)

    @classmethod
    def from_json(cls, data: object) -> Self:
        """The node of a JSON document; a damaged one is a CatalogError."""
        return _decode(data, _label(cls._LABEL, data, "id"), cls._HINT, cls._read)

    @classmethod
    def loads(cls, text: str | bytes) -> Self:
        return cls.from_json(_parse(text, cls._LABEL, cls._HINT))

    @classmethod
    def from_row(cls, row: Row) -> Self:
        """The node of a ``nodes`` row, whose ``attrs`` is JSON text (``nid`` is the
        row's integer key, not part of the node)."""
        data = {k: v for k, v in dict(row).items() if k != "nid"}
        if isinstance(data.get("attrs"), str | bytes):
            data["attrs"] = _parse(data["attrs"], _label(cls._LABEL, data, "id"), cls._HINT)
        return cls.from_json(data)

    @classmethod
    def _read(cls, r: _Reader) -> Self:
        node_id = r.text("id")
        kind = NodeKind(r.choice("kind", NODE_KINDS))
        if not node_id.startswith(kind.prefix):
            raise r.error(f"its id does not start with {kind.prefix!r}, as {kind.value} ids do")
        attrs = r.raw("attrs")
        if not isinstance(attrs, dict):
            raise r.bad("attrs", attrs, "an object")
        return cls(node_id, kind.value, r.text("name"), r.instant("created_at"), thaw_json(attrs))


def _instant(text: str | None) -> str | None:
    """A stored instant for people: ``2024-01-31 12:00:00`` (no empty fraction)."""
    if not text:
        return None
    return text.replace("T", " ").removesuffix(".000000")


def _schema_rows(text: str) -> dict[str, str] | None:
    """An encoded feature schema (base64 Arrow IPC) as ``column: dtype``, or None when
    ``text`` is no such schema."""
    from featstore.dtypes import decode_schema

    try:
        return {name: str(dtype) for name, dtype in decode_schema(text).items()}
    except CatalogError:
        return None


def _readable(value: Any) -> Any:
    """``value`` with every base64 blob replaced: an encoded schema by its ``column:
    dtype`` rows, anything else by a note of its size."""
    if isinstance(value, Mapping):
        return {k: _readable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_readable(v) for v in value]
    if display.is_blob(value):
        return _schema_rows(value) or f"(base64 data, {len(value):,} characters)"
    return value


class NodeList(list[Node]):
    """The nodes a lineage query returns (``store.lineage.upstream`` / ``downstream``): a
    plain ``list`` of :class:`Node` (equal to the list of the same nodes) that shows
    itself as a table in a notebook and as counts per kind in a ``repr``."""

    __slots__ = ()

    SHOWN: ClassVar[int] = 200
    """The most rows :meth:`_repr_html_` shows."""

    def counts(self) -> dict[str, int]:
        """How many nodes of each kind (NODE_KINDS order)."""
        found = Counter(node.kind for node in self)
        ordered = [*NODE_KINDS, *sorted(set(found) - set(NODE_KINDS))]
        return {kind: found[kind] for kind in ordered if found[kind]}

    def __repr__(self) -> str:
        if not self:
            return "NodeList(0 nodes)"
        text = f"NodeList({len(self)} nodes: " + ", ".join(
            f"{n} {kind}" for kind, n in self.counts().items()
        )
        ids: list[str] = []
        for node in self[:3]:  # the first ids that fit
            if len(text) + sum(len(i) + 2 for i in ids) + len(node.id) > display.REPR_LIMIT - 8:
                break
            ids.append(node.id)
        more = ", ..." if len(ids) < len(self) else ""
        return display.one_line(text + (f"; {', '.join(ids)}{more})" if ids else f"{more})"))

    def _repr_html_(self) -> str:
        rows = (
            (node.kind, node.id, node.name, _instant(node.created_at))
            for node in self[: self.SHOWN]
        )
        counts = ", ".join(f"{n} {kind}" for kind, n in self.counts().items())
        return display.block(
            [
                display.title("NodeList", f"{len(self):,} nodes", counts),
                display.table(
                    ["kind", "id", "name", "created"], rows, max_rows=self.SHOWN, total=len(self)
                ),
            ]
        )


def _yes_no(flag: object) -> str | None:
    return None if flag is None else "yes" if flag else "no"


def _short_hash(text: object) -> object:
    return text[:12] if isinstance(text, str) else text


class Explanation(dict[str, Any]):
    """The explanation of one prediction row (``store.lineage.explain``): the plain dict
    it always was (equal to it, and ``json.dumps`` writes the same document), shown in a
    notebook as a table per section: the prediction, the model version, the training
    set, one row per feature and the source files.

    ``run_files`` (not part of the dict) says which source files each materialization
    run read, so that each feature row can name the raw files behind its value.
    """

    __slots__ = ("run_files",)

    run_files: dict[str, list[str]]

    def __init__(
        self,
        data: Mapping[str, Any] | None = None,
        *,
        run_files: Mapping[str, Iterable[str]] | None = None,
    ) -> None:
        super().__init__(data or {})
        self.run_files = {run: list(paths) for run, paths in (run_files or {}).items()}

    def __repr__(self) -> str:
        model = self.get("model_version") or {}
        feats = self.get("features") or []
        return display.one_line(
            f"Explanation({self.get('prediction_batch')} row {self.get('row')}: "
            f"model {model.get('id')}, {len(feats)} features, "
            f"{len(self.get('source_files') or [])} source files)"
        )

    def _files_of(self, run: str | None) -> display.Html | None:
        if not run or run not in self.run_files:
            return None
        by_path = {f.get("path"): f for f in self.get("source_files") or []}
        rows = []
        for path in self.run_files[run]:
            item = by_path.get(path, {})
            rows.append((path, _short_hash(item.get("sha256")), _yes_no(item.get("unchanged"))))
        return display.table(["file", "sha256", "unchanged"], rows)

    def _repr_html_(self) -> str:
        model = dict(self.get("model_version") or {})
        prediction = dict(self.get("prediction") or {})
        facts = [
            ("prediction batch", self.get("prediction_batch")),
            ("row", self.get("row")),
            ("as of", self.get("as_of")),
            *prediction.items(),
        ]
        model_facts = [
            ("id", model.get("id")),
            ("name", model.get("name")),
            ("version", model.get("version")),
            ("metrics", model.get("metrics") or None),
            ("artifact", model.get("artifact")),
            ("registered at", _instant(model.get("created_at"))),
        ]
        features = display.table(
            [
                "feature",
                "view",
                "value",
                "event time",
                "view version",
                "run",
                "source files",
            ],
            (
                (
                    f.get("feature"),
                    f.get("view"),
                    f.get("value"),
                    f.get("event_timestamp"),
                    f.get("view_version"),
                    f.get("run"),
                    self._files_of(f.get("run")),
                )
                for f in self.get("features") or []
            ),
        )
        files = display.table(
            ["file", "size", "rows", "sha256", "unchanged"],
            (
                (
                    f.get("path"),
                    f.get("size"),
                    f.get("rows"),
                    _short_hash(f.get("sha256")),
                    _yes_no(f.get("unchanged")),
                )
                for f in self.get("source_files") or []
            ),
        )
        return display.block(
            [
                display.title(
                    "Explanation", f"{self.get('prediction_batch')} row {self.get('row')}"
                ),
                display.kv_table(facts),
                display.section("model version", display.kv_table(model_facts)),
                display.section(
                    "training set", display.kv_table([("id", self.get("training_set"))])
                ),
                display.section("features", features),
                display.section("source files", files),
            ]
        )
