"""Feature dtypes as stored in catalog records, and casting retrieved columns back to them.

A view record keeps its features' exact dtypes as an Arrow schema (IPC bytes, base64
text in the JSON record), so retrieval returns the same dtypes whether or not any stored
row matched: time zones, categoricals, decimals, lists and structs included.

The schema carries no metadata except the field metadata Polars itself needs to rebuild
a dtype (keys starting with ``_PL_``, such as an ``Enum``'s categories): schema-level
metadata and any other field metadata are dropped when encoding and when decoding. A
record that cannot be decoded (not base64, not an Arrow IPC schema, metadata that is not
UTF-8, a type Polars cannot read) raises :class:`~featstore.errors.CatalogError`, never a
Polars panic.

The Parquet files featstore writes store naive (UTC) timestamps as UTC instants and list
them in their metadata; :func:`write_frame`, :func:`read_frame` and :func:`scan_frames`
write and read them so that a frame comes back as it was written (docs/files.md).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from featstore._version import __version__
from featstore.errors import CatalogError

__all__ = [
    "NAIVE_KEY",
    "decode_schema",
    "encode_schema",
    "file_metadata",
    "naive_utc_columns",
    "read_frame",
    "restore_dtypes",
    "restore_naive",
    "scan_frames",
    "write_frame",
]

_POLARS_KEY = b"_PL_"


def _panic_types() -> tuple[type[BaseException], ...]:
    """The class of a Rust panic surfacing from Polars (``pyo3_runtime.PanicException``,
    a ``BaseException``), found once at import time."""
    found = getattr(getattr(pl, "exceptions", None), "PanicException", None)
    if isinstance(found, type) and issubclass(found, BaseException):
        return (found,)
    return ()


_PANICS = _panic_types()


def _is_panic(exc: BaseException) -> bool:
    return isinstance(exc, _PANICS) or type(exc).__module__ == "pyo3_runtime"


class _Damaged(ValueError):
    """A problem in the encoded schema; :func:`decode_schema` words it as a CatalogError."""


def _check_metadata(metadata: Mapping[bytes, bytes] | None, where: str) -> None:
    for key, value in (metadata or {}).items():
        for raw in (key, value):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                shown = f"key {key[:40]!r}" + ("" if raw is key else f", value {value[:40]!r}")
                raise _Damaged(f"has {where} that is not UTF-8 ({shown})") from None


def _polars_metadata(metadata: Mapping[bytes, bytes] | None) -> dict[bytes, bytes] | None:
    kept = {k: v for k, v in (metadata or {}).items() if k.startswith(_POLARS_KEY)}
    return kept or None


def _clean_type(dtype: pa.DataType, where: str) -> pa.DataType:
    if pa.types.is_struct(dtype):
        return pa.struct([_clean_field(dtype.field(i), where) for i in range(dtype.num_fields)])
    if pa.types.is_map(dtype):
        return pa.map_(
            _clean_field(dtype.key_field, where),
            _clean_field(dtype.item_field, where),
            keys_sorted=dtype.keys_sorted,
        )
    if pa.types.is_fixed_size_list(dtype):
        return pa.list_(_clean_field(dtype.value_field, where), dtype.list_size)
    lists = {
        pa.types.is_list: pa.list_,
        pa.types.is_large_list: pa.large_list,
        pa.types.is_list_view: pa.list_view,
        pa.types.is_large_list_view: pa.large_list_view,
    }
    for test, build in lists.items():
        if test(dtype):
            return build(_clean_field(dtype.value_field, where))
    return dtype


def _clean_field(field: pa.Field, parent: str = "") -> pa.Field:
    """``field`` with only Polars' own metadata, at every level of nesting."""
    try:
        name = field.name
    except UnicodeDecodeError:
        inside = f" inside field {parent!r}" if parent else ""
        raise _Damaged(f"has a field name{inside} that is not UTF-8") from None
    where = f"{parent}.{name}" if parent else name
    _check_metadata(field.metadata, f"metadata on field {where!r}")
    return pa.field(
        name,
        _clean_type(field.type, where),
        nullable=field.nullable,
        metadata=_polars_metadata(field.metadata),
    )


def _clean_schema(schema: pa.Schema) -> pa.Schema:
    _check_metadata(schema.metadata, "schema metadata")
    return pa.schema([_clean_field(field) for field in schema])


def encode_schema(schema: dict[str, pl.DataType]) -> str:
    """Base64 text of the Arrow IPC serialisation of ``schema``, without metadata other
    than what Polars needs to rebuild each dtype."""
    arrow = _clean_schema(pl.DataFrame(schema=schema).to_arrow().schema)
    return base64.b64encode(arrow.serialize().to_pybytes()).decode("ascii")


def decode_schema(text: str, *, context: str | None = None) -> dict[str, pl.DataType]:
    """The inverse of :func:`encode_schema`.

    Parameters
    ----------
    text
        The record's ``arrow_schema`` text.
    context
        What the record belongs to, for the error message (``"feature view 'spend'"``).

    Raises
    ------
    CatalogError
        If ``text`` is not what :func:`encode_schema` writes: the catalog record is
        damaged.
    """
    try:
        return _decode(text)
    except _Damaged as exc:
        raise _damaged(context, str(exc)) from exc.__cause__


def _damaged(context: str | None, problem: str) -> CatalogError:
    of = f" of {context}" if context else ""
    return CatalogError(
        f"the catalog record{of} is damaged: its arrow_schema {problem}; re-apply the view"
    )


def _decode(text: str) -> dict[str, pl.DataType]:
    if not isinstance(text, str):
        raise _Damaged(f"is not base64 text but {type(text).__name__} {text!r:.40}")
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _Damaged(f"is not base64 text ({exc})") from None
    try:
        arrow = pa.ipc.read_schema(pa.py_buffer(raw))
    except (pa.ArrowException, ValueError, UnicodeDecodeError) as exc:
        raise _Damaged(f"is not an Arrow IPC schema ({exc})") from None
    try:
        frame = pl.from_arrow(_clean_schema(arrow).empty_table())
    except _Damaged:
        raise
    except BaseException as exc:
        # a Rust panic in Polars is a BaseException: catch it, but nothing else that is not
        # an Exception (KeyboardInterrupt, SystemExit)
        if not isinstance(exc, Exception) and not _is_panic(exc):
            raise
        problem = f"cannot be read by Polars ({type(exc).__name__}: {str(exc)[:200]})"
        raise _Damaged(problem) from exc
    if not isinstance(frame, pl.DataFrame):
        raise _Damaged(f"decodes to a {type(frame).__name__}, not a table")
    return dict(frame.schema)


def _restore(name: str, found: pl.DataType, target: pl.DataType) -> pl.Expr:
    col = pl.col(name)
    if isinstance(target, pl.Datetime) and target.time_zone is not None:
        if isinstance(found, pl.Datetime) and found.time_zone is not None:
            return col.dt.convert_time_zone(target.time_zone).dt.cast_time_unit(target.time_unit)
        col = col.cast(pl.Datetime(target.time_unit)).dt.replace_time_zone("UTC")
        return col.dt.convert_time_zone(target.time_zone)
    return col.cast(target)


def restore_dtypes(frame: pl.DataFrame, targets: dict[str, pl.DataType]) -> pl.DataFrame:
    """Cast the columns of ``frame`` named in ``targets`` to those dtypes where they differ."""
    schema = frame.schema  # built once: each ``frame.schema`` builds all N columns' dtypes
    exprs = [
        _restore(name, schema[name], dtype)
        for name, dtype in targets.items()
        if schema[name] != dtype
    ]
    return frame.with_columns(exprs) if exprs else frame


# -- Parquet files other engines read ------------------------------------------------

NAIVE_KEY = "featstore.naive_columns"
"""The key-value metadata key listing the columns featstore holds as naive UTC
timestamps: stored UTC-adjusted, read back naive by :func:`read_frame`."""


def file_metadata(**values: object) -> dict[str, str]:
    """Key-value metadata of a Parquet file featstore writes: ``featstore.version`` and
    ``featstore.<key>`` for each value that is not None (no wall-clock time, so that
    equal content gives equal files)."""
    out = {"featstore.version": __version__}
    out.update({f"featstore.{k}": str(v) for k, v in values.items() if v is not None})
    return out


def naive_utc_columns(schema: Mapping[str, pl.DataType]) -> list[str]:
    """The top-level naive ``Datetime`` columns that are written UTC-adjusted (every
    unit but nanoseconds, which a UTC-adjusted microsecond column would round)."""
    return [
        name
        for name, dtype in schema.items()
        if isinstance(dtype, pl.Datetime) and dtype.time_zone is None and dtype.time_unit != "ns"
    ]


def write_frame(frame: pl.DataFrame, path: Path, metadata: Mapping[str, str]) -> None:
    """Write ``frame`` as Parquet (zstd) with naive timestamps stored as UTC instants
    (``isAdjustedToUTC=true``), their names under :data:`NAIVE_KEY`, and ``metadata``."""
    naive = naive_utc_columns(frame.schema)
    if naive:
        frame = frame.with_columns(pl.col(c).dt.replace_time_zone("UTC") for c in naive)
    table = frame.to_arrow()
    extra = {**metadata, NAIVE_KEY: json.dumps(naive)}
    merged = {**(table.schema.metadata or {}), **{k.encode(): v.encode() for k, v in extra.items()}}
    pq.write_table(table.replace_schema_metadata(merged), path, compression="zstd")


def _naive_of(metadata: Mapping[bytes, bytes] | None) -> list[str]:
    raw = (metadata or {}).get(NAIVE_KEY.encode())
    if raw is None:
        return []  # a file written before timestamps were stored UTC-adjusted
    try:
        names = json.loads(raw)
    except ValueError:
        return []
    return [n for n in names if isinstance(n, str)] if isinstance(names, list) else []


def _file_naive(path: str | Path) -> list[str]:
    """The naive columns a file's metadata lists; none when its footer cannot be read
    (the read that follows reports the damage)."""
    try:
        return _naive_of(pq.read_metadata(path).metadata)
    except FileNotFoundError:
        raise
    except (OSError, pa.ArrowException, ValueError):
        return []


def _is_utc(dtype: pl.DataType | None) -> bool:
    return isinstance(dtype, pl.Datetime) and dtype.time_zone == "UTC"


def restore_naive(
    frame: pl.DataFrame | pl.LazyFrame, names: Sequence[str]
) -> pl.DataFrame | pl.LazyFrame:
    """``frame`` with the UTC columns among ``names`` made naive again (UTC wall time)."""
    schema = frame.collect_schema() if isinstance(frame, pl.LazyFrame) else frame.schema
    exprs = [pl.col(n).dt.replace_time_zone(None) for n in names if _is_utc(schema.get(n))]
    return frame.with_columns(exprs) if exprs else frame


def read_frame(path: Path, *, columns: Sequence[str] | None = None) -> pl.DataFrame:
    """A Parquet file featstore wrote, as the frame that was written: the columns listed
    under :data:`NAIVE_KEY` come back naive. Files without the key read as they are."""
    naive = _file_naive(path)
    frame = pl.read_parquet(
        path, columns=list(columns) if columns is not None else None, glob=False
    )
    out = restore_naive(frame, naive)
    assert isinstance(out, pl.DataFrame)
    return out


def scan_frames(paths: Sequence[str | Path]) -> pl.LazyFrame:
    """Several Parquet files featstore wrote, scanned lazily as one frame, each with its
    naive columns restored (so files written before and after timestamps were stored
    UTC-adjusted read alike)."""
    parts = []
    for path in paths:
        naive = _file_naive(path)
        part = restore_naive(pl.scan_parquet(path, glob=False), naive)
        assert isinstance(part, pl.LazyFrame)
        parts.append(part)
    return pl.concat(parts, how="vertical_relaxed") if len(parts) > 1 else parts[0]
