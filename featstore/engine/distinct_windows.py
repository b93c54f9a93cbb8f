"""Exact ``count_distinct`` window aggregations at each entity row's timestamp, by as-of
lookups into running counts instead of a range join: a function of the engine-neutral
plan (:class:`featstore.aggregations.WindowQuery`) and the entity rows.

The window of an entity row at ``t`` is ``(t - w, t]``. Each distinct value in it has
exactly one first row there: a row at ``ts`` whose previous row of the same key and
value (at ``prev``; none: minus infinity) lies at or before ``t - w``. So a row counts
for the instants ``t`` of the interval ``[max(ts, prev + w), ts + w)``, empty when the
value repeats at the same instant. The distinct count at ``t`` is the number of
intervals opened at or before ``t`` minus those closed at or before it. An interval
opens at ``ts`` when ``prev + w <= ts`` (call the row *first*), else at ``prev + w``:
that one is counted on the previous row, as a row whose next row of the same value
comes later but within ``w`` (call it *followed*). It closes at ``ts + w``. So, over the
key's rows with a non-null value::

    count(t) = #{first rows, ts <= t} + #{followed rows, ts <= t - w}
               - #{rows not repeating their instant, ts <= t - w}

three running counts over the key's rows in time order, read by two backward as-of
lookups (at ``t`` and at ``t - w``) per window. Two sorts of the stored rows per
aggregated column, whatever the windows: ``O(N log N + M log N)`` for ``N`` stored and
``M`` entity rows, where the range join costs one pair per stored row in each entity
row's window. Values compare as SQL's ``count(DISTINCT ...)`` compares them: nulls do
not count, ``-0.0`` is ``0.0``, NaN is one value.

Bitemporal reads (``created_ts <= t`` too) are answered by the range join
(:func:`featstore.engine.sql_windows.range_sql`).
"""

from __future__ import annotations

import polars as pl
import pyarrow as pa

from featstore.aggregations import Aggregation, WindowQuery
from featstore.columns import INTERNAL, ROW, TS
from featstore.engine.frame_windows import scans_for

__all__ = ["distinct_frame"]

_T = f"{INTERNAL}t"  # an instant, epoch microseconds
_V = f"{INTERNAL}v"  # the aggregated value
_PREV = f"{INTERNAL}prev"  # the instant of the previous row of the same keys and value
_NEXT = f"{INTERNAL}next"  # ... and of the next one
_AT = f"{INTERNAL}at"  # a lookup's instant
_POS = f"{INTERNAL}pos"  # a probe's position
_N = f"{INTERNAL}n"  # a count of rows
_LAST = f"{INTERNAL}last"  # the last row of its key and instant
_FIRST = f"{INTERNAL}first"  # the position of its key's first row
_IDX = f"{INTERNAL}idx"  # a stored row's position in time order within its key


def _count(i: int, side: str) -> str:
    return f"{INTERNAL}c{i}{side}"


def distinct_frame(q: WindowQuery, entity: pa.Table, rows: pa.Table | None = None) -> pa.Table:
    """``q``'s aggregations (all ``count_distinct``; not bitemporal) for the entity rows
    (``__fs_row``, the keys, ``__fs_ts``): ``__fs_row``, each output in order, then the
    matched flag (some stored row in the longest window), in entity-row order.

    The stored rows are read from ``q.files``, or are ``rows`` when given (keys,
    ``__fs_ts`` and the aggregated columns, in any order, holding every row of each key
    the entity rows name)."""
    keys = list(q.keys)
    columns = sorted({a.column for a, _ in q.aggregations})
    frame = pl.from_arrow(entity)
    assert isinstance(frame, pl.DataFrame)
    probes = frame.select(*keys, pl.col(TS).dt.epoch("us").alias(_T))
    if rows is None:  # (only the entity's keys' rows, when they are few)
        scans = [s.select(*keys, TS, *columns) for s in scans_for(q, frame.get_column(keys[0]))]
        stored = pl.concat(scans, how="vertical_relaxed").collect()
    else:
        given = pl.from_arrow(rows)
        assert isinstance(given, pl.DataFrame)
        stored = given.select(*keys, TS, *columns)
    # the keys cast to the entity's (a value with no equal there becomes null: no match)
    stored = stored.select(
        *(pl.col(k).cast(probes.schema[k], strict=False) for k in keys),
        pl.col(TS).dt.epoch("us").alias(_T),
        *columns,
    ).drop_nulls(keys)
    # the stored rows in time order within each key, numbered in that order; the probes
    # likewise (the order of ``t - shift`` for every shift)
    stored = stored.sort([*keys, _T]).with_row_index(_IDX)
    # the running counts' type (they run over all keys' rows): 32 bits while they cannot
    # overflow, which takes about a third of the time of 64
    counter = pl.Int32() if stored.height < 2**31 else pl.Int64()
    ordered = probes.with_row_index(_POS).sort([*keys, _T])

    def lookup(counts: pl.DataFrame, shift: int, names: list[str]) -> pl.DataFrame:
        """Each probe's running ``names`` (0 before its key's first row) at ``t - shift``,
        in ``ordered``'s order."""
        at = ordered.select(*keys, (pl.col(_T) - shift).alias(_AT))
        found = at.join_asof(
            counts.select(*keys, pl.col(_T).alias(_AT), *names),
            on=_AT,
            by=keys,
            strategy="backward",
            check_sortedness=False,
        )
        return found.select(pl.col(n).fill_null(0) for n in names)

    results: dict[int, pl.Series] = {}
    for c in columns:
        wanted = [(i, a) for i, (a, _) in enumerate(q.aggregations) if a.column == c]
        floats = dict(q.kinds).get(c) == "float"
        counts = _running_counts(stored, keys, c, wanted, floats, counter)
        now = lookup(counts, 0, [_count(i, "f") for i, _ in wanted])
        for i, a in wanted:
            before = lookup(counts, a.window_us, [_count(i, "h")])
            results[i] = (now.get_column(_count(i, "f")) + before.get_column(_count(i, "h"))).cast(
                pl.Int64
            )
    # matched: some stored row (of any value) in the longest window
    longest = max(a.window_us for a, _ in q.aggregations)
    every = _runs(stored.select(*keys, _T, pl.lit(1, counter).alias(_N)), keys)
    seen = lookup(every, 0, [_N]).get_column(_N) - lookup(every, longest, [_N]).get_column(_N)
    outputs = [results[i].alias(out) for i, (_, out) in enumerate(q.aggregations)]
    result = pl.DataFrame([ordered.get_column(_POS), *outputs, (seen > 0).alias(q.matched)])
    result = result.sort(_POS).select(frame.get_column(ROW), pl.exclude(_POS))
    return result.sort(ROW).to_arrow()


def _running_counts(
    stored: pl.DataFrame,
    keys: list[str],
    column: str,
    aggs: list[tuple[int, Aggregation]],
    floats: bool,
    counter: pl.DataType,
) -> pl.DataFrame:
    """Each key's running counts of ``column``'s rows in time order (one row per key and
    instant): for the aggregation at position ``i`` of ``aggs``, ``c{i}f`` (first rows)
    and ``c{i}h`` (followed rows minus rows not repeating their instant)."""
    value = pl.col(column)
    if floats:
        # -0.0 is 0.0 (Polars' sort and comparisons already equate them, and NaN with
        # NaN; this keeps the first from resting on it)
        value = value + 0.0
    rows = stored.select(*keys, _T, _IDX, value.alias(_V)).drop_nulls(_V).sort([*keys, _V, _T])
    same_prev = pl.col(_V) == pl.col(_V).shift(1)
    same_next = pl.col(_V) == pl.col(_V).shift(-1)
    for k in keys:
        same_prev = same_prev & (pl.col(k) == pl.col(k).shift(1))
        same_next = same_next & (pl.col(k) == pl.col(k).shift(-1))
    rows = rows.select(
        *keys,
        _T,
        _IDX,
        pl.when(same_prev).then(pl.col(_T).shift(1)).alias(_PREV),
        pl.when(same_next).then(pl.col(_T).shift(-1)).alias(_NEXT),
    )
    prev, nxt, t = pl.col(_PREV), pl.col(_NEXT), pl.col(_T)
    distinct_instant = (prev.is_null() | (prev < t)).cast(counter)
    flags = []
    for i, a in aggs:
        w = a.window_us
        first = (prev.is_null() | (prev + w <= t)).cast(counter)
        followed = (nxt.is_not_null() & (nxt > t) & (nxt - t < w)).cast(counter)
        flags += [first.alias(_count(i, "f")), (followed - distinct_instant).alias(_count(i, "h"))]
    return _runs(rows.select(*keys, _T, _IDX, *flags).sort(_IDX).drop(_IDX), keys)


def _runs(rows: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """``rows`` (keys, ``_T``, count columns, in time order within each key) as each key's
    running sums of the count columns, one row per key and instant (its last)."""
    names = [n for n in rows.columns if n not in (*keys, _T)]
    new_key = pl.lit(False)
    last = pl.lit(False)
    for k in keys:
        new_key = new_key | (pl.col(k) != pl.col(k).shift(1))
        last = last | (pl.col(k) != pl.col(k).shift(-1))
    new_key = new_key.fill_null(True)  # the first row
    last = (last | (pl.col(_T) != pl.col(_T).shift(-1))).fill_null(True)  # the last row
    # a running sum over all keys, less its value before the key's first row
    position = pl.UInt32() if rows.height < 2**32 else pl.UInt64()
    first = pl.when(new_key).then(pl.int_range(pl.len(), dtype=position)).forward_fill()
    sums = rows.select(
        *keys, _T, last.alias(_LAST), first.alias(_FIRST), *(pl.col(n).cum_sum() for n in names)
    )
    return (
        sums.select(
            *keys,
            _T,
            _LAST,
            *(
                (pl.col(n) - (pl.col(n) - rows.get_column(n)).gather(pl.col(_FIRST))).alias(n)
                for n in names
            ),
        )
        .filter(_LAST)
        .drop(_LAST)
    )
