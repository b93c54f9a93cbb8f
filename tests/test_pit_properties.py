"""Property tests: featstore's point-in-time retrieval equals the oracle on random data.

Each example builds a fresh store from random raw frames and compares
``get_historical_features`` and ``get_latest_features`` with ``tests/oracle.py``.

The data is made to hit the contract's edges often: timestamps lie on a coarse 12-hour
grid (sometimes nudged by one microsecond), so entity rows land exactly on feature rows,
TTL boundaries are hit exactly, and several rows of a key share an event time (with and
without created timestamps, which lie on the same grid). Keys come from a handful of
values, with nulls on both sides. Grid points straddle a month boundary, so rows span two
monthly partitions, and some examples materialize in two runs.

Floats never are NaN: engines order NaN differently (DuckDB sorts it above every number,
Python's comparisons with NaN are all false, so "largest value wins" has no answer in
Python), and ``NaN != NaN`` would also break the comparison. Nulls, infinities, -0.0 and
extreme values are all generated.
"""

from __future__ import annotations

import os
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from conftest import build_store, data_range
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oracle import View, assert_frame_matches, historical, latest, output_names

import featstore as fs

# legitimately all-null cases are compared with the oracle here; coverage warnings are
# tested in test_hardening_retrieval.py
pytestmark = pytest.mark.filterwarnings("ignore::featstore.CoverageWarning")

US = timedelta(microseconds=1)
STEP = timedelta(hours=12)
BASE = datetime(2024, 1, 30)  # the grid crosses into February: two monthly partitions
GRID = [BASE + i * STEP for i in range(8)]
TTLS = [None, None, STEP / 2, STEP, 2 * STEP, 3 * STEP]
TIME_ZONES = [None, None, "UTC", "America/New_York", "Asia/Kolkata"]

FEATURE_DTYPES: dict[str, pl.DataType] = {
    "x": pl.Float64(),
    "y": pl.String(),
    "n": pl.Int64(),
    "b": pl.Boolean(),
}
VALUES = {
    "x": st.one_of(
        st.none(),
        st.sampled_from([0.0, -0.0, 1.5, -2.0]),
        st.floats(allow_nan=False),  # NaN excluded: see the module docstring
    ),
    "y": st.one_of(st.none(), st.sampled_from(["", "a", "b", "é"]), st.text(max_size=3)),
    "n": st.one_of(st.none(), st.integers(-2, 2), st.integers(-(2**63), 2**63 - 1)),
    "b": st.one_of(st.none(), st.booleans()),
}
# keys: a few values, so rows meet; nulls now and then (repeats set the odds)
CIDS = st.sampled_from([1, 2, 3, 1, 2, 3, None])
ENTITY_CIDS = st.sampled_from([1, 2, 3, 1, 2, 3, 4, None])  # 4 has no feature rows
K2S = st.sampled_from(["a", "b", "a", "b", None])

SETTINGS = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}


@st.composite
def instants(draw: st.DrawFn, *, wide: bool = False) -> datetime:
    """A grid point, now and then one microsecond either side of it; ``wide`` adds a
    point before and one after every feature row."""
    grid = [BASE - STEP, *GRID, GRID[-1] + STEP] if wide else GRID
    return draw(st.sampled_from(grid)) + draw(st.sampled_from([0, 0, 0, 0, 1, -1])) * US


def _timestamps(values: list[datetime | None], tz: str | None) -> pl.Series:
    """Naive UTC instants as a Datetime column, converted to ``tz`` if given."""
    series = pl.Series(values, dtype=pl.Datetime("us"))
    if tz is not None:
        series = series.dt.replace_time_zone("UTC").dt.convert_time_zone(tz)
    return series


@st.composite
def views(draw: st.DrawFn, index: int, full_feature_names: bool) -> View:
    composite = draw(st.booleans())
    keys = ("cid", "k2") if composite else ("cid",)
    chosen = draw(st.permutations(list(FEATURE_DTYPES)))[: draw(st.integers(1, 4))]
    # without full names, feature names must differ between views
    names = {f: (f if full_feature_names else f"{f}{index}") for f in chosen}
    with_created = draw(st.booleans())
    n = draw(st.integers(0, 14))
    # (cid, k2, ts) per row; often a copy of an earlier row's, so event times tie
    ids: list[tuple[Any, Any, datetime]] = []
    for i in range(n):
        if i and draw(st.booleans()):
            ids.append(ids[draw(st.integers(0, i - 1))])
        else:
            ids.append((draw(CIDS), draw(K2S) if composite else None, draw(instants())))
    columns: dict[str, pl.Series] = {"cid": pl.Series([r[0] for r in ids], dtype=pl.Int64)}
    if composite:
        columns["k2"] = pl.Series([r[1] for r in ids], dtype=pl.String)
    columns["ts"] = _timestamps([r[2] for r in ids], draw(st.sampled_from(TIME_ZONES)))
    if with_created:
        created = draw(st.lists(st.one_of(st.none(), instants()), min_size=n, max_size=n))
        columns["created"] = _timestamps(created, draw(st.sampled_from(TIME_ZONES)))
    for f in chosen:
        values = draw(st.lists(VALUES[f], min_size=n, max_size=n))
        columns[names[f]] = pl.Series(values, dtype=FEATURE_DTYPES[f])
    requested = draw(st.lists(st.sampled_from([names[f] for f in chosen]), min_size=1, unique=True))
    return View(
        f"v{index}",
        pl.DataFrame(columns),
        keys,
        [names[f] for f in chosen],
        ttl=draw(st.sampled_from(TTLS)),
        created_timestamp_column="created" if with_created else None,
        select=requested,
    )


@st.composite
def cases(draw: st.DrawFn) -> dict[str, Any]:
    full = draw(st.booleans())
    chosen = [draw(views(i, full)) for i in range(draw(st.integers(1, 3)))]
    m = draw(st.integers(0, 12))
    stamps = draw(st.lists(instants(wide=True), min_size=m, max_size=m))
    entity: dict[str, Any] = {
        "cid": pl.Series(draw(st.lists(ENTITY_CIDS, min_size=m, max_size=m)), dtype=pl.Int64),
        "event_timestamp": _timestamps(stamps, draw(st.sampled_from(TIME_ZONES))),
        "label": pl.Series(range(m), dtype=pl.Int32),
    }
    if any("k2" in v.keys for v in chosen):
        entity["k2"] = pl.Series(draw(st.lists(K2S, min_size=m, max_size=m)), dtype=pl.String)
    start, end = data_range(chosen)
    split = draw(st.sampled_from(GRID[1:]))
    runs = draw(st.sampled_from(["one", "split", "overlap"]))
    ranges = [(start, end)]
    if runs != "one" and start < split < end:
        ranges = [(start, split), (split, end)] if runs == "split" else [(start, end), (split, end)]
    return {
        "views": chosen,
        "entity": pl.DataFrame(entity),
        "full": full,
        "bitemporal": draw(st.booleans()),
        "as_of": draw(instants()),
        "ranges": ranges,
        "source": draw(st.sampled_from(["dataframe", "dataframe", "parquet"])),
    }


def check_case(case: dict[str, Any], engine: fs.Engine | None = None) -> None:
    chosen: list[View] = case["views"]
    refs = [f"{v.name}:{f}" for v in chosen for f in v.selected]
    entity: pl.DataFrame = case["entity"]
    options = {"bitemporal": case["bitemporal"], "full_feature_names": case["full"]}
    blind = case["bitemporal"] and any(v.created_timestamp_column is None for v in chosen)
    with (
        tempfile.TemporaryDirectory() as tmp,
        build_store(
            Path(tmp), chosen, source=case["source"], ranges=case["ranges"], engine=engine
        ) as store,
    ):
        names = [
            n
            for ns in output_names(chosen, entity.columns, full_feature_names=case["full"])
            for n in ns
        ]
        if blind:  # a view without created timestamps cannot be read bitemporally
            keys = entity.select(c for c in ("cid", "k2") if c in entity.columns)
            with pytest.raises(fs.PointInTimeError, match="cannot be read bitemporally"):
                store.get_historical_features(entity, refs, **options)
            with pytest.raises(fs.PointInTimeError, match="cannot be read bitemporally"):
                store.get_latest_features(keys, refs, as_of=case["as_of"], **options)
            return
        got = store.get_historical_features(entity, refs, **options).frame
        expected = historical(entity, chosen, **options)
        assert_frame_matches(got, expected, columns=[*entity.columns, *names])
        keys = entity.select(c for c in ("cid", "k2") if c in entity.columns)
        got = store.get_latest_features(keys, refs, as_of=case["as_of"], **options).frame
        expected = latest(keys, chosen, case["as_of"], **options)
        assert_frame_matches(got, expected, columns=[*keys.columns, *names])


@settings(max_examples=60, **SETTINGS)
@given(case=cases())
def test_retrieval_matches_oracle(case: dict[str, Any]) -> None:
    check_case(case)


# fewer examples on Spark: each one is several Spark jobs (about 1.5 s on two cores)
@settings(max_examples=int(os.environ.get("FEATSTORE_SPARK_PIT_EXAMPLES", "20")), **SETTINGS)
@given(case=cases())
def test_retrieval_matches_oracle_on_spark(case: dict[str, Any], spark_engine: fs.Engine) -> None:
    check_case(case, spark_engine)


# FEATSTORE_PIT_EXAMPLES overrides the count, e.g. for a quick check of this variant
@pytest.mark.slow
@settings(max_examples=int(os.environ.get("FEATSTORE_PIT_EXAMPLES", "1200")), **SETTINGS)
@given(case=cases())
def test_retrieval_matches_oracle_many_examples(case: dict[str, Any]) -> None:
    check_case(case)
