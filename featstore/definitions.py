"""What users define: entities, sources, feature views and feature services.

Definitions are frozen, slotted dataclasses; their constructors validate shape and do no
I/O. Each has a content ``version`` (see :mod:`featstore.versioning`). Checks that need
data (a source's columns, a transformation's output schema) happen in
``FeatureStore.apply``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeAlias

import polars as pl

from featstore.aggregations import Aggregation
from featstore.errors import DefinitionError
from featstore.names import case_twins, reserved, validate_name
from featstore.versioning import content_hash, function_fingerprint

__all__ = [
    "CsvSource",
    "DataFrameSource",
    "Entity",
    "FeatureRef",
    "FeatureSelection",
    "FeatureService",
    "FeatureView",
    "ParquetSource",
    "Source",
    "SqlSource",
    "feature_view",
]

Transform: TypeAlias = Callable[[pl.LazyFrame], pl.LazyFrame]


def _str_tuple(values: Iterable[str] | str, what: str) -> tuple[str, ...]:
    if isinstance(values, str):
        values = [values]
    out = tuple(values)
    if not all(isinstance(v, str) and v for v in out):
        raise DefinitionError(f"{what} must be non-empty strings; found {list(out)!r}")
    if len(set(out)) != len(out):
        raise DefinitionError(f"{what} has duplicates: {list(out)!r}; list each column once")
    return out


def _tags(
    tags: Mapping[str, str] | Iterable[tuple[str, str]] | None,
) -> tuple[tuple[str, str], ...]:
    if tags is None:
        return ()
    items = tags.items() if isinstance(tags, Mapping) else tags
    return tuple(sorted((str(k), str(v)) for k, v in items))


@dataclass(frozen=True, slots=True)
class Entity:
    """A thing features describe, identified by one or more join keys.

    >>> Entity("customer", join_keys=["customer_id"]).join_keys
    ('customer_id',)
    """

    name: str
    _: KW_ONLY
    join_keys: Sequence[str]
    description: str = ""

    def __post_init__(self) -> None:
        validate_name(self.name, "entity")
        keys = _str_tuple(self.join_keys, f"entity {self.name!r} join_keys")
        if not keys:
            raise DefinitionError(f"entity {self.name!r} needs at least one join key")
        bad = reserved(keys)
        if bad:
            raise DefinitionError(
                f"entity {self.name!r}: join key {bad[0]!r} starts with '__fs_' (in any "
                f"case), which featstore reserves for its own columns; rename the key column"
            )
        twins = case_twins(keys)
        if twins:
            raise DefinitionError(
                f"entity {self.name!r}: join keys {twins!r} differ only in case, which SQL "
                f"engines do not distinguish; rename one"
            )
        object.__setattr__(self, "join_keys", keys)

    @property
    def version(self) -> str:
        """Content version: the name and the join keys."""
        return content_hash({"kind": "entity", "name": self.name, "join_keys": self.join_keys})

    def to_record(self) -> dict[str, Any]:
        """The JSON document stored in the catalog (schemas/definition.schema.json)."""
        return {
            "kind": "entity",
            "name": self.name,
            "version": self.version,
            "join_keys": list(self.join_keys),
            "description": self.description,
        }


@dataclass(frozen=True, slots=True)
class Source:
    """Raw data with an event-timestamp column. Use one of the concrete subclasses."""

    name: str
    _: KW_ONLY
    timestamp_column: str
    created_timestamp_column: str | None = None
    description: str = ""

    kind = "source"

    def __post_init__(self) -> None:
        validate_name(self.name, "source")
        if not isinstance(self.timestamp_column, str) or not self.timestamp_column:
            raise DefinitionError(
                f"source {self.name!r} needs timestamp_column, the name of its event-time column"
            )
        if self.created_timestamp_column == self.timestamp_column:
            raise DefinitionError(
                f"source {self.name!r}: created_timestamp_column and timestamp_column are both "
                f"{self.timestamp_column!r}; leave created_timestamp_column unset instead"
            )

    def _identity(self) -> dict[str, Any]:
        return {}

    @property
    def version(self) -> str:
        """Content version: kind, name, location and timestamp columns (not the data)."""
        return content_hash(
            {
                "kind": self.kind,
                "name": self.name,
                "timestamp_column": self.timestamp_column,
                "created_timestamp_column": self.created_timestamp_column,
                **self._identity(),
            }
        )

    def to_record(self) -> dict[str, Any]:
        """The JSON document stored in the catalog."""
        return {
            "kind": "source",
            "source_kind": self.kind,
            "name": self.name,
            "version": self.version,
            "timestamp_column": self.timestamp_column,
            "created_timestamp_column": self.created_timestamp_column,
            "description": self.description,
            **self._identity(),
        }


def _definitions_dir() -> str:
    """The directory of the Python file whose code is constructing a source: the first
    caller frame outside featstore and the dataclass machinery; the working directory
    when that code has no file (a REPL, a notebook cell, ``python -c``, ``exec``)."""
    frame = sys._getframe(1)
    while frame is not None:
        module = frame.f_globals.get("__name__") or ""
        if module == "featstore" or module.startswith("featstore.") or module == "dataclasses":
            frame = frame.f_back  # type: ignore[assignment]
            continue
        filename = frame.f_code.co_filename
        if filename and not filename.startswith("<") and os.path.isfile(filename):
            return os.path.dirname(os.path.abspath(filename))
        break
    return os.getcwd()


@dataclass(frozen=True, slots=True)
class _FileSource(Source):
    """Files on disk: the shared path handling of ParquetSource and CsvSource."""

    path: str | Path = ""
    base_dir: str | Path | None = field(default=None, kw_only=True, compare=False)
    kind = "file"
    suffix = ""

    def __post_init__(self) -> None:
        Source.__post_init__(self)
        path = self.path
        if isinstance(path, os.PathLike):
            path = os.fspath(path)
        if not isinstance(path, str) or not path:
            raise DefinitionError(
                f"source {self.name!r} needs a path (a file, a directory or a glob of "
                f"*.{self.suffix} files); found {self.path!r}"
            )
        object.__setattr__(self, "path", path)
        base = self.base_dir
        if base is None:
            base = _definitions_dir()
        elif isinstance(base, os.PathLike):
            base = os.fspath(base)
        if not isinstance(base, str) or not base:
            raise DefinitionError(
                f"source {self.name!r}: base_dir must be a directory path; found {base!r}"
            )
        object.__setattr__(self, "base_dir", os.path.abspath(base))

    @property
    def resolved_path(self) -> str:
        """The absolute path (or glob) read: ``path`` joined to ``base_dir`` if relative."""
        path = str(self.path)
        return path if os.path.isabs(path) else os.path.join(str(self.base_dir), path)

    def _identity(self) -> dict[str, Any]:
        return {"path": self.path}  # as written: base_dir is where, not what


@dataclass(frozen=True, slots=True)
class ParquetSource(_FileSource):
    """Parquet files: one file, a directory (read recursively) or a glob.

    ``path`` names a file, a directory (every ``*.parquet`` file under it) or a glob
    (``data/*.parquet``, ``data/**/*.parquet``). A path that exists is that literal file
    or directory, even if its name holds glob characters (a directory named ``data[1]``);
    only a path that does not exist and holds ``*``, ``?`` or ``[`` is a glob.

    A relative path is resolved against the *definitions' directory*: the directory of
    the Python file that constructs the source, so the same repository reads the same
    files from any working directory. In a REPL, a notebook or ``python -c`` it is the
    working directory at construction. ``base_dir=`` sets it explicitly; an absolute
    path (a ``str`` or a :class:`~pathlib.Path`) is used as is. The version hashes the
    path as written, not ``base_dir``: the repository checked out elsewhere keeps its
    versions.

    >>> src = ParquetSource("tx", path="data/tx.parquet", timestamp_column="ts", base_dir="/p")
    >>> src.resolved_path
    '/p/data/tx.parquet'
    """

    kind = "parquet"
    suffix = "parquet"


@dataclass(frozen=True, slots=True)
class CsvSource(_FileSource):
    """CSV files: one file, a directory (read recursively) or a glob; timestamps are
    parsed from ISO 8601 text.

    ``path`` follows the rules of :class:`ParquetSource` (with ``*.csv`` files): a path
    that exists is literal, only a path that does not exist and holds glob characters is
    a glob, and a relative path is resolved against the directory of the Python file
    that constructs the source (the working directory in a REPL), or ``base_dir``.
    """

    kind = "csv"
    suffix = "csv"


@dataclass(frozen=True, slots=True, eq=False)
class DataFrameSource(Source):
    """An in-memory Polars, pandas or Arrow frame.

    Its data lives only in this process: the catalog records its schema, and a run
    records a fingerprint (row count and content hash) of the rows it read.
    """

    data: Any = None
    kind = "dataframe"

    def __post_init__(self) -> None:
        Source.__post_init__(self)
        frame = self.data
        if isinstance(frame, pl.LazyFrame):
            frame = frame.collect()
        elif not isinstance(frame, pl.DataFrame):
            try:
                frame = pl.from_pandas(frame) if _is_pandas(frame) else pl.from_arrow(frame)
            except (TypeError, ValueError) as exc:
                raise DefinitionError(
                    f"source {self.name!r}: data must be a Polars, pandas or Arrow frame; "
                    f"found {type(self.data).__name__}"
                ) from exc
            if not isinstance(frame, pl.DataFrame):
                raise DefinitionError(f"source {self.name!r}: data must be a table, not a series")
        object.__setattr__(self, "data", frame)

    def _identity(self) -> dict[str, Any]:
        schema = {name: str(dtype) for name, dtype in self.data.schema.items()}
        return {"schema": schema}


@dataclass(frozen=True, slots=True)
class SqlSource(Source):
    """A DuckDB SQL query (for example over ``read_parquet(...)`` or ``read_json(...)``)."""

    query: str = ""
    kind = "sql"

    def __post_init__(self) -> None:
        Source.__post_init__(self)
        if not isinstance(self.query, str) or not self.query.strip():
            raise DefinitionError(f"source {self.name!r} needs a non-empty SQL query")

    def _identity(self) -> dict[str, Any]:
        return {"query": self.query}


def _is_pandas(obj: object) -> bool:
    return type(obj).__module__.split(".")[0] == "pandas"


@dataclass(frozen=True, slots=True)
class FeatureSelection:
    """Some features of one view: ``view[["a", "b"]]``."""

    view: FeatureView
    features: tuple[str, ...]


@dataclass(frozen=True, slots=True, eq=False)
class FeatureView:
    """Features of one entity computed from one source.

    Either ``features`` (a plain column selection of the source) or ``transform`` (a
    Polars ``LazyFrame -> LazyFrame`` function) or both (a transformation, then a
    selection of its output). The output must keep the entity's join keys and the
    source's timestamp column; the other output columns are the features.

    ``ttl``: a feature value older than ``ttl`` at the entity timestamp is null.
    ``lookback``: how much history before a materialization range the transformation
    needs (for windowed aggregations); materialization reads that much more source data.
    ``schema``: declared output dtypes of the features, checked against the output.
    ``aggregations``: declarative window aggregations (:class:`~featstore.Aggregation`),
    computed exactly at each entity row's timestamp; the view's features are then the
    aggregations, and ``transform`` (optional) prepares the source rows they aggregate.
    ``per_key``: the transformation computes each key's output rows from that key's
    source rows alone (windows ``over`` the join keys, ``group_by`` the keys, rolling
    ``group_by`` the keys) and keeps the key columns as they are. An engine may then run
    it over some keys at a time (the Spark engine does: docs/spark.md). It changes no
    value, so it is not part of the view's version.
    """

    name: str
    _: KW_ONLY
    entity: Entity
    source: Source
    features: Sequence[str] | None = None
    transform: Transform | None = None
    ttl: timedelta | None = None
    lookback: timedelta | None = None
    schema: Mapping[str, Any] | None = None
    description: str = ""
    owner: str = ""
    tags: Mapping[str, str] | Iterable[tuple[str, str]] | None = None
    aggregations: Sequence[Aggregation] | None = None
    per_key: bool = False
    version: str = field(init=False, default="")

    def __post_init__(self) -> None:
        validate_name(self.name, "feature view")
        where = f"feature view {self.name!r}"
        if not isinstance(self.entity, Entity):
            raise DefinitionError(f"{where}: entity must be an Entity; found {self.entity!r}")
        if not isinstance(self.source, Source) or type(self.source) in (Source, _FileSource):
            raise DefinitionError(
                f"{where}: source must be a ParquetSource, CsvSource, DataFrameSource or "
                f"SqlSource; found {type(self.source).__name__}"
            )
        if self.transform is not None and not callable(self.transform):
            raise DefinitionError(f"{where}: transform must be a function LazyFrame -> LazyFrame")
        if self.aggregations is not None:
            self._check_aggregations(where)
        if not isinstance(self.per_key, bool):
            raise DefinitionError(f"{where}: per_key must be True or False; found {self.per_key!r}")
        if self.features is not None:
            feats = _str_tuple(self.features, f"{where} features")
            reserved = {*self.entity.join_keys, self.source.timestamp_column}
            if self.source.created_timestamp_column:
                reserved.add(self.source.created_timestamp_column)
            clash = [f for f in feats if f in reserved]
            if clash:
                raise DefinitionError(
                    f"{where}: {clash!r} are join keys or timestamps, not features; "
                    f"remove them from features"
                )
            if not feats:
                raise DefinitionError(f"{where}: features is empty; list at least one column")
            object.__setattr__(self, "features", feats)
        elif self.transform is None and self.aggregations is None:
            raise DefinitionError(
                f"{where}: give features=[...] (a column selection), aggregations=[...] or a "
                f"transform function"
            )
        for label in ("ttl", "lookback"):
            value = getattr(self, label)
            if value is None:
                continue
            if not isinstance(value, timedelta):
                raise DefinitionError(
                    f"{where}: {label} must be a datetime.timedelta; found {value!r}, "
                    f"e.g. {label}=timedelta(days=30)"
                )
            if label == "ttl" and value <= timedelta(0):
                raise DefinitionError(
                    f"{where}: ttl must be positive; found {value}. Omit ttl for no expiry"
                )
            if label == "lookback" and value < timedelta(0):
                raise DefinitionError(
                    f"{where}: lookback must not be negative; found {value}. Give how much "
                    f"history the transform needs, or omit lookback"
                )
        if self.schema is not None:
            declared = {}
            for column, dtype in dict(self.schema).items():
                try:
                    declared[column] = _parse_dtype(dtype)
                except (TypeError, ValueError) as exc:
                    raise DefinitionError(
                        f"{where}: schema dtype {dtype!r} of {column!r} is not a Polars dtype"
                    ) from exc
            object.__setattr__(self, "schema", declared)
        object.__setattr__(self, "tags", _tags(self.tags))
        try:
            identity = self._identity()
        except DefinitionError as exc:  # what the transform reads cannot be fingerprinted
            raise DefinitionError(f"{where}: {exc}") from None
        object.__setattr__(self, "version", content_hash(identity))

    def _check_aggregations(self, where: str) -> None:
        aggs = self.aggregations
        if isinstance(aggs, Aggregation) or not isinstance(aggs, Sequence) or not aggs:
            raise DefinitionError(
                f"{where}: aggregations must be a non-empty list of fs.Aggregation; found {aggs!r}"
            )
        bad = [a for a in aggs if not isinstance(a, Aggregation)]
        if bad:
            raise DefinitionError(f"{where}: {bad[0]!r} is not an fs.Aggregation")
        if self.features is not None:
            raise DefinitionError(
                f"{where}: give aggregations or features, not both: an aggregation view's "
                f"features are its aggregations (a transform can prepare their columns)"
            )
        if self.ttl is not None:
            raise DefinitionError(
                f"{where}: ttl does not apply to aggregations (each has its window); remove ttl"
            )
        names = [a.name for a in aggs]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise DefinitionError(
                f"{where}: two aggregations are named {twice[0]!r}; give one of them name=..."
            )
        reserved = {*self.entity.join_keys, self.source.timestamp_column}
        if self.source.created_timestamp_column:
            reserved.add(self.source.created_timestamp_column)
        for a in aggs:
            if a.column in reserved:
                raise DefinitionError(
                    f"{where}: aggregation {a.name!r} aggregates {a.column!r}, a join key or "
                    f"timestamp; aggregate a value column (a transform can derive one)"
                )
            if a.name in reserved:
                raise DefinitionError(
                    f"{where}: aggregation name {a.name!r} is a join key or timestamp; "
                    f"give it another name=..."
                )
        object.__setattr__(self, "aggregations", tuple(aggs))

    @property
    def aggregated_columns(self) -> tuple[str, ...]:
        """The columns an aggregation view stores (what its aggregations read)."""
        return tuple(dict.fromkeys(a.column for a in self.aggregations or ()))

    def check_unchanged(self) -> None:
        """Raise DefinitionError if what the transformation reads changed since the view
        was defined (a module dict edited afterwards): its rows would be stored under a
        version that describes other code and values."""
        try:
            now = content_hash(self._identity())
        except DefinitionError as exc:
            raise DefinitionError(f"feature view {self.name!r}: {exc}") from None
        if now != self.version:
            raise DefinitionError(
                f"feature view {self.name!r}: the values its transform reads changed after the "
                f"view was defined (version {self.version}, now {now}); define the view again "
                f"after changing them, so its version describes what it computes"
            )

    def _identity(self) -> dict[str, Any]:
        return {
            "kind": "feature_view",
            "name": self.name,
            "entity": {"name": self.entity.name, "version": self.entity.version},
            "source": {"name": self.source.name, "version": self.source.version},
            "features": list(self.features) if self.features is not None else None,
            "transform": function_fingerprint(self.transform) if self.transform else None,
            "ttl": self.ttl,
            "lookback": self.lookback,
            "schema": {k: str(v) for k, v in self.schema.items()} if self.schema else None,
            **(
                {"aggregations": [[a.name, a.column, a.fn, a.window_us] for a in self.aggregations]}
                if self.aggregations
                else {}
            ),
        }

    @property
    def join_keys(self) -> tuple[str, ...]:
        """The entity's join keys."""
        return tuple(self.entity.join_keys)

    @property
    def timestamp_column(self) -> str:
        """The event-timestamp column (the source's)."""
        return self.source.timestamp_column

    def __getitem__(self, features: str | Sequence[str]) -> FeatureSelection:
        """Select some of this view's features: ``view[["a", "b"]]``."""
        return FeatureSelection(self, _str_tuple(features, f"selection of {self.name!r}"))

    def _feature_dtypes(self) -> list[tuple[str, str | None]]:
        """The features known without running the transformation, with their declared
        dtypes (None: not declared; the catalog knows them after ``apply``)."""
        declared = {k: str(v) for k, v in (self.schema or {}).items()}
        if self.aggregations:
            return [(a.name, None) for a in self.aggregations]
        names = list(self.features) if self.features is not None else list(declared)
        return [(n, declared.get(n)) for n in names]

    def __repr__(self) -> str:
        from featstore.display import one_line

        feats = [n for n, _ in self._feature_dtypes()]
        shown = ", ".join(feats[:5]) + (f", +{len(feats) - 5} more" if len(feats) > 5 else "")
        return one_line(
            f"FeatureView({self.name!r}, version={self.version!r}, entity={self.entity.name!r}, "
            f"source={self.source.name!r}, features=[{shown or 'from transform'}])"
        )

    def _repr_html_(self) -> str:
        """The view's name, version, entity and keys, source, features with dtypes, TTL,
        lookback, description, owner and tags (nothing is computed or read)."""
        from featstore import display

        feats = self._feature_dtypes()
        features = (
            display.table(["feature", "dtype"], [(n, d) for n, d in feats])
            if feats
            else display.Html(
                "<p>features: the transformation's output columns (known after apply)</p>"
            )
        )
        source = self.source
        facts = [
            ("version", self.version),
            ("entity", f"{self.entity.name} (keys: {', '.join(self.join_keys)})"),
            ("source", f"{source.name} ({source.kind})"),
            ("timestamp column", self.timestamp_column),
            ("created column", source.created_timestamp_column),
            ("transform", _function_name(self.transform)),
            ("ttl", self.ttl),
            ("lookback", self.lookback),
            ("per key", True if self.per_key else None),
            ("description", self.description or None),
            ("owner", self.owner or None),
            ("tags", dict(self.tags or ()) or None),
        ]
        return display.block(
            [
                display.title("FeatureView", self.name),
                display.kv_table(facts),
                display.section("features", features),
            ]
        )


def _function_name(func: Transform | None) -> str | None:
    return None if func is None else str(getattr(func, "__qualname__", None) or "a function")


def _parse_dtype(dtype: Any) -> pl.DataType:
    if isinstance(dtype, str):
        parsed = getattr(pl, dtype, None)
        if parsed is None:
            raise ValueError(dtype)
        dtype = parsed
    if isinstance(dtype, type) and issubclass(dtype, pl.DataType):
        return dtype()
    if isinstance(dtype, pl.DataType):
        return dtype
    raise TypeError(dtype)


def feature_view(
    *,
    entity: Entity,
    source: Source,
    name: str | None = None,
    features: Sequence[str] | None = None,
    ttl: timedelta | None = None,
    lookback: timedelta | None = None,
    schema: Mapping[str, Any] | None = None,
    description: str | None = None,
    owner: str = "",
    tags: Mapping[str, str] | None = None,
    per_key: bool = False,
) -> Callable[[Transform], FeatureView]:
    """Decorator turning a ``LazyFrame -> LazyFrame`` function into a FeatureView.

    The view takes the function's name and, unless given, its docstring as description.
    """

    def wrap(func: Transform) -> FeatureView:
        doc = (func.__doc__ or "").strip()
        return FeatureView(
            name or func.__name__,
            entity=entity,
            source=source,
            features=features,
            transform=func,
            ttl=ttl,
            lookback=lookback,
            schema=schema,
            description=description if description is not None else doc,
            owner=owner,
            tags=tags,
            per_key=per_key,
        )

    return wrap


FeatureRef: TypeAlias = "str | FeatureView | FeatureSelection"


@dataclass(frozen=True, slots=True)
class FeatureService:
    """A named selection of features across views: what a model consumes.

    ``features`` holds ``"view:feature"`` strings, whole views, or ``view[["a", "b"]]``.
    Its version is computed by ``FeatureStore.apply`` from the resolved view versions.
    """

    name: str
    _: KW_ONLY
    features: Sequence[FeatureRef]
    description: str = ""
    owner: str = ""
    tags: Mapping[str, str] | Iterable[tuple[str, str]] | None = None

    def __post_init__(self) -> None:
        validate_name(self.name, "feature service")
        refs = tuple(self.features)
        if not refs:
            raise DefinitionError(f"feature service {self.name!r} lists no features")
        for ref in refs:
            if not isinstance(ref, str | FeatureView | FeatureSelection):
                raise DefinitionError(
                    f"feature service {self.name!r}: {ref!r} is not a feature reference; use "
                    f"'view:feature', a FeatureView, or view[['a', 'b']]"
                )
        object.__setattr__(self, "features", refs)
        object.__setattr__(self, "tags", _tags(self.tags))
