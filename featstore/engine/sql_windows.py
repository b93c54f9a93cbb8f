"""DuckDB SQL for exact window aggregations at each entity row's timestamp: a pure
function of the engine-neutral plan (:class:`featstore.aggregations.WindowQuery`).

The window of an entity row at ``t`` is ``(t - w, t]``. Each materialized month stores,
on every instant's rank-1 row, per-piece prefix and suffix statistics (count, sum, sum of
squares, min, max), where a piece is a key's rows in one month and one ``w``-long tile
aligned to the Unix epoch (:func:`featstore.engine.sql_bucket.index_exprs`). The cuts
inside a window, the tile start ``floor(t / w) * w`` and the month starts after
``t - w``, split it into pieces; every piece but the last lies whole from its first row
in the window to its end, the last from its start to ``t``. So:

- one as-of lookup per cut (the first instant at or after it, and at or after
  ``t - w + 1us`` for the first piece) reads the suffix statistics of each piece but the
  last (valid when that instant comes before the next cut);
- one as-of lookup at ``t`` (the last instant at or before it) reads the prefix
  statistics of the last piece (valid when that instant is at or after the last cut),
  and the ``last`` value.

The statistics of the pieces combine (counts and sums add, minima take the least), in
the pieces' time order, so a float sum is the same every run. All probes of all windows
go through one ``ASOF JOIN``; no entity row meets the events of its window one by one.
Bitemporal reads (``created_ts <= t`` as well) and ``count_distinct`` use a range join
over the stored rows instead: they cannot be cut into pieces summarised in advance.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from featstore.aggregations import IndexColumn, WindowQuery, index_columns
from featstore.columns import CREATED, ENTITY, INTERNAL, RANK, ROW, TS
from featstore.engine.sql_bucket import piece_sql
from featstore.engine.sqltext import Lines, indent, render, select, subquery
from featstore.names import quote_file, quote_ident, quote_literal

__all__ = ["empty_sql", "fast_sql", "range_sql", "window_parts"]

MONTH_US = 28 * 86_400_000_000  # the shortest month: a bound on how many a window meets


def _lit(ts: datetime) -> str:
    return f"TIMESTAMP {quote_literal(ts.isoformat(sep=' ', timespec='microseconds'))}"


def _us(n: int) -> str:
    return f"INTERVAL ({n}) MICROSECONDS"


def _n(name: str) -> str:
    return quote_ident(f"{INTERNAL}{name}")


def _scan(q: WindowQuery, columns: list[str], where: list[str]) -> Lines:
    files = ", ".join(quote_file(f) for f in q.files)
    q_ts = quote_ident(TS)
    if q.max_entity_ts is not None:
        where = [*where, f"{q_ts} <= {_lit(q.max_entity_ts)}"]
    return select(columns, [f"read_parquet([{files}])"], where=where)


def _cuts(w: int) -> str:
    """The sorted cuts inside ``(t - w, t]``: the tile start and the month starts."""
    t = f"e.{quote_ident(TS)}"
    months = -(-w // MONTH_US) + 1
    tile = f"make_timestamp({piece_sql(t, w)})"
    starts = [f"date_trunc('month', {t}) - INTERVAL {k} MONTH" for k in range(months)]
    items = ", ".join([tile, *starts])
    return f"list_sort(list_distinct(list_filter([{items}], lambda c: c > {t} - {_us(w)})))"


def probes_of(w: int) -> int:
    """How many suffix probes a ``w`` window needs at most (cuts: a tile start and the
    month starts it meets)."""
    return -(-w // MONTH_US) + 2


def fast_sql(q: WindowQuery) -> str:
    """The query of ``q``'s aggregations (none ``count_distinct``; not bitemporal) over the
    registered entity relation: ``__fs_row``, then each output in order, then the
    matched flag (some source row in the longest window)."""
    keys = [quote_ident(k) for k in q.keys]
    q_ts, q_row = quote_ident(TS), quote_ident(ROW)
    index = index_columns(q.aggregations_only)
    windows = sorted({a.window_us for a, _ in q.aggregations})
    last_cols = sorted({a.column for a, _ in q.aggregations if a.fn == "last"})
    t_col = _n("t")
    idx_cols = [
        *keys,
        f"make_timestamp(epoch_us({q_ts})) AS {t_col}",
        *(quote_ident(c.name) for c in index),
        *(f"{quote_ident(c)} AS {_n(f'last{i}')}" for i, c in enumerate(last_cols)),
    ]
    idx = _scan(q, idx_cols, [f"{quote_ident(RANK)} = 1"])
    cuts = select(
        [
            f"e.{q_row}",
            *(f"e.{k}" for k in keys),
            f"e.{q_ts}",
            *(f"{_cuts(w)} AS {_n(f'c{n}')}" for n, w in enumerate(windows)),
        ],
        [f"{ENTITY} AS e"],
    )
    # one probe per piece but the last, per window: (window, piece number, from, next cut)
    probe_parts: list[Lines] = []
    for n, w in enumerate(windows):
        c = _n(f"c{n}")
        inner = select(
            [q_row, *keys, q_ts, c, f"unnest(range(len({c}))) AS {_n('j')}"],
            [_n("cuts")],
        )
        jc = _n("j")
        probe_parts.append(
            select(
                [
                    q_row,
                    *keys,
                    f"{n} AS {_n('w')}",
                    jc,
                    f"CASE WHEN {jc} = 0 THEN {q_ts} - {_us(w - 1)} ELSE {c}[{jc}] END "
                    f"AS {_n('b')}",
                    f"{c}[{jc} + 1] AS {_n('next')}",
                ],
                subquery(inner),
            )
        )
    probes: Lines = []
    for i, part in enumerate(probe_parts):
        probes += (["UNION ALL"] if i else []) + part
    on_keys = [f"p.{k} = i.{k}" for k in keys]
    suffix = [c for c in index if c.side == "s"]
    looked = select(
        [
            f"p.{q_row}",
            f"p.{_n('w')}",
            f"p.{_n('j')}",
            *(
                f"CASE WHEN i.{t_col} < p.{_n('next')} THEN i.{quote_ident(c.name)} END "
                f"AS {quote_ident(c.name)}"
                for c in suffix
            ),
        ],
        [f"{_n('probes')} AS p"],
        joins=[
            [
                f"ASOF LEFT JOIN {_n('idx')} AS i",
                "  ON " + " AND ".join([*on_keys, f"p.{_n('b')} <= i.{t_col}"]),
            ]
        ],
    )
    # pivot: one column per (window, piece number, statistic), so the pieces add up in
    # time order in the final select
    pivot_cols = [q_row]
    for n, w in enumerate(windows):
        for col in suffix:
            if col.window_us != w:
                continue
            for j in range(probes_of(w)):
                pivot_cols.append(
                    f"max({quote_ident(col.name)}) FILTER (WHERE {_n('w')} = {n} AND "
                    f"{_n('j')} = {j}) AS {_n(f'{col.name}_{j}')}"
                )
    pivot = select(pivot_cols, [_n("looked")], group_by=[q_row])
    upper = select(
        [
            "e.*",
            f"i.{t_col}",
            *(f"i.{quote_ident(c.name)}" for c in index if c.side == "p"),
            *(f"i.{_n(f'last{i}')}" for i in range(len(last_cols))),
        ],
        [f"{_n('cuts')} AS e"],
        joins=[
            [
                f"ASOF LEFT JOIN {_n('idx')} AS i",
                "  ON "
                + " AND ".join([*(f"e.{k} = i.{k}" for k in keys), f"e.{q_ts} >= i.{t_col}"]),
            ]
        ],
    )
    outputs = []
    t, ut = f"u.{q_ts}", f"u.{t_col}"

    def stat(col: str, w: int, name: str) -> list[str]:
        """The piece values of a statistic in time order (suffixes, then the prefix)."""
        n = windows.index(w)
        s_name = IndexColumn(col, w, name, "s").name
        p_name = IndexColumn(col, w, name, "p").name
        cut = f"u.{_n(f'c{n}')}[len(u.{_n(f'c{n}')})]"
        parts = [f"l.{_n(f'{s_name}_{j}')}" for j in range(probes_of(w))]
        parts.append(f"CASE WHEN {ut} >= {cut} THEN u.{quote_ident(p_name)} END")
        return parts

    def added(parts: list[str], zero: str) -> str:
        return "(" + " + ".join(f"coalesce({p}, {zero})" for p in parts) + ")"

    kinds = dict(q.kinds)
    for a, out in q.aggregations:
        name, w = a.column, a.window_us
        kind = kinds.get(name, "other")
        zero = "0" if kind in ("int", "bool") else "0.0"
        if a.fn != "last":
            cnt = added(stat(name, w, "cnt"), "0")
        if a.fn == "count":
            value = cnt
        elif a.fn in ("sum", "mean", "var", "std"):
            total = added(stat(name, w, "sum"), zero)
            if a.fn == "sum":
                cast = "BIGINT" if kind in ("int", "bool") else "DOUBLE"
                value = f"CASE WHEN {cnt} > 0 THEN CAST({total} AS {cast}) END"
            elif a.fn == "mean":
                value = f"CASE WHEN {cnt} > 0 THEN CAST({total} AS DOUBLE) / {cnt} END"
            else:
                sq = added(stat(name, w, "sq"), "0.0")
                var = (
                    f"greatest(0.0, ({sq} - CAST({total} AS DOUBLE) * CAST({total} AS DOUBLE) "
                    f"/ {cnt}) / ({cnt} - 1))"
                )
                value = f"CASE WHEN {cnt} > 1 THEN {var if a.fn == 'var' else f'sqrt({var})'} END"
        elif a.fn in ("min", "max"):
            parts = stat(name, w, a.fn)
            # least/greatest skip nulls; a window of null values only is null
            value = f"{'least' if a.fn == 'min' else 'greatest'}({', '.join(parts)})"
        elif a.fn == "last":
            value = (
                f"CASE WHEN {ut} > {t} - {_us(w)} THEN u.{_n(f'last{last_cols.index(name)}')} END"
            )
        else:
            raise ValueError(f"internal error: {a.fn!r} has no fast plan; please report it")
        outputs.append(f"{value} AS {quote_ident(out)}")
    longest = max(windows)
    outputs.append(f"coalesce({ut} > {t} - {_us(longest)}, false) AS {quote_ident(q.matched)}")
    body = select(
        [f"u.{q_row}", *outputs],
        [f"{_n('upper')} AS u"],
        joins=[[f"LEFT JOIN {_n('pivot')} AS l", f"  ON u.{q_row} = l.{q_row}"]],
        order_by=[f"u.{q_row}"],
    )
    ctes = [("idx", idx), ("cuts", cuts), ("probes", probes), ("looked", looked)]
    ctes += [("pivot", pivot), ("upper", upper)]
    lines = ["WITH"]
    for i, (name, part) in enumerate(ctes):
        block = subquery(part)
        block[0] = f"{_n(name)} AS {block[0]}"
        block[-1] += "," if i < len(ctes) - 1 else ""
        lines += indent(block)
    return render([*lines, *body])


def range_sql(q: WindowQuery) -> str:
    """The query of ``q``'s aggregations as a range join of each entity row with the
    stored rows of its window (with ``created_ts <= t`` when bitemporal): ``__fs_row``,
    each output in order, then the matched flag."""
    keys = [quote_ident(k) for k in q.keys]
    q_ts, q_row, q_created, q_rank = (quote_ident(c) for c in (TS, ROW, CREATED, RANK))
    t_col = _n("t")
    columns = sorted({a.column for a, _ in q.aggregations})
    where = []
    if q.bitemporal:
        where.append(f"{q_created} IS NOT NULL")
        if q.max_entity_ts is not None:
            where.append(f"{q_created} <= {_lit(q.max_entity_ts)}")
    scan = _scan(
        q,
        [
            *keys,
            f"make_timestamp(epoch_us({q_ts})) AS {t_col}",
            f"make_timestamp(epoch_us({q_created})) AS {_n('c')}",
            q_rank,
            *(quote_ident(c) for c in columns),
        ],
        where,
    )
    longest = max(a.window_us for a, _ in q.aggregations)
    on = [f"e.{k} = v.{k}" for k in keys]
    on += [f"v.{t_col} <= e.{q_ts}", f"v.{t_col} > e.{q_ts} - {_us(longest)}"]
    if q.bitemporal:
        on.append(f"v.{_n('c')} <= e.{q_ts}")
    kinds = dict(q.kinds)
    order = f"ORDER BY v.{t_col}, v.{q_rank}"
    outputs = []
    for a, out in q.aggregations:
        c = f"v.{quote_ident(a.column)}"
        if kinds.get(a.column) == "bool" and a.fn in ("sum", "mean", "var", "std"):
            c = f"CAST({c} AS INTEGER)"
        inside = f"FILTER (WHERE v.{t_col} > e.{q_ts} - {_us(a.window_us)})"
        value = {
            "count": f"count({c}) {inside}",
            "sum": f"sum({c} {order}) {inside}",
            "mean": f"avg({c} {order}) {inside}",
            "var": f"var_samp({c} {order}) {inside}",
            "std": f"stddev_samp({c} {order}) {inside}",
            "min": f"min({c}) {inside}",
            "max": f"max({c}) {inside}",
            "last": f"arg_max_null({c}, {{'t': v.{t_col}, 'r': -v.{q_rank}}}) {inside}",
            "count_distinct": f"count(DISTINCT {c}) {inside}",
        }[a.fn]
        if a.fn == "sum":
            value = f"CAST({value} AS {'DOUBLE' if kinds.get(a.column) == 'float' else 'BIGINT'})"
        elif a.fn == "var" or a.fn == "std":
            value = f"CAST({value} AS DOUBLE)"
        outputs.append(f"{value} AS {quote_ident(out)}")
    outputs.append(f"count(v.{t_col}) > 0 AS {quote_ident(q.matched)}")
    return render(
        select(
            [f"e.{q_row}", *outputs],
            [f"{ENTITY} AS e"],
            joins=[
                [
                    "LEFT JOIN " + subquery(scan, "v")[0],
                    *subquery(scan, "v")[1:],
                    f"  ON {on[0]}",
                    *(f"  AND {cond}" for cond in on[1:]),
                ]
            ],
            group_by=[f"e.{q_row}"],
            order_by=[f"e.{q_row}"],
        )
    )


def empty_sql(q: WindowQuery) -> str:
    """Nothing materialized in reach: every count 0, every other value null."""
    outputs = [
        f"{'0' if a.fn in ('count', 'count_distinct') else 'NULL'} AS {quote_ident(out)}"
        for a, out in q.aggregations
    ]
    q_row = quote_ident(ROW)
    return render(
        select(
            [f"e.{q_row}", *outputs, f"false AS {quote_ident(q.matched)}"],
            [f"{ENTITY} AS e"],
            order_by=[f"e.{q_row}"],
        )
    )


def window_parts(q: WindowQuery) -> list[tuple[WindowQuery, str]]:
    """The queries that answer ``q``, each with its SQL: the piecewise plan for what it
    can answer, the range join for the rest (bitemporal reads, ``count_distinct``)."""
    if not q.files:
        return [(q, empty_sql(q))]
    fast = () if q.bitemporal else tuple(p for p in q.aggregations if p[0].fn != "count_distinct")
    rest = tuple(p for p in q.aggregations if p not in fast)
    parts = []
    if fast:
        part = replace(q, aggregations=fast)
        parts.append((part, fast_sql(part)))
    if rest:
        part = replace(q, aggregations=rest)
        parts.append((part, range_sql(part)))
    return parts
