"""DuckDB SQL for a point-in-time query: a pure function of the engine-neutral plan
(:class:`featstore.pit.PitQuery`), golden-tested in ``tests/golden/pit_*.sql``.

Default mode: an ``ASOF LEFT JOIN`` on ``feature_ts`` over rank-1 rows; the TTL nulls a
match that is too old (the match is the latest candidate, so if it is too old, every
candidate is).

Bitemporal mode (also ``created_ts <= entity_ts``): a row becomes known at
``avail = max(feature_ts, created_ts)``. Walking a key's rows in ``avail`` order, keep
only rows that beat every row known before them; the best row known at time ``t`` is then
the last kept row with ``avail <= t``: again one ``ASOF`` join, on ``avail``.

The text is laid out one clause per line with indented subqueries (see
:mod:`featstore.engine.sqltext`), so a golden diff reads like the query.
"""

from __future__ import annotations

from datetime import datetime

from featstore.columns import CREATED, ENTITY, FILE, INTERNAL, RANK, ROW, TS
from featstore.engine.sqltext import Lines, render, select, subquery
from featstore.names import quote_file, quote_ident, quote_literal
from featstore.pit import (
    PitQuery,
    ViewJoin,
    check_names,
    detail_columns,
    matched_column,
)

__all__ = ["MAX_TTL_US", "build_sql"]

# A TTL past this (about 146,000 years) outlasts any timestamp pair featstore meets; it
# is clamped so the interval fits DuckDB's 64-bit microseconds (``timedelta.max`` does not).
MAX_TTL_US = 2**62


def _ts_literal(ts: datetime) -> str:
    return f"TIMESTAMP {quote_literal(ts.isoformat(sep=' ', timespec='microseconds'))}"


def _ttl_interval(ttl_us: int) -> str:
    return f"INTERVAL ({min(ttl_us, MAX_TTL_US)}) MICROSECONDS"


def _view_relation(q: PitQuery, v: ViewJoin, n: int) -> Lines:
    """The lines of view ``n``'s candidate rows (a SELECT, without parentheses)."""
    q_ts, q_rank, q_created = quote_ident(TS), quote_ident(RANK), quote_ident(CREATED)
    alias = f"{INTERNAL}v{n}"
    files = ", ".join(quote_file(f) for f in v.files)
    scan = f"read_parquet([{files}]{f', filename = {quote_literal(FILE)}' if q.detail else ''})"
    # event and created times are stored UTC-adjusted (older files: naive UTC); the query
    # compares them as naive UTC, like the entity rows. Through epoch microseconds, which
    # reads either type alike and costs no time-zone conversion (a CAST to TIMESTAMP does)
    scan = (
        f"(SELECT * REPLACE (make_timestamp(epoch_us({q_ts})) AS {q_ts}, "
        f"make_timestamp(epoch_us({q_created})) AS {q_created}) FROM {scan})"
    )
    keys = [quote_ident(k) for k in v.keys]
    feats = [
        f"{quote_ident(col)} AS {quote_ident(f'{alias}_f{i}')}"
        for i, (col, _) in enumerate(v.features)
    ]
    extra = []
    if q.detail:
        _, d_created, d_file = detail_columns(n)
        extra = [
            f"{q_created} AS {quote_ident(d_created)}",
            f"{quote_ident(FILE)} AS {quote_ident(d_file)}",
        ]
    bounds = []
    if q.max_entity_ts is not None:
        bounds.append(f"{q_ts} <= {_ts_literal(q.max_entity_ts)}")
    if v.ttl_us is not None and q.min_entity_ts is not None:
        bounds.append(f"{q_ts} >= {_ts_literal(q.min_entity_ts)} - {_ttl_interval(v.ttl_us)}")
    if not q.bitemporal:
        cols = [*keys, f"{q_ts} AS {quote_ident(alias + '_ts')}", *feats, *extra]
        return select(cols, [scan], where=[f"{q_rank} = 1", *bounds])
    # bitemporal: a row whose creation time is unknown is never a candidate
    bounds.append(f"{q_created} IS NOT NULL")
    if q.max_entity_ts is not None:
        bounds.append(f"{q_created} <= {_ts_literal(q.max_entity_ts)}")
    avail, order, prev = (quote_ident(f"{INTERNAL}{x}") for x in ("avail", "order", "prev"))
    inner = select(
        [
            "*",
            f"greatest({q_ts}, {q_created}) AS {avail}",
            f"{{'ts': {q_ts}, 'rank': -{q_rank}}} AS {order}",
        ],
        [scan],
        where=bounds,
    )
    part = ", ".join(keys)
    breakers = select(
        [
            "*",
            f"max({order}) OVER (PARTITION BY {part} ORDER BY {avail}, {order} "
            f"ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS {prev}",
        ],
        subquery(inner),
    )
    kept = select(
        ["*"],
        subquery(breakers),
        where=[f"{prev} IS NULL OR {order} > {prev}"],
        qualify=f"row_number() OVER (PARTITION BY {part}, {avail} ORDER BY {order} DESC) = 1",
    )
    cols = [
        *keys,
        f"{avail} AS {quote_ident(alias + '_avail')}",
        f"{q_ts} AS {quote_ident(alias + '_ts')}",
        *feats,
        *extra,
    ]
    return select(cols, subquery(kept))


def build_sql(q: PitQuery) -> str:
    """The DuckDB SQL text of a point-in-time query over the registered entity relation
    (``__fs_entity``: ``__fs_row``, the join keys, ``__fs_ts``).

    The result is ``__fs_row``, the features under their output names, and per view
    ``n`` a boolean :func:`~featstore.pit.matched_column` (plus
    :func:`~featstore.pit.detail_columns` with ``detail``), in entity-row order.
    """
    e_ts = f"e.{quote_ident(TS)}"
    columns = [f"e.{quote_ident(ROW)}"]
    joins: list[Lines] = []
    for n, v in enumerate(q.views):
        check_names(v)
        alias = f"{INTERNAL}v{n}"
        if not v.files:
            # nothing materialized in reach: every value is null, typed by the caller
            for _, out in v.features:
                columns.append(f"NULL AS {quote_ident(out)}")
            columns.append(f"false AS {quote_ident(matched_column(n))}")
            if q.detail:
                columns += [f"NULL AS {quote_ident(c)}" for c in detail_columns(n)]
            continue
        on = [f"e.{quote_ident(k)} = {alias}.{quote_ident(k)}" for k in v.keys]
        at = f"{alias}.{quote_ident(alias + ('_avail' if q.bitemporal else '_ts'))}"
        on.append(f"{e_ts} >= {at}")
        relation = subquery(_view_relation(q, v, n), alias)
        joins.append(
            [
                "ASOF LEFT JOIN " + relation[0],
                *relation[1:],
                f"  ON {on[0]}",
                *(f"  AND {cond}" for cond in on[1:]),
            ]
        )
        match_ts = f"{alias}.{quote_ident(alias + '_ts')}"
        fresh = (
            f"{match_ts} >= {e_ts} - {_ttl_interval(v.ttl_us)}"
            if v.ttl_us is not None
            else f"{match_ts} IS NOT NULL"
        )
        gate = f"CASE WHEN {fresh} THEN {{}} END" if v.ttl_us is not None else "{}"
        for i, (_, out) in enumerate(v.features):
            value = gate.format(f"{alias}.{quote_ident(f'{alias}_f{i}')}")
            columns.append(f"{value} AS {quote_ident(out)}")
        columns.append(f"coalesce({fresh}, false) AS {quote_ident(matched_column(n))}")
        if q.detail:
            d_ts, d_created, d_file = detail_columns(n)
            columns += [
                f"{gate.format(match_ts)} AS {quote_ident(d_ts)}",
                f"{gate.format(f'{alias}.{quote_ident(d_created)}')} AS {quote_ident(d_created)}",
                f"{gate.format(f'{alias}.{quote_ident(d_file)}')} AS {quote_ident(d_file)}",
            ]
    return render(
        select(columns, [f"{ENTITY} AS e"], joins=joins, order_by=[f"e.{quote_ident(ROW)}"])
    )
