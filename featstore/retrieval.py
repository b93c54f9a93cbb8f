"""Executing point-in-time queries and the result object users get back."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import polars as pl
import pyarrow as pa

from featstore.compute import TS
from featstore.errors import PointInTimeError, SchemaError, StorageError
from featstore.pit import ENTITY, ROW, PitQuery, build_sql
from featstore.timeutil import is_temporal, utc_expr
from featstore.versioning import content_hash

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["RetrievalResult", "entity_frame", "prepare_entity", "run_query"]


def entity_frame(entity_df: Any) -> pl.DataFrame:
    """Accept a Polars, pandas or Arrow frame, a LazyFrame, or a Parquet path."""
    if isinstance(entity_df, pl.DataFrame):
        return entity_df
    if isinstance(entity_df, pl.LazyFrame):
        return entity_df.collect()
    if isinstance(entity_df, str | Path):
        path = Path(entity_df)
        if not path.exists():
            raise PointInTimeError(
                f"entity frame path {str(path)!r} does not exist; check the path (relative "
                f"paths are read from the current directory)"
            )
        return pl.read_parquet(path)
    if isinstance(entity_df, dict):
        return pl.DataFrame(entity_df)
    if type(entity_df).__module__.split(".")[0] == "pandas":
        return pl.from_pandas(entity_df)
    if isinstance(entity_df, pa.Table | pa.RecordBatch):
        out = pl.from_arrow(entity_df)
        assert isinstance(out, pl.DataFrame)
        return out
    raise PointInTimeError(
        "entity_df must be a Polars, pandas or Arrow frame or a Parquet path; "
        f"found {type(entity_df).__name__}"
    )


def find_timestamp_column(frame: pl.DataFrame, given: str | None) -> str:
    """The entity frame's timestamp column: ``given``, else ``event_timestamp``, else the
    only Datetime column."""
    if given is not None:
        if given not in frame.columns:
            raise PointInTimeError(
                f"entity frame has no timestamp column {given!r}; found {frame.columns!r}; "
                f"pass timestamp_column= naming one of them"
            )
        return given
    if "event_timestamp" in frame.columns:
        return "event_timestamp"
    temporal = [c for c, d in frame.schema.items() if is_temporal(d)]
    if len(temporal) == 1:
        return temporal[0]
    raise PointInTimeError(
        "entity frame: cannot tell which column is the timestamp "
        f"({temporal or 'none'} of {frame.columns!r} are Datetime); "
        "name it event_timestamp or pass timestamp_column=..."
    )


def prepare_entity(
    frame: pl.DataFrame,
    keys: list[str],
    key_dtypes: dict[str, str],
    ts_column: str,
) -> tuple[pa.Table, datetime | None, datetime | None]:
    """The ``(__fs_row, keys..., __fs_ts)`` table DuckDB joins, and its time range."""
    missing = [k for k in keys if k not in frame.columns]
    if missing:
        raise PointInTimeError(
            f"entity frame lacks join key {missing[0]!r} needed by the requested features; "
            f"found columns {frame.columns!r}; add the column (or rename yours to it)"
        )
    dtype = frame.schema[ts_column]
    ts = utc_expr(ts_column, dtype, owner="entity frame")
    exprs: list[pl.Expr] = [
        pl.int_range(pl.len(), dtype=pl.UInt32 if frame.height < 2**32 else pl.UInt64).alias(ROW)
    ]
    for key in keys:
        exprs.append(_key_expr(key, frame.schema[key], key_dtypes.get(key)))
    exprs.append(ts.alias(TS))
    slim = frame.select(exprs)
    if slim.height and slim[TS].null_count():
        first = slim[TS].is_null().arg_true()[0]
        raise PointInTimeError(
            f"entity frame: timestamp column {ts_column!r} has {slim[TS].null_count()} null "
            f"value(s), first at row {first}; drop or fill them (a row needs a moment in time)"
        )
    lo, hi = (slim[TS].min(), slim[TS].max()) if slim.height else (None, None)
    return slim.to_arrow(), lo, hi  # type: ignore[return-value]


def _key_expr(key: str, dtype: pl.DataType, stored: str | None) -> pl.Expr:
    col = pl.col(key)
    if isinstance(dtype, pl.Categorical | pl.Enum):
        col, dtype = col.cast(pl.String), pl.String()
    if stored is None:
        return col
    if stored.startswith(("Categorical", "Enum")):
        stored = "String"  # stored as dictionary-encoded strings; they join as strings
    entity_int = dtype.is_integer()
    stored_int = stored.startswith(("Int", "UInt"))
    if entity_int and stored_int:
        return col.cast(pl.Int64) if dtype != pl.UInt64 else col
    if (dtype == pl.String) != (stored == "String") or (entity_int != stored_int):
        hint = f"pl.col({key!r}).cast(pl.{stored})" if stored.isalnum() else "a cast"
        raise SchemaError(
            f"entity frame: join key {key!r} is {dtype} but the feature rows store it as "
            f"{stored}; cast it with {hint}"
        )
    return col


def run_query(con: duckdb.DuckDBPyConnection, query: PitQuery, entity: pa.Table) -> pa.Table:
    """Execute a point-in-time query against ``entity``; rows come back in entity order."""
    con.register(ENTITY, entity)
    try:
        return con.sql(build_sql(query)).to_arrow_table()
    except (duckdb.IOException, duckdb.InvalidInputException) as exc:
        raise StorageError(
            f"reading the offline store failed: {exc}. A file may be corrupt or truncated: "
            f"re-materialize the affected view over its range, then run store.gc()"
        ) from exc
    finally:
        con.unregister(ENTITY)


def frame_hash(frame: pl.DataFrame) -> str:
    """SHA-256 over a frame's schema and per-row hashes: its content, null-aware.

    Fast (one pass); stable for a given Polars version.
    """
    digest = hashlib.sha256(repr(list(frame.schema.items())).encode())
    if frame.height and frame.width:
        digest.update(frame.hash_rows(seed=0).to_numpy().tobytes())
    return digest.hexdigest()


def frame_bytes(frame: pl.DataFrame) -> bytes:
    """A canonical byte serialisation of a frame (uncompressed Parquet): equal frames
    give equal bytes, whatever lies under their null slots."""
    sink = io.BytesIO()
    frame.write_parquet(sink, compression="uncompressed", statistics=False)
    return sink.getvalue()


@dataclass(frozen=True)
class RetrievalResult:
    """A point-in-time training set (or latest-values frame) with its manifest.

    The manifest records the entity input hash, the feature references with the exact
    view versions, every offline-store file read, the mode and the row count;
    ``content_id`` is a hash of it (schemas/training_set_manifest.schema.json).
    """

    frame: pl.DataFrame
    manifest: dict[str, Any] = field(repr=False)

    @property
    def content_id(self) -> str:
        """A hash of the manifest: same inputs, same features, same files, same id."""
        return str(self.manifest["content_id"])

    def to_polars(self) -> pl.DataFrame:
        return self.frame

    def to_arrow(self) -> pa.Table:
        return self.frame.to_arrow()

    def to_pandas(self) -> pd.DataFrame:
        return self.frame.to_pandas()

    def to_parquet(self, path: str | Path) -> Path:
        """Write the frame to ``path`` atomically (a temporary file, then a rename)."""
        target = Path(path)
        tmp = target.with_name(f".{target.name}.tmp")
        self.frame.write_parquet(tmp)
        tmp.replace(target)
        return target

    def __len__(self) -> int:
        return self.frame.height

    def __repr__(self) -> str:
        return f"RetrievalResult(rows={self.frame.height}, content_id={self.content_id!r})"


def make_manifest(**parts: Any) -> dict[str, Any]:
    """A manifest with its ``content_id``: a hash of what was asked (mode, features and
    their view versions) and of the resulting frame, not of where the rows were stored,
    so the same inputs and definitions give the same id in a rebuilt store."""
    manifest = dict(parts)
    identity = {k: v for k, v in parts.items() if k != "files"}
    manifest["content_id"] = content_hash(identity, length=16)
    return manifest
