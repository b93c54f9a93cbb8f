"""The point-in-time plan: an engine-neutral query object, built once per retrieval.

For each entity row and each view the contract (docs/point-in-time.md) picks, among
feature rows with the same keys and ``feature_ts <= entity_ts`` (and, with a TTL,
``feature_ts >= entity_ts - ttl``), the one with the latest ``feature_ts``, then the
latest created timestamp, then a deterministic rule on the feature values. Stored rows
carry ``__fs_rank``: 1 for the winner among rows sharing keys and ``feature_ts``.

A :class:`PitQuery` says what to join (per view: the files, keys, features and TTL; the
bitemporal flag; the entity rows' time range); an engine renders and runs it
(:mod:`featstore.engine.sql_pit` is DuckDB's pure SQL renderer). :func:`split_query` and
:func:`join_parts` cut a wide query into narrower ones and put their results back
together, the same way for any engine.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

import pyarrow as pa

from featstore.columns import CREATED, INTERNAL, RANK, ROW, TS
from featstore.errors import DefinitionError, PointInTimeError
from featstore.names import reserved

__all__ = [
    "PitQuery",
    "ViewJoin",
    "check_names",
    "detail_columns",
    "join_parts",
    "matched_column",
    "split_query",
    "winner_query",
]


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


def check_names(v: ViewJoin) -> None:
    """Refuse a key or feature column that starts with the reserved prefix: every name a
    renderer makes up starts with it."""
    for name in (*v.keys, *(col for col, _ in v.features if col not in _STORED)):
        if reserved([name]):
            raise DefinitionError(
                f"column {name!r} starts with {INTERNAL!r}, which featstore reserves for its "
                f"own columns; rename it in the feature view"
            )


_STORED = frozenset({TS, CREATED, RANK})


def winner_query(join: ViewJoin, as_of: datetime, *, bitemporal: bool) -> PitQuery:
    """The plan of explain's lookup: the row retrieval picks for one entity row at
    ``as_of`` from one view, with the winner's event time, created time and file
    (``detail``). The same plan type, hence the same renderer and contract, as
    ``get_historical_features``."""
    return PitQuery(
        (join,), bitemporal=bitemporal, min_entity_ts=as_of, max_entity_ts=as_of, detail=True
    )


# DuckDB's ASOF join and ORDER BY cost more per column the wider their rows are: from 300
# to 1,200 float features, 100k entity rows, EXPLAIN ANALYZE showed the ASOF join 5.5x and
# the ORDER BY 5.7x slower for 4x the columns (benchmarks/retrieval_width.py; 2 cores). A
# query with more feature columns than this runs as several queries over slices of the
# features, each of this many columns at most, so its time grows linearly with the number
# of features (slices of 50 to 200 columns were equally fast there; 25 was slower).
MAX_QUERY_COLUMNS = 100


def split_query(
    q: PitQuery, max_columns: int | None = None, *, per_view: bool = False
) -> list[tuple[PitQuery, tuple[int, ...]]]:
    """``q`` as queries of at most ``max_columns`` feature columns each (default
    :data:`MAX_QUERY_COLUMNS`), in order: each query's views are slices of consecutive
    features of ``q``'s views, paired with the index in ``q.views`` of each one.

    Every slice of a view picks the same feature row for an entity row: its rank-1 rows
    have distinct ``(keys, feature_ts)`` (bitemporal: distinct ``(keys, avail)``), so the
    ASOF match does not depend on which columns come along. So the queries' results,
    side by side, are ``q``'s result; a view's matched (and detail) columns are the same
    in every query that has a slice of it. A query of ``max_columns`` or fewer feature
    columns is returned as it is. With ``per_view``, every view also starts a new query:
    each query then holds one view's rows at a time.
    """
    limit = MAX_QUERY_COLUMNS if max_columns is None else max_columns
    if limit < 1:
        raise ValueError(f"max_columns must be at least 1, not {max_columns!r}")
    if sum(len(v.features) for v in q.views) <= limit and (not per_view or len(q.views) < 2):
        return [(q, tuple(range(len(q.views))))]
    parts: list[tuple[list[ViewJoin], list[int]]] = [([], [])]
    room = limit
    for n, v in enumerate(q.views):
        rest = v.features
        if per_view and n:
            room = 0
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


def join_parts(
    query: PitQuery, parts: list[tuple[PitQuery, tuple[int, ...], pa.Table]]
) -> pa.Table:
    """The result of ``query`` from the results of its :func:`split_query` parts: the
    same columns, names and order as one query would give.

    Columns are taken by position (a part's result is ``__fs_row``, then per view slice its
    features, its matched column and, with ``detail``, its detail columns); a view's
    matched and detail columns come from the first part that has a slice of it.
    """
    extra = 1 + (len(detail_columns(0)) if query.detail else 0)
    features: list[list[pa.ChunkedArray]] = [[] for _ in query.views]
    flags: list[list[pa.ChunkedArray] | None] = [None] * len(query.views)
    rows = parts[0][2].num_rows
    for part, index, table in parts:
        if table.num_rows != rows:  # every part has one row per entity row
            raise PointInTimeError(
                f"internal error: point-in-time query parts returned {rows} and "
                f"{table.num_rows} rows; please report it"
            )
        i = 1
        for view, n in zip(part.views, index, strict=True):
            width = len(view.features)
            features[n] += table.columns[i : i + width]
            if flags[n] is None:
                flags[n] = table.columns[i + width : i + width + extra]
            i += width + extra
    columns = [parts[0][2].column(0)]
    names = [ROW]
    for n, view in enumerate(query.views):
        columns += [*features[n], *(flags[n] or [])]
        names += [out for _, out in view.features]
        names.append(matched_column(n))
        if query.detail:
            names += detail_columns(n)
    return pa.Table.from_arrays(columns, names=names)
