"""Prediction batches (catalog table ``prediction_batches``): predictions written by
one model version, and the retrieval they were computed from."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Self

import polars as pl

from featstore.lineage_ids import NodeKind, node_id
from featstore.records._codec import Record
from featstore.records._reader import _decode, _parse, _Reader
from featstore.records.manifests import TrainingSetManifest
from featstore.records.training import _in_store, read_verified

__all__ = ["PredictionBatch"]


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
    served_features: Mapping[str, str] = field(default_factory=dict, repr=False)
    """Columns of the file holding the feature values the model was served: column ->
    ``view@version:feature`` (what :meth:`FeatureStore.skew` recomputes)."""
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
        if self.served_features:
            out["served_features"] = dict(self.served_features)
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
            served_features=r.optional("served_features", r.text_map) or {},
            root=root,
        )
