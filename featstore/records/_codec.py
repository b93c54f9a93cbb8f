"""The base of every record (:class:`Record`: one JSON codec, value identity, the dict
view) and :class:`Row`, a catalog row as a driver returns it."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, KeysView, Mapping
from dataclasses import fields
from typing import Any, ClassVar, Protocol, Self

from featstore.records._reader import _RESTORE, _decode, _label, _parse, _Reader
from featstore.records._values import FrozenMap, freeze_json, thaw_json

__all__ = ["Record", "Row"]


class Row(Protocol):
    """A catalog row as a driver returns it: a mapping, or anything ``dict()`` reads
    (such as the SQLite driver's row objects)."""

    def keys(self) -> Iterable[str]: ...

    def __getitem__(self, key: str, /) -> Any: ...


def _normalize(record: object) -> None:
    """Lists become tuples and mappings FrozenMaps (deeply), so the record is hashable."""
    for f in fields(record):  # type: ignore[arg-type]
        value = getattr(record, f.name)
        if isinstance(value, list | tuple | Mapping) and not isinstance(value, FrozenMap):
            object.__setattr__(record, f.name, freeze_json(value))


_COMPARED: dict[type, tuple[str, ...]] = {}


def _compared(cls: type) -> tuple[str, ...]:
    """The names of the fields that make a record's identity (not ``root``)."""
    names = _COMPARED.get(cls)
    if names is None:
        names = _COMPARED[cls] = tuple(f.name for f in fields(cls) if f.compare)
    return names


class Record:
    """The base of every record: one JSON codec, value identity, and the dict view.

    Each record writes ``to_json`` and ``_read`` (decoding a body through a
    :class:`_Reader`), and names itself for error messages (``_LABEL``, identified by
    the body's ``_NAMED_BY`` keys; ``_HINT`` says what to do about a damaged one).

    Attributes are the typed API. The *dict view* is the record's JSON document, read
    by key the way the plain dicts featstore returned before records were: ``rec["key"]``,
    ``rec.get("key")``, ``"key" in rec``, ``rec.keys()``, ``dict(rec)``, ``{**rec}``. It is
    read-only and gives plain JSON values (fresh lists and dicts, instants as text), so
    code written against those dicts keeps working; a record also equals a mapping
    that holds its JSON document. ``json.dumps`` takes ``rec.to_json()`` (or
    ``dict(rec)``), not the record. Each read copies the value it returns, so code that
    reads one key in a loop reads an attribute instead.

    >>> from featstore.records import ServiceRef
    >>> ref = ServiceRef(name="scoring", version="9a8b7c6d5e4f")
    >>> ref["name"], ref.get("owner"), "version" in ref, dict(ref) == ref
    ('scoring', None, True, True)
    """

    # the record's JSON document, encoded on the first read by key (not a field)
    __slots__ = ("_view",)
    _view: dict[str, Any]

    _LABEL: ClassVar[str] = "record"
    _NAMED_BY: ClassVar[tuple[str, ...]] = ()
    _HINT: ClassVar[str] = _RESTORE

    def __post_init__(self) -> None:
        _normalize(self)

    # -- the codec

    def to_json(self) -> dict[str, Any]:
        """The record as a JSON document (lists and dicts, as the catalog stores it)."""
        raise NotImplementedError

    @classmethod
    def _read(cls, r: _Reader) -> Self:
        raise NotImplementedError

    @classmethod
    def _what(cls, data: object) -> str:
        return _label(cls._LABEL, data, *cls._NAMED_BY)

    @classmethod
    def from_json(cls, data: object) -> Self:
        """The record of a JSON document; a missing, unknown or mistyped key is a
        CatalogError naming the record and the key."""
        return _decode(data, cls._what(data), cls._HINT, cls._read)

    def dumps(self) -> str:
        """The record as JSON text, the way the catalog stores it (sorted keys)."""
        return json.dumps(self.to_json(), sort_keys=True)

    @classmethod
    def loads(cls, text: str | bytes) -> Self:
        """The record from JSON text; text that is not JSON is a CatalogError."""
        return cls.from_json(_parse(text, cls._LABEL, cls._HINT))

    # -- identity: equal field by field (or to a mapping holding the JSON document)

    def _key(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in _compared(type(self)))

    def __eq__(self, other: object) -> bool:
        if type(other) is type(self):
            return self._key() == other._key()
        if isinstance(other, Mapping):
            return bool(self._document() == thaw_json(other))
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._key())

    # -- the dict view

    def _document(self) -> dict[str, Any]:
        """The dict view's document, encoded once per record and never handed out."""
        try:
            document = self._view
        except AttributeError:
            document = self._as_dict()
            object.__setattr__(self, "_view", document)
        return document

    def _as_dict(self) -> dict[str, Any]:
        """The dict featstore returned for this record before records: the body as read
        back from the catalog (``json.loads`` of :meth:`dumps`: keys sorted at every
        level). Records that are not stored bodies keep ``to_json``'s order."""
        document: dict[str, Any] = json.loads(self.dumps())
        return document

    def __getitem__(self, key: str) -> Any:
        """The JSON value of ``key`` (a fresh copy); KeyError if the document lacks it."""
        return thaw_json(self._document()[key])

    def get(self, key: str, default: Any = None) -> Any:
        """The JSON value of ``key``, or ``default`` if the document lacks it."""
        document = self._document()
        return thaw_json(document[key]) if key in document else default

    def keys(self) -> KeysView[str]:
        """The keys of the JSON document, in its order."""
        return self._document().keys()

    def values(self) -> list[Any]:
        """The JSON values, in key order."""
        return [thaw_json(v) for v in self._document().values()]

    def items(self) -> list[tuple[str, Any]]:
        """``(key, JSON value)`` pairs, in key order."""
        return [(k, thaw_json(v)) for k, v in self._document().items()]

    def __contains__(self, key: object) -> bool:
        return key in self._document()

    def __iter__(self) -> Iterator[str]:
        return iter(self._document())

    def __len__(self) -> int:
        return len(self._document())

    def __bool__(self) -> bool:
        return True  # a record is never empty; ``if record:`` encodes nothing
