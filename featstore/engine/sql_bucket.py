"""DuckDB SQL for materialization's rank-and-merge write of one month: pure functions of
a :class:`~featstore.engine.base.BucketWrite`, golden-tested in
``tests/golden/bucket_*.sql``.

The month's new rows (registered as :data:`NEW_ROWS`) and the rows of its old files that
lie outside the evaluated range are ranked within ``(keys, __fs_ts)``: ``__fs_rank`` 1 is
the row the point-in-time contract picks (latest created timestamp, then the largest
feature values compared in feature-name order, so the pick never depends on the order
the caller lists features in). The result is sorted by keys, time and rank.
"""

from __future__ import annotations

from featstore.columns import CREATED, RANK, TS
from featstore.engine.base import BucketWrite
from featstore.engine.sqltext import Lines, indent, render, select, subquery
from featstore.names import quote_file, quote_ident, quote_literal
from featstore.timeutil import iso

__all__ = ["NEW_ROWS", "bucket_sql", "bucket_stats_sql", "index_exprs", "piece_sql"]

NEW_ROWS = "__fs_new"
"""The name the new rows of a month are registered under while its file is written."""


def bucket_sql(bucket: BucketWrite) -> str:
    """The ``COPY`` statement that writes ``bucket.target``."""
    q_ts = quote_ident(TS)
    utc = set(bucket.utc_columns)
    # naive-UTC timestamps are written as instants (isAdjustedToUTC=true): the same epoch
    # microseconds as TIMESTAMPTZ (no time-zone conversion, which a CAST would cost); old
    # files that hold them naive read alike
    columns = [
        f"make_timestamptz(epoch_us({quote_ident(c)})) AS {quote_ident(c)}"
        if c in utc
        else quote_ident(c)
        for c in (*bucket.keys, TS, CREATED, *bucket.features)
    ]
    union: Lines = select(columns, [NEW_ROWS])
    if bucket.old_files:
        listing = ", ".join(quote_file(p) for p in bucket.old_files)
        union += ["UNION ALL"]
        union += select(
            columns,
            [f"read_parquet([{listing}])"],
            where=[
                f"NOT ({q_ts} >= TIMESTAMP {quote_literal(iso(bucket.start))} "
                f"AND {q_ts} < TIMESTAMP {quote_literal(iso(bucket.end))})"
            ],
        )
    # the last tie-break compares feature values in feature-*name* order, so it does
    # not depend on how the caller happened to order ``features`` (catalog records
    # are sorted JSON, but a view with an unparsed dtype came in output order)
    order = ", ".join(
        [f"{quote_ident(CREATED)} DESC NULLS LAST"]
        + [f"{quote_ident(f)} DESC NULLS LAST" for f in sorted(bucket.features)]
    )
    partition = ", ".join(quote_ident(c) for c in (*bucket.keys, TS))
    rank = f"row_number() OVER (PARTITION BY {partition} ORDER BY {order}) AS {quote_ident(RANK)}"
    if bucket.index:
        with_rank = select(["*", rank], subquery(union))
        ranked = select(
            ["*", *index_exprs(bucket)],
            subquery(with_rank),
            order_by=[partition, quote_ident(RANK)],
        )
    else:
        ranked = select(["*", rank], subquery(union), order_by=[partition, quote_ident(RANK)])
    options = "FORMAT parquet, COMPRESSION zstd"
    if bucket.metadata:
        pairs = ", ".join(f"{quote_literal(k)}: {quote_literal(v)}" for k, v in bucket.metadata)
        options += f", KV_METADATA {{{pairs}}}"
    return render(["COPY (", *indent(ranked), f") TO {quote_literal(bucket.target)} ({options})"])


def piece_sql(ts: str, window_us: int) -> str:
    """The start (epoch microseconds) of the ``window_us``-long tile, aligned to the Unix
    epoch, that holds ``ts``: integer arithmetic, right for instants before 1970 too."""
    x = f"epoch_us({ts})"
    return f"({x} - ((({x} % {window_us}) + {window_us}) % {window_us}))"


def index_exprs(bucket: BucketWrite) -> list[str]:
    """The window-index columns of a month (docs/windows.md): per key and piece (one
    window-long tile of this month), each statistic over the rows up to and including the
    row's instant (prefix) or from it on (suffix). Rows of one instant are ordered by
    rank, descending, so the rank-1 row, the one retrieval reads, holds the whole
    instant's rows either way, summed in one fixed order."""
    kinds = dict(bucket.index_kinds)
    keys = [quote_ident(k) for k in bucket.keys]
    q_ts, q_rank = quote_ident(TS), quote_ident(RANK)
    out = []
    for col in bucket.index:
        c = quote_ident(col.column)
        kind = kinds.get(col.column, "other")
        number = f"CAST({c} AS INTEGER)" if kind == "bool" else c
        value = {
            "cnt": f"count({c})",
            "sum": f"sum({number})",
            "sq": f"sum(CAST({c} AS DOUBLE) * CAST({c} AS DOUBLE))",
            "min": f"min({c})",
            "max": f"max({c})",
        }[col.stat]
        direction = "ASC" if col.side == "p" else "DESC"
        over = (
            f"OVER (PARTITION BY {', '.join([*keys, piece_sql(q_ts, col.window_us)])} "
            f"ORDER BY {q_ts} {direction}, {q_rank} DESC "
            f"ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)"
        )
        expr = f"{value} {over}"
        if col.stat == "sum" and kind in ("int", "bool"):
            expr = f"CAST({expr} AS BIGINT)"
        out.append(f"{expr} AS {quote_ident(col.name)}")
    return out


def bucket_stats_sql(target: str) -> str:
    """Row count and event-time range of a written month file."""
    q_ts = quote_ident(TS)
    return render(
        select(
            ["count(*)", f"min({q_ts})", f"max({q_ts})"], [f"read_parquet({quote_file(target)})"]
        )
    )
