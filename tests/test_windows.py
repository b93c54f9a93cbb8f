"""Window aggregations through the store (get_historical_features, get_latest_features,
training sets) against the slow reference in ``tests/window_oracle.py``, over random data
and on named edge cases: both edges of the window, empty windows, ties at one instant,
nulls, duplicate entity rows, composite keys, month boundaries, bitemporal reads and
materialization split into runs."""

from __future__ import annotations

import itertools
import os
import tempfile
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from window_oracle import assert_matches, window_values

import featstore as fs
from featstore.engine import frame_windows

pytestmark = pytest.mark.filterwarnings("ignore::featstore.CoverageWarning")

US = timedelta(microseconds=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
BASE = datetime(2024, 1, 20)  # data runs across the January/February/March boundaries
FNS = ("sum", "count", "mean", "min", "max", "var", "std", "last", "count_distinct")
WINDOWS = (HOUR, 6 * HOUR, DAY, 3 * DAY, 7 * DAY, 30 * DAY, 45 * DAY)
START, END = datetime(2024, 1, 1), datetime(2024, 5, 1)
EXAMPLES = int(os.environ.get("FEATSTORE_WINDOW_EXAMPLES", "25"))


# the engine of the stores a test makes: the store_engine fixture's, for the tests that use
# on_each_engine (None: DuckDB)
_ENGINE: fs.Engine | None = None


@pytest.fixture
def on_each_engine(store_engine: fs.Engine | None) -> Iterator[None]:
    """Run the test's stores on ``store_engine`` (DuckDB, then Spark)."""
    global _ENGINE
    _ENGINE = store_engine
    yield
    _ENGINE = None


@pytest.fixture
def on_spark(spark_engine: fs.Engine) -> Iterator[None]:
    """Run the test's stores on the session's Spark engine."""
    global _ENGINE
    _ENGINE = spark_engine
    yield
    _ENGINE = None


def make_store(
    root: Path,
    events: list[dict[str, Any]],
    keys: list[str],
    aggs: list[fs.Aggregation],
    dtype: pl.DataType,
    *,
    created: bool = False,
    splits: tuple[datetime, ...] = (),
) -> fs.FeatureStore:
    schema: dict[str, Any] = {k: pl.Int64 for k in keys}
    schema |= {"ts": pl.Datetime("us"), "v": dtype, "u": pl.Int64}
    if created:
        schema["created"] = pl.Datetime("us")
    frame = pl.DataFrame(events, schema=schema)
    store = fs.FeatureStore(root, engine=_ENGINE)
    entity = fs.Entity("customer", join_keys=keys)
    source = fs.DataFrameSource(
        "txns",
        data=frame,
        timestamp_column="ts",
        created_timestamp_column="created" if created else None,
    )
    view = fs.FeatureView("spend", entity=entity, source=source, aggregations=aggs)
    store.apply([entity, source, view])
    bounds = [START, *sorted({s for s in splits if START < s < END}), END]
    for lo, hi in itertools.pairwise(bounds):
        store.materialize(lo, hi, views=["spend"])
    return store


def entity_frame(entity: list[dict[str, Any]], keys: list[str]) -> pl.DataFrame:
    schema: dict[str, Any] = {k: pl.Int64 for k in keys} | {"ts": pl.Datetime("us")}
    return pl.DataFrame(entity, schema=schema).with_row_index("label")


def fetch(
    store: fs.FeatureStore, entity: pl.DataFrame, aggs: list[fs.Aggregation], **kwargs: Any
) -> list[dict[str, Any]]:
    result = store.get_historical_features(
        entity, [f"spend:{a.name}" for a in aggs], **kwargs
    ).to_polars()
    assert result["label"].to_list() == list(range(entity.height))  # order kept
    return result.select(a.name for a in aggs).to_dicts()


def scales(events: list[dict[str, Any]], aggs: list[fs.Aggregation]) -> dict[str, float]:
    """The size of what float sums add up: sums of pieces round differently from one sum."""
    big = max((abs(e["v"]) for e in events if e["v"] is not None), default=0.0)
    n = len(events)
    return {a.name: (big * big if a.fn in ("var", "std") else big) * n for a in aggs}


# -- random data ------------------------------------------------------------------------

moments = st.builds(
    lambda h, nudge: BASE + h * HOUR + nudge * US,
    st.integers(0, 24 * 70),
    st.sampled_from([0, 0, 0, 1, -1]),
)


@st.composite
def cases(draw: st.DrawFn) -> dict[str, Any]:
    keys = draw(st.sampled_from([["k"], ["k", "j"]]))
    integer = draw(st.booleans())
    created = draw(st.booleans())
    value = (
        st.one_of(st.none(), st.integers(-50, 50))
        if integer
        else st.one_of(st.none(), st.sampled_from([0.0, -0.0, 2.5]), st.floats(-1e4, 1e4))
    )
    times = draw(st.lists(moments, min_size=1, max_size=14))
    events = []
    for _ in range(draw(st.integers(0, 40))):
        row: dict[str, Any] = {k: draw(st.integers(0, 2)) for k in keys}
        row["ts"] = draw(st.sampled_from(times))  # few instants: ties are common
        row["v"] = draw(value)
        row["u"] = draw(st.integers(0, 3))
        if created:
            late = draw(st.one_of(st.none(), st.integers(0, 48)))
            row["created"] = None if late is None else row["ts"] + late * HOUR
        events.append(row)
    aggs = draw(
        st.lists(
            st.builds(
                fs.Aggregation,
                st.sampled_from(["v"]),
                st.sampled_from(FNS),
                st.sampled_from(WINDOWS),
            ),
            min_size=1,
            max_size=6,
            unique_by=lambda a: a.name,
        )
    )
    entity = []
    for _ in range(draw(st.integers(1, 12))):
        row = {k: draw(st.one_of(st.integers(0, 3), st.none())) for k in keys}
        # on an event, a window's length after one (the open edge), or anywhere
        anchor = draw(st.sampled_from(times))
        shift = draw(st.sampled_from([timedelta(0), US, -US, *WINDOWS, *(w + US for w in WINDOWS)]))
        row["ts"] = draw(st.sampled_from([anchor + shift, draw(moments)]))
        entity.append(row)
    if draw(st.booleans()):
        entity = entity + entity[:3]  # duplicate entity rows
    splits = tuple(draw(st.lists(moments, max_size=2)))
    return {
        "keys": keys,
        "dtype": pl.Int64() if integer else pl.Float64(),
        "created": created,
        "events": events,
        "aggs": aggs,
        "entity": entity,
        "splits": splits,
    }


def check_case(case: dict[str, Any], root: Path) -> None:
    store = make_store(
        root,
        case["events"],
        case["keys"],
        case["aggs"],
        case["dtype"],
        created=case["created"],
        splits=case["splits"],
    )
    entity = entity_frame(case["entity"], case["keys"])
    want = window_values(case["events"], case["entity"], case["keys"], case["aggs"])
    assert_matches(fetch(store, entity, case["aggs"]), want, scales(case["events"], case["aggs"]))
    if case["created"]:
        want_bt = window_values(
            case["events"], case["entity"], case["keys"], case["aggs"], bitemporal=True
        )
        got_bt = fetch(store, entity, case["aggs"], bitemporal=True)
        assert_matches(got_bt, want_bt, scales(case["events"], case["aggs"]))
    store.close()


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(cases())
def test_windows_match_the_reference_on_random_data(case: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        check_case(case, Path(tmp))


# fewer examples on Spark: each one is several Spark jobs
@pytest.mark.usefixtures("on_spark")
@settings(
    max_examples=int(os.environ.get("FEATSTORE_SPARK_WINDOW_EXAMPLES", "12")),
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,  # on_spark: one engine for all examples
    ],
)
@given(cases())
def test_windows_match_the_reference_on_random_data_on_spark(case: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        check_case(case, Path(tmp))


@pytest.mark.slow
@settings(
    max_examples=int(os.environ.get("FEATSTORE_SLOW_WINDOW_EXAMPLES", "200")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(cases())
def test_windows_match_the_reference_on_many_random_examples(case: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        check_case(case, Path(tmp))


# -- named cases ------------------------------------------------------------------------

T = datetime(2024, 3, 10, 6)
SEVEN = [fs.Aggregation("v", fn, window=7 * DAY) for fn in FNS]


def one_key_store(tmp_path: Path, rows: list[tuple[datetime, Any]], **kw: Any) -> fs.FeatureStore:
    events = [{"k": 1, "ts": ts, "v": v, "u": 0} for ts, v in rows]
    return make_store(tmp_path, events, ["k"], SEVEN, pl.Float64(), **kw)


def values_at(store: fs.FeatureStore, *moments: datetime) -> list[dict[str, Any]]:
    entity = entity_frame([{"k": 1, "ts": m} for m in moments], ["k"])
    return fetch(store, entity, SEVEN)


def test_coverage_reaches_back_by_the_longest_window(tmp_path: Path) -> None:
    store = one_key_store(tmp_path, [(T - DAY, 1.0)])
    entity = entity_frame([{"k": 1, "ts": T}, {"k": 1, "ts": T + DAY}], ["k"])
    (cov,) = store.get_historical_features(entity, [f"spend:{a.name}" for a in SEVEN]).coverage
    assert (cov.requested_start, cov.requested_end) == (T - 7 * DAY, T + DAY)
    assert cov.matched_rows == 2


@pytest.mark.usefixtures("on_each_engine")
def test_a_row_exactly_one_window_before_is_outside(tmp_path: Path) -> None:
    store = one_key_store(tmp_path, [(T - 7 * DAY, 100.0), (T - 7 * DAY + US, 1.0)])
    (got,) = values_at(store, T)
    assert got["v_sum_7d"] == 1.0
    assert got["v_count_7d"] == 1


@pytest.mark.usefixtures("on_each_engine")
def test_a_row_at_the_entity_timestamp_is_inside(tmp_path: Path) -> None:
    store = one_key_store(tmp_path, [(T, 5.0), (T + US, 100.0)])
    (got,) = values_at(store, T)
    assert got["v_sum_7d"] == 5.0
    assert got["v_last_7d"] == 5.0
    assert got["v_max_7d"] == 5.0


@pytest.mark.usefixtures("on_each_engine")
def test_an_empty_window_is_null_and_its_count_zero(tmp_path: Path) -> None:
    store = one_key_store(tmp_path, [(T - 30 * DAY, 5.0)])
    (got,) = values_at(store, T)
    assert got["v_count_7d"] == 0
    assert got["v_count_distinct_7d"] == 0
    for fn in ("sum", "mean", "min", "max", "var", "std", "last"):
        assert got[f"v_{fn}_7d"] is None, fn


@pytest.mark.usefixtures("on_each_engine")
def test_ties_at_one_instant_all_count_and_last_takes_the_winner(tmp_path: Path) -> None:
    store = one_key_store(tmp_path, [(T, 1.0), (T, 3.0), (T, 2.0)])
    (got,) = values_at(store, T)
    assert got["v_count_7d"] == 3
    assert got["v_sum_7d"] == 6.0
    assert got["v_last_7d"] == 3.0  # the point-in-time winner: the largest value


@pytest.mark.usefixtures("on_each_engine")
def test_last_takes_the_latest_created_among_ties(tmp_path: Path) -> None:
    events = [
        {"k": 1, "ts": T, "v": 9.0, "u": 0, "created": T - DAY},
        {"k": 1, "ts": T, "v": 1.0, "u": 0, "created": T - HOUR},
    ]
    store = make_store(tmp_path, events, ["k"], SEVEN, pl.Float64(), created=True)
    (got,) = fetch(store, entity_frame([{"k": 1, "ts": T}], ["k"]), SEVEN)
    assert got["v_last_7d"] == 1.0


@pytest.mark.usefixtures("on_each_engine")
def test_nulls_are_ignored_but_last_may_be_null(tmp_path: Path) -> None:
    store = one_key_store(tmp_path, [(T - DAY, 4.0), (T - HOUR, None)])
    (got,) = values_at(store, T)
    assert got["v_count_7d"] == 1
    assert got["v_mean_7d"] == 4.0
    assert got["v_last_7d"] is None


@pytest.mark.usefixtures("on_each_engine")
def test_a_window_across_month_boundaries(tmp_path: Path) -> None:
    rows = [(datetime(2024, 2, 28, 23), 1.0), (datetime(2024, 2, 29, 12), 2.0)]
    rows += [(datetime(2024, 3, 1), 4.0), (datetime(2024, 3, 2, 1), 8.0)]
    store = one_key_store(tmp_path, rows)
    (got,) = values_at(store, datetime(2024, 3, 2, 1))
    assert got["v_sum_7d"] == 15.0
    assert got["v_min_7d"] == 1.0
    assert got["v_count_7d"] == 4


@pytest.mark.usefixtures("on_each_engine")
def test_the_stale_window_of_event_time_rolling_is_not_what_is_served(tmp_path: Path) -> None:
    # a 7-day sum at the last sale (03-08 22:12) is 32; at 03-10 06:00 it is 25
    sales = [(datetime(2024, 3, 2, 9), 7.0), (datetime(2024, 3, 5), 12.0)]
    sales += [(datetime(2024, 3, 8, 22, 12), 13.0)]
    store = one_key_store(tmp_path, sales)
    at_sale, later = values_at(store, datetime(2024, 3, 8, 22, 12), T)
    assert at_sale["v_sum_7d"] == 32.0
    assert later["v_sum_7d"] == 25.0


@pytest.mark.usefixtures("on_each_engine")
def test_bitemporal_reads_skip_rows_created_later(tmp_path: Path) -> None:
    events = [
        {"k": 1, "ts": T - DAY, "v": 1.0, "u": 0, "created": T - DAY},
        {"k": 1, "ts": T - DAY, "v": 50.0, "u": 0, "created": T + DAY},  # a late correction
        {"k": 1, "ts": T - HOUR, "v": 2.0, "u": 0, "created": None},  # never known
    ]
    store = make_store(tmp_path, events, ["k"], SEVEN, pl.Float64(), created=True)
    entity = entity_frame([{"k": 1, "ts": T}], ["k"])
    (plain,) = fetch(store, entity, SEVEN)
    (known,) = fetch(store, entity, SEVEN, bitemporal=True)
    assert plain["v_sum_7d"] == 53.0
    assert known["v_sum_7d"] == 1.0
    assert known["v_last_7d"] == 1.0
    assert plain["v_last_7d"] == 2.0


@pytest.mark.usefixtures("on_each_engine")
def test_composite_keys_and_null_keys(tmp_path: Path) -> None:
    events = [{"k": 1, "j": j, "ts": T - HOUR, "v": float(j + 1), "u": 0} for j in (0, 1)]
    store = make_store(tmp_path, events, ["k", "j"], SEVEN, pl.Float64())
    entity = entity_frame(
        [{"k": 1, "j": 1, "ts": T}, {"k": 1, "j": None, "ts": T}, {"k": 1, "j": 0, "ts": T}],
        ["k", "j"],
    )
    got = fetch(store, entity, SEVEN)
    assert [g["v_sum_7d"] for g in got] == [2.0, None, 1.0]
    assert [g["v_count_7d"] for g in got] == [1, 0, 1]


@pytest.mark.usefixtures("on_each_engine")
def test_a_result_does_not_depend_on_how_runs_split_the_range(tmp_path: Path) -> None:
    rng = __import__("random").Random(7)
    events = [
        {
            "k": rng.randint(0, 3),
            "ts": BASE + rng.randint(0, 24 * 60) * HOUR,
            "v": rng.uniform(-5, 5),
            "u": 0,
        }
        for _ in range(400)
    ]
    aggs = [fs.Aggregation("v", fn, window=w) for fn in FNS for w in (DAY, 30 * DAY)]
    whole = make_store(tmp_path / "a", events, ["k"], aggs, pl.Float64())
    parts = make_store(
        tmp_path / "b",
        events,
        ["k"],
        aggs,
        pl.Float64(),
        splits=(datetime(2024, 2, 3, 7), datetime(2024, 2, 17), datetime(2024, 3, 1)),
    )
    entity = entity_frame(
        [{"k": rng.randint(0, 3), "ts": BASE + rng.randint(0, 24 * 70) * HOUR} for _ in range(200)],
        ["k"],
    )
    a = whole.get_historical_features(entity, [f"spend:{x.name}" for x in aggs]).to_polars()
    b = parts.get_historical_features(entity, [f"spend:{x.name}" for x in aggs]).to_polars()
    assert a.equals(b)  # value for value, float bits included
    want = window_values(events, entity.drop("label").to_dicts(), ["k"], aggs)
    assert_matches(a.select(x.name for x in aggs).to_dicts(), want, scales(events, aggs))


def test_the_lookups_sort_the_index_when_its_files_are_not_in_key_and_time_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the index plan reads materialized months as written (each sorted by key and time,
    # the months disjoint); were they not, it sorts them: the same answer either way
    rng = __import__("random").Random(11)
    events = [
        {
            "k": rng.randint(0, 5),
            "ts": BASE + rng.randint(0, 24 * 60) * HOUR,
            "v": rng.random(),
            "u": 0,
        }
        for _ in range(300)
    ]
    aggs = [fs.Aggregation("v", fn, window=w) for fn in FNS for w in (DAY, 30 * DAY)]
    store = make_store(tmp_path, events, ["k"], aggs, pl.Float64(), splits=(datetime(2024, 2, 9),))
    entity = entity_frame(
        [{"k": rng.randint(0, 6), "ts": BASE + rng.randint(0, 24 * 70) * HOUR} for _ in range(150)],
        ["k"],
    )
    refs = [f"spend:{a.name}" for a in aggs]
    as_written = store.get_historical_features(entity, refs).to_polars()
    monkeypatch.setattr(frame_windows, "_sorted_by_key_and_time", lambda frame, keys: False)
    sorted_first = store.get_historical_features(entity, refs).to_polars()
    assert as_written.equals(sorted_first)
    want = window_values(events, entity.drop("label").to_dicts(), ["k"], aggs)
    assert_matches(sorted_first.select(a.name for a in aggs).to_dicts(), want, scales(events, aggs))


@pytest.mark.parametrize("keys", [["k"], ["k", "j"]])
def test_reading_only_the_entity_keys_index_rows_gives_the_same_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, keys: list[str]
) -> None:
    # few distinct entity keys against many index rows: only their rows are read
    rng = __import__("random").Random(5)
    events = [
        {
            "k": rng.randint(0, 40),
            "j": rng.randint(0, 1),
            "ts": BASE + rng.randint(0, 24 * 60) * HOUR,
            "v": rng.random(),
            "u": 0,
        }
        for _ in range(600)
    ]
    events = [{c: v for c, v in e.items() if c != "j" or "j" in keys} for e in events]
    aggs = [fs.Aggregation("v", fn, window=w) for fn in FNS for w in (DAY, 30 * DAY)]
    store = make_store(tmp_path, events, keys, aggs, pl.Float64(), splits=(datetime(2024, 2, 9),))
    picks = [{"k": rng.choice([3, 7, None, 99]), "j": rng.randint(0, 1)} for _ in range(40)]
    rows = [{**{c: p[c] for c in keys}, "ts": BASE + rng.randint(0, 24 * 70) * HOUR} for p in picks]
    entity = entity_frame(rows, keys)
    refs = [f"spend:{a.name}" for a in aggs]
    monkeypatch.setattr(frame_windows, "FEW_KEYS", 0)  # never filter
    whole = store.get_historical_features(entity, refs).to_polars()
    monkeypatch.setattr(frame_windows, "FEW_KEYS", 10**9)  # always filter
    only_theirs = store.get_historical_features(entity, refs).to_polars()
    assert whole.equals(only_theirs)
    want = window_values(events, entity.drop("label").to_dicts(), keys, aggs)
    assert_matches(only_theirs.select(a.name for a in aggs).to_dicts(), want, scales(events, aggs))


@pytest.mark.parametrize(
    ("rows", "ordered"),
    [
        ([(1, 0, 5), (1, 0, 7), (1, 1, 2), (2, 0, 1)], True),
        ([(1, 0, 7), (1, 0, 5)], False),  # time descends within a key
        ([(1, 0, 5), (1, 0, 5)], False),  # one instant twice
        ([(1, 0, 5), (2, 0, 1), (1, 0, 9)], False),  # a key's rows apart
        ([(2, 0, 1), (1, 0, 9)], False),  # keys descend
        ([(1, None, 9), (1, 0, 5), (1, 0, 6)], True),  # null keys never match: ignored
        ([(1, 0, 5, 1), (1, 0, 5, 2), (1, 0, 6)], True),  # tied rows below rank 1: ignored
    ],
)
def test_the_index_order_check(rows: list[tuple[Any, ...]], ordered: bool) -> None:
    rows = [(*r, 1) if len(r) == 3 else r for r in rows]
    frame = pl.DataFrame(rows, schema=["k", "j", frame_windows._T, "__fs_rank"], orient="row")
    assert frame_windows._sorted_by_key_and_time(frame, ("k", "j")) is ordered


@pytest.mark.usefixtures("on_each_engine")
def test_an_integer_window_sum_beyond_64_bits_is_an_error_not_a_wrapped_value(
    tmp_path: Path,
) -> None:
    big = 6 * 10**18  # each fits in 64 bits; two in one window do not
    # one value in each of two day-long pieces, both in the day before T
    rows = [T - 10 * HOUR, T - 4 * HOUR]
    events = [{"k": 1, "ts": ts, "v": big, "u": 0} for ts in rows]
    aggs = [fs.Aggregation("v", "sum", window=DAY), fs.Aggregation("v", "count", window=DAY)]
    store = make_store(tmp_path, events, ["k"], aggs, pl.Int64())
    entity = entity_frame([{"k": 1, "ts": T}], ["k"])
    assert fetch(store, entity, aggs[1:]) == [{"v_count_1d": 2}]
    with pytest.raises(fs.PointInTimeError, match="window sum of 'v' overflows 64-bit integers"):
        fetch(store, entity, aggs)


@pytest.mark.usefixtures("on_each_engine")
def test_an_integer_sum_beyond_64_bits_within_one_tile_fails_materialization_naming_the_fix(
    tmp_path: Path,
) -> None:
    big = 6 * 10**18  # each fits in 64 bits; two in one tile do not
    events = [{"k": 1, "ts": ts, "v": big, "u": 0} for ts in (T - 2 * HOUR, T - HOUR)]
    aggs = [fs.Aggregation("v", "sum", window=7 * DAY)]
    with pytest.raises(
        fs.MaterializationError,
        match=r"feature view .spend.*the sum of 'v' over one window tile does not fit a 64-bit "
        r"integer.*: cast the column to Float64",
    ):
        make_store(tmp_path, events, ["k"], aggs, pl.Int64())
    with fs.FeatureStore(tmp_path, progress=False) as store:
        assert store.runs() == []
        assert not list((tmp_path / "offline").rglob("*.parquet"))


@pytest.mark.usefixtures("on_each_engine")
def test_latest_values_are_the_windows_at_the_given_time(tmp_path: Path) -> None:
    store = one_key_store(tmp_path, [(T - DAY, 4.0), (T - 8 * DAY, 100.0)])
    got = store.get_latest_features(
        pl.DataFrame({"k": [1, 2]}), [f"spend:{a.name}" for a in SEVEN], as_of=T
    ).to_polars()
    assert got["v_sum_7d"].to_list() == [4.0, None]
    assert got["v_count_7d"].to_list() == [1, 0]


@pytest.mark.usefixtures("on_each_engine")
def test_training_sets_with_windows_rebuild_byte_identical(tmp_path: Path) -> None:
    store = one_key_store(tmp_path, [(T - DAY, 4.0), (T - 2 * DAY, 0.1), (T - 3 * DAY, 0.2)])
    entity = entity_frame([{"k": 1, "ts": T}, {"k": 1, "ts": T - DAY}], ["k"])
    result = store.get_historical_features(entity, [f"spend:{a.name}" for a in SEVEN])
    saved = store.save_training_set(result, "windows")
    rebuilt = store.rebuild_training_set(saved)
    assert rebuilt.content_id == result.content_id
    assert rebuilt.to_polars().equals(result.to_polars())
    assert rebuilt.to_polars()["v_sum_7d"].to_list() == pytest.approx([4.3, 4.3])


def test_the_aggregations_are_part_of_the_version() -> None:
    entity = fs.Entity("customer", join_keys=["k"])
    frame = pl.DataFrame({"k": [1], "ts": [T], "v": [1.0]})
    source = fs.DataFrameSource("txns", data=frame, timestamp_column="ts")

    def view(*aggs: fs.Aggregation) -> fs.FeatureView:
        return fs.FeatureView("spend", entity=entity, source=source, aggregations=list(aggs))

    a = view(fs.Aggregation("v", "sum", window=DAY))
    assert a.version == view(fs.Aggregation("v", "sum", window=DAY)).version
    assert a.version != view(fs.Aggregation("v", "sum", window=2 * DAY)).version
    assert a.version != view(fs.Aggregation("v", "mean", window=DAY)).version


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"aggregations": []}, "non-empty list"),
        ({"aggregations": [fs.Aggregation("v", "sum", window=DAY)] * 2}, "two aggregations"),
        ({"aggregations": [fs.Aggregation("k", "sum", window=DAY)]}, "join key or timestamp"),
        (
            {"aggregations": [fs.Aggregation("v", "sum", window=DAY)], "ttl": DAY},
            "ttl does not apply",
        ),
        (
            {"aggregations": [fs.Aggregation("v", "sum", window=DAY)], "features": ["v"]},
            "not both",
        ),
    ],
)
def test_bad_aggregation_views_are_refused(kwargs: dict[str, Any], message: str) -> None:
    entity = fs.Entity("customer", join_keys=["k"])
    frame = pl.DataFrame({"k": [1], "ts": [T], "v": [1.0]})
    source = fs.DataFrameSource("txns", data=frame, timestamp_column="ts")
    with pytest.raises(fs.DefinitionError, match=message):
        fs.FeatureView("spend", entity=entity, source=source, **kwargs)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("v", "median", DAY), "unknown function"),
        (("v", "sum", timedelta(0)), "positive"),
        (("v", "sum", 800 * DAY), "at most"),
        (("v", "sum", US / 2), "positive"),
    ],
)
def test_bad_aggregations_are_refused(args: tuple[Any, ...], message: str) -> None:
    with pytest.raises(fs.DefinitionError, match=message):
        fs.Aggregation(*args)


def test_a_sum_of_a_string_column_is_refused_at_apply(tmp_path: Path) -> None:
    entity = fs.Entity("customer", join_keys=["k"])
    frame = pl.DataFrame({"k": [1], "ts": [T], "v": ["a"]})
    source = fs.DataFrameSource("txns", data=frame, timestamp_column="ts")
    view = fs.FeatureView(
        "spend", entity=entity, source=source, aggregations=[fs.Aggregation("v", "sum", window=DAY)]
    )
    store = fs.FeatureStore(tmp_path)
    with pytest.raises(fs.SchemaError, match="needs a numeric column"):
        store.apply([entity, source, view])
    assert store.list_feature_views() == []  # nothing half-applied


@pytest.mark.usefixtures("on_each_engine")
def test_a_pre_transformation_prepares_the_rows(tmp_path: Path) -> None:
    entity = fs.Entity("customer", join_keys=["k"])
    frame = pl.DataFrame(
        {"k": [1, 1, 1], "ts": [T - HOUR, T - DAY, T - 2 * DAY], "v": [1.0, -5.0, 2.0]}
    )
    source = fs.DataFrameSource("txns", data=frame, timestamp_column="ts")
    view = fs.FeatureView(
        "spend",
        entity=entity,
        source=source,
        transform=lambda lf: lf.filter(pl.col("v") > 0).with_columns(double=pl.col("v") * 2),
        aggregations=[fs.Aggregation("double", "sum", window=7 * DAY)],
    )
    store = fs.FeatureStore(tmp_path, engine=_ENGINE)
    store.apply([entity, source, view])
    store.materialize(START, END)
    got = store.get_historical_features(
        pl.DataFrame({"k": [1], "ts": [T]}), ["spend:double_sum_7d"]
    ).to_polars()
    assert got["double_sum_7d"].to_list() == [6.0]


@pytest.mark.usefixtures("on_each_engine")
def test_explain_shows_a_predictions_window_values_and_their_run(tmp_path: Path) -> None:
    store = one_key_store(tmp_path, [(T - DAY, 4.0), (T - 2 * DAY, 1.0)])
    entity = entity_frame([{"k": 1, "ts": T}], ["k"])
    result = store.get_historical_features(entity, ["spend:v_sum_7d", "spend:v_count_7d"])
    saved = store.save_training_set(result, "windows")
    model = store.register_model("m", saved)
    batch = store.log_predictions(
        model, pl.DataFrame({"k": [1], "score": [0.5]}), features=result, as_of=T
    )
    explained = store.lineage.explain(batch, 0)
    values = {f["feature"]: f for f in explained["features"]}
    assert values["v_sum_7d"]["value"] == 5.0
    assert values["v_count_7d"]["value"] == 2
    run = values["v_sum_7d"]["run"]
    assert run is not None
    assert run in explained["runs"]


@pytest.mark.usefixtures("on_each_engine")
def test_incremental_runs_extend_the_index_without_rewriting_history(tmp_path: Path) -> None:
    data = tmp_path / "txns"
    data.mkdir()
    rng = __import__("random").Random(3)

    def batch(lo: datetime, days: int) -> list[dict[str, Any]]:
        return [
            {
                "k": rng.randint(0, 2),
                "ts": lo + rng.randint(0, 24 * days - 1) * HOUR,
                "v": rng.uniform(0, 9),
            }
            for _ in range(120)
        ]

    early = batch(datetime(2024, 1, 1), 59)  # January and February
    pl.DataFrame(early).write_parquet(data / "a.parquet")
    entity = fs.Entity("customer", join_keys=["k"])
    source = fs.ParquetSource("txns", path=data, timestamp_column="ts")
    aggs = [
        fs.Aggregation("v", fn, window=w) for fn in ("sum", "max", "count") for w in (DAY, 30 * DAY)
    ]
    view = fs.FeatureView("spend", entity=entity, source=source, aggregations=aggs)
    store = fs.FeatureStore(tmp_path / "store", engine=_ENGINE)
    store.apply([entity, source, view])
    store.materialize_incremental(datetime(2024, 3, 1))
    before = {f["path"] for f in store.catalog.active_files("spend", view.version)}
    late = batch(datetime(2024, 3, 1), 30)  # March
    pl.DataFrame(late).write_parquet(data / "b.parquet")
    (run,) = store.materialize_incremental(datetime(2024, 4, 1))
    after = {f["path"] for f in store.catalog.active_files("spend", view.version)}
    assert before <= after  # January's and February's files are kept as they were
    assert all("2024-03" in p for p in after - before)
    assert run.start == datetime(2024, 3, 1)
    moments = [
        {"k": rng.randint(0, 2), "ts": datetime(2024, 3, 1) + rng.randint(-72, 700) * HOUR}
        for _ in range(60)
    ]
    got = fetch(store, entity_frame(moments, ["k"]), aggs)
    events = [{**e, "u": 0} for e in early + late]
    assert_matches(got, window_values(events, moments, ["k"], aggs), scales(events, aggs))


def test_the_cli_applies_materializes_and_retrieves_windows(tmp_path: Path) -> None:
    from cli_project import run_cli, run_cli_json

    (tmp_path / "defs.py").write_text(
        "from datetime import datetime, timedelta\n"
        "import polars as pl\n"
        "import featstore as fs\n"
        "customer = fs.Entity('customer', join_keys=['cid'])\n"
        "rows = pl.DataFrame({'cid': [1, 1, 2], 'amount': [7.0, 13.0, 2.0], 'ts': [\n"
        "    datetime(2024, 3, 2, 9), datetime(2024, 3, 8, 22, 12), datetime(2024, 3, 9)]})\n"
        "txns = fs.DataFrameSource('txns', data=rows, timestamp_column='ts')\n"
        "spending = fs.FeatureView('spending', entity=customer, source=txns, aggregations=[\n"
        "    fs.Aggregation('amount', 'sum', window=timedelta(days=7)),\n"
        "    fs.Aggregation('amount', 'count', window=timedelta(days=1))])\n"
    )
    pl.DataFrame(
        {"cid": [1, 2], "ts": [datetime(2024, 3, 10, 6), datetime(2024, 3, 9, 12)]}
    ).write_parquet(tmp_path / "entity.parquet")
    store = ["--store", "store"]
    run_cli([*store, "init", "--store-only"], cwd=tmp_path)
    run_cli([*store, "apply", "defs.py"], cwd=tmp_path)
    run_cli([*store, "materialize", "--defs", "defs.py", "2024-03-01", "2024-04-01"], cwd=tmp_path)
    run_cli(
        [*store, "historical", "entity.parquet", "-f", "spending:*", "--out", "out.parquet"],
        cwd=tmp_path,
    )
    out = pl.read_parquet(tmp_path / "out.parquet")
    assert out["amount_sum_7d"].to_list() == [13.0, 2.0]
    assert out["amount_count_1d"].to_list() == [0, 1]
    shown = run_cli_json([*store, "show", "view", "spending"], cwd=tmp_path)
    assert [a["fn"] for a in shown["aggregations"]] == ["sum", "count"]
