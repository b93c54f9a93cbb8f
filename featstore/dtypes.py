"""Feature dtypes as stored in catalog records, and casting retrieved columns back to them.

A view record keeps its features' exact dtypes as an Arrow schema (IPC bytes, base64
text in the JSON record), so retrieval returns the same dtypes whether or not any stored
row matched: time zones, categoricals, decimals, lists and structs included.
"""

from __future__ import annotations

import base64

import polars as pl
import pyarrow as pa

__all__ = ["decode_schema", "encode_schema", "restore_dtypes"]


def encode_schema(schema: dict[str, pl.DataType]) -> str:
    """Base64 text of the Arrow IPC serialisation of ``schema``."""
    arrow = pl.DataFrame(schema=schema).to_arrow().schema
    return base64.b64encode(arrow.serialize().to_pybytes()).decode("ascii")


def decode_schema(text: str) -> dict[str, pl.DataType]:
    """The inverse of :func:`encode_schema`."""
    arrow = pa.ipc.read_schema(pa.py_buffer(base64.b64decode(text)))
    frame = pl.from_arrow(arrow.empty_table())
    assert isinstance(frame, pl.DataFrame)
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
    exprs = [
        _restore(name, frame.schema[name], dtype)
        for name, dtype in targets.items()
        if frame.schema[name] != dtype
    ]
    return frame.with_columns(exprs) if exprs else frame
