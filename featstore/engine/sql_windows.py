"""DuckDB SQL for the window aggregations that the window index cannot answer: a pure
function of the engine-neutral plan (:class:`featstore.aggregations.WindowQuery`).

Bitemporal reads (``created_ts <= t`` as well) cannot be cut into pieces summarised in
advance, so :func:`range_sql` joins each entity row with the stored rows of its window
(``t - w < ts <= t``) and aggregates them; :func:`empty_sql` answers
when no file is in reach. The index plan is :mod:`featstore.engine.frame_windows`.
"""

from __future__ import annotations

from datetime import datetime

from featstore.aggregations import WindowQuery
from featstore.columns import CREATED, ENTITY, INTERNAL, RANK, ROW, TS
from featstore.engine.sqltext import Lines, render, select, subquery
from featstore.names import quote_file, quote_ident, quote_literal

__all__ = ["empty_sql", "range_sql"]


def _lit(ts: datetime) -> str:
    return f"TIMESTAMP {quote_literal(ts.isoformat(sep=' ', timespec='microseconds'))}"


def _us(n: int) -> str:
    return f"INTERVAL ({n}) MICROSECONDS"


def _n(name: str) -> str:
    return quote_ident(f"{INTERNAL}{name}")


def _scan(q: WindowQuery, columns: list[str], where: list[str], rows: str | None) -> Lines:
    files = ", ".join(quote_file(f) for f in q.files)
    q_ts = quote_ident(TS)
    if q.max_entity_ts is not None:
        where = [*where, f"{q_ts} <= {_lit(q.max_entity_ts)}"]
    return select(columns, [rows or f"read_parquet([{files}])"], where=where)


def range_sql(q: WindowQuery, rows: str | None = None) -> str:
    """The query of ``q``'s aggregations as a range join of each entity row with the
    stored rows of its window (with ``created_ts <= t`` when bitemporal): ``__fs_row``,
    each output in order, then the matched flag. The stored rows are read from
    ``q.files``, or from the registered relation ``rows`` when given."""
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
        rows,
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
