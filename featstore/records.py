"""Typed records: what the catalog stores and the API returns, each with one JSON codec.

Every record is a frozen, slotted dataclass (a :class:`Record`) with ``to_json() ->
dict`` and ``from_json(dict)``, and ``dumps()`` / ``loads()`` to and from text. ``dumps`` writes
what the catalog writes (``json.dumps(..., sort_keys=True)``), so a body read from the
catalog and written back is byte-identical. Sequences are tuples and mappings are
:class:`FrozenMap` (read-only, hashable, equal to a ``dict`` with the same items), so
records are hashable; JSON gets lists and objects on the way out. Attributes are the
typed API; ``record["key"]``, ``record.get("key")`` and ``"key" in record`` read the JSON
document (the *dict view*, see :class:`Record`), as the dicts featstore returned before.
Lineage nodes are :class:`Node`, a lighter class with the same codec.

``from_json`` checks what it reads: a key that is missing, unknown, or of the wrong type
raises :class:`~featstore.errors.CatalogError` naming the record and the key (the
catalog is damaged), never ``KeyError``. Keys that featstore added in later releases
(``has_created``, ``arrow_schema``, ``feature_names``, ``spec``, ``result_hash``,
``content_hash``) may be absent, as they are in bodies written before them; an absent
one reads as ``None`` and is left out again on the way out.

Encodings, one per kind of value:

- instants: fixed-width ISO text in UTC without offset (``2024-01-31T00:00:00.000000``,
  :func:`featstore.timeutil.iso`). Records keep the text, except :class:`Run`, which
  holds naive UTC ``datetime``.
- feature dtypes: exactly, as ``arrow_schema`` (base64 Arrow IPC, see
  :mod:`featstore.dtypes`); :attr:`ViewRecord.schema` decodes it to a ``pl.Schema``.
  Dtype *names* (``str(dtype)``, :func:`dtype_name`) are kept beside it for people
  (``features``, ``key_dtypes``, a dataframe source's ``schema``): they are Polars'
  ``repr`` of the dtype, which no Polars function parses back and which may change
  between Polars versions, so only the few without parameters are read back
  (:attr:`ViewRecord.schema` of a record without ``arrow_schema``).
- store files: the store-relative path with ``/``, as the catalog stores it;
  :class:`TrainingSet` and :class:`PredictionBatch` resolve it against the store
  directory they were read from (``root``).

>>> run = Run.loads(
...     '{"end": "2024-02-01T00:00:00.000000", "files": [], "finished_at": '
...     '"2024-03-01T00:00:00.000000", "inputs": [], "rows": 0, "run_id": "' + "0" * 32 + '", '
...     '"start": "2024-01-01T00:00:00.000000", "started_at": "2024-03-01T00:00:00.000000", '
...     '"view": "spend", "view_version": "3f2a1c9b0d4e"}'
... )
>>> run.start
datetime.datetime(2024, 1, 1, 0, 0)
>>> Run.from_json(run.to_json()) == run
True
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, KeysView, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol, Self, TypeAlias, TypeVar, cast

import polars as pl

from featstore.dtypes import decode_schema, encode_schema
from featstore.errors import CatalogError, LineageError, StorageError
from featstore.lineage_ids import NODE_KINDS, NodeKind, node_id
from featstore.timeutil import iso
from featstore.versioning import content_hash, frame_digest

__all__ = [
    # values
    "FrozenMap",
    "Record",
    "dtype_name",
    "freeze_json",
    "thaw_json",
    # definitions
    "DefinitionRecord",
    "DefinitionVersion",
    "EntityRecord",
    "ServiceRecord",
    "SourceRecord",
    "ViewRecord",
    "ViewSelection",
    "damage",
    "definition_from_json",
    # materialization
    "OfflineFile",
    "Run",
    "RunInput",
    # retrieval and registry
    "CodeVersion",
    "ManifestFile",
    "ModelSummary",
    "ModelVersion",
    "PredictionBatch",
    "RetrievedFeatures",
    "ServiceRef",
    "TrainingSet",
    "TrainingSetCheck",
    "TrainingSetManifest",
    "read_verified",
    # history and lineage
    "NODE_KINDS",
    "AliasEvent",
    "Node",
]

T = TypeVar("T")


class Row(Protocol):
    """A catalog row as a driver returns it: a mapping, or anything ``dict()`` reads
    (``sqlite3.Row``; featstore.catalog.sqlite is the one module that imports sqlite3)."""

    def keys(self) -> Iterable[str]: ...

    def __getitem__(self, key: str, /) -> Any: ...


V_co = TypeVar("V_co", covariant=True)

SourceKind: TypeAlias = Literal["parquet", "csv", "dataframe", "sql"]
RetrievalMode: TypeAlias = Literal["historical", "latest"]
AliasAction: TypeAlias = Literal["set", "rollback"]

_SOURCE_KINDS: tuple[SourceKind, ...] = ("parquet", "csv", "dataframe", "sql")
_SOURCE_KEY = {"parquet": "path", "csv": "path", "dataframe": "schema", "sql": "query"}
_MODES: tuple[RetrievalMode, ...] = ("historical", "latest")
_ACTIONS: tuple[AliasAction, ...] = ("set", "rollback")

_INSTANT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}")
_BUCKET = re.compile(r"[0-9]{4}-[0-9]{2}")

_RESTORE = "restore catalog.db from a backup"
_REAPPLY = "apply the definition again to rewrite it, or restore catalog.db from a backup"

# dtypes whose name (str(dtype)) says all there is to them: decodable exactly from the name
_PLAIN_DTYPES: dict[str, pl.DataType] = {
    str(d): d
    for d in (
        pl.Int8(),
        pl.Int16(),
        pl.Int32(),
        pl.Int64(),
        pl.UInt8(),
        pl.UInt16(),
        pl.UInt32(),
        pl.UInt64(),
        pl.Float32(),
        pl.Float64(),
        pl.String(),
        pl.Boolean(),
        pl.Date(),
        pl.Time(),
        pl.Binary(),
        pl.Null(),
    )
}


def dtype_name(dtype: pl.DataType) -> str:
    """The name of a dtype as records show it (``str(dtype)``), e.g. ``'Int64'``.

    >>> dtype_name(pl.Datetime("us"))
    "Datetime(time_unit='us', time_zone=None)"
    """
    return str(dtype)


# -- immutable JSON values ------------------------------------------------------------


class FrozenMap(Mapping[str, V_co]):
    """A read-only, hashable mapping with string keys; equal to any mapping (a ``dict``
    included) with the same items, whatever their order. Compared with a mapping that is
    not a FrozenMap, JSON arrays are equal as lists or tuples alike, so a frozen JSON
    object equals the plain one it came from.

    >>> FrozenMap({"b": 1, "a": 2}) == {"a": 2, "b": 1}
    True
    >>> freeze_json({"layers": [8, 4]}) == {"layers": [8, 4]}
    True
    """

    __slots__ = ("_data", "_hash")

    def __init__(self, items: Mapping[str, V_co] | Iterable[tuple[str, V_co]] = ()) -> None:
        self._data: dict[str, V_co] = dict(items)
        self._hash: int | None = None

    def __getitem__(self, key: str) -> V_co:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FrozenMap):
            return self._data == other._data
        if isinstance(other, Mapping):
            return bool(thaw_json(self._data) == thaw_json(other))
        return NotImplemented

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(frozenset(self._data.items()))
        return self._hash

    def __repr__(self) -> str:
        return f"FrozenMap({self._data!r})"


def freeze_json(value: Any) -> Any:
    """A JSON value made immutable: objects become :class:`FrozenMap`, arrays tuples."""
    if isinstance(value, FrozenMap):
        return value
    if isinstance(value, Mapping):
        return FrozenMap({k: freeze_json(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(freeze_json(v) for v in value)
    return value


def thaw_json(value: Any) -> Any:
    """The inverse of :func:`freeze_json`: plain dicts and lists, ready for ``json``."""
    if isinstance(value, Mapping):
        return {k: thaw_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [thaw_json(v) for v in value]
    return value


# -- reading stored bodies ------------------------------------------------------------

_JSON_TYPES = {
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "string",
    list: "array",
    dict: "object",
}


def _shown(value: object) -> str:
    if value is None:
        return "null"
    kind = _JSON_TYPES.get(type(value), type(value).__name__)
    return f"{kind} {value!r:.60}"


class _Reader:
    """One JSON object of a stored body, read key by key; every problem is a
    CatalogError naming the record (``what``) and the key."""

    __slots__ = ("_data", "_hint", "_prefix", "_seen", "_what")

    def __init__(self, data: object, what: str, hint: str, prefix: str = "") -> None:
        self._what, self._hint, self._prefix = what, hint, prefix
        if not isinstance(data, dict):
            where = f"its {prefix[:-1]!r}" if prefix else "it"
            raise self.error(f"{where} is {_shown(data)}, not a JSON object")
        self._data: dict[str, Any] = data
        self._seen: set[str] = set()

    def error(self, problem: str) -> CatalogError:
        return _Damaged(
            f"the catalog record of {self._what} is damaged: {problem}; {self._hint}", problem
        )

    def bad(self, key: str, value: object, expected: str) -> CatalogError:
        return self.error(f"its {self._prefix + key!r} is {_shown(value)}, expected {expected}")

    def has(self, key: str) -> bool:
        return key in self._data

    def optional(self, key: str, read: Callable[[str], T]) -> T | None:
        """``read(key)`` if the body has ``key`` (one added in a later release), else None."""
        return read(key) if key in self._data else None

    def raw(self, key: str) -> Any:
        if key not in self._data:
            raise self.error(f"it lacks key {self._prefix + key!r}")
        self._seen.add(key)
        return self._data[key]

    def done(self) -> None:
        extra = sorted(str(k) for k in self._data if k not in self._seen)
        if extra:
            more = f" (and {len(extra) - 1} more)" if len(extra) > 1 else ""
            raise self.error(f"it has unknown key {self._prefix + extra[0]!r}{more}")

    # scalars

    def text(self, key: str) -> str:
        value = self.raw(key)
        if not isinstance(value, str):
            raise self.bad(key, value, "a string")
        return value

    def text_or_none(self, key: str) -> str | None:
        value = self.raw(key)
        if value is not None and not isinstance(value, str):
            raise self.bad(key, value, "a string or null")
        return value

    def integer(self, key: str) -> int:
        value = self.raw(key)
        if type(value) is not int:
            raise self.bad(key, value, "an integer")
        return value

    def integer_or_none(self, key: str) -> int | None:
        value = self.raw(key)
        if value is not None and type(value) is not int:
            raise self.bad(key, value, "an integer or null")
        return value

    def flag(self, key: str) -> bool:
        value = self.raw(key)
        if type(value) is not bool:
            raise self.bad(key, value, "true or false")
        return value

    def flag_or_none(self, key: str) -> bool | None:
        value = self.raw(key)
        if value is not None and type(value) is not bool:
            raise self.bad(key, value, "true, false or null")
        return value

    def active(self, key: str) -> bool:
        """A flag stored as SQLite's 0 / 1 (or true / false)."""
        value = self.raw(key)
        if value not in (0, 1) or type(value) not in (int, bool):
            raise self.bad(key, value, "0 or 1")
        return bool(value)

    def choice(self, key: str, options: tuple[str, ...]) -> str:
        value = self.raw(key)
        if value not in options or not isinstance(value, str):
            raise self.bad(key, value, "one of " + ", ".join(repr(o) for o in options))
        return value

    def instant(self, key: str) -> str:
        value = self.raw(key)
        if not isinstance(value, str) or not _INSTANT.fullmatch(value):
            raise self.bad(key, value, "an instant such as '2024-01-31T00:00:00.000000'")
        return value

    def instant_or_none(self, key: str) -> str | None:
        return None if self.raw(key) is None else self.instant(key)

    def moment(self, key: str) -> datetime:
        text = self.instant(key)
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            raise self.bad(key, text, "a valid instant") from None

    def bucket(self, key: str) -> str:
        value = self.raw(key)
        if not isinstance(value, str) or not _BUCKET.fullmatch(value):
            raise self.bad(key, value, "a month such as '2024-01'")
        return value

    # collections

    def texts(self, key: str) -> tuple[str, ...]:
        value = self.raw(key)
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise self.bad(key, value, "an array of strings")
        return tuple(value)

    def texts_or_none(self, key: str) -> tuple[str, ...] | None:
        return None if self.raw(key) is None else self.texts(key)

    def text_map(self, key: str) -> FrozenMap[str]:
        value = self.raw(key)
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise self.bad(key, value, "an object of strings")
        return FrozenMap(value)

    def number_map(self, key: str) -> FrozenMap[float]:
        value = self.raw(key)
        if not isinstance(value, dict) or not all(type(v) in (int, float) for v in value.values()):
            raise self.bad(key, value, "an object of numbers")
        return FrozenMap(value)

    def integer_map(self, key: str) -> FrozenMap[int]:
        value = self.raw(key)
        if not isinstance(value, dict) or not all(type(v) is int for v in value.values()):
            raise self.bad(key, value, "an object of integers")
        return FrozenMap(value)

    def rest(self, *exclude: str) -> dict[str, Any]:
        """Every key but ``exclude`` (each counted as read), for a nested decoder."""
        out = {k: v for k, v in self._data.items() if k not in exclude}
        self._seen.update(out)
        return out

    def json_map(self, key: str) -> FrozenMap[Any]:
        value = self.raw(key)
        if not isinstance(value, dict):
            raise self.bad(key, value, "an object")
        frozen: FrozenMap[Any] = freeze_json(value)
        return frozen

    def nested(self, key: str, read: Callable[[_Reader], T]) -> T:
        sub = _Reader(self.raw(key), self._what, self._hint, f"{self._prefix}{key}.")
        out = read(sub)
        sub.done()
        return out

    def nested_or_none(self, key: str, read: Callable[[_Reader], T]) -> T | None:
        return None if self.raw(key) is None else self.nested(key, read)

    def nested_list(self, key: str, read: Callable[[_Reader], T]) -> tuple[T, ...]:
        value = self.raw(key)
        if not isinstance(value, list | tuple):
            raise self.bad(key, value, "an array of objects")
        out = []
        for i, item in enumerate(value):
            sub = _Reader(item, self._what, self._hint, f"{self._prefix}{key}[{i}].")
            out.append(read(sub))
            sub.done()
        return tuple(out)


def _label(kind: str, data: object, *keys: str) -> str:
    """``kind 'name'`` for error messages, from the body's identifying keys if readable."""
    if not isinstance(data, dict):
        return kind
    parts = [
        str(data[k])
        for k in keys
        if isinstance(data.get(k), str | int) and not isinstance(data.get(k), bool)
    ]
    return f"{kind} {'@'.join(parts)!r}" if parts else kind


def _decode(data: object, what: str, hint: str, read: Callable[[_Reader], T]) -> T:
    reader = _Reader(data, what, hint)
    out = read(reader)
    reader.done()
    return out


def _parse(text: str | bytes, what: str, hint: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        problem = f"not JSON: {exc}"
        raise _Damaged(
            f"the catalog record of {what} is damaged ({problem}); {hint}", problem
        ) from None


class _Damaged(CatalogError):
    """The CatalogError a codec raises; ``problem`` is what is wrong with the record,
    without its name or the remedy (:func:`damage`)."""

    def __init__(self, message: str, problem: str) -> None:
        super().__init__(message)
        self.problem = problem


def damage(error: CatalogError) -> str:
    """What a codec's CatalogError says is wrong with the record (``"it lacks key
    'name'"``), for a caller that names the record its own way; the whole message for
    any other CatalogError."""
    return error.problem if isinstance(error, _Damaged) else str(error)


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


# -- definitions (catalog table definitions, column body) -------------------------------


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class EntityRecord(Record):
    """An entity's definition record (``kind = 'entity'``)."""

    _LABEL: ClassVar[str] = "entity"
    _NAMED_BY: ClassVar[tuple[str, ...]] = ("name",)
    _HINT: ClassVar[str] = _REAPPLY

    KIND: ClassVar[str] = "entity"

    name: str
    version: str
    join_keys: tuple[str, ...]
    description: str

    def computed_version(self) -> str:
        """The version :class:`featstore.Entity` computes from this record's content."""
        return content_hash({"kind": "entity", "name": self.name, "join_keys": self.join_keys})

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.KIND,
            "name": self.name,
            "version": self.version,
            "join_keys": list(self.join_keys),
            "description": self.description,
        }

    @classmethod
    def _read(cls, r: _Reader) -> Self:
        r.choice("kind", (cls.KIND,))
        return cls(
            name=r.text("name"),
            version=r.text("version"),
            join_keys=r.texts("join_keys"),
            description=r.text("description"),
        )


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class SourceRecord(Record):
    """A source's definition record (``kind = 'source'``).

    Exactly one of ``path`` (parquet, csv: as written, relative to the definitions'
    directory or absolute), ``query`` (sql) and ``column_dtypes`` (dataframe: column ->
    dtype name, the JSON key ``schema``) is set, by ``source_kind``.
    """

    _LABEL: ClassVar[str] = "source"
    _NAMED_BY: ClassVar[tuple[str, ...]] = ("name",)
    _HINT: ClassVar[str] = _REAPPLY

    KIND: ClassVar[str] = "source"

    name: str
    version: str
    source_kind: SourceKind
    timestamp_column: str
    created_timestamp_column: str | None
    description: str
    path: str | None = None
    query: str | None = None
    column_dtypes: Mapping[str, str] | None = None

    @property
    def id(self) -> str:
        """The lineage node id, ``source:<name>``."""
        return node_id(NodeKind.SOURCE, self.name)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.KIND,
            "source_kind": self.source_kind,
            "name": self.name,
            "version": self.version,
            "timestamp_column": self.timestamp_column,
            "created_timestamp_column": self.created_timestamp_column,
            "description": self.description,
        }
        if self.path is not None:
            out["path"] = self.path
        if self.query is not None:
            out["query"] = self.query
        if self.column_dtypes is not None:
            out["schema"] = dict(self.column_dtypes)
        return out

    @classmethod
    def _read(cls, r: _Reader) -> Self:
        r.choice("kind", (cls.KIND,))
        kind = cast(SourceKind, r.choice("source_kind", _SOURCE_KINDS))
        where = _SOURCE_KEY[kind]
        return cls(
            name=r.text("name"),
            version=r.text("version"),
            source_kind=kind,
            timestamp_column=r.text("timestamp_column"),
            created_timestamp_column=r.text_or_none("created_timestamp_column"),
            description=r.text("description"),
            path=r.text("path") if where == "path" else None,
            query=r.text("query") if where == "query" else None,
            column_dtypes=r.text_map("schema") if where == "schema" else None,
        )


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class ViewRecord(Record):
    """A feature view version's definition record (``kind = 'feature_view'``).

    ``features`` and ``key_dtypes`` map names to dtype *names*; the exact dtypes are
    ``arrow_schema`` (:attr:`schema`). ``arrow_schema``, ``feature_names`` and
    ``has_created`` are None in records written before featstore recorded them.
    """

    _LABEL: ClassVar[str] = "feature view"
    _NAMED_BY: ClassVar[tuple[str, ...]] = ("name",)
    _HINT: ClassVar[str] = _REAPPLY

    KIND: ClassVar[str] = "feature_view"

    name: str
    version: str
    entity: str
    join_keys: tuple[str, ...]
    key_dtypes: Mapping[str, str]
    source: str
    source_version: str
    timestamp_column: str
    created_timestamp_column: str | None
    features: Mapping[str, str]
    ttl_us: int | None
    lookback_us: int | None
    selection: tuple[str, ...] | None
    transform_source: str | None
    description: str
    owner: str
    tags: Mapping[str, str]
    arrow_schema: str | None = None
    feature_names: tuple[str, ...] | None = None
    has_created: bool | None = None

    @classmethod
    def create(
        cls,
        *,
        name: str,
        version: str,
        entity: str,
        join_keys: Iterable[str],
        key_dtypes: Mapping[str, pl.DataType],
        source: str,
        source_version: str,
        timestamp_column: str,
        created_timestamp_column: str | None,
        features: Mapping[str, pl.DataType],
        has_created: bool,
        ttl_us: int | None = None,
        lookback_us: int | None = None,
        selection: Iterable[str] | None = None,
        transform_source: str | None = None,
        description: str = "",
        owner: str = "",
        tags: Mapping[str, str] | None = None,
    ) -> Self:
        """A record from Polars dtypes (``features`` in output order): the one place
        dtypes are encoded, as names and as the exact Arrow schema."""
        return cls(
            name=name,
            version=version,
            entity=entity,
            join_keys=tuple(join_keys),
            key_dtypes={k: dtype_name(d) for k, d in key_dtypes.items()},
            source=source,
            source_version=source_version,
            timestamp_column=timestamp_column,
            created_timestamp_column=created_timestamp_column,
            features={f: dtype_name(d) for f, d in features.items()},
            ttl_us=ttl_us,
            lookback_us=lookback_us,
            selection=tuple(selection) if selection is not None else None,
            transform_source=transform_source,
            description=description,
            owner=owner,
            tags=dict(tags or {}),
            arrow_schema=encode_schema(dict(features)),
            feature_names=tuple(features),
            has_created=has_created,
        )

    @property
    def id(self) -> str:
        """The lineage node id, ``view:<name>@<version>``."""
        return node_id(NodeKind.FEATURE_VIEW, self.name, self.version)

    @property
    def ttl(self) -> timedelta | None:
        return timedelta(microseconds=self.ttl_us) if self.ttl_us is not None else None

    @property
    def lookback(self) -> timedelta | None:
        return timedelta(microseconds=self.lookback_us) if self.lookback_us is not None else None

    @property
    def feature_order(self) -> tuple[str, ...]:
        """Feature names in output order (``feature_names``; in records without it, the
        order of ``features`` as read, which sorted JSON makes alphabetical)."""
        return self.feature_names if self.feature_names is not None else tuple(self.features)

    @property
    def schema(self) -> pl.Schema:
        """The features' exact dtypes, in output order, decoded from ``arrow_schema``.

        A record written before ``arrow_schema`` gives the features whose dtype name is
        exact (``Int64``, ``String``, ...; not ``Datetime(...)``, lists, ...) only.
        Raises CatalogError if ``arrow_schema`` is damaged or names other features.
        """
        what = f"feature view {self.name!r} at version {self.version!r}"
        if self.arrow_schema is None:
            plain = {f: _PLAIN_DTYPES.get(self.features[f]) for f in self.feature_order}
            return pl.Schema({f: d for f, d in plain.items() if d is not None})
        decoded = decode_schema(self.arrow_schema, context=what)
        if set(decoded) != set(self.features):
            raise CatalogError(
                f"the catalog record of {what} is damaged: its arrow_schema holds features "
                f"{sorted(decoded)!r:.200} but its features are {sorted(self.features)!r:.200}; "
                f"{_REAPPLY}"
            )
        return pl.Schema(decoded)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.KIND,
            "name": self.name,
            "version": self.version,
            "entity": self.entity,
            "join_keys": list(self.join_keys),
            "key_dtypes": dict(self.key_dtypes),
            "source": self.source,
            "source_version": self.source_version,
            "timestamp_column": self.timestamp_column,
            "created_timestamp_column": self.created_timestamp_column,
            "features": dict(self.features),
            "ttl_us": self.ttl_us,
            "lookback_us": self.lookback_us,
            "selection": list(self.selection) if self.selection is not None else None,
            "transform_source": self.transform_source,
            "description": self.description,
            "owner": self.owner,
            "tags": dict(self.tags),
        }
        if self.arrow_schema is not None:
            out["arrow_schema"] = self.arrow_schema
        if self.feature_names is not None:
            out["feature_names"] = list(self.feature_names)
        if self.has_created is not None:
            out["has_created"] = self.has_created
        return out

    @classmethod
    def _read(cls, r: _Reader) -> Self:
        r.choice("kind", (cls.KIND,))
        rec = cls(
            name=r.text("name"),
            version=r.text("version"),
            entity=r.text("entity"),
            join_keys=r.texts("join_keys"),
            key_dtypes=r.text_map("key_dtypes"),
            source=r.text("source"),
            source_version=r.text("source_version"),
            timestamp_column=r.text("timestamp_column"),
            created_timestamp_column=r.text_or_none("created_timestamp_column"),
            features=r.text_map("features"),
            ttl_us=r.integer_or_none("ttl_us"),
            lookback_us=r.integer_or_none("lookback_us"),
            selection=r.texts_or_none("selection"),
            transform_source=r.text_or_none("transform_source"),
            description=r.text("description"),
            owner=r.text("owner"),
            tags=r.text_map("tags"),
            arrow_schema=r.optional("arrow_schema", r.text),
            feature_names=r.optional("feature_names", r.texts),
            has_created=r.optional("has_created", r.flag),
        )
        stray = sorted(set(rec.key_dtypes) - set(rec.join_keys))
        if stray:
            raise r.error(f"its key_dtypes name {stray[0]!r}, which is not a join key")
        names = rec.feature_names
        if names is not None and (
            len(names) != len(rec.features) or set(names) != set(rec.features)
        ):
            raise r.error(
                f"its feature_names {list(names)!r:.120} are not the names of its features "
                f"{sorted(rec.features)!r:.120}"
            )
        return rec


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class ViewSelection(Record):
    """Features of one view version, as a feature service lists them."""

    _LABEL: ClassVar[str] = "feature service item"
    _HINT: ClassVar[str] = _REAPPLY

    view: str
    version: str
    features: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"view": self.view, "version": self.version, "features": list(self.features)}

    @classmethod
    def _read(cls, r: _Reader) -> Self:
        return cls(view=r.text("view"), version=r.text("version"), features=r.texts("features"))


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class ServiceRecord(Record):
    """A feature service's definition record (``kind = 'feature_service'``); ``spec``
    (the references as written) is None in records written before featstore kept it."""

    _LABEL: ClassVar[str] = "feature service"
    _NAMED_BY: ClassVar[tuple[str, ...]] = ("name",)
    _HINT: ClassVar[str] = _REAPPLY

    KIND: ClassVar[str] = "feature_service"

    name: str
    version: str
    features: tuple[ViewSelection, ...]
    description: str
    owner: str
    tags: Mapping[str, str]
    spec: tuple[str, ...] | None = None

    @property
    def id(self) -> str:
        """The lineage node id, ``service:<name>@<version>``."""
        return node_id(NodeKind.FEATURE_SERVICE, self.name, self.version)

    @property
    def refs(self) -> tuple[str, ...]:
        """The pinned references ``view@version:feature`` the service resolves to."""
        return tuple(f"{i.view}@{i.version}:{f}" for i in self.features for f in i.features)

    def computed_version(self) -> str:
        """The version ``FeatureStore.apply`` computes from the resolved features."""
        items = [i.to_json() for i in self.features]
        return content_hash({"name": self.name, "features": items})

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.KIND,
            "name": self.name,
            "version": self.version,
            "features": [i.to_json() for i in self.features],
            "description": self.description,
            "owner": self.owner,
            "tags": dict(self.tags),
        }
        if self.spec is not None:
            out["spec"] = list(self.spec)
        return out

    @classmethod
    def _read(cls, r: _Reader) -> Self:
        r.choice("kind", (cls.KIND,))
        return cls(
            name=r.text("name"),
            version=r.text("version"),
            features=r.nested_list("features", ViewSelection._read),
            description=r.text("description"),
            owner=r.text("owner"),
            tags=r.text_map("tags"),
            spec=r.optional("spec", r.texts),
        )


DefinitionRecord: TypeAlias = EntityRecord | SourceRecord | ViewRecord | ServiceRecord

_DEFINITIONS: dict[str, type[EntityRecord | SourceRecord | ViewRecord | ServiceRecord]] = {
    "entity": EntityRecord,
    "source": SourceRecord,
    "feature_view": ViewRecord,
    "feature_service": ServiceRecord,
}


def definition_from_json(data: object) -> DefinitionRecord:
    """The record of a ``definitions.body``, whatever its ``kind``."""
    kind = data.get("kind") if isinstance(data, dict) else None
    cls = _DEFINITIONS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        r = _Reader(data, _label("definition", data, "name"), _REAPPLY)
        raise r.bad("kind", r.raw("kind"), "one of " + ", ".join(map(repr, _DEFINITIONS)))
    return cls.from_json(data)


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class DefinitionVersion(Record):
    """One registered version of a definition (``FeatureStore.versions``): its record
    and when that version was first registered. The dict view is the record's with
    ``registered_at`` beside its keys."""

    _LABEL: ClassVar[str] = "definition version"
    _NAMED_BY: ClassVar[tuple[str, ...]] = ("name", "version")
    _HINT: ClassVar[str] = _REAPPLY

    definition: DefinitionRecord
    registered_at: str

    @property
    def kind(self) -> str:
        """``entity``, ``source``, ``feature_view`` or ``feature_service``."""
        return self.definition.KIND

    @property
    def name(self) -> str:
        return self.definition.name

    @property
    def version(self) -> str:
        return self.definition.version

    def to_json(self) -> dict[str, Any]:
        return {**self.definition.to_json(), "registered_at": self.registered_at}

    def _as_dict(self) -> dict[str, Any]:
        return {**self.definition._as_dict(), "registered_at": self.registered_at}

    @classmethod
    def _read(cls, r: _Reader) -> Self:
        registered_at = r.instant("registered_at")
        return cls(
            definition=definition_from_json(r.rest("registered_at")),
            registered_at=registered_at,
        )


# -- materialization (catalog tables runs, run_inputs, files) ---------------------------


@dataclass(frozen=True, slots=True, eq=False)
class RunInput(Record):
    """A fingerprint of one input a run read (``runs.body.inputs[]``, a ``run_inputs``
    row): ``size`` and ``mtime_ns`` are None for inputs that are not files. A source
    kind's ``inputs`` returns these (as ``featstore.compute.InputFile``, the same class),
    positionally: ``RunInput(path, size, mtime_ns, rows, sha256)``."""

    _LABEL: ClassVar[str] = "run input"
    _NAMED_BY: ClassVar[tuple[str, ...]] = ("path",)

    path: str
    size: int | None
    mtime_ns: int | None
    rows: int | None
    sha256: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "size": self.size,
            "mtime_ns": self.mtime_ns,
            "rows": self.rows,
            "sha256": self.sha256,
        }

    @classmethod
    def _read(cls, r: _Reader) -> Self:
        return cls(
            path=r.text("path"),
            size=r.integer_or_none("size"),
            mtime_ns=r.integer_or_none("mtime_ns"),
            rows=r.integer_or_none("rows"),
            sha256=r.text_or_none("sha256"),
        )


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class Run(Record):
    """A materialization run as recorded (``runs.body``): one evaluation of a view
    version over ``[start, end)``, what ``FeatureStore.materialize`` and ``runs`` return
    (``featstore.MaterializationRun`` is this class). Instants are naive UTC
    ``datetime``."""

    _LABEL: ClassVar[str] = "materialization run"
    _NAMED_BY: ClassVar[tuple[str, ...]] = ("run_id",)

    run_id: str
    view: str
    view_version: str
    start: datetime
    end: datetime
    rows: int
    files: tuple[str, ...]
    inputs: tuple[RunInput, ...] = field(repr=False)
    started_at: datetime
    finished_at: datetime

    def __post_init__(self) -> None:
        _normalize(self)
        for name in ("start", "end", "started_at", "finished_at"):
            value = getattr(self, name)
            if not isinstance(value, datetime) or value.tzinfo is not None:
                raise ValueError(f"run {name} must be a naive UTC datetime; found {value!r}")

    @property
    def id(self) -> str:
        """The run's lineage node id, ``run:<run_id>``."""
        return node_id(NodeKind.MATERIALIZATION_RUN, self.run_id)

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "view": self.view,
            "view_version": self.view_version,
            "start": iso(self.start),
            "end": iso(self.end),
            "rows": self.rows,
            "files": list(self.files),
            "inputs": [i.to_json() for i in self.inputs],
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
        }

    @classmethod
    def _read(cls, r: _Reader) -> Self:
        return cls(
            run_id=r.text("run_id"),
            view=r.text("view"),
            view_version=r.text("view_version"),
            start=r.moment("start"),
            end=r.moment("end"),
            rows=r.integer("rows"),
            files=r.texts("files"),
            inputs=r.nested_list("inputs", RunInput._read),
            started_at=r.moment("started_at"),
            finished_at=r.moment("finished_at"),
        )


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class OfflineFile(Record):
    """A row of the catalog table ``files``: one offline-store Parquet file. Readers
    read only ``active`` files; ``mtime_ns`` and ``sha256`` are None in rows written
    before catalog format 3. ``to_json`` gives ``active`` as a boolean, :meth:`to_row`
    the row's values (``active`` as 0 / 1) in :attr:`COLUMNS` order."""

    _LABEL: ClassVar[str] = "offline file"
    _NAMED_BY: ClassVar[tuple[str, ...]] = ("path",)

    COLUMNS: ClassVar[tuple[str, ...]] = (
        "path",
        "view",
        "view_version",
        "bucket",
        "min_ts",
        "max_ts",
        "rows",
        "bytes",
        "run_id",
        "active",
        "superseded_at",
        "mtime_ns",
        "sha256",
    )

    path: str
    view: str
    view_version: str
    bucket: str
    min_ts: str | None
    max_ts: str | None
    rows: int
    bytes: int
    run_id: str
    active: bool
    superseded_at: str | None
    mtime_ns: int | None
    sha256: str | None

    @property
    def run(self) -> str:
        """The lineage node id of the run that wrote the file."""
        return node_id(NodeKind.MATERIALIZATION_RUN, self.run_id)

    def to_json(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.COLUMNS}

    def _as_dict(self) -> dict[str, Any]:
        return self.to_json()

    def to_row(self) -> tuple[Any, ...]:
        return tuple(int(self.active) if c == "active" else getattr(self, c) for c in self.COLUMNS)

    @classmethod
    def from_row(cls, row: Row) -> Self:
        """The record of a ``files`` row (``SELECT *``, or the :attr:`COLUMNS`)."""
        return cls.from_json(dict(row))

    @classmethod
    def _read(cls, r: _Reader) -> Self:
        return cls(
            path=r.text("path"),
            view=r.text("view"),
            view_version=r.text("view_version"),
            bucket=r.bucket("bucket"),
            min_ts=r.instant_or_none("min_ts"),
            max_ts=r.instant_or_none("max_ts"),
            rows=r.integer("rows"),
            bytes=r.integer("bytes"),
            run_id=r.text("run_id"),
            active=r.active("active"),
            superseded_at=r.instant_or_none("superseded_at"),
            mtime_ns=r.integer_or_none("mtime_ns"),
            sha256=r.text_or_none("sha256"),
        )


# -- retrieval manifests, training sets, models, predictions ---------------------------


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class RetrievedFeatures(Record):
    """Features read from one view version and the output columns they became
    (a manifest's ``features[]``; a model version's ``features[]``)."""

    _LABEL: ClassVar[str] = "retrieved features"

    view: str
    version: str
    features: tuple[str, ...]
    columns: tuple[str, ...]

    @property
    def refs(self) -> tuple[str, ...]:
        """The pinned references ``view@version:feature``."""
        return tuple(f"{self.view}@{self.version}:{f}" for f in self.features)

    def to_json(self) -> dict[str, Any]:
        return {
            "view": self.view,
            "version": self.version,
            "features": list(self.features),
            "columns": list(self.columns),
        }

    @classmethod
    def _read(cls, r: _Reader) -> Self:
        return cls(
            view=r.text("view"),
            version=r.text("version"),
            features=r.texts("features"),
            columns=r.texts("columns"),
        )


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class ServiceRef(Record):
    """The feature service a retrieval resolved (``name`` and pinned ``version``)."""

    _LABEL: ClassVar[str] = "feature service reference"

    name: str
    version: str

    @property
    def id(self) -> str:
        return node_id(NodeKind.FEATURE_SERVICE, self.name, self.version)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version}

    @classmethod
    def _read(cls, r: _Reader) -> Self:
        return cls(name=r.text("name"), version=r.text("version"))


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class ManifestFile(Record):
    """An offline file a retrieval read (a manifest's ``files[]``): a subset of its
    :class:`OfflineFile` row, with the view version under ``version``."""

    _LABEL: ClassVar[str] = "manifest file"
    _NAMED_BY: ClassVar[tuple[str, ...]] = ("path",)

    view: str
    version: str
    path: str
    rows: int
    min_ts: str
    max_ts: str
    run_id: str

    def to_json(self) -> dict[str, Any]:
        return {
            "view": self.view,
            "version": self.version,
            "path": self.path,
            "rows": self.rows,
            "min_ts": self.min_ts,
            "max_ts": self.max_ts,
            "run_id": self.run_id,
        }

    @classmethod
    def _read(cls, r: _Reader) -> Self:
        return cls(
            view=r.text("view"),
            version=r.text("version"),
            path=r.text("path"),
            rows=r.integer("rows"),
            min_ts=r.instant("min_ts"),
            max_ts=r.instant("max_ts"),
            run_id=r.text("run_id"),
        )


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class TrainingSetManifest(Record):
    """What a retrieval read and produced (``RetrievalResult.manifest``, the
    ``training_sets.manifest`` column, a prediction batch's ``retrieval``).

    ``as_of`` is set in ``latest`` mode only; ``result_hash`` is None in manifests
    written before featstore recorded it.
    """

    _LABEL: ClassVar[str] = "training set manifest"
    _NAMED_BY: ClassVar[tuple[str, ...]] = ("content_id",)

    mode: RetrievalMode
    bitemporal: bool
    full_feature_names: bool
    include_event_timestamps: bool
    entity_hash: str
    entity_rows: int
    timestamp_column: str
    features: tuple[RetrievedFeatures, ...]
    feature_service: ServiceRef | None
    files: tuple[ManifestFile, ...]
    content_id: str
    result_hash: str | None = None
    as_of: str | None = None

    @property
    def columns(self) -> tuple[str, ...]:
        """Every feature column the retrieval added, in order."""
        return tuple(c for item in self.features for c in item.columns)

    def computed_content_id(self) -> str:
        """The content id ``make_manifest`` computes: a hash of everything but the files
        read (and ``as_of``, which get_latest_features adds afterwards)."""
        identity = {
            k: v for k, v in self.to_json().items() if k not in ("files", "content_id", "as_of")
        }
        return content_hash(identity, length=16)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "mode": self.mode,
            "bitemporal": self.bitemporal,
            "full_feature_names": self.full_feature_names,
            "include_event_timestamps": self.include_event_timestamps,
            "entity_hash": self.entity_hash,
            "entity_rows": self.entity_rows,
            "timestamp_column": self.timestamp_column,
            "features": [i.to_json() for i in self.features],
            "feature_service": (
                self.feature_service.to_json() if self.feature_service is not None else None
            ),
            "files": [f.to_json() for f in self.files],
            "content_id": self.content_id,
        }
        if self.result_hash is not None:
            out["result_hash"] = self.result_hash
        if self.as_of is not None:
            out["as_of"] = self.as_of
        return out

    @classmethod
    def _read(cls, r: _Reader) -> Self:
        return cls(
            mode=cast(RetrievalMode, r.choice("mode", _MODES)),
            bitemporal=r.flag("bitemporal"),
            full_feature_names=r.flag("full_feature_names"),
            include_event_timestamps=r.flag("include_event_timestamps"),
            entity_hash=r.text("entity_hash"),
            entity_rows=r.integer("entity_rows"),
            timestamp_column=r.text("timestamp_column"),
            features=r.nested_list("features", RetrievedFeatures._read),
            feature_service=r.nested_or_none("feature_service", ServiceRef._read),
            files=r.nested_list("files", ManifestFile._read),
            content_id=r.text("content_id"),
            result_hash=r.optional("result_hash", r.text),
            as_of=r.optional("as_of", r.instant),
        )


def read_verified(path: Path, expected: str | None, what: str) -> pl.DataFrame:
    """Read a Parquet file featstore wrote and check it holds what was recorded."""
    try:
        frame = pl.read_parquet(path)
    except FileNotFoundError:
        raise StorageError(
            f"{what}: its file {str(path)!r} is gone; save it again from its source (for a "
            f"training set: save_training_set of the same retrieval rewrites the file)"
        ) from None
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise StorageError(f"{what}: its file {str(path)!r} is unreadable ({exc})") from exc
    if expected is not None and frame_digest(frame) != expected:
        raise StorageError(
            f"{what}: its file {str(path)!r} was changed after featstore wrote it (its content "
            f"hash differs from the recorded one); featstore does not serve rows it did not "
            f"write. Save it again from its source"
        )
    return frame


def _in_store(root: Path | None, relative: str) -> Path:
    """A store-relative path made absolute (``OfflineStore.absolute``): refused if it
    leads outside the store. Without a root, the relative path itself."""
    if root is None:
        return Path(relative)
    path = (root / relative).resolve()
    if not path.is_relative_to(root.resolve()):
        raise StorageError(
            f"catalog path {relative!r} points outside the store {str(root)!r} (to "
            f"{str(path)!r}): a symbolic link inside the store leads out of it, or the "
            f"catalog was edited by hand or is corrupt; replace the link with the real "
            f"directory, or restore the catalog from a backup"
        )
    return path


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class TrainingSet(Record):
    """A saved point-in-time training set: a row of ``training_sets`` (its Parquet file
    and its manifest).

    ``relative_path`` is the file's store-relative path as recorded; :attr:`path` is the
    file itself when ``root`` (the store directory, not part of the record) is known.
    """

    _LABEL: ClassVar[str] = "training set"
    _NAMED_BY: ClassVar[tuple[str, ...]] = ("id",)

    name: str
    content_id: str
    relative_path: str
    rows: int
    created_at: str
    manifest: TrainingSetManifest = field(repr=False)
    root: Path | None = field(default=None, compare=False, repr=False)

    @property
    def id(self) -> str:
        """The lineage node id, ``training_set:<name>@<content_id>``."""
        return node_id(NodeKind.TRAINING_SET, self.name, self.content_id)

    @property
    def path(self) -> Path:
        """The saved Parquet file (StorageError if the record leads outside the store)."""
        return _in_store(self.root, self.relative_path)

    def to_polars(self) -> pl.DataFrame:
        """The saved frame, checked against the content hash recorded when it was saved
        (StorageError if the file is gone or was changed)."""
        return read_verified(self.path, self.manifest.result_hash, f"training set {self.id!r}")

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "content_id": self.content_id,
            "path": self.relative_path,
            "rows": self.rows,
            "created_at": self.created_at,
            "manifest": self.manifest.to_json(),
        }

    @classmethod
    def from_json(cls, data: object, *, root: Path | None = None) -> Self:
        """The record of a JSON document, its file in the store directory ``root``."""
        return _decode(data, cls._what(data), cls._HINT, lambda r: cls._read_at(r, root))

    @classmethod
    def loads(cls, text: str | bytes, *, root: Path | None = None) -> Self:
        return cls.from_json(_parse(text, cls._LABEL, cls._HINT), root=root)

    @classmethod
    def from_row(cls, row: Row, *, root: Path | None = None) -> Self:
        """The record of a ``training_sets`` row, whose ``manifest`` is JSON text."""
        data = dict(row)
        if isinstance(data.get("manifest"), str | bytes):
            data["manifest"] = _parse(data["manifest"], cls._what(data), cls._HINT)
        return cls.from_json(data, root=root)

    @classmethod
    def _read(cls, r: _Reader) -> Self:
        return cls._read_at(r, None)

    @classmethod
    def _read_at(cls, r: _Reader, root: Path | None) -> Self:
        stored_id = r.text("id")
        rec = cls(
            name=r.text("name"),
            content_id=r.text("content_id"),
            relative_path=r.text("path"),
            rows=r.integer("rows"),
            created_at=r.instant("created_at"),
            manifest=r.nested("manifest", TrainingSetManifest._read),
            root=root,
        )
        try:
            expected = rec.id
        except LineageError as exc:
            raise r.error(f"its name and content id spell no lineage id ({exc})") from None
        if stored_id != expected:
            raise r.error(f"its id {stored_id!r} is not {expected!r}, from its name and content id")
        if rec.manifest.content_id != rec.content_id:
            raise r.error(
                f"its manifest has content id {rec.manifest.content_id!r}, not {rec.content_id!r}"
            )
        return rec


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class TrainingSetCheck(Record):
    """What changed since a training set was built (``FeatureStore.verify_training_set``),
    store-relative or source paths, sorted: ``missing_files`` and ``changed_files`` (the
    saved frame and the offline files it read that are gone, or differ from what was
    recorded), ``changed_sources`` (raw input files of its runs whose size or
    modification time differ) and ``missing_sources`` (raw input files that are gone).
    All empty (:attr:`ok`) means a rebuild is byte-identical."""

    _LABEL: ClassVar[str] = "training set check"

    missing_files: tuple[str, ...]
    changed_files: tuple[str, ...]
    changed_sources: tuple[str, ...]
    missing_sources: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """Whether nothing changed: a rebuild gives the saved frame byte for byte."""
        return not (
            self.missing_files or self.changed_files or self.changed_sources or self.missing_sources
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "missing_files": list(self.missing_files),
            "changed_files": list(self.changed_files),
            "changed_sources": list(self.changed_sources),
            "missing_sources": list(self.missing_sources),
        }

    def _as_dict(self) -> dict[str, Any]:
        return self.to_json()

    @classmethod
    def _read(cls, r: _Reader) -> Self:
        return cls(
            missing_files=r.texts("missing_files"),
            changed_files=r.texts("changed_files"),
            changed_sources=r.texts("changed_sources"),
            missing_sources=r.texts("missing_sources"),
        )


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class CodeVersion(Record):
    """The git commit and dirty flag of the code that registered a model (None outside a
    git working tree)."""

    _LABEL: ClassVar[str] = "code version"

    git_commit: str | None
    git_dirty: bool | None

    def to_json(self) -> dict[str, Any]:
        return {"git_commit": self.git_commit, "git_dirty": self.git_dirty}

    @classmethod
    def _read(cls, r: _Reader) -> Self:
        return cls(git_commit=r.text_or_none("git_commit"), git_dirty=r.flag_or_none("git_dirty"))


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class ModelVersion(Record):
    """A registered model version (``model_versions.body``)."""

    _LABEL: ClassVar[str] = "model version"
    _NAMED_BY: ClassVar[tuple[str, ...]] = ("name", "version")

    name: str
    version: int
    training_set: str | None
    artifact: str | None
    params: Mapping[str, Any]
    metrics: Mapping[str, float]
    tags: Mapping[str, str]
    code_version: CodeVersion
    features: tuple[RetrievedFeatures, ...]
    feature_service: ServiceRef | None
    created_at: str
    artifact_sha256: str | None = None

    @property
    def id(self) -> str:
        """The lineage node id, ``model:<name>@<version>``."""
        return node_id(NodeKind.MODEL_VERSION, self.name, self.version)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "training_set": self.training_set,
            "artifact": self.artifact,
            "artifact_sha256": self.artifact_sha256,
            "params": thaw_json(self.params),
            "metrics": dict(self.metrics),
            "tags": dict(self.tags),
            "code_version": self.code_version.to_json(),
            "features": [i.to_json() for i in self.features],
            "feature_service": (
                self.feature_service.to_json() if self.feature_service is not None else None
            ),
            "created_at": self.created_at,
        }

    def to_record(self) -> dict[str, Any]:
        """Alias of :meth:`to_json` (the name ``featstore.registry`` uses)."""
        return self.to_json()

    @classmethod
    def from_record(cls, rec: Mapping[str, Any]) -> Self:
        """Alias of :meth:`from_json`."""
        return cls.from_json(rec)

    @classmethod
    def _read(cls, r: _Reader) -> Self:
        return cls(
            name=r.text("name"),
            version=r.integer("version"),
            training_set=r.text_or_none("training_set"),
            artifact=r.text_or_none("artifact"),
            artifact_sha256=r.text_or_none("artifact_sha256"),
            params=r.json_map("params"),
            metrics=r.number_map("metrics"),
            tags=r.text_map("tags"),
            code_version=r.nested("code_version", CodeVersion._read),
            features=r.nested_list("features", RetrievedFeatures._read),
            feature_service=r.nested_or_none("feature_service", ServiceRef._read),
            created_at=r.instant("created_at"),
        )


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class ModelSummary(Record):
    """One model name in the registry (``FeatureStore.list_models``): its latest version,
    how many versions it has, and its current aliases (alias -> version)."""

    _LABEL: ClassVar[str] = "model summary"
    _NAMED_BY: ClassVar[tuple[str, ...]] = ("name",)

    name: str
    latest_version: int
    versions: int
    aliases: Mapping[str, int]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "latest_version": self.latest_version,
            "versions": self.versions,
            "aliases": dict(self.aliases),
        }

    def _as_dict(self) -> dict[str, Any]:
        return self.to_json()

    @classmethod
    def _read(cls, r: _Reader) -> Self:
        return cls(
            name=r.text("name"),
            latest_version=r.integer("latest_version"),
            versions=r.integer("versions"),
            aliases=r.integer_map("aliases"),
        )


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class PredictionBatch(Record):
    """Predictions written by one model version (``prediction_batches.body``).

    ``relative_path`` is the file's store-relative path as recorded; :attr:`path` is the
    file itself when ``root`` (the store directory, not part of the record) is known.
    ``retrieval`` is the manifest of the features the predictions were computed from,
    if given; ``content_hash`` is None in batches logged before featstore recorded it.
    """

    _LABEL: ClassVar[str] = "prediction batch"
    _NAMED_BY: ClassVar[tuple[str, ...]] = ("batch_id",)

    batch_id: str
    model: str
    model_version: int
    relative_path: str
    rows: int
    created_at: str
    content_hash: str | None = None
    as_of: str | None = None
    retrieval: TrainingSetManifest | None = field(default=None, repr=False)
    columns: tuple[str, ...] = ()
    root: Path | None = field(default=None, compare=False, repr=False)

    @property
    def id(self) -> str:
        """The lineage node id, ``prediction_batch:<batch_id>``."""
        return node_id(NodeKind.PREDICTION_BATCH, self.batch_id)

    @property
    def model_id(self) -> str:
        """The lineage node id of the model version, ``model:<name>@<version>``."""
        return node_id(NodeKind.MODEL_VERSION, self.model, self.model_version)

    @property
    def path(self) -> Path:
        """The Parquet file (StorageError if the record leads outside the store)."""
        return _in_store(self.root, self.relative_path)

    def to_polars(self) -> pl.DataFrame:
        """The logged predictions, checked against their recorded content hash."""
        return read_verified(self.path, self.content_hash, f"prediction batch {self.id!r}")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "batch_id": self.batch_id,
            "model": self.model,
            "model_version": self.model_version,
            "path": self.relative_path,
            "rows": self.rows,
            "created_at": self.created_at,
            "as_of": self.as_of,
            "retrieval": self.retrieval.to_json() if self.retrieval is not None else None,
            "columns": list(self.columns),
        }
        if self.content_hash is not None:
            out["content_hash"] = self.content_hash
        return out

    @classmethod
    def from_json(cls, data: object, *, root: Path | None = None) -> Self:
        """The record of a JSON document, its file in the store directory ``root``."""
        return _decode(data, cls._what(data), cls._HINT, lambda r: cls._read_at(r, root))

    @classmethod
    def loads(cls, text: str | bytes, *, root: Path | None = None) -> Self:
        return cls.from_json(_parse(text, cls._LABEL, cls._HINT), root=root)

    @classmethod
    def _read(cls, r: _Reader) -> Self:
        return cls._read_at(r, None)

    @classmethod
    def _read_at(cls, r: _Reader, root: Path | None) -> Self:
        return cls(
            batch_id=r.text("batch_id"),
            model=r.text("model"),
            model_version=r.integer("model_version"),
            relative_path=r.text("path"),
            rows=r.integer("rows"),
            created_at=r.instant("created_at"),
            content_hash=r.optional("content_hash", r.text),
            as_of=r.instant_or_none("as_of"),
            retrieval=r.nested_or_none("retrieval", TrainingSetManifest._read),
            columns=r.texts("columns"),
            root=root,
        )


# -- alias history and lineage ---------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class AliasEvent(Record):
    """A change of a model alias (a row of ``alias_events`` for one model and alias;
    ``FeatureStore.alias_history`` returns them oldest first): ``set`` points the alias
    at ``version``; ``rollback`` moves it back to ``version``, the one it named before.
    Either way, ``version`` is what the alias named after the change, at ``at``."""

    _LABEL: ClassVar[str] = "alias event"
    _NAMED_BY: ClassVar[tuple[str, ...]] = ("seq",)

    seq: int
    action: AliasAction
    version: int
    at: str

    def to_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "action": self.action, "version": self.version, "at": self.at}

    def _as_dict(self) -> dict[str, Any]:
        return self.to_json()

    @classmethod
    def from_row(cls, row: Row) -> Self:
        """The record of an ``alias_events`` row selected as ``seq, action, version, at``
        (the events of one model's alias; ``name`` and ``alias`` are the query's key)."""
        return cls.from_json(dict(row))

    @classmethod
    def _read(cls, r: _Reader) -> Self:
        return cls(
            seq=r.integer("seq"),
            action=cast(AliasAction, r.choice("action", _ACTIONS)),
            version=r.integer("version"),
            at=r.instant("at"),
        )


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
