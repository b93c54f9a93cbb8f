"""Point-in-time joins on Spark: the engine-neutral plan (:class:`featstore.pit.PitQuery`)
as DataFrame operations, one view at a time.

Spark SQL has no ``ASOF JOIN``; the as-of match is the standard union and window: the
entity rows and a view's candidate rows are put in one frame, partitioned by the join
keys and ordered by instant, candidates before entity rows at equal instants (so a
candidate at the entity timestamp is in reach), and each entity row takes the last
candidate before it (``last(..., ignorenulls)`` over the rows up to it). Every instant is
compared as epoch microseconds, so zoned and naive stored timestamps read alike.

The candidates are what :mod:`featstore.engine.sql_pit` selects for DuckDB: rank-1 rows
in default mode; in bitemporal mode the rows that beat every row known before them,
walked in ``avail = max(feature_ts, created_ts)`` order, matched on ``avail``. The TTL
nulls a match that is too old. Rows with a null key part are never candidates, so an
entity row with one matches nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from featstore.columns import CREATED, FILE, INTERNAL, RANK, ROW, TS
from featstore.engine.sql_pit import MAX_TTL_US
from featstore.pit import PitQuery, ViewJoin, check_names, detail_columns, matched_column

__all__ = ["AT", "column", "micros", "view_frame"]

AT = f"{INTERNAL}t"  # an entity row's instant, epoch microseconds
_KIND = f"{INTERNAL}kind"  # 0: a candidate, 1: an entity row (candidates sort first)
_HIT = f"{INTERNAL}hit"  # a candidate's payload; an entity row's matched candidate
_AVAIL = f"{INTERNAL}avail"
_ORDER = f"{INTERNAL}order"
_PREV = f"{INTERNAL}prev"


def column(name: str) -> Column:
    """The column ``name``, quoted: a dot or backtick in it is part of the name."""
    return F.col("`" + name.replace("`", "``") + "`")


def micros(name: str) -> Column:
    """A stored timestamp column as epoch microseconds (zoned or naive alike)."""
    return F.unix_micros(column(name).cast("timestamp"))


def _candidates(q: PitQuery, v: ViewJoin, rows: DataFrame) -> DataFrame:
    """View ``v``'s candidate rows: keys, ``AT``, and the payload struct (``ts``, ``f<i>``
    per feature and, with ``detail``, ``created`` and ``file``)."""
    t, c = micros(TS), micros(CREATED)
    keys = [column(k) for k in v.keys]
    fields: list[tuple[str, Column]] = [("ts", t)]
    fields += [(f"f{i}", column(col)) for i, (col, _) in enumerate(v.features)]
    if q.detail:
        fields += [("created", c), ("file", column(FILE))]
    where = [k.isNotNull() for k in keys]
    if q.max_entity_ts is not None:
        where.append(t <= F.lit(_us(q.max_entity_ts)))
    if v.ttl_us is not None and q.min_entity_ts is not None:
        where.append(t >= F.lit(_us(q.min_entity_ts) - min(v.ttl_us, MAX_TTL_US)))
    payload = F.struct(*(value.alias(name) for name, value in fields))
    if not q.bitemporal:
        where.append(column(RANK) == 1)
        picked = rows.where(_all(where)).select(*keys, t.alias(AT), payload.alias(_HIT))
        return picked
    # bitemporal: a row whose creation time is unknown is never a candidate
    where.append(c.isNotNull())
    if q.max_entity_ts is not None:
        where.append(c <= F.lit(_us(q.max_entity_ts)))
    order = F.struct(t.alias("ts"), (-column(RANK)).alias("rank"))
    known = rows.where(_all(where)).select(
        *keys,
        F.greatest(t, c).alias(_AVAIL),
        order.alias(_ORDER),
        payload.alias(_HIT),
    )
    walk = (
        Window.partitionBy(*keys).orderBy(_AVAIL, _ORDER).rowsBetween(Window.unboundedPreceding, -1)
    )
    kept = known.withColumn(_PREV, F.max(_ORDER).over(walk)).where(
        F.col(_PREV).isNull() | (F.col(_ORDER) > F.col(_PREV))
    )
    best = Window.partitionBy(*keys, _AVAIL).orderBy(F.col(_ORDER).desc())
    kept = kept.withColumn(_PREV, F.row_number().over(best)).where(F.col(_PREV) == 1)
    return kept.select(*keys, F.col(_AVAIL).alias(AT), _HIT)


def view_frame(
    q: PitQuery,
    n: int,
    entity: DataFrame,
    read: Callable[[tuple[str, ...], bool], DataFrame],
) -> DataFrame:
    """View ``n`` of ``q`` at each entity row (``entity``: ``__fs_row``, the keys,
    :data:`AT`): ``__fs_row``, the features under their output names, the matched flag
    and, with ``detail``, the detail columns (instants as epoch microseconds). ``read``
    gives the stored rows of files (with ``__fs_file`` when asked)."""
    v = q.views[n]
    check_names(v)
    keys = list(v.keys)
    found = _candidates(q, v, read(v.files, q.detail))
    probes = entity.select(*(column(k) for k in keys), AT, column(ROW))
    both = probes.withColumn(_KIND, F.lit(1)).unionByName(
        found.withColumn(_KIND, F.lit(0)), allowMissingColumns=True
    )
    upto = (
        Window.partitionBy(*(column(k) for k in keys))
        .orderBy(AT, _KIND)
        .rowsBetween(Window.unboundedPreceding, Window.currentRow)
    )
    hit = F.last(_HIT, ignorenulls=True).over(upto)
    matched = both.select(column(ROW), AT, _KIND, hit.alias(_HIT)).where(F.col(_KIND) == 1)
    match_ts = F.col(f"{_HIT}.ts")
    if v.ttl_us is None:
        fresh = match_ts.isNotNull()
    else:
        fresh = match_ts >= F.col(AT) - F.lit(min(v.ttl_us, MAX_TTL_US))

    def gated(value: Column) -> Column:
        return F.when(fresh, value) if v.ttl_us is not None else value

    out = [column(ROW)]
    out += [gated(F.col(f"{_HIT}.f{i}")).alias(name) for i, (_, name) in enumerate(v.features)]
    out.append(F.coalesce(fresh, F.lit(False)).alias(matched_column(n)))
    if q.detail:
        d_ts, d_created, d_file = detail_columns(n)
        out += [
            gated(match_ts).alias(d_ts),
            gated(F.col(f"{_HIT}.created")).alias(d_created),
            gated(F.col(f"{_HIT}.file")).alias(d_file),
        ]
    return matched.select(*out)


def _all(conditions: list[Column]) -> Column:
    out = conditions[0]
    for c in conditions[1:]:
        out = out & c
    return out


_EPOCH = datetime(1970, 1, 1)


def _us(ts: datetime) -> int:
    """A naive-UTC instant as epoch microseconds."""
    return (ts - _EPOCH) // timedelta(microseconds=1)
