"""Model registry records: model versions (catalog table ``model_versions``), the code
version that registered one, a model's summary, and alias changes (``alias_events``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Self, TypeAlias, cast

from featstore import display
from featstore.lineage_ids import NodeKind, node_id
from featstore.records._codec import Record, Row
from featstore.records._reader import _Reader
from featstore.records._values import thaw_json
from featstore.records.manifests import RetrievedFeatures, ServiceRef

__all__ = ["AliasEvent", "CodeVersion", "ModelSummary", "ModelVersion"]

AliasAction: TypeAlias = Literal["set", "rollback"]

_ACTIONS: tuple[AliasAction, ...] = ("set", "rollback")


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
    """A registered model version (``model_versions.body``).

    ``aliases`` are the aliases that named this version when it was read, if the reader
    looked them up (None: not looked up; not part of the stored body or the identity).
    """

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
    aliases: tuple[str, ...] | None = field(default=None, compare=False, repr=False)

    @property
    def id(self) -> str:
        """The lineage node id, ``model:<name>@<version>``."""
        return node_id(NodeKind.MODEL_VERSION, self.name, self.version)

    def __repr__(self) -> str:
        metrics = ", ".join(f"{k}={display.fmt(v)}" for k, v in list(self.metrics.items())[:4])
        aliases = f", aliases={list(self.aliases)}" if self.aliases else ""
        return display.one_line(
            f"ModelVersion({self.id}, metrics: {metrics or 'none'}{aliases}, "
            f"training_set={self.training_set}, registered {self.created_at[:19]})"
        )

    def _repr_html_(self) -> str:
        """Name, version, metrics, aliases, training set, when it was registered, and
        what else was recorded with it."""
        if self.aliases is None:
            aliases: object = "not looked up (store.list_models() lists them)"
        else:
            aliases = ", ".join(self.aliases) or "none"
        commit = self.code_version.git_commit
        facts = [
            ("name", self.name),
            ("version", self.version),
            ("aliases", aliases),
            ("training set", self.training_set),
            ("registered at", self.created_at.replace("T", " ").removesuffix(".000000")),
            ("artifact", self.artifact),
            ("artifact sha256", self.artifact_sha256),
            (
                "code version",
                None
                if commit is None
                else commit + (" (dirty)" if self.code_version.git_dirty else ""),
            ),
            ("feature service", self.feature_service.id if self.feature_service else None),
            ("params", thaw_json(self.params) or None),
            ("tags", dict(self.tags) or None),
        ]
        metrics = display.table(["metric", "value"], self.metrics.items())
        features = display.table(
            ["view", "version", "features"],
            ((f.view, f.version, ", ".join(f.features)) for f in self.features),
        )
        return display.block(
            [
                display.title("ModelVersion", self.id),
                display.kv_table(facts),
                display.section("metrics", metrics) if self.metrics else "",
                display.section("features", features) if self.features else "",
            ]
        )

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
