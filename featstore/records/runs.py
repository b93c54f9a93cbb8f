"""Materialization records (catalog tables ``runs``, ``run_inputs``, ``files``): a run,
the inputs it read, and the offline files it wrote."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Self

from featstore.lineage_ids import NodeKind, node_id
from featstore.records._codec import Record, Row, _normalize
from featstore.records._reader import _Reader
from featstore.timeutil import iso

__all__ = ["OfflineFile", "Run", "RunInput"]


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
