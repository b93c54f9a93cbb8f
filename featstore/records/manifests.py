"""Retrieval manifests: what a retrieval read and produced (the features of each view
version, the feature service, the offline files), shared by training sets, model
versions and prediction batches."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Self, TypeAlias, cast

from featstore.lineage_ids import NodeKind, node_id
from featstore.records._codec import Record
from featstore.records._reader import _Reader
from featstore.versioning import content_hash

__all__ = ["ManifestFile", "RetrievedFeatures", "ServiceRef", "TrainingSetManifest"]

RetrievalMode: TypeAlias = Literal["historical", "latest"]

_MODES: tuple[RetrievalMode, ...] = ("historical", "latest")


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
