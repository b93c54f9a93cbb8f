"""Point-in-time join SQL, built as a pure function of a small query object.

For each entity row and each view the contract (docs/point-in-time.md) picks, among
feature rows with the same keys and ``feature_ts <= entity_ts`` (and, with a TTL,
``feature_ts >= entity_ts - ttl``), the one with the latest ``feature_ts``, then the
latest created timestamp, then a deterministic rule on the feature values. Stored rows
carry ``__fs_rank``: 1 for the winner among rows sharing keys and ``feature_ts``.

Default mode: an ``ASOF LEFT JOIN`` on ``feature_ts`` over rank-1 rows; the TTL nulls
a match that is too old (the match is the latest candidate, so if it is too old, every
candidate is).

Bitemporal mode (also ``created_ts <= entity_ts``): a row becomes known at
``avail = max(feature_ts, created_ts)``. Walking a key's rows in ``avail`` order, keep
only rows that beat every row known before them; the best row known at time ``t`` is then
the last kept row with ``avail <= t``: again one ``ASOF`` join, on ``avail``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from featstore.compute import CREATED, RANK, TS
from featstore.names import quote_ident, quote_literal

__all__ = ["PitQuery", "ViewJoin", "build_sql"]

ENTITY = "__fs_entity"
ROW = "__fs_row"


@dataclass(frozen=True, slots=True)
class ViewJoin:
    """One view in a point-in-time query."""

    files: tuple[str, ...]
    keys: tuple[str, ...]
    features: tuple[tuple[str, str], ...]  # (stored column, output name)
    ttl_us: int | None = None


@dataclass(frozen=True, slots=True)
class PitQuery:
    """A whole point-in-time query over the registered entity relation."""

    views: tuple[ViewJoin, ...]
    bitemporal: bool = False
    min_entity_ts: datetime | None = None
    max_entity_ts: datetime | None = None


def _ts_literal(ts: datetime) -> str:
    return f"TIMESTAMP {quote_literal(ts.isoformat(sep=' ', timespec='microseconds'))}"


# A TTL past this (about 146,000 years) outlasts any timestamp pair featstore meets; it
# is clamped so the interval fits DuckDB's 64-bit microseconds (``timedelta.max`` does not).
MAX_TTL_US = 2**62


def _ttl_interval(ttl_us: int) -> str:
    return f"INTERVAL ({min(ttl_us, MAX_TTL_US)}) MICROSECONDS"


def _view_relation(q: PitQuery, v: ViewJoin, alias: str) -> str:
    q_ts, q_rank, q_created = quote_ident(TS), quote_ident(RANK), quote_ident(CREATED)
    files = ", ".join(quote_literal(f) for f in v.files)
    scan = f"read_parquet([{files}])"
    keys = [quote_ident(k) for k in v.keys]
    feats = [
        f"{quote_ident(col)} AS {quote_ident(f'{alias}_{i}')}"
        for i, (col, _) in enumerate(v.features)
    ]
    bounds = []
    if q.max_entity_ts is not None:
        bounds.append(f"{q_ts} <= {_ts_literal(q.max_entity_ts)}")
    if v.ttl_us is not None and q.min_entity_ts is not None:
        bounds.append(f"{q_ts} >= {_ts_literal(q.min_entity_ts)} - {_ttl_interval(v.ttl_us)}")
    if not q.bitemporal:
        where = " AND ".join([f"{q_rank} = 1", *bounds])
        cols = ", ".join([*keys, f"{q_ts} AS {quote_ident(alias + '_ts')}", *feats])
        return f"(SELECT {cols} FROM {scan} WHERE {where})"
    avail = f"greatest({q_ts}, coalesce({q_created}, {q_ts}))"
    order = f"{{'ts': {q_ts}, 'rank': -{q_rank}}}"
    part = ", ".join(keys)
    where = f"WHERE {' AND '.join(bounds)}" if bounds else ""
    inner = f"SELECT *, {avail} AS __fs_avail, {order} AS __fs_order FROM {scan} {where}"
    breakers = (
        f"SELECT *, max(__fs_order) OVER (PARTITION BY {part} ORDER BY __fs_avail, __fs_order "
        f"ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS __fs_prev FROM ({inner})"
    )
    kept = (
        f"SELECT * FROM ({breakers}) WHERE __fs_prev IS NULL OR __fs_order > __fs_prev "
        f"QUALIFY row_number() OVER (PARTITION BY {part}, __fs_avail ORDER BY __fs_order DESC) = 1"
    )
    cols = ", ".join(
        [
            *keys,
            f"__fs_avail AS {quote_ident(alias + '_avail')}",
            f"{q_ts} AS {quote_ident(alias + '_ts')}",
            *feats,
        ]
    )
    return f"(SELECT {cols} FROM ({kept}))"


def build_sql(q: PitQuery) -> str:
    """The SQL text of a point-in-time query; the result is ``(__fs_row, features...)``."""
    e_ts = f"e.{quote_ident(TS)}"
    select = [f"e.{quote_ident(ROW)}"]
    joins = []
    for n, v in enumerate(q.views):
        alias = f"v{n}"
        on = [f"e.{quote_ident(k)} = {alias}.{quote_ident(k)}" for k in v.keys]
        at = f"{alias}.{quote_ident(alias + ('_avail' if q.bitemporal else '_ts'))}"
        on.append(f"{e_ts} >= {at}")
        if not v.files:
            # nothing materialized in reach: every value is null, typed by the caller
            for _, out in v.features:
                select.append(f"NULL AS {quote_ident(out)}")
            continue
        joins.append(
            f"ASOF LEFT JOIN {_view_relation(q, v, alias)} AS {alias} ON {' AND '.join(on)}"
        )
        fresh = (
            f"{alias}.{quote_ident(alias + '_ts')} >= {e_ts} - {_ttl_interval(v.ttl_us)}"
            if v.ttl_us is not None
            else None
        )
        for i, (_, out) in enumerate(v.features):
            value = f"{alias}.{quote_ident(f'{alias}_{i}')}"
            if fresh:
                value = f"CASE WHEN {fresh} THEN {value} END"
            select.append(f"{value} AS {quote_ident(out)}")
    return (
        f"SELECT {', '.join(select)} FROM {ENTITY} AS e "
        + " ".join(joins)
        + f" ORDER BY e.{quote_ident(ROW)}"
    )
