"""Timestamps as UTC instants.

featstore compares every timestamp as a UTC instant at microsecond resolution.
Time-zone-aware inputs are converted to UTC; naive inputs are read as UTC. Internally
timestamps are naive ``Datetime("us")`` values holding UTC wall time.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import polars as pl

from featstore.errors import PointInTimeError, SchemaError

__all__ = ["as_utc", "bucket_of", "is_temporal", "iso", "utc_expr", "utc_now"]


def iso(ts: datetime) -> str:
    """Fixed-width ISO text, sortable as a string (how the catalog stores instants)."""
    return ts.replace(tzinfo=None).isoformat(timespec="microseconds")


def utc_now() -> datetime:
    """The current instant as a naive UTC datetime."""
    return datetime.now(UTC).replace(tzinfo=None)


def as_utc(value: datetime | date | str, what: str) -> datetime:
    """Return ``value`` as a naive UTC datetime; naive inputs are taken as UTC.

    >>> as_utc("2024-01-01T01:00:00+01:00", "start")
    datetime.datetime(2024, 1, 1, 0, 0)
    """
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise PointInTimeError(
                f"{what} {value!r} is not an ISO 8601 timestamp between the years 1 and "
                f"9999; use e.g. '2024-01-31T00:00:00Z'"
            ) from None
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            try:
                value = value.astimezone(UTC).replace(tzinfo=None)
            except OverflowError:
                raise PointInTimeError(
                    f"{what} {value.isoformat()} is outside the years 1 to 9999 once "
                    f"converted to UTC; give an instant inside that range"
                ) from None
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    raise PointInTimeError(
        f"{what} must be a datetime, date or ISO string; found {type(value).__name__}"
    )


def is_temporal(dtype: pl.DataType) -> bool:
    """True for Datetime and Date dtypes, the ones usable as event timestamps."""
    return isinstance(dtype, pl.Datetime) or dtype == pl.Date


def utc_expr(column: str, dtype: pl.DataType, *, owner: str) -> pl.Expr:
    """An expression converting ``column`` to naive UTC microseconds.

    Raises SchemaError naming ``owner`` and the column if the dtype is not temporal.
    """
    col = pl.col(column)
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is not None:
            col = col.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
        return col.dt.cast_time_unit("us")
    if dtype == pl.Date:
        return col.cast(pl.Datetime("us"))
    hint = " (parse it first, e.g. pl.col(c).str.to_datetime())" if dtype == pl.String else ""
    raise SchemaError(
        f"{owner}: timestamp column {column!r} must be a Datetime or Date; found {dtype}{hint}"
    )


def bucket_of(ts: datetime) -> datetime:
    """The first instant of the calendar month holding ``ts``: the storage partition."""
    return datetime(ts.year, ts.month, 1)


def next_bucket(bucket: datetime) -> datetime:
    """The start of the month after ``bucket`` (past December 9999: the last instant)."""
    if bucket.month == 12:
        return datetime(bucket.year + 1, 1, 1) if bucket.year < 9999 else datetime.max
    return datetime(bucket.year, bucket.month + 1, 1)


def bucket_bounds(bucket: str) -> datetime:
    """The first instant of a ``YYYY-MM`` partition name."""
    return datetime(int(bucket[:4]), int(bucket[5:7]), 1)


def timedelta_us(delta: timedelta) -> int:
    """A timedelta as whole microseconds."""
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
