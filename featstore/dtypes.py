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
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping

import polars as pl
import pyarrow as pa

from featstore.errors import CatalogError

__all__ = ["decode_schema", "encode_schema", "restore_dtypes"]

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
