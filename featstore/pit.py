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

from dataclasses import dataclass, replace
from datetime import datetime

from featstore.compute import CREATED, RANK, TS
from featstore.errors import DefinitionError
from featstore.names import quote_file, quote_ident, quote_literal, reserved

__all__ = [
    "PitQuery",
    "ViewJoin",
    "build_sql",
    "detail_columns",
    "matched_column",
    "split_query",
]

ENTITY = "__fs_entity"
ROW = "__fs_row"
# Every name the builder makes up starts with this prefix. Users' join keys and feature
# names may not (Entity and FeatureView refuse it), so no generated alias can ever
# collide with a user's column, whatever the user names things.
INTERNAL = "__fs_"
FILE = "__fs_file"


def matched_column(n: int) -> str:
    """The output column that says whether entity rows matched view ``n`` (within TTL)."""
    return f"{INTERNAL}m{n}"


def detail_columns(n: int) -> tuple[str, str, str]:
    """With ``PitQuery.detail``: the winner's event time, created time and file of view ``n``."""
    return f"{INTERNAL}v{n}_ts", f"{INTERNAL}v{n}_created", f"{INTERNAL}v{n}_file"


@dataclass(frozen=True, slots=True)
class ViewJoin:
    """One view in a point-in-time query."""

    files: tuple[str, ...]
    keys: tuple[str, ...]
    features: tuple[tuple[str, str], ...]  # (stored column, output name)
    ttl_us: int | None = None


@dataclass(frozen=True, slots=True)
class PitQuery:
    """A whole point-in-time query over the registered entity relation.

    ``detail`` adds, per view, the winning row's event time, created time and file
    (:func:`detail_columns`): what explain shows for one prediction.
    """

    views: tuple[ViewJoin, ...]
    bitemporal: bool = False
    min_entity_ts: datetime | None = None
    max_entity_ts: datetime | None = None
    detail: bool = False


def _ts_literal(ts: datetime) -> str:
    return f"TIMESTAMP {quote_literal(ts.isoformat(sep=' ', timespec='microseconds'))}"


# A TTL past this (about 146,000 years) outlasts any timestamp pair featstore meets; it
# is clamped so the interval fits DuckDB's 64-bit microseconds (``timedelta.max`` does not).
MAX_TTL_US = 2**62


def _ttl_interval(ttl_us: int) -> str:
    return f"INTERVAL ({min(ttl_us, MAX_TTL_US)}) MICROSECONDS"


def _check_names(v: ViewJoin) -> None:
    for name in (*v.keys, *(col for col, _ in v.features if col not in _STORED)):
        if reserved([name]):
            raise DefinitionError(
                f"column {name!r} starts with {INTERNAL!r}, which featstore reserves for its "
                f"own columns; rename it in the feature view"
            )


_STORED = frozenset({TS, CREATED, RANK})


def _view_relation(q: PitQuery, v: ViewJoin, n: int) -> str:
    q_ts, q_rank, q_created = quote_ident(TS), quote_ident(RANK), quote_ident(CREATED)
    alias = f"{INTERNAL}v{n}"
    files = ", ".join(quote_file(f) for f in v.files)
    scan = f"read_parquet([{files}]{f', filename = {quote_literal(FILE)}' if q.detail else ''})"
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
        where = " AND ".join([f"{q_rank} = 1", *bounds])
        cols = ", ".join([*keys, f"{q_ts} AS {quote_ident(alias + '_ts')}", *feats, *extra])
        return f"(SELECT {cols} FROM {scan} WHERE {where})"
    # bitemporal: a row whose creation time is unknown is never a candidate
    bounds.append(f"{q_created} IS NOT NULL")
    if q.max_entity_ts is not None:
        bounds.append(f"{q_created} <= {_ts_literal(q.max_entity_ts)}")
    avail, order, prev = (quote_ident(f"{INTERNAL}{x}") for x in ("avail", "order", "prev"))
    inner = (
        f"SELECT *, greatest({q_ts}, {q_created}) AS {avail}, "
        f"{{'ts': {q_ts}, 'rank': -{q_rank}}} AS {order} FROM {scan} WHERE {' AND '.join(bounds)}"
    )
    part = ", ".join(keys)
    breakers = (
        f"SELECT *, max({order}) OVER (PARTITION BY {part} ORDER BY {avail}, {order} "
        f"ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS {prev} FROM ({inner})"
    )
    kept = (
        f"SELECT * FROM ({breakers}) WHERE {prev} IS NULL OR {order} > {prev} "
        f"QUALIFY row_number() OVER (PARTITION BY {part}, {avail} ORDER BY {order} DESC) = 1"
    )
    cols = ", ".join(
        [
            *keys,
            f"{avail} AS {quote_ident(alias + '_avail')}",
            f"{q_ts} AS {quote_ident(alias + '_ts')}",
            *feats,
            *extra,
        ]
    )
    return f"(SELECT {cols} FROM ({kept}))"


def build_sql(q: PitQuery) -> str:
    """The SQL text of a point-in-time query.

    The result is ``__fs_row``, the features under their output names, and per view
    ``n`` a boolean :func:`matched_column` (plus :func:`detail_columns` with ``detail``).
    """
    e_ts = f"e.{quote_ident(TS)}"
    select = [f"e.{quote_ident(ROW)}"]
    joins = []
    for n, v in enumerate(q.views):
        _check_names(v)
        alias = f"{INTERNAL}v{n}"
        if not v.files:
            # nothing materialized in reach: every value is null, typed by the caller
            for _, out in v.features:
                select.append(f"NULL AS {quote_ident(out)}")
            select.append(f"false AS {quote_ident(matched_column(n))}")
            if q.detail:
                select += [f"NULL AS {quote_ident(c)}" for c in detail_columns(n)]
            continue
        on = [f"e.{quote_ident(k)} = {alias}.{quote_ident(k)}" for k in v.keys]
        at = f"{alias}.{quote_ident(alias + ('_avail' if q.bitemporal else '_ts'))}"
        on.append(f"{e_ts} >= {at}")
        joins.append(f"ASOF LEFT JOIN {_view_relation(q, v, n)} AS {alias} ON {' AND '.join(on)}")
        match_ts = f"{alias}.{quote_ident(alias + '_ts')}"
        fresh = (
            f"{match_ts} >= {e_ts} - {_ttl_interval(v.ttl_us)}"
            if v.ttl_us is not None
            else f"{match_ts} IS NOT NULL"
        )
        gate = f"CASE WHEN {fresh} THEN {{}} END" if v.ttl_us is not None else "{}"
        for i, (_, out) in enumerate(v.features):
            value = gate.format(f"{alias}.{quote_ident(f'{alias}_f{i}')}")
            select.append(f"{value} AS {quote_ident(out)}")
        select.append(f"coalesce({fresh}, false) AS {quote_ident(matched_column(n))}")
        if q.detail:
            d_ts, d_created, d_file = detail_columns(n)
            select += [
                f"{gate.format(match_ts)} AS {quote_ident(d_ts)}",
                f"{gate.format(f'{alias}.{quote_ident(d_created)}')} AS {quote_ident(d_created)}",
                f"{gate.format(f'{alias}.{quote_ident(d_file)}')} AS {quote_ident(d_file)}",
            ]
    return (
        f"SELECT {', '.join(select)} FROM {ENTITY} AS e "
        + " ".join(joins)
        + f" ORDER BY e.{quote_ident(ROW)}"
    )


# DuckDB's ASOF join and ORDER BY cost more per column the wider their rows are: from 300
# to 1,200 float features, 100k entity rows, EXPLAIN ANALYZE showed the ASOF join 5.5x and
# the ORDER BY 5.7x slower for 4x the columns (benchmarks/retrieval_width.py; 2 cores). A
# query with more feature columns than this runs as several queries over slices of the
# features, each of this many columns at most, so its time grows linearly with the number
# of features (slices of 50 to 200 columns were equally fast there; 25 was slower).
MAX_QUERY_COLUMNS = 100


def split_query(
    q: PitQuery, max_columns: int | None = None
) -> list[tuple[PitQuery, tuple[int, ...]]]:
    """``q`` as queries of at most ``max_columns`` feature columns each (default
    :data:`MAX_QUERY_COLUMNS`), in order: each query's views are slices of consecutive
    features of ``q``'s views, paired with the index in ``q.views`` of each one.

    Every slice of a view picks the same feature row for an entity row: its rank-1 rows
    have distinct ``(keys, feature_ts)`` (bitemporal: distinct ``(keys, avail)``), so the
    ASOF match does not depend on which columns come along. So the queries' results,
    side by side, are ``q``'s result; a view's matched (and detail) columns are the same
    in every query that has a slice of it. A query of ``max_columns`` or fewer feature
    columns is returned as it is.
    """
    limit = MAX_QUERY_COLUMNS if max_columns is None else max_columns
    if limit < 1:
        raise ValueError(f"max_columns must be at least 1, not {max_columns!r}")
    if sum(len(v.features) for v in q.views) <= limit:
        return [(q, tuple(range(len(q.views))))]
    parts: list[tuple[list[ViewJoin], list[int]]] = [([], [])]
    room = limit
    for n, v in enumerate(q.views):
        rest = v.features
        while True:
            if room == 0:
                parts.append(([], []))
                room = limit
            piece, rest = rest[:room], rest[room:]
            parts[-1][0].append(replace(v, features=piece))
            parts[-1][1].append(n)
            room -= len(piece)
            if not rest:
                break
    return [(replace(q, views=tuple(views)), tuple(index)) for views, index in parts]
