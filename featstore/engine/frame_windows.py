"""Exact window aggregations at each entity row's timestamp, read from the window index
with Polars as-of lookups: a function of the engine-neutral plan
(:class:`featstore.aggregations.WindowQuery`) and the entity rows.

The window of an entity row at ``t`` is ``(t - w, t]``. Each materialized month stores,
on every instant's rank-1 row, per-piece prefix and suffix statistics (count, sum, sum of
squares, min, max), where a piece is a key's rows in one month and one ``w``-long tile
aligned to the Unix epoch (:func:`featstore.engine.sql_bucket.index_exprs`). The piece
boundaries inside a window (the tile start ``floor(t / w) * w`` and the month starts after
``t - w``) split it into pieces; every piece but the last lies whole from its first row in
the window to its end, the last from its start to ``t``. So:

- a forward as-of lookup at each piece's start (the key's first instant at or after it)
  reads the suffix statistics of each piece but the last, valid when that instant comes
  before the piece's end;
- a backward as-of lookup at ``t`` (the key's last instant at or before it) reads the
  prefix statistics of the last piece, valid when that instant is at or after the piece's
  start, and the ``last`` value.

The lookups join only keys and times; the statistics are then gathered by row position,
so no wide row is sorted. The pieces combine (counts and sums add, minima take the
least) in the pieces' time order, so a float sum is the same every run. ``count_distinct``
is answered by :mod:`featstore.engine.distinct_windows`, bitemporal reads by a range join
over the stored rows (:func:`featstore.engine.sql_windows.range_sql`).
"""

from __future__ import annotations

import itertools
from typing import Literal

import polars as pl
import pyarrow as pa

from featstore.aggregations import STATS, IndexColumn, WindowQuery, index_columns, window_label
from featstore.columns import INTERNAL, RANK, ROW, TS
from featstore.errors import PointInTimeError

__all__ = ["fast_frame", "pieces_of"]

MONTH_US = 28 * 86_400_000_000  # the shortest month: a bound on how many a window meets
INT64_MAX = 2**63 - 1
# read only the entity's keys' index rows when the index holds this many times more rows
# than the entity rows hold distinct keys (a filter costs more than it saves below)
FEW_KEYS = 200

_T = f"{INTERNAL}t"  # an instant, epoch microseconds
_LOC = f"{INTERNAL}loc"  # a row position in the index
_POS = f"{INTERNAL}pos"  # an entity row's position
_CUTS = f"{INTERNAL}cuts"  # a row's piece boundaries in a window
_END = f"{INTERNAL}end"  # where a piece ends (exclusive)
_N = f"{INTERNAL}n"  # which window a lookup is for
_J = f"{INTERNAL}j"  # which piece of it
_LAST = f"{INTERNAL}last_start"  # where the last piece of a window starts


def pieces_of(w: int) -> int:
    """How many pieces a ``w`` window meets at most: one more than its boundaries, a tile
    start and at most ``ceil(w / 28 days) + 1`` month starts."""
    return -(-w // MONTH_US) + 3


def _boundaries(w: int) -> list[pl.Expr]:
    """The candidate piece boundaries inside ``(t - w, t]``, each null where it is not
    one: the tile start ``floor(t / w) * w`` (always inside), and the month starts after
    ``t - w`` that differ from it (when ``w`` divides a day every month start is a tile
    start, so the tile start alone)."""
    t = pl.col(_T)
    tile = (t // w) * w
    if 86_400_000_000 % w == 0:
        return [tile]
    month = pl.from_epoch(t, time_unit="us").dt.truncate("1mo")
    out = [tile]
    for k in range(pieces_of(w) - 2):
        start = (month.dt.offset_by(f"-{k}mo") if k else month).dt.epoch("us")
        out.append(pl.when((start > t - w) & (start != tile)).then(start))
    return out


def scans_for(q: WindowQuery, first_keys: pl.Series) -> list[pl.LazyFrame]:
    """The view's files as scans; when the entity rows hold few distinct values of the
    first key (``first_keys``) against the files' rows, filtered to those values: files
    sorted by key let the reader skip most of each file."""
    scans = [pl.scan_parquet(path, hive_partitioning=False) for path in q.files]
    total = sum(_int(scan.select(pl.len()).collect().item()) for scan in scans)
    wanted = first_keys.unique().drop_nulls()
    if wanted.len() * FEW_KEYS < total:
        first = q.keys[0]
        scans = [
            scan.filter(
                pl.col(first).is_in(wanted.cast(scan.collect_schema()[first], strict=False))
            )
            for scan in scans
        ]
    return scans


def _index(q: WindowQuery, columns: list[str], first_keys: pl.Series) -> tuple[pl.DataFrame, bool]:
    """The rows of the view's files: keys, the instant in epoch microseconds, the rank,
    then ``columns`` (read whole: only the rank-1 rows are looked up, and a filtered copy
    of every column would cost more than the few tied rows it drops); and whether each
    key's rank-1 rows are in time order (each file sorted by keys and time, the files in
    time order and disjoint).

    When the entity rows hold few distinct values of the first key (``first_keys``)
    against the index's rows, only the rows with those values are read
    (:func:`scans_for`)."""
    scans = scans_for(q, first_keys)
    parts = [
        scan.select(*q.keys, pl.col(TS).dt.epoch("us").alias(_T), RANK, *columns) for scan in scans
    ]
    frames = [f for f in pl.collect_all(parts) if f.height]
    if not frames:
        return pl.concat(parts, how="vertical_relaxed").collect(), True
    spans = sorted(
        (_int(f.get_column(_T).min()), _int(f.get_column(_T).max()), i)
        for i, f in enumerate(frames)
    )
    ordered = all(a[1] < b[0] for a, b in itertools.pairwise(spans))
    ordered = ordered and all(_sorted_by_key_and_time(f, q.keys) for f in frames)
    ordered_frames = [frames[i] for _, _, i in spans]
    return pl.concat(ordered_frames, how="vertical_relaxed"), ordered


def _nulls(name: str, n: int, dtype: pl.DataType | type[pl.DataType]) -> pl.Series:
    return pl.repeat(None, n, dtype=dtype, eager=True).alias(name)


def _int(value: object) -> int:
    assert isinstance(value, int)
    return value


def _sorted_by_key_and_time(frame: pl.DataFrame, keys: tuple[str, ...]) -> bool:
    """Whether ``frame``'s rank-1 rows with non-null keys ascend by keys, then strictly by
    time (as materialization writes them); a ``False`` only costs a sort."""
    frame = frame.filter(pl.col(RANK) == 1).select(*keys, _T).drop_nulls()
    if frame.height < 2:
        return True
    later = pl.lit(False)
    for column in reversed([*keys, _T]):
        this, nxt = pl.col(column), pl.col(column).shift(-1)
        strict = this < nxt
        later = strict | ((this == nxt) & later) if column != _T else strict
    return bool(frame.select(later.head(frame.height - 1).all()).item())


def _added(parts: list[pl.Expr], dtype: type[pl.DataType]) -> pl.Expr:
    """The pieces' sum, nulls as zero, added in time order (the same float every run)."""
    total = parts[0].cast(dtype).fill_null(0)
    for p in parts[1:]:
        total = total + p.cast(dtype).fill_null(0)
    return total


def fast_frame(q: WindowQuery, entity: pa.Table, rows: pa.Table | None = None) -> pa.Table:
    """``q``'s aggregations (none ``count_distinct``; not bitemporal) for the entity rows
    (``__fs_row``, the keys, ``__fs_ts``): ``__fs_row``, then each output in order, then
    the matched flag (some source row in the longest window), in entity-row order.

    The index is read from ``q.files``, or is ``rows`` when given: stored rows (keys,
    ``__fs_ts``, ``__fs_rank``, the index columns) in any order, holding every row of
    each key the entity rows name (a partition of the index by key)."""
    keys = list(q.keys)
    index = index_columns(q.aggregations_only)
    windows = sorted({a.window_us for a, _ in q.aggregations})
    last_cols = sorted({a.column for a, _ in q.aggregations if a.fn == "last"})
    frame = pl.from_arrow(entity)
    assert isinstance(frame, pl.DataFrame)
    wanted = [*(c.name for c in index), *last_cols]
    if rows is None:
        idx, in_order = _index(q, wanted, frame.get_column(keys[0]))
    else:
        given = pl.from_arrow(rows)
        assert isinstance(given, pl.DataFrame)
        idx = given.select(*keys, pl.col(TS).dt.epoch("us").alias(_T), RANK, *wanted)
        in_order = _sorted_by_key_and_time(idx, q.keys)
    # everything runs in lookup order (keys together, each key's rows by time: the as-of
    # joins run fastest so), and the outputs return to entity-row order at the end
    e = frame.select(ROW, *keys, pl.col(TS).dt.epoch("us").alias(_T)).sort([*keys, _T])
    e = e.with_row_index(_POS)
    n_rows = e.height
    loc_type = pl.UInt32 if idx.height < 2**32 else pl.UInt64
    # the lookups meet keys and instants only: the index's narrow navigation frame, its
    # keys cast to the entity's (a value with no equal there becomes null: no match)
    nav = idx.select(
        *(pl.col(k).cast(e.schema[k], strict=False) for k in keys),
        pl.col(_T),
        pl.int_range(pl.len(), dtype=loc_type).alias(_LOC),
        pl.col(RANK),
    )
    nav = nav.filter(pl.col(RANK) == 1).drop(RANK)
    if any(nav.get_column(k).null_count() for k in keys):
        nav = nav.drop_nulls(keys)
    if not in_order:
        nav = nav.sort([*keys, _T])

    def lookup(probes: pl.DataFrame, strategy: Literal["backward", "forward"]) -> pl.DataFrame:
        """``probes`` (each key's in time order) with the position of each one's index row (the
        key's last instant at or before it, or first at or after it; null if none)."""
        return probes.join_asof(nav, on=_T, by=keys, strategy=strategy, check_sortedness=False)

    got: dict[str, pl.Series] = {}

    # the backward lookup at t, one per entity row in order (a null key finds nothing):
    # the last piece's prefix statistics and the last values
    prefix_names = [c.name for c in index if c.side == "p"]
    upper = lookup(e.select(*keys, _T), "backward").get_column(_LOC)
    for name, column in idx.select(_T, *prefix_names, *last_cols).gather(upper).to_dict().items():
        got["u:" + name] = column.alias("u:" + name)
    # the pieces of each window but the last (one forward lookup at each one's start,
    # valid when the instant found lies before its end), and the last one's start
    probes: list[pl.LazyFrame] = []
    for n, w in enumerate(windows):
        # each boundary ends the piece that starts at the boundary before it (or at the
        # window's first instant); the last boundary starts the last piece
        bounds = _boundaries(w)
        cut = [pl.col(f"{_CUTS}{i}") for i in range(len(bounds))]
        first = pl.col(_T) - (w - 1)
        cuts = (
            e.lazy()
            .select(_POS, *keys, _T, *(c.alias(f"{_CUTS}{i}") for i, c in enumerate(bounds)))
            .with_columns(
                *(
                    pl.max_horizontal(
                        first, *(pl.when(d < c).then(d) for d in cut if d is not c)
                    ).alias(f"{_T}{i}")
                    for i, c in enumerate(cut)
                ),
                pl.max_horizontal(cut).alias(f"{_LAST}{n}"),
            )
            .collect()
        )
        got[f"{_LAST}{n}"] = cuts.get_column(f"{_LAST}{n}")
        for i, c in enumerate(cut):
            piece = cuts.lazy().select(
                _POS,
                *keys,
                pl.col(f"{_T}{i}").alias(_T),
                c.alias(_END),
                pl.lit(i, pl.UInt8).alias(_J),
                pl.lit(n, pl.UInt8).alias(_N),
            )
            probes.append(piece.filter(pl.col(_T) < pl.col(_END)))
    found = lookup(pl.concat(probes).sort([*keys, _T]).collect(), "forward")
    at = idx.get_column(_T).gather(found.get_column(_LOC))
    found = found.select(_POS, pl.when(at < pl.col(_END)).then(pl.col(_LOC)).alias(_LOC), _N, _J)
    # per window, one read of its suffix statistics in index order, spread to one slot
    # per (piece, entity row): piece j's column is then the slice j of that spread
    for (n,), part in found.partition_by([_N], as_dict=True).items():
        w = windows[int(n)]
        names = [c.name for c in index if c.side == "s" and c.window_us == w]
        if not names:  # (a window of ``last`` only reads no piece)
            continue
        part = part.sort(_LOC)
        values = idx.select(names).gather(part.get_column(_LOC))
        slot = part.get_column(_J).cast(pl.Int64) * n_rows + part.get_column(_POS)
        spread = pieces_of(w) * n_rows
        for name in names:
            column = values.get_column(name)
            whole = _nulls(name, spread, column.dtype).scatter(slot, column)
            for j in part.get_column(_J).unique().to_list():
                label = f"s{n}_{j}:{name}"
                got[label] = whole.slice(j * n_rows, n_rows).alias(label)
    data = pl.DataFrame([e.get_column(ROW), e.get_column(_T), *got.values()])

    def pieces_expr(column: str, w: int, stat: str) -> list[pl.Expr]:
        """A statistic's piece values in time order (suffixes, then the prefix)."""
        n = windows.index(w)
        s_name = IndexColumn(column, w, stat, "s").name
        p_name = IndexColumn(column, w, stat, "p").name
        out = [
            pl.col(f"s{n}_{j}:{s_name}") for j in range(pieces_of(w)) if f"s{n}_{j}:{s_name}" in got
        ]
        valid = pl.col(f"u:{_T}") >= pl.col(f"{_LAST}{n}")
        out.append(pl.when(valid).then(pl.col(f"u:{p_name}")))
        return out

    kinds = dict(q.kinds)
    # the combined statistics, then the outputs from them
    stats: dict[str, pl.Expr] = {}
    for a, _ in q.aggregations:
        name, w, kind = a.column, a.window_us, kinds.get(a.column, "other")
        for stat in STATS[a.fn]:
            label = IndexColumn(name, w, stat, "w").name
            parts = pieces_expr(name, w, stat)
            if stat == "cnt":
                stats[label] = _added(parts, pl.Int64)
            elif stat == "sum":
                stats[label] = _added(parts, pl.Int128 if kind in ("int", "bool") else pl.Float64)
            elif stat == "sq":
                stats[label] = _added(parts, pl.Float64)
            else:
                stats[label] = (pl.min_horizontal if stat == "min" else pl.max_horizontal)(parts)
    combined = data.select(ROW, _T, f"u:{_T}", *(f"u:{c}" for c in last_cols), **stats)
    for a, _ in q.aggregations:
        if a.fn in ("sum", "mean", "var", "std") and kinds.get(a.column) in ("int", "bool"):
            total = combined.get_column(IndexColumn(a.column, a.window_us, "sum", "w").name)
            if ((total > INT64_MAX) | (total < -INT64_MAX - 1)).any():
                raise PointInTimeError(
                    f"the {window_label(a.window)} window sum of {a.column!r} overflows 64-bit "
                    f"integers; cast the column to Float64 in the view's transform"
                )
    outputs = []
    t, ut = pl.col(_T), pl.col(f"u:{_T}")
    for a, out in q.aggregations:
        name, w, kind = a.column, a.window_us, kinds.get(a.column, "other")

        def of(s: str, column: str = name, w: int = w) -> pl.Expr:
            return pl.col(IndexColumn(column, w, s, "w").name)

        if a.fn == "count":
            value = of("cnt")
        elif a.fn == "sum":
            value = pl.when(of("cnt") > 0).then(
                of("sum").cast(pl.Int64 if kind in ("int", "bool") else pl.Float64)
            )
        elif a.fn == "mean":
            value = pl.when(of("cnt") > 0).then(of("sum").cast(pl.Float64) / of("cnt"))
        elif a.fn in ("var", "std"):
            mass, cnt = of("sum").cast(pl.Float64), of("cnt")
            var = ((of("sq") - mass * mass / cnt) / (cnt - 1)).clip(lower_bound=0.0)
            value = pl.when(cnt > 1).then(var if a.fn == "var" else var.sqrt())
        elif a.fn in ("min", "max"):
            value = of(a.fn)
        elif a.fn == "last":
            value = pl.when(ut > t - w).then(pl.col(f"u:{name}"))
        else:
            raise ValueError(f"internal error: {a.fn!r} has no fast plan; please report it")
        outputs.append(value.alias(out))
    matched = (ut > t - max(windows)).fill_null(False).alias(q.matched)
    return combined.select(ROW, *outputs, matched).sort(ROW).to_arrow()
