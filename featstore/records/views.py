"""The feature view record (``kind = 'feature_view'``) and dtype names.

Feature dtypes are kept exactly, as ``arrow_schema`` (base64 Arrow IPC, see
:mod:`featstore.dtypes`); :attr:`ViewRecord.schema` decodes it. Dtype *names*
(:func:`dtype_name`) are kept beside it for people, and only the few without parameters
are read back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, ClassVar, Self

import polars as pl

from featstore.dtypes import decode_schema, encode_schema
from featstore.errors import CatalogError
from featstore.lineage_ids import NodeKind, node_id
from featstore.records._codec import Record
from featstore.records._reader import _REAPPLY, _Reader

__all__ = ["ViewRecord", "dtype_name"]


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


def _aggregation(r: _Reader) -> dict[str, Any]:
    return {
        "name": r.text("name"),
        "column": r.text("column"),
        "fn": r.text("fn"),
        "window_us": r.integer("window_us"),
    }


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
    stored_schema: str | None = None
    """An aggregation view's stored columns (what its aggregations read), as an Arrow schema."""
    aggregations: tuple[Mapping[str, Any], ...] | None = None
    """An aggregation view's aggregations: ``name``, ``column``, ``fn``, ``window_us``."""

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
        if self.stored_schema is not None:
            out["stored_schema"] = self.stored_schema
        if self.aggregations is not None:
            out["aggregations"] = [dict(a) for a in self.aggregations]
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
            stored_schema=r.optional("stored_schema", r.text),
            aggregations=(
                r.nested_list("aggregations", _aggregation) if r.has("aggregations") else None
            ),
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
