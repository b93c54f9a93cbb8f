"""Saved training sets (catalog table ``training_sets``) and what changed since one was
built; reading a Parquet file featstore wrote, checked against its recorded hash."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Self

import polars as pl

from featstore import display
from featstore.dtypes import read_frame
from featstore.errors import LineageError, StorageError
from featstore.lineage_ids import NodeKind, node_id
from featstore.records._codec import Record, Row
from featstore.records._reader import _decode, _parse, _Reader
from featstore.records.manifests import TrainingSetManifest
from featstore.versioning import frame_digest

__all__ = ["TrainingSet", "TrainingSetCheck", "read_verified"]


def read_verified(path: Path, expected: str | None, what: str) -> pl.DataFrame:
    """Read a Parquet file featstore wrote and check it holds what was recorded."""
    try:
        frame = read_frame(path)  # naive timestamps come back naive (docs/files.md)
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

    def __repr__(self) -> str:
        views = ", ".join(f"{f.view}@{f.version}" for f in self.manifest.features[:3])
        more = ", ..." if len(self.manifest.features) > 3 else ""
        return display.one_line(
            f"TrainingSet({self.name!r}, content_id={self.content_id!r}, rows={self.rows:,}, "
            f"{len(self.manifest.columns)} feature columns from {views}{more})"
        )

    def _repr_html_(self) -> str:
        """Name, content id, rows, the feature columns, and the manifest as a table: per
        view version its features, columns, materialization runs and files read (the
        saved file is not read)."""
        m = self.manifest
        runs: dict[tuple[str, str], list[str]] = {}
        files: dict[tuple[str, str], int] = {}
        for f in m.files:
            key = (f.view, f.version)
            files[key] = files.get(key, 0) + 1
            if f.run_id not in runs.setdefault(key, []):
                runs[key].append(f.run_id)
        facts = [
            ("name", self.name),
            ("content id", self.content_id),
            ("rows", self.rows),
            ("feature columns", ", ".join(m.columns) or None),
            ("timestamp column", m.timestamp_column),
            ("mode", m.mode + (" (bitemporal)" if m.bitemporal else "")),
            ("as of", m.as_of),
            ("feature service", m.feature_service.id if m.feature_service else None),
            ("entity hash", m.entity_hash[:16]),
            ("saved at", self.created_at.replace("T", " ").removesuffix(".000000")),
            ("file", self.relative_path),
        ]
        manifest = display.table(
            ["view", "version", "features", "columns", "runs", "files"],
            (
                (
                    f.view,
                    f.version,
                    ", ".join(f.features),
                    ", ".join(f.columns),
                    ", ".join(runs.get((f.view, f.version), [])) or None,
                    files.get((f.view, f.version), 0),
                )
                for f in m.features
            ),
        )
        return display.block(
            [
                display.title(
                    "TrainingSet",
                    self.name,
                    f"{self.rows:,} rows, {len(m.columns)} feature columns",
                ),
                display.kv_table(facts),
                display.section("manifest", manifest),
            ]
        )

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
