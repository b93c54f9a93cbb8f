"""Declarative window aggregations: ``Aggregation("amount", "sum", window=timedelta(days=30))``.

An aggregation's value for an entity row at ``t`` aggregates the source rows with the
same key and ``t - window < event_ts <= t``: the window is open at its start and closed at
its end (docs/point-in-time.md). An empty window gives 0 for ``count`` and null for every
other function. ``count`` counts the non-null values of the column; ``mean``, ``sum``,
``min``, ``max``, ``var`` and ``std`` ignore nulls (``var`` and ``std`` are the sample
statistics, null below two values); ``last`` is the column's value in the window's latest
row (the point-in-time winner at the window's end, which may hold a null);
``count_distinct`` counts the distinct non-null values, exactly.

How they are computed is in docs/windows.md: per-piece prefix and suffix aggregates
written with each materialized month (:func:`index_columns`), read back through as-of
lookups at retrieval; ``count_distinct`` by as-of counts over the stored rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from featstore.columns import INTERNAL, ROW
from featstore.dtypes import decode_schema
from featstore.errors import DefinitionError
from featstore.names import validate_name

__all__ = [
    "AGGREGATION_FUNCTIONS",
    "Aggregation",
    "IndexColumn",
    "WindowQuery",
    "column_kind",
    "window_plans",
    "window_query",
    "index_columns",
    "window_label",
]

AGGREGATION_FUNCTIONS = (
    "sum",
    "count",
    "mean",
    "min",
    "max",
    "var",
    "std",
    "last",
    "count_distinct",
)

# the per-piece statistics each function reads (docs/windows.md); ``last`` reads the
# stored column itself, ``count_distinct`` the raw rows
STATS: dict[str, tuple[str, ...]] = {
    "sum": ("cnt", "sum"),
    "count": ("cnt",),
    "mean": ("cnt", "sum"),
    "var": ("cnt", "sum", "sq"),
    "std": ("cnt", "sum", "sq"),
    "min": ("min",),
    "max": ("max",),
    "last": (),
    "count_distinct": (),
}
MAX_WINDOW = timedelta(days=732)
NUMERIC_ONLY = frozenset({"sum", "mean", "var", "std"})


def window_label(window: timedelta) -> str:
    """A window as the shortest whole unit: ``30d``, ``12h``, ``90m``, ``45s``, ``250ms``."""
    us = window // timedelta(microseconds=1)
    for unit, size in (
        ("d", 86_400_000_000),
        ("h", 3_600_000_000),
        ("m", 60_000_000),
        ("s", 1_000_000),
        ("ms", 1_000),
    ):
        if us % size == 0:
            return f"{us // size}{unit}"
    return f"{us}us"


@dataclass(frozen=True)
class Aggregation:
    """One windowed aggregation of a source column (see the module docstring).
    ``name`` defaults to ``<column>_<fn>_<window>``, e.g. ``amount_sum_30d``."""

    column: str
    fn: str
    window: timedelta
    name: str = field(default="")

    def __post_init__(self) -> None:
        validate_name(self.column, "aggregated column")
        if self.fn not in AGGREGATION_FUNCTIONS:
            raise DefinitionError(
                f"aggregation of {self.column!r}: unknown function {self.fn!r}; use one of "
                + ", ".join(AGGREGATION_FUNCTIONS)
            )
        if not isinstance(self.window, timedelta) or self.window <= timedelta(0):
            raise DefinitionError(
                f"aggregation {self.column!r} {self.fn}: the window must be a positive "
                f"timedelta, e.g. timedelta(days=30); found {self.window!r}"
            )
        if self.window % timedelta(microseconds=1):
            raise DefinitionError(
                f"aggregation {self.column!r} {self.fn}: the window must be whole "
                f"microseconds; found {self.window!r}"
            )
        if self.window > MAX_WINDOW:
            raise DefinitionError(
                f"aggregation {self.column!r} {self.fn}: windows are at most "
                f"{MAX_WINDOW.days} days; found {self.window}"
            )
        if not self.name:
            object.__setattr__(self, "name", f"{self.column}_{self.fn}_{window_label(self.window)}")
        validate_name(self.name, "aggregation name")

    @property
    def window_us(self) -> int:
        return self.window // timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class IndexColumn:
    """One stored window-index column: a statistic (``cnt``, ``sum``, ``sq``, ``min``,
    ``max``) of ``column`` over the rows of its piece (the key's rows in one month and
    one ``window``-long tile) up to and including the row's instant (``side`` ``p``,
    prefix) or from it on (``s``, suffix)."""

    column: str
    window_us: int
    stat: str
    side: str

    @property
    def name(self) -> str:
        return f"{INTERNAL}w{self.window_us}_{self.stat}{self.side}_{self.column}"


def index_columns(aggregations: tuple[Aggregation, ...]) -> tuple[IndexColumn, ...]:
    """The index columns ``aggregations`` read, each once, in a stable order."""
    wanted = {(a.column, a.window_us, stat) for a in aggregations for stat in STATS[a.fn]}
    return tuple(
        IndexColumn(column, window, stat, side)
        for column, window, stat in sorted(wanted)
        for side in ("p", "s")
    )


@dataclass(frozen=True, slots=True)
class WindowQuery:
    """The engine-neutral plan of one aggregation view's windows over the registered
    entity relation (``__fs_row``, the keys, ``__fs_ts``): the view's files, keys, each
    aggregation with its output column name, the aggregated columns' kinds (``int``,
    ``float``, ``bool``, ``other``), the name of the matched flag, the bitemporal flag and
    the entity rows' latest time."""

    files: tuple[str, ...]
    keys: tuple[str, ...]
    aggregations: tuple[tuple[Aggregation, str], ...]
    kinds: tuple[tuple[str, str], ...]
    matched: str
    bitemporal: bool = False
    max_entity_ts: datetime | None = None

    @property
    def aggregations_only(self) -> tuple[Aggregation, ...]:
        return tuple(a for a, _ in self.aggregations)


def window_query(
    record: Mapping[str, Any],
    outputs: Sequence[tuple[str, str]],
    files: tuple[str, ...],
    *,
    matched: str,
    bitemporal: bool,
    max_entity_ts: datetime | None,
) -> WindowQuery:
    """The plan of an aggregation view's ``outputs`` (``(aggregation name, output
    column)`` pairs) over ``files``, from its catalog record."""
    specs = {a["name"]: a for a in record["aggregations"]}
    pairs = []
    for feature, out in outputs:
        spec = specs[feature]
        window = timedelta(microseconds=spec["window_us"])
        pairs.append((Aggregation(spec["column"], spec["fn"], window, name=feature), out))
    stored = decode_schema(
        record["stored_schema"],
        context=f"feature view {record['name']!r} at version {record['version']!r}",
    )
    return WindowQuery(
        files=files,
        keys=tuple(record["join_keys"]),
        aggregations=tuple(pairs),
        kinds=tuple((c, column_kind(d)) for c, d in stored.items()),
        matched=matched,
        bitemporal=bitemporal,
        max_entity_ts=max_entity_ts,
    )


def window_plans(q: WindowQuery) -> list[tuple[str, WindowQuery]]:
    """The parts that answer ``q``, each with its plan: ``"empty"`` when no file is in
    reach; ``"index"`` (as-of lookups into the window index) for what it can answer;
    ``"distinct"`` (two as-of counts per window over each value's first rows:
    :mod:`featstore.engine.distinct_windows`) for ``count_distinct``; ``"range"`` (a
    range join over the stored rows) for bitemporal reads, which no structure built in
    advance answers (a row's ``created_ts`` decides, per entity row, whether it counts)."""
    if not q.files:
        return [("empty", q)]
    if q.bitemporal:
        return [("range", q)]
    fast = tuple(p for p in q.aggregations if p[0].fn != "count_distinct")
    distinct = tuple(p for p in q.aggregations if p not in fast)
    parts = []
    if fast:
        parts.append(("index", replace(q, aggregations=fast)))
    if distinct:
        parts.append(("distinct", replace(q, aggregations=distinct)))
    return parts


def join_window_parts(q: WindowQuery, parts: list[tuple[WindowQuery, pa.Table]]) -> pa.Table:
    """``q``'s result from its parts' results (each ``__fs_row``, its outputs, its matched
    flag, in entity-row order): the outputs in ``q``'s order, matched if any part matched."""
    columns: dict[str, pa.ChunkedArray] = {}
    matched = None
    for part, table in parts:
        for _, out in part.aggregations:
            columns[out] = table.column(out)
        flag = table.column(part.matched)
        matched = flag if matched is None else pc.or_(matched, flag)
    first = parts[0][1]
    names = [ROW, *(out for _, out in q.aggregations), q.matched]
    arrays = [first.column(ROW), *(columns[out] for _, out in q.aggregations), matched]
    return pa.Table.from_arrays(arrays, names=names)


def column_kind(dtype: pl.DataType) -> str:
    """How the window SQL treats an aggregated column: ``int``, ``float``, ``bool`` or
    ``other`` (strings, dates, times: min, max, last, counts)."""
    if dtype == pl.Boolean:
        return "bool"
    if dtype.is_integer():
        return "int"
    return "float" if dtype.is_float() else "other"


def output_dtype(fn: str, dtype: pl.DataType) -> pl.DataType:
    """The dtype of an aggregation of a ``dtype`` column: counts are Int64; sums of
    integers and booleans Int64, of floats Float64; means, variances and deviations
    Float64; min, max and last keep the column's dtype."""
    if fn in ("count", "count_distinct"):
        return pl.Int64()
    if fn == "sum":
        return pl.Float64() if dtype.is_float() else pl.Int64()
    if fn in ("mean", "var", "std"):
        return pl.Float64()
    return dtype
