"""The lineage node record (catalog table ``nodes``; a node of the node-link export)."""

from __future__ import annotations

import json
from typing import Any, ClassVar, Self

from featstore.lineage_ids import NODE_KINDS, NodeKind
from featstore.records._codec import Row
from featstore.records._reader import _RESTORE, _decode, _label, _parse, _Reader
from featstore.records._values import thaw_json

__all__ = ["Node"]


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
