"""Definition records (catalog table ``definitions``, column ``body``): entities,
sources, feature services (feature views are :mod:`featstore.records.views`), any of
them by ``kind``, and a registered version of one."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Self, TypeAlias, cast

from featstore.lineage_ids import NodeKind, node_id
from featstore.records._codec import Record
from featstore.records._reader import _REAPPLY, _label, _Reader
from featstore.records.views import ViewRecord
from featstore.versioning import content_hash

__all__ = [
    "DefinitionRecord",
    "DefinitionVersion",
    "EntityRecord",
    "ServiceRecord",
    "SourceRecord",
    "ViewSelection",
    "definition_from_json",
]

SourceKind: TypeAlias = Literal["parquet", "csv", "dataframe", "sql"]

_SOURCE_KINDS: tuple[SourceKind, ...] = ("parquet", "csv", "dataframe", "sql")
_SOURCE_KEY = {"parquet": "path", "csv": "path", "dataframe": "schema", "sql": "query"}


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
