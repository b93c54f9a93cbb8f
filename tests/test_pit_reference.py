"""The point-in-time contract (DESIGN.md), one named test per edge case.

Each test builds a store from raw frames (``make_store`` in conftest), retrieves, and
compares with the brute-force oracle (``tests/oracle.py``) and, where it makes the case
clearer, with explicit expected values.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from oracle import View, assert_frame_matches, historical, latest
from polars.testing import assert_frame_equal

import featstore as fs

# legitimately all-null cases are compared with the oracle here; coverage warnings are
# tested in test_hardening_retrieval.py
pytestmark = pytest.mark.filterwarnings("ignore::featstore.CoverageWarning")

US = timedelta(microseconds=1)
D = datetime  # shorthand in data tables


def refs(views: Sequence[View]) -> list[str]:
    return [f"{v.name}:{f}" for v in views for f in v.selected]


def check(
    store: fs.FeatureStore,
    entity: Any,
    views: Sequence[View],
    *,
    bitemporal: bool = False,
    full_feature_names: bool = False,
    oracle_entity: Any = None,
) -> pl.DataFrame:
    """Retrieve, compare with the oracle, and return the frame."""
    result = store.get_historical_features(
        entity, refs(views), bitemporal=bitemporal, full_feature_names=full_feature_names
    )
    expected = historical(
        entity if oracle_entity is None else oracle_entity,
        views,
        bitemporal=bitemporal,
        full_feature_names=full_feature_names,
    )
    assert_frame_matches(result.frame, expected)
    return result.frame


def entity_df(keys: list[Any], stamps: list[datetime], **extra: list[Any]) -> pl.DataFrame:
    return pl.DataFrame(
        {"cid": keys, "event_timestamp": stamps, **extra},
        schema_overrides={"cid": pl.Int64, "event_timestamp": pl.Datetime("us")},
    )


def feature_df(
    rows: list[tuple[Any, ...]], names: Sequence[str] = ("cid", "ts", "x")
) -> pl.DataFrame:
    schema = {
        "cid": pl.Int64,
        "ts": pl.Datetime("us"),
        "created": pl.Datetime("us"),
        "x": pl.Float64,
        "y": pl.String,
        "k2": pl.String,
    }
    return pl.DataFrame(rows, schema={n: schema[n] for n in names}, orient="row")


# -- rows and order -------------------------------------------------------------------


def test_duplicate_entity_rows_each_appear_once_in_order(make_store):
    v = View("v", feature_df([(1, D(2024, 1, 1), 1.0), (1, D(2024, 1, 3), 3.0)]), ["cid"], ["x"])
    store = make_store([v])
    ent = entity_df(
        [1, 1, 1, 1],
        [D(2024, 1, 2), D(2024, 1, 2), D(2024, 1, 4), D(2024, 1, 2)],
        label=[10, 10, 20, 30],
    )
    out = check(store, ent, [v])
    assert out["x"].to_list() == [1.0, 1.0, 3.0, 1.0]
    assert out["label"].to_list() == [10, 10, 20, 30]


def test_feature_row_exactly_at_entity_timestamp_is_included(make_store):
    t = D(2024, 1, 2, 12, 30, 15, 123456)
    v = View(
        "v", feature_df([(1, D(2024, 1, 1), 1.0), (1, t, 2.0), (1, t + US, 3.0)]), ["cid"], ["x"]
    )
    store = make_store([v])
    out = check(store, entity_df([1, 1], [t, t - US]), [v])
    assert out["x"].to_list() == [2.0, 1.0]


def test_ttl_boundary_exact_age_included_one_microsecond_older_excluded(make_store):
    ttl = timedelta(hours=6)
    t = D(2024, 1, 2, 12)
    v = View("v", feature_df([(1, t - ttl, 1.0), (2, t - ttl - US, 2.0)]), ["cid"], ["x"], ttl=ttl)
    store = make_store([v])
    out = check(store, entity_df([1, 2, 1], [t, t, t + US]), [v])
    assert out["x"].to_list() == [1.0, None, None]


def test_entity_without_feature_rows_gets_nulls_and_is_kept(make_store):
    v = View("v", feature_df([(1, D(2024, 1, 1), 1.0)]), ["cid"], ["x"])
    store = make_store([v])
    out = check(store, entity_df([7, 1, 8], [D(2024, 2, 1)] * 3, label=[1, 2, 3]), [v])
    assert out["x"].to_list() == [None, 1.0, None]
    assert out["label"].to_list() == [1, 2, 3]


def test_entity_row_before_first_feature_row_gets_nulls(make_store):
    v = View("v", feature_df([(1, D(2024, 1, 5), 1.0)]), ["cid"], ["x"])
    store = make_store([v])
    out = check(store, entity_df([1], [D(2024, 1, 4)]), [v])
    assert out["x"].to_list() == [None]


# -- ties ---------------------------------------------------------------------------------


def test_tie_on_event_time_latest_created_wins(make_store):
    t = D(2024, 1, 1)
    rows = [
        (1, t, D(2024, 1, 2), 1.0),
        (1, t, D(2024, 1, 5), 5.0),  # latest created: wins although its value is not max
        (1, t, D(2024, 1, 3), 9.0),
        (1, t, None, 99.0),  # a null created timestamp sorts lowest
        (2, t, None, 10.0),
        (2, t, D(2024, 1, 1), 2.0),  # any created beats a null created
    ]
    v = View(
        "v",
        feature_df(rows, ("cid", "ts", "created", "x")),
        ["cid"],
        ["x"],
        created_timestamp_column="created",
    )
    store = make_store([v])
    out = check(store, entity_df([1, 2], [D(2024, 1, 10)] * 2), [v])
    assert out["x"].to_list() == [5.0, 2.0]


def test_tie_on_event_time_without_created_is_deterministic_across_stores_and_row_orders(
    make_store,
):
    t = D(2024, 1, 1)
    rows = [
        (1, t, 1.0, "z"),
        (1, t, 2.0, None),
        (1, t, 2.0, "a"),  # winner: x is the max (2.0), then y "a" beats null
        (1, t, None, "zz"),  # a null x loses to every value
        (2, t, None, "b"),
        (2, t, None, "c"),  # both x null: y decides
        (3, t, None, None),
        (3, t, None, "q"),
    ]
    names = ("cid", "ts", "x", "y")
    ent = entity_df([1, 2, 3], [D(2024, 1, 2)] * 3)
    frames = []
    for seed in range(3):
        shuffled = list(rows)
        random.Random(seed).shuffle(shuffled)
        if seed == 1:
            shuffled.reverse()
        v = View("v", feature_df(shuffled, names), ["cid"], ["x", "y"])
        frames.append(check(make_store([v]), ent, [v]))
    assert frames[0].select("x", "y").rows() == [(2.0, "a"), (None, "c"), (None, "q")]
    for other in frames[1:]:
        assert_frame_equal(other, frames[0])


def test_tie_on_event_and_created_time_is_broken_by_feature_values(make_store):
    t, c = D(2024, 1, 1), D(2024, 1, 1, 1)
    rows = [(1, t, c, 3.0), (1, t, c, 4.0), (1, t, c, None), (1, t, D(2023, 12, 31), 100.0)]
    ent = entity_df([1], [D(2024, 1, 2)])
    for order in (rows, rows[::-1]):
        v = View(
            "v",
            feature_df(order, ("cid", "ts", "created", "x")),
            ["cid"],
            ["x"],
            created_timestamp_column="created",
        )
        assert check(make_store([v]), ent, [v])["x"].to_list() == [4.0]


def test_tie_break_uses_all_view_features_even_when_one_is_requested(make_store):
    t = D(2024, 1, 1)
    rows = [(1, t, 2.0, "a"), (1, t, 1.0, "b")]
    # only y is requested, but x (first by name) decides: the row with x = 2.0 wins
    v = View("v", feature_df(rows, ("cid", "ts", "x", "y")), ["cid"], ["y", "x"], select=["y"])
    out = check(make_store([v]), entity_df([1], [D(2024, 1, 2)]), [v])
    assert out["y"].to_list() == ["a"]


def test_tie_break_compares_features_in_name_order_whatever_their_dtypes(make_store):
    t = D(2024, 1, 1)
    ent = entity_df([1], [D(2024, 1, 2)])
    base = {"cid": [1, 1], "ts": [t, t], "b_first": [1, 0], "a_second": ["x", "y"]}
    plain = View("plain", pl.DataFrame(base), ["cid"], ["b_first", "a_second"])
    # a feature of a dtype the catalog does not round-trip (List) must not change the rule
    listy = View(
        "listy",
        pl.DataFrame({**base, "c_list": [[1], [1]]}),
        ["cid"],
        ["b_first", "a_second", "c_list"],
    )
    out = check(make_store([plain, listy]), ent, [plain, listy], full_feature_names=True)
    # name order: a_second decides first ("y" > "x"), whatever the view's column order
    assert out.row(0)[2:] == (0, "y", 0, "y", [1])


# -- nulls ------------------------------------------------------------------------------


def test_null_keys_in_entity_frame_match_nothing(make_store):
    v = View("v", feature_df([(1, D(2024, 1, 1), 1.0), (None, D(2024, 1, 1), 5.0)]), ["cid"], ["x"])
    store = make_store([v])
    out = check(store, entity_df([None, 1, None], [D(2024, 1, 2)] * 3, label=[1, 2, 3]), [v])
    assert out["x"].to_list() == [None, 1.0, None]
    assert out["cid"].to_list() == [None, 1, None]


def test_null_keys_in_feature_rows_match_nothing(make_store):
    rows = [(None, D(2024, 1, 1), 1.0), (None, D(2024, 1, 2), 2.0), (3, D(2024, 1, 1), 3.0)]
    v = View("v", feature_df(rows), ["cid"], ["x"])
    store = make_store([v])
    out = check(store, entity_df([None, 3, 4], [D(2024, 1, 3)] * 3), [v])
    assert out["x"].to_list() == [None, 3.0, None]


def test_null_key_part_of_composite_key_matches_nothing(make_store):
    rows = [(1, "a", D(2024, 1, 1), 1.0), (1, None, D(2024, 1, 1), 2.0)]
    frame = pl.DataFrame(
        rows,
        schema={"cid": pl.Int64, "k2": pl.String, "ts": pl.Datetime("us"), "x": pl.Float64},
        orient="row",
    )
    v = View("v", frame, ["cid", "k2"], ["x"])
    store = make_store([v])
    ent = entity_df([1, 1, None], [D(2024, 1, 2)] * 3, k2=["a", None, "a"])
    out = check(store, ent, [v])
    assert out["x"].to_list() == [1.0, None, None]


def test_null_feature_value_in_latest_row_is_returned_not_skipped(make_store):
    rows = [(1, D(2024, 1, 1), 1.0, "old"), (1, D(2024, 1, 2), None, None)]
    v = View("v", feature_df(rows, ("cid", "ts", "x", "y")), ["cid"], ["x", "y"])
    store = make_store([v])
    out = check(store, entity_df([1, 1], [D(2024, 1, 1, 12), D(2024, 1, 3)]), [v])
    assert out.select("x", "y").rows() == [(1.0, "old"), (None, None)]


# -- keys and views -----------------------------------------------------------------------


def test_composite_keys_match_on_every_key(make_store):
    frame = pl.DataFrame(
        {
            "store_id": ["s1", "s1", "s2", "s2"],
            "item": [1, 2, 1, 1],
            "ts": [D(2024, 1, 1), D(2024, 1, 1), D(2024, 1, 1), D(2024, 1, 3)],
            "price": [1.5, 2.5, 3.5, 4.5],
        }
    )
    v = View("prices", frame, ["store_id", "item"], ["price"])
    store = make_store([v])
    ent = pl.DataFrame(
        {
            "store_id": ["s1", "s2", "s2", "s1", "s3"],
            "item": [2, 1, 1, 3, 1],
            "event_timestamp": [
                D(2024, 1, 2),
                D(2024, 1, 2),
                D(2024, 1, 4),
                D(2024, 1, 2),
                D(2024, 1, 2),
            ],
        }
    )
    out = check(store, ent, [v])
    assert out["price"].to_list() == [2.5, 3.5, 4.5, None, None]


def test_views_of_different_entities_in_one_request(make_store):
    a = View("by_customer", feature_df([(1, D(2024, 1, 1), 1.0)]), ["cid"], ["x"])
    b_frame = pl.DataFrame(
        {"cid": [1, 1], "k2": ["p", "q"], "ts": [D(2024, 1, 1)] * 2, "y": ["P", "Q"]}
    )
    b = View("by_pair", b_frame, ["cid", "k2"], ["y"])
    store = make_store([a, b])
    ent = entity_df([1, 1, 2], [D(2024, 1, 2)] * 3, k2=["q", "p", "p"])
    out = check(store, ent, [a, b])
    assert out.select("x", "y").rows() == [(1.0, "Q"), (1.0, "P"), (None, None)]


def test_several_views_with_different_ttls(make_store):
    rows = [(1, D(2024, 1, 1), 1.0), (1, D(2024, 1, 10), 10.0)]
    short = View("short", feature_df(rows), ["cid"], ["x"], ttl=timedelta(days=1))
    week = View("week", feature_df(rows), ["cid"], ["x"], ttl=timedelta(days=7))
    never = View("never", feature_df(rows), ["cid"], ["x"])
    store = make_store([short, week, never])
    stamps = [D(2024, 1, 1, 12), D(2024, 1, 5), D(2024, 1, 9), D(2024, 1, 10, 6), D(2024, 1, 30)]
    out = check(store, entity_df([1] * 5, stamps), [short, week, never], full_feature_names=True)
    assert out.select("short__x", "week__x", "never__x").rows() == [
        (1.0, 1.0, 1.0),
        (None, 1.0, 1.0),
        (None, None, 1.0),
        (10.0, 10.0, 10.0),
        (None, None, 10.0),
    ]


def test_requested_feature_subset_and_order(make_store):
    rows = [(1, D(2024, 1, 1), 1.0, "a")]
    v = View("v", feature_df(rows, ("cid", "ts", "x", "y")), ["cid"], ["x", "y"])
    store = make_store([v])
    ent = entity_df([1], [D(2024, 1, 2)])
    out = store.get_historical_features(ent, ["v:y", "v:x"]).frame
    assert out.columns == ["cid", "event_timestamp", "y", "x"]
    assert out.row(0) == (1, D(2024, 1, 2), "a", 1.0)


# -- time zones ---------------------------------------------------------------------------


def test_mixed_time_zones_compare_as_utc_instants(make_store):
    ny = ZoneInfo("America/New_York")
    utc_rows = pl.DataFrame(
        {
            "cid": [1, 1, 2],
            # 2024-03-10 05:00 UTC is midnight in New York (EST); 07:00 UTC is 03:00 EDT
            "ts": [
                D(2024, 3, 10, 5, tzinfo=UTC),
                D(2024, 3, 10, 7, tzinfo=UTC),
                D(2024, 3, 10, 7, tzinfo=UTC),
            ],
            "x": [5.0, 7.0, 70.0],
        },
        schema_overrides={"ts": pl.Datetime("us", "UTC")},
    )
    naive_rows = pl.DataFrame(
        {
            "cid": [1, 2],
            "ts": [D(2024, 3, 10, 6, 59, 59, 999999), D(2024, 3, 10, 7)],
            "y": ["n1", "n2"],
        }
    )
    kolkata = pl.DataFrame(
        {"cid": [2], "ts": [D(2024, 3, 10, 12, 30, tzinfo=ZoneInfo("Asia/Kolkata"))], "z": [1]},
        schema_overrides={"ts": pl.Datetime("ns", "Asia/Kolkata")},  # = 07:00 UTC
    )
    u = View("utc_view", utc_rows, ["cid"], ["x"])
    n = View("naive_view", naive_rows, ["cid"], ["y"])
    k = View("kolkata_view", kolkata, ["cid"], ["z"])
    store = make_store([u, n, k])
    stamps = [
        D(2024, 3, 10, 0, 0, tzinfo=ny),  # = 05:00 UTC
        D(2024, 3, 9, 23, 59, 59, 999999, tzinfo=ny),
        D(2024, 3, 10, 3, 0, tzinfo=ny),  # EDT: = 07:00 UTC
        D(2024, 3, 10, 1, 59, 59, 999999, tzinfo=ny),  # EST: = 06:59:59.999999 UTC
        D(2024, 3, 10, 3, 0, tzinfo=ny),
    ]
    ent = pl.DataFrame(
        {"cid": [1, 1, 1, 1, 2], "event_timestamp": stamps},
        schema_overrides={"event_timestamp": pl.Datetime("us", "America/New_York")},
    )
    out = check(store, ent, [u, n, k])
    assert out.select("x", "y", "z").rows() == [
        (5.0, None, None),
        (None, None, None),
        (7.0, "n1", None),
        (5.0, "n1", None),
        (70.0, "n2", 1),
    ]
    assert out.schema["event_timestamp"] == pl.Datetime("us", "America/New_York")


def test_naive_entity_timestamps_are_read_as_utc(make_store):
    src = pl.DataFrame(
        {"cid": [1], "ts": [D(2024, 1, 1, 12, tzinfo=ZoneInfo("Europe/Berlin"))], "x": [1.0]},
        schema_overrides={"ts": pl.Datetime("us", "Europe/Berlin")},  # = 11:00 UTC
    )
    v = View("v", src, ["cid"], ["x"])
    store = make_store([v])
    out = check(store, entity_df([1, 1], [D(2024, 1, 1, 11), D(2024, 1, 1, 10, 59)]), [v])
    assert out["x"].to_list() == [1.0, None]


def test_date_entity_timestamps_mean_midnight_utc(make_store):
    v = View(
        "v",
        feature_df([(1, D(2024, 1, 1), 1.0), (1, D(2024, 1, 1, 0, 0, 0, 1), 2.0)]),
        ["cid"],
        ["x"],
    )
    store = make_store([v])
    ent = pl.DataFrame(
        {"cid": [1, 1], "event_timestamp": [D(2024, 1, 1).date(), D(2023, 12, 31).date()]}
    )
    out = check(store, ent, [v])
    assert out["x"].to_list() == [1.0, None]
    assert out.schema["event_timestamp"] == pl.Date


# -- empty inputs -------------------------------------------------------------------------


def test_empty_entity_frame_gives_empty_typed_result(make_store):
    v = View(
        "v",
        feature_df([(1, D(2024, 1, 1), 1.0, "a")], ("cid", "ts", "x", "y")),
        ["cid"],
        ["x", "y"],
    )
    store = make_store([v])
    ent = pl.DataFrame(
        schema={"cid": pl.Int64, "event_timestamp": pl.Datetime("us"), "label": pl.Int8}
    )
    out = store.get_historical_features(ent, refs([v])).frame
    assert out.height == 0
    assert out.schema == pl.Schema(
        {
            "cid": pl.Int64,
            "event_timestamp": pl.Datetime("us"),
            "label": pl.Int8,
            "x": pl.Float64,
            "y": pl.String,
        }
    )


def test_empty_source_gives_null_features(make_store):
    v = View(
        "v", feature_df([], ("cid", "ts", "x", "y")), ["cid"], ["x", "y"], ttl=timedelta(days=3)
    )
    store = make_store([v])
    out = check(store, entity_df([1, None], [D(2024, 1, 5)] * 2), [v])
    assert out.select("x", "y").rows() == [(None, None), (None, None)]
    assert out.schema["x"] == pl.Float64
    assert out.schema["y"] == pl.String


def test_view_never_materialized_gives_null_features(make_store):
    v = View("v", feature_df([(1, D(2024, 1, 1), 1.0)]), ["cid"], ["x"])
    store = make_store([v], ranges=[])
    out = store.get_historical_features(entity_df([1], [D(2024, 1, 2)]), ["v:x"]).frame
    assert out["x"].to_list() == [None]
    assert out.schema["x"] == pl.Float64


# -- names --------------------------------------------------------------------------------


def test_full_feature_names_prefix_view_name(make_store):
    a = View("a", feature_df([(1, D(2024, 1, 1), 1.0)]), ["cid"], ["x"])
    b = View("b", feature_df([(1, D(2024, 1, 1), 2.0)]), ["cid"], ["x"])
    store = make_store([a, b])
    out = check(store, entity_df([1], [D(2024, 1, 2)]), [a, b], full_feature_names=True)
    assert out.columns == ["cid", "event_timestamp", "a__x", "b__x"]
    assert out.row(0)[2:] == (1.0, 2.0)


def test_name_clash_with_entity_column_is_an_error_naming_both_sides(make_store):
    v = View("v", feature_df([(1, D(2024, 1, 1), 1.0)]), ["cid"], ["x"])
    store = make_store([v])
    ent = entity_df([1], [D(2024, 1, 2)], x=[0])
    with pytest.raises(fs.PointInTimeError, match=r"'x'.*entity frame.*v:x"):
        store.get_historical_features(ent, ["v:x"])
    ent_full = entity_df([1], [D(2024, 1, 2)], v__x=[0])
    with pytest.raises(fs.PointInTimeError, match=r"'v__x'.*entity frame.*v:x"):
        store.get_historical_features(ent_full, ["v:x"], full_feature_names=True)
    # the same frame is fine the other way round
    out = store.get_historical_features(ent, ["v:x"], full_feature_names=True).frame
    assert out.columns == ["cid", "event_timestamp", "x", "v__x"]


def test_name_clash_between_views_is_an_error_naming_both_sides(make_store):
    a = View("a", feature_df([(1, D(2024, 1, 1), 1.0)]), ["cid"], ["x"])
    b = View("b", feature_df([(1, D(2024, 1, 1), 2.0)]), ["cid"], ["x"])
    store = make_store([a, b])
    with pytest.raises(fs.PointInTimeError, match=r"'x'.*a:x.*b:x") as info:
        store.get_historical_features(entity_df([1], [D(2024, 1, 2)]), ["a:x", "b:x"])
    assert "full_feature_names" in str(info.value)
    with pytest.raises(fs.PointInTimeError, match=r"a:x.*b:x"):
        store.get_latest_features({"cid": [1]}, ["a:x", "b:x"], as_of=D(2024, 1, 2))


# -- entity frame forms and pass-through ---------------------------------------------------


@pytest.mark.parametrize("form", ["pandas", "arrow", "parquet_path", "parquet_str", "lazy"])
def test_entity_frame_forms_pandas_arrow_parquet(make_store, tmp_path: Path, form: str):
    v = View("v", feature_df([(1, D(2024, 1, 1), 1.0), (2, D(2024, 1, 3), 2.0)]), ["cid"], ["x"])
    store = make_store([v])
    ent = entity_df(
        [2, 1, 2, 3],
        [D(2024, 1, 4), D(2024, 1, 2), D(2024, 1, 2), D(2024, 1, 5)],
        label=[0.5, 1.5, 2.5, 3.5],
    )
    given: Any
    if form == "pandas":
        given = ent.to_pandas()
    elif form == "arrow":
        given = ent.to_arrow()
    elif form == "lazy":
        given = ent.lazy()
    else:
        path = tmp_path / "entity.parquet"
        ent.write_parquet(path)
        given = path if form == "parquet_path" else str(path)
    out = check(store, given, [v], oracle_entity=ent)
    assert out["x"].to_list() == [2.0, 1.0, None, None]


def test_original_order_and_pass_through_columns_keep_values_and_dtypes(make_store):
    v = View("v", feature_df([(c, D(2024, 1, 1), float(c)) for c in range(5)]), ["cid"], ["x"])
    store = make_store([v])
    n = 6
    ent = pl.DataFrame(
        {
            "request_id": ["r5", "r3", "r1", "r4", "r2", "r0"],
            "cid": pl.Series([4, 0, 3, 3, None, 1], dtype=pl.Int32),
            "event_timestamp": [D(2024, 1, 9 - i) for i in range(n)],  # descending
            "label": pl.Series([True, False, None, True, True, False]),
            "weight": pl.Series([0.5, 1.0, 2.0, None, 3.0, 4.0], dtype=pl.Float32),
            "small": pl.Series([1, 2, 3, 4, 5, 6], dtype=pl.UInt8),
            "segment": pl.Series(["a", "b", "a", None, "c", "b"], dtype=pl.Categorical),
            "tags": [[1], [], None, [2, 3], [4], [5]],
            "when_labelled": [D(2025, 1, 1)] * n,
            "day": [D(2024, 1, 1).date()] * n,
        }
    )
    out = check(store, ent, [v])
    assert_frame_equal(out.select(ent.columns), ent)
    assert out.columns == [*ent.columns, "x"]
    assert out["x"].to_list() == [4.0, 0.0, 3.0, 3.0, None, 1.0]


def test_integer_key_of_another_width_still_matches(make_store):
    v = View("v", feature_df([(1, D(2024, 1, 1), 1.0)]), ["cid"], ["x"])
    store = make_store([v])
    ent = pl.DataFrame(
        {"cid": pl.Series([1, 2], dtype=pl.UInt16), "event_timestamp": [D(2024, 1, 2)] * 2}
    )
    out = check(store, ent, [v])
    assert out["x"].to_list() == [1.0, None]
    assert out.schema["cid"] == pl.UInt16


@pytest.mark.parametrize("source_dtype", [pl.String, pl.Categorical, pl.Enum(["a", "b", "c"])])
@pytest.mark.parametrize("entity_dtype", [pl.String, pl.Categorical, pl.Enum(["c", "b", "a"])])
def test_string_keys_match_whatever_their_categorical_encoding(
    make_store, source_dtype, entity_dtype
):
    frame = pl.DataFrame({"cid": ["a", "b"], "ts": [D(2024, 1, 1)] * 2, "x": [1.0, 2.0]})
    v = View("v", frame.with_columns(pl.col("cid").cast(source_dtype)), ["cid"], ["x"])
    store = make_store([v])
    ent = pl.DataFrame(
        {"cid": ["b", "c", None, "a"], "event_timestamp": [D(2024, 1, 2)] * 4},
        schema_overrides={"cid": entity_dtype},
    )
    out = check(store, ent, [v])
    assert out["x"].to_list() == [2.0, None, None, 1.0]
    assert out.schema["cid"] == ent.schema["cid"]


# -- bitemporal mode ----------------------------------------------------------------------


def test_bitemporal_hides_late_correction_created_after_entity_time(make_store):
    rows = [
        (1, D(2024, 1, 1), D(2024, 1, 1), 1.0),  # original value
        (1, D(2024, 1, 1), D(2024, 1, 10), 2.0),  # correction of the same event, made later
    ]
    v = View(
        "v",
        feature_df(rows, ("cid", "ts", "created", "x")),
        ["cid"],
        ["x"],
        created_timestamp_column="created",
    )
    store = make_store([v])
    ent = entity_df([1, 1, 1], [D(2024, 1, 5), D(2024, 1, 10), D(2024, 1, 15)])
    assert check(store, ent, [v])["x"].to_list() == [2.0, 2.0, 2.0]
    assert check(store, ent, [v], bitemporal=True)["x"].to_list() == [1.0, 2.0, 2.0]


def test_bitemporal_hides_backfill_of_an_earlier_event(make_store):
    rows = [
        (1, D(2024, 1, 1), None, 1.0),  # null created: when it became known is unknown
        (1, D(2024, 1, 3), D(2024, 1, 20), 3.0),  # backfilled on Jan 20
        (1, D(2024, 1, 2), D(2024, 1, 2), 2.0),
    ]
    v = View(
        "v",
        feature_df(rows, ("cid", "ts", "created", "x")),
        ["cid"],
        ["x"],
        created_timestamp_column="created",
        ttl=timedelta(days=30),
    )
    store = make_store([v])
    ent = entity_df([1] * 4, [D(2024, 1, 1), D(2024, 1, 5), D(2024, 1, 19, 23), D(2024, 1, 20)])
    assert check(store, ent, [v])["x"].to_list() == [1.0, 3.0, 3.0, 3.0]
    # bitemporal: the row with no created time is never a candidate
    assert check(store, ent, [v], bitemporal=True)["x"].to_list() == [None, 2.0, 2.0, 3.0]


def test_bitemporal_created_before_event_time_counts_from_event_time(make_store):
    # a forecast: created Jan 1 for event time Jan 5, visible only from Jan 5
    rows = [(1, D(2024, 1, 5), D(2024, 1, 1), 5.0), (1, D(2024, 1, 2), D(2024, 1, 2), 2.0)]
    v = View(
        "v",
        feature_df(rows, ("cid", "ts", "created", "x")),
        ["cid"],
        ["x"],
        created_timestamp_column="created",
    )
    store = make_store([v])
    ent = entity_df([1, 1], [D(2024, 1, 4), D(2024, 1, 5)])
    assert check(store, ent, [v], bitemporal=True)["x"].to_list() == [2.0, 5.0]


def test_bitemporal_with_ttl_falls_back_only_within_ttl(make_store):
    rows = [(1, D(2024, 1, 1), D(2024, 1, 1), 1.0), (1, D(2024, 1, 8), D(2024, 1, 20), 8.0)]
    v = View(
        "v",
        feature_df(rows, ("cid", "ts", "created", "x")),
        ["cid"],
        ["x"],
        created_timestamp_column="created",
        ttl=timedelta(days=5),
    )
    store = make_store([v])
    ent = entity_df([1, 1, 1], [D(2024, 1, 3), D(2024, 1, 10), D(2024, 1, 21)])
    # on Jan 10 the Jan 8 row is not known yet and the Jan 1 row is too old
    assert check(store, ent, [v], bitemporal=True)["x"].to_list() == [1.0, None, None]
    assert check(store, ent, [v])["x"].to_list() == [1.0, 8.0, None]


@pytest.mark.parametrize("ttl", [timedelta(days=365 * 3000), timedelta.max])
def test_very_long_ttl_behaves_like_a_long_ttl(make_store, ttl: timedelta):
    v = View("v", feature_df([(1, D(1900, 1, 1), 1.0)]), ["cid"], ["x"], ttl=ttl)
    store = make_store([v])
    ent = entity_df([1, 1, 1], [D(2024, 2, 1), D(9999, 12, 31), D(1, 1, 1)])
    out = check(store, ent, [v])
    assert out["x"].to_list() == [1.0, 1.0 if ttl == timedelta.max else None, None]


def test_feature_rows_before_year_1000_materialize_and_join(make_store):
    v = View("v", feature_df([(1, D(1, 1, 2), 1.0), (1, D(999, 5, 1), 2.0)]), ["cid"], ["x"])
    ranges = [(D(1, 1, 1), D(1, 2, 1)), (D(999, 5, 1), D(999, 6, 1))]
    store = make_store([v], ranges=ranges)
    ent = entity_df([1, 1, 1, 1], [D(1, 1, 1), D(1, 1, 2), D(999, 4, 30), D(2024, 1, 1)])
    out = check(store, ent, [v])
    assert out["x"].to_list() == [None, 1.0, 1.0, 2.0]


# -- latest values ------------------------------------------------------------------------


def test_get_latest_features_as_of(make_store):
    rows = [(1, D(2024, 1, 1), 1.0), (1, D(2024, 1, 5), 5.0), (2, D(2024, 1, 2), 2.0)]
    v = View("v", feature_df(rows), ["cid"], ["x"], ttl=timedelta(days=2))
    store = make_store([v])
    keys = {"cid": [2, 1, 3, 1]}
    for as_of, want in [
        (D(2024, 1, 3), [2.0, 1.0, None, 1.0]),
        (D(2024, 1, 5), [None, 5.0, None, 5.0]),
        ("2024-01-04T23:00:00-01:00", [None, 5.0, None, 5.0]),  # = Jan 5 00:00 UTC
        (D(2024, 1, 4, 23, tzinfo=ZoneInfo("Etc/GMT+1")), [None, 5.0, None, 5.0]),
    ]:
        out = store.get_latest_features(keys, ["v:x"], as_of=as_of).frame
        moment = datetime.fromisoformat(as_of) if isinstance(as_of, str) else as_of
        assert_frame_matches(out, latest(keys, [v], moment))
        assert out["x"].to_list() == want
        assert out.columns == ["cid", "x"]


def test_get_latest_features_defaults_to_now_and_ignores_the_future(make_store):
    now = datetime.now(UTC).replace(tzinfo=None)
    rows = [
        (1, D(2024, 1, 1), 1.0),
        (1, now + timedelta(days=40), 99.0),  # in the future: not yet the latest value
        (2, D(2024, 1, 1), 2.0),
    ]
    v = View("v", feature_df(rows), ["cid"], ["x"])
    future = now + timedelta(days=40)
    store = make_store(
        [v],
        ranges=[
            (D(2024, 1, 1), D(2024, 2, 1)),
            (future - timedelta(days=1), future + timedelta(days=1)),
        ],
    )
    frame = pl.DataFrame({"cid": [1, 2, 3], "extra": ["a", "b", "c"]})
    out = store.get_latest_features(frame, ["v:x"]).frame
    assert_frame_matches(out, latest(frame, [v], now))
    assert out["x"].to_list() == [1.0, 2.0, None]
    later = store.get_latest_features(frame, ["v:x"], as_of=future).frame
    assert later["x"].to_list() == [99.0, 2.0, None]


def test_get_latest_features_bitemporal(make_store):
    rows = [(1, D(2024, 1, 1), None, 1.0), (1, D(2024, 1, 1), D(2024, 1, 9), 9.0)]
    v = View(
        "v",
        feature_df(rows, ("cid", "ts", "created", "x")),
        ["cid"],
        ["x"],
        created_timestamp_column="created",
    )
    store = make_store([v])
    for as_of in (D(2024, 1, 5), D(2024, 1, 9)):
        for bitemporal in (False, True):
            out = store.get_latest_features(
                {"cid": [1]}, ["v:x"], as_of=as_of, bitemporal=bitemporal
            ).frame
            assert_frame_matches(out, latest({"cid": [1]}, [v], as_of, bitemporal=bitemporal))


# -- partitions and materialization runs ------------------------------------------------


def _monthly_rows() -> pl.DataFrame:
    rows = []
    for month in range(1, 6):
        for day in (1, 15, 28):
            for cid in (1, 2):
                if cid == 2 and month > 1:
                    continue  # customer 2 only has January rows
                rows.append((cid, D(2024, month, day, 12), month * 100.0 + day))
    return feature_df(rows)


def test_retrieval_across_several_monthly_partitions(make_store):
    v = View("v", _monthly_rows(), ["cid"], ["x"])
    store = make_store([v])
    run_files = store.runs("v")[0]["files"]
    assert len(run_files) == 5, run_files  # one file per month
    stamps = [D(2024, m, d) for m in range(1, 7) for d in (1, 2, 20)]
    ent = entity_df([1] * len(stamps) + [2] * len(stamps), stamps * 2)
    out = check(store, ent, [v])
    # customer 2's latest value (Jan 28) is found from June without a TTL
    assert out["x"].to_list()[-1] == 128.0


def test_ttl_reaching_into_an_earlier_month(make_store):
    v = View("v", _monthly_rows(), ["cid"], ["x"], ttl=timedelta(days=20))
    store = make_store([v])
    # entity rows only in early months: the value comes from the previous month's file
    stamps = [D(2024, 3, 1), D(2024, 2, 10), D(2024, 2, 20), D(2024, 6, 1), D(2024, 6, 18)]
    ent = entity_df([1, 2, 2, 1, 1], stamps)
    out = check(store, ent, [v])
    # Feb 28 (Feb file) from Mar 1; Jan 28 (Jan file) from Feb 10 but not Feb 20 (> 20 days);
    # May 28 from Jun 1 but not Jun 18
    assert out["x"].to_list() == [228.0, 128.0, None, 528.0, None]
    # entity rows all on one day: only the files the TTL reaches are read, and the
    # previous month's file is one of them
    march = entity_df([1, 2, 1], [D(2024, 3, 1)] * 3, label=[1, 2, 3])
    result = store.get_historical_features(march, ["v:x"])
    assert_frame_matches(result.frame, historical(march, [v]))
    assert result.frame["x"].to_list() == [228.0, None, 228.0]
    read = sorted(Path(f["path"]).parent.name for f in result.manifest["files"])
    assert read == ["2024-02"]  # January is too old, March starts after the entity rows


def test_view_materialized_in_two_separate_ranges(make_store):
    frame = _monthly_rows()
    v = View("v", frame, ["cid"], ["x"])
    # split mid-month: the second run must merge, not replace, the first run's March rows
    store = make_store(
        [v], ranges=[(D(2024, 1, 1), D(2024, 3, 10)), (D(2024, 3, 10), D(2024, 6, 1))]
    )
    stamps = [D(2024, m, d) for m in range(1, 7) for d in (2, 16, 29)]
    ent = entity_df([1] * len(stamps) + [2] * len(stamps), stamps * 2)
    split = check(store, ent, [v])
    whole = check(make_store([v]), ent, [v])
    assert_frame_equal(split, whole)


def test_rematerializing_a_range_replaces_it_without_duplicates(make_store):
    rows = [(1, D(2024, 1, 1), 1.0), (1, D(2024, 1, 1), 2.0), (1, D(2024, 2, 1), 3.0)]
    v = View("v", feature_df(rows), ["cid"], ["x"])
    store = make_store(
        [v],
        ranges=[
            (D(2024, 1, 1), D(2024, 3, 1)),
            (D(2024, 1, 1), D(2024, 2, 15)),
            (D(2023, 12, 1), D(2024, 3, 1)),
        ],
    )
    ent = entity_df([1, 1], [D(2024, 1, 5), D(2024, 2, 5)], label=[1, 2])
    out = check(store, ent, [v])
    assert out["x"].to_list() == [2.0, 3.0]


def test_parquet_source_gives_the_same_answer(make_store):
    rows = [
        (1, D(2024, 1, 1), None, 1.0),
        (1, D(2024, 1, 1), D(2024, 1, 3), 3.0),
        (2, D(2024, 2, 1), D(2024, 2, 1), 2.0),
    ]
    v = View(
        "v",
        feature_df(rows, ("cid", "ts", "created", "x")),
        ["cid"],
        ["x"],
        created_timestamp_column="created",
        ttl=timedelta(days=10),
    )
    ent = entity_df([1, 1, 2, 2], [D(2024, 1, 2), D(2024, 1, 4), D(2024, 2, 5), D(2024, 2, 25)])
    for bitemporal in (False, True):
        a = check(make_store([v], source="parquet"), ent, [v], bitemporal=bitemporal)
        b = check(make_store([v]), ent, [v], bitemporal=bitemporal)
        assert_frame_equal(a, b)
