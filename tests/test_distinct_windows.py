"""The as-of plan of ``count_distinct`` windows (``featstore/engine/distinct_windows.py``)
against the range join's ``count(DISTINCT ...)`` over the same stored rows, on random
data: repeated values, repeats at one instant, both edges of the window, ``-0.0`` beside
``0.0``, NaN, nulls, null and composite keys. (The store-level suites in test_windows.py
check both against the slow reference too.)"""

from __future__ import annotations

import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import featstore as fs
from featstore.aggregations import WindowQuery
from featstore.columns import CREATED, RANK, ROW, TS
from featstore.engine.distinct_windows import distinct_frame
from featstore.engine.duckdb import DuckDBEngine

US = timedelta(microseconds=1)
HOUR = timedelta(hours=1)
BASE = datetime(2024, 1, 1)
WINDOWS = (US, HOUR, 5 * HOUR, 24 * HOUR, 30 * 24 * HOUR)
FLOATS = (-0.0, 0.0, 1.5, 2.0, float("nan"), None)


@st.composite
def cases(draw: st.DrawFn) -> dict[str, Any]:
    keys = draw(st.sampled_from([["k"], ["k", "j"]]))
    floats = draw(st.booleans())
    values = st.sampled_from(FLOATS) if floats else st.one_of(st.none(), st.integers(0, 3))
    key = st.one_of(st.integers(0, 1), st.none())
    span = draw(st.sampled_from([6, 72, 24 * 40]))  # hours: dense to sparse
    hours = draw(st.lists(st.integers(0, span), min_size=0, max_size=60))
    rows = [{**{k: draw(key) for k in keys}, TS: BASE + h * HOUR, "v": draw(values)} for h in hours]
    windows = draw(st.lists(st.sampled_from(WINDOWS), min_size=1, max_size=3, unique=True))
    # at an event, just after and before it, and at each window's end from an event: one
    # microsecond before, on and after it (both edges of every interval)
    edges = [d for w in windows for d in (w - US, w, w + US)]
    shifts = st.sampled_from([timedelta(0), US, -US, *edges])
    entity = []
    for _ in range(draw(st.integers(1, 25))):
        if rows and draw(st.booleans()):  # at an event's key (and a window edge from it)
            anchor = draw(st.sampled_from(rows))
            entity.append({**{k: anchor[k] for k in keys}, TS: anchor[TS] + draw(shifts)})
        else:
            at = draw(st.sampled_from([r[TS] for r in rows] or [BASE]))
            entity.append({**{k: draw(key) for k in keys}, TS: at + draw(shifts)})
    return {"keys": keys, "floats": floats, "rows": rows, "windows": windows, "entity": entity}


def counts(case: dict[str, Any]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The range join's answer to ``case`` and the as-of plan's."""
    keys = case["keys"]
    dtype = pl.Float64 if case["floats"] else pl.Int64
    stored = pl.DataFrame(
        case["rows"],
        schema={**{k: pl.Int64 for k in keys}, TS: pl.Datetime("us"), "v": dtype},
    ).with_columns(pl.lit(None, pl.Datetime("us")).alias(CREATED), pl.lit(1).alias(RANK))
    entity = pl.DataFrame(
        case["entity"], schema={**{k: pl.Int64 for k in keys}, TS: pl.Datetime("us")}
    ).with_row_index(ROW)
    entity = entity.select(pl.col(ROW).cast(pl.Int64), *keys, TS)
    aggs = tuple(
        (fs.Aggregation("v", "count_distinct", window=w), f"out{i}")
        for i, w in enumerate(case["windows"])
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "rows.parquet")
        stored.write_parquet(path)
        q = WindowQuery(
            files=(path,),
            keys=tuple(keys),
            aggregations=aggs,
            kinds=(("v", "float" if case["floats"] else "int"),),
            matched="matched",
        )
        table: pa.Table = entity.to_arrow()
        engine = DuckDBEngine(threads=1)
        try:
            want = pl.from_arrow(engine.window_part("range", q, table))
        finally:
            engine.close()
        got = pl.from_arrow(distinct_frame(q, table))
    assert isinstance(want, pl.DataFrame)
    assert isinstance(got, pl.DataFrame)
    assert got.columns == want.columns
    return want, got.cast(dict(want.schema))  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases())
def test_the_as_of_plan_counts_what_the_range_join_counts(case: dict[str, Any]) -> None:
    want, got = counts(case)
    assert got.equals(want)


def one_key(hours: list[float], values: list[Any], window: timedelta, at: list[timedelta]) -> Any:
    """Key 0's rows at ``hours`` holding ``values``; entity rows at ``BASE + at``."""
    rows = [{"k": 0, TS: BASE + h * HOUR, "v": v} for h, v in zip(hours, values, strict=True)]
    case = {
        "keys": ["k"],
        "floats": any(isinstance(v, float) for v in values),
        "rows": rows,
        "windows": [window],
        "entity": [{"k": 0, TS: BASE + t} for t in at],
    }
    want, got = counts(case)
    assert got.equals(want)
    return got.get_column("out0").to_list()


DAY = 24 * HOUR


def test_a_repeat_within_the_window_counts_once_until_the_first_row_leaves_it() -> None:
    # value 7 at 0h and 1h, a 24h window: one distinct value up to 25h (exclusive)
    at = [DAY - US, DAY, DAY + HOUR - US, DAY + HOUR]
    assert one_key([0, 1], [7, 7], DAY, at) == [1, 1, 1, 0]


def test_a_repeat_at_the_same_instant_counts_once() -> None:
    assert one_key([0, 0, 0], [7, 7, 8], DAY, [timedelta(0), DAY - US, DAY]) == [2, 2, 0]


def test_the_window_is_open_at_its_start_and_closed_at_its_end() -> None:
    # one row at 1h: outside the window just before it and once it is w old
    assert one_key([1], [7], DAY, [HOUR - US, HOUR, HOUR + DAY - US, HOUR + DAY]) == [0, 1, 1, 0]


def test_a_value_returning_after_leaving_the_window_counts_again() -> None:
    # 7 at 0h and 30h (the first gone at 24h); 8 at 10h (gone at 34h)
    at = [10 * HOUR, DAY, 29 * HOUR, 30 * HOUR, 34 * HOUR - US, 34 * HOUR]
    assert one_key([0, 10, 30], [7, 8, 7], DAY, at) == [2, 1, 1, 2, 2, 1]


def test_minus_zero_is_zero_and_nan_is_one_value_and_nulls_do_not_count() -> None:
    values = [-0.0, 0.0, float("nan"), float("nan"), None]
    assert one_key([0, 1, 2, 3, 4], values, DAY, [4 * HOUR]) == [2]


def test_the_same_value_under_another_composite_key_is_not_a_repeat() -> None:
    # (k=0, j=0) holds 7 at 0h; (k=0, j=1) holds 7 at 1h: each counts its own 7
    case = {
        "keys": ["k", "j"],
        "floats": False,
        "rows": [
            {"k": 0, "j": 0, TS: BASE, "v": 7},
            {"k": 0, "j": 1, TS: BASE + HOUR, "v": 7},
        ],
        "windows": [DAY],
        "entity": [{"k": 0, "j": j, TS: BASE + 2 * HOUR} for j in (0, 1)],
    }
    want, got = counts(case)
    assert got.equals(want)
    assert got.get_column("out0").to_list() == [1, 1]


def test_a_request_for_few_keys_reads_only_their_rows_and_counts_the_same() -> None:
    # 600 rows of 300 keys against entity rows of 2 keys: the files are read filtered
    rows = [{"k": i % 300, TS: BASE + (i // 300) * HOUR, "v": i % 7} for i in range(600)]
    rows += [{"k": 5, TS: BASE + 3 * HOUR, "v": 5}, {"k": 5, TS: BASE + 4 * HOUR, "v": 6}]
    case = {
        "keys": ["k"],
        "floats": False,
        "rows": rows,
        "windows": [DAY, 2 * HOUR],
        "entity": [{"k": k, TS: BASE + h * HOUR} for k in (5, 6) for h in (0, 1, 4, 30)],
    }
    want, got = counts(case)
    assert got.equals(want)
    assert got.get_column("out0").to_list() == [1, 2, 3, 0, 1, 2, 2, 0]
