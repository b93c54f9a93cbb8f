"""Golden files for the SQL builders (pure functions of engine-neutral plans): the
point-in-time query (retrieval, latest values, explain's winner lookup) and the
rank-and-merge write of a materialized month.

Regenerate after an intended change with ``FEATSTORE_UPDATE_GOLDEN=1 pytest tests/test_pit_sql.py``
and review the diff.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from featstore.engine import BucketWrite
from featstore.engine.sql_bucket import bucket_sql, bucket_stats_sql
from featstore.engine.sql_pit import build_sql
from featstore.pit import PitQuery, ViewJoin, winner_query

GOLDEN = Path(__file__).parent / "golden"

QUERIES = {
    "pit_two_views": PitQuery(
        views=(
            ViewJoin(
                files=("/s/offline/a/1/2024-01/part-x.parquet",),
                keys=("customer_id",),
                features=(("amount", "amount"), ("n", "a__n")),
                ttl_us=86_400_000_000,
            ),
            ViewJoin(
                files=("/s/b1.parquet", "/s/b2.parquet"),
                keys=("customer_id", "store"),
                features=(("spend", "spend"),),
            ),
        ),
        min_entity_ts=datetime(2024, 1, 1),
        max_entity_ts=datetime(2024, 3, 1),
    ),
    "pit_bitemporal": PitQuery(
        views=(ViewJoin(files=("/s/a.parquet",), keys=("k",), features=(("v", "v"),), ttl_us=10),),
        bitemporal=True,
        min_entity_ts=datetime(2024, 1, 1),
        max_entity_ts=datetime(2024, 1, 2),
    ),
    "pit_hostile_names": PitQuery(
        views=(
            ViewJoin(
                files=("/s/it's.parquet",),
                keys=('we"ird',),
                features=(('"; DROP TABLE x; --', "x'y"),),
            ),
        ),
    ),
    "pit_nothing_materialized": PitQuery(
        views=(ViewJoin(files=(), keys=("k",), features=(("v", "v"),)),),
    ),
    "pit_explain_winner": winner_query(
        ViewJoin(
            files=(
                "/s/offline/a/1/2024-01/part-x.parquet",
                "/s/offline/a/1/2024-02/part-y.parquet",
            ),
            keys=("customer_id",),
            features=(("amount", "amount"),),
            ttl_us=86_400_000_000,
        ),
        datetime(2024, 2, 3, 4, 5, 6),
        bitemporal=False,
    ),
    "pit_explain_winner_bitemporal": winner_query(
        ViewJoin(files=("/s/a.parquet",), keys=("k", "k2"), features=(("v", "v"),)),
        datetime(2024, 2, 3),
        bitemporal=True,
    ),
}

BUCKETS = {
    "bucket_new_rows_only": BucketWrite(
        keys=("customer_id",),
        features=("spend", "amount"),  # ranked in name order: amount, then spend
        old_files=(),
        start=datetime(2024, 1, 1),
        end=datetime(2024, 2, 1),
        target="/s/staging/run1/2024-01.parquet",
    ),
    "bucket_merge_old_files": BucketWrite(
        keys=("customer_id", "store"),
        features=("x",),
        old_files=("/s/offline/v/1/2024-01/part-a.parquet", "/s/offline/v/1/2024-01/b[1].parquet"),
        start=datetime(2024, 1, 10),
        end=datetime(2024, 1, 20, 12),
        target="/s/staging/run2/2024-01.parquet",
    ),
    "bucket_hostile_names": BucketWrite(
        keys=('we"ird',),
        features=('"; DROP TABLE x; --', "it's"),
        old_files=("/s/it's.parquet",),
        start=datetime(2024, 1, 1),
        end=datetime(2024, 2, 1),
        target="/s/o'neil/2024-01.parquet",
    ),
}


def _golden(name: str, sql: str) -> None:
    path = GOLDEN / f"{name}.sql"
    if os.environ.get("FEATSTORE_UPDATE_GOLDEN"):
        path.write_text(sql)
    assert sql == path.read_text()


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_sql_matches_golden_file(name: str) -> None:
    _golden(name, build_sql(QUERIES[name]) + "\n")


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_sql_parses_in_duckdb(name: str) -> None:
    con = duckdb.connect()
    statements = con.extract_statements(build_sql(QUERIES[name]))
    assert len(statements) == 1  # hostile names stay inside one quoted statement


@pytest.mark.parametrize("name", sorted(BUCKETS))
def test_bucket_sql_matches_golden_file(name: str) -> None:
    bucket = BUCKETS[name]
    _golden(name, bucket_sql(bucket) + "\n\n" + bucket_stats_sql(bucket.target) + "\n")


@pytest.mark.parametrize("name", sorted(BUCKETS))
def test_bucket_sql_parses_in_duckdb(name: str) -> None:
    con = duckdb.connect()
    for sql in (bucket_sql(BUCKETS[name]), bucket_stats_sql(BUCKETS[name].target)):
        assert len(con.extract_statements(sql)) == 1


def test_the_layout_is_whitespace_only() -> None:
    """Pretty-printing adds newlines and indentation between tokens, never inside one: a
    quoted name holding a newline comes out exactly as quoted."""
    join = ViewJoin(files=("/s/a\n  b.parquet",), keys=("k\n  x",), features=(("v\nw", "o\n"),))
    sql = build_sql(PitQuery((join,), bitemporal=True))
    assert '"k\n  x"' in sql
    assert '"v\nw" AS' in sql
    assert "'/s/a\n  b.parquet'" in sql
    flat = " ".join(line.strip() for line in sql.split("\n"))
    assert "ASOF LEFT JOIN (" in flat
    assert flat.endswith('ORDER BY e."__fs_row"')
