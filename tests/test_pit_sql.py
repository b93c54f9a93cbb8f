"""Golden files for the point-in-time SQL builder (a pure function of a query object).

Regenerate after an intended change with ``FEATSTORE_UPDATE_GOLDEN=1 pytest tests/test_pit_sql.py``
and review the diff.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from featstore.pit import PitQuery, ViewJoin, build_sql

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
}


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_sql_matches_golden_file(name: str) -> None:
    sql = build_sql(QUERIES[name]) + "\n"
    path = GOLDEN / f"{name}.sql"
    if os.environ.get("FEATSTORE_UPDATE_GOLDEN"):
        path.write_text(sql)
    assert sql == path.read_text()


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_sql_parses_in_duckdb(name: str) -> None:
    con = duckdb.connect()
    statements = con.extract_statements(build_sql(QUERIES[name]))
    assert len(statements) == 1  # hostile names stay inside one quoted statement
