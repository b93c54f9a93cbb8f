"""featstore.plan.row_context: which transformations look at rows other than their own.

Principle (issue 8, item 3): a result never depends on how a range was split into runs.
Materialization evaluates a transformation month by month, so one whose output row
depends on other rows (rolling windows, group_by, over(), shift, cumulative functions,
joins, full-column aggregates, head/tail, ...) must be detected from its plan when it
declares no lookback. Each flagged transform is checked for the specific reason; where the
dependence is real it is also demonstrated by evaluating a small frame whole and split at
a month boundary. Each unflagged transform is checked to give the same rows either way.
"""

from __future__ import annotations

import json
import random
import threading
import warnings
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

import polars as pl
import pytest

from featstore import plan as plan_module
from featstore.plan import PLAN_NOT_INSPECTED, row_context

Transform = Callable[[pl.LazyFrame], pl.LazyFrame]

CUT = datetime(2024, 2, 1)  # the month boundary the split demonstrations cut at

DATA = pl.DataFrame(
    {
        "k": [1, 2, 1, 2, 1, 2, 1, 2],
        "ts": [
            datetime(2024, 1, 10),
            datetime(2024, 1, 12),
            datetime(2024, 1, 20),
            datetime(2024, 1, 30),
            datetime(2024, 2, 3),
            datetime(2024, 2, 5),
            datetime(2024, 2, 15),
            datetime(2024, 2, 25),
        ],
        "x": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0],
        "y": [1.0, 2.0, 3.0, 4.0, None, 6.0, 7.0, 8.0],  # a null right after the cut
        "s": ["a", "b", "a", "c", "b", "b", "a", "d"],
        "d": ["2024-01-10", "2024-01-12", "2024-01-20", "2024-01-30"] * 2,
        "l": [[1], [1, 2], [], [3], [4, 5], [6], [7], [8, 9]],
        "st": [{"a": i} for i in range(8)],
    },
    schema_overrides={"ts": pl.Datetime("us")},
)
SCHEMA = DATA.schema
# one row of other data (a static lookup frame a transform might concatenate)
OTHER = DATA.head(1).with_columns(pl.lit(99, dtype=pl.Int64).alias("k"))


def _empty() -> pl.LazyFrame:
    return pl.DataFrame(schema=SCHEMA).lazy()


def _plan_of(transform: Transform) -> pl.LazyFrame:
    """What the caller passes: the transform applied to an empty frame of the source
    schema, after its schema was resolved (as FeatureStore.apply does)."""
    out = transform(_empty())
    out.collect_schema()
    return out


def _rows(df: pl.DataFrame) -> list[str]:
    return sorted(repr(r) for r in df.rows())


def _whole(transform: Transform) -> list[str]:
    return _rows(transform(DATA.lazy()).collect())


def _split(transform: Transform) -> list[str]:
    """Evaluated per month (lookback 0), like materialization without a lookback."""
    parts = [DATA.filter(pl.col("ts") < CUT), DATA.filter(pl.col("ts") >= CUT)]
    return _rows(pl.concat([transform(p.lazy()).collect() for p in parts], how="vertical"))


def _cum_sum_batches(s: pl.Series) -> pl.Series:
    return s.cum_sum()


def _plus_one_per_row() -> pl.Expr:
    with warnings.catch_warnings():  # Polars suggests the native expression instead
        warnings.simplefilter("ignore", pl.exceptions.PolarsInefficientMapWarning)
        return pl.col("x").map_elements(lambda v: v + 1, return_dtype=pl.Float64)


# (transform, a reason it must report, whether splitting visibly changes DATA's result).
# ``False`` in the last column makes no claim: some flags are conservative (an opaque
# callback, a query that cannot be read) or the small frame does not show the effect.
FLAGGED: list[Any] = [
    # the examples
    pytest.param(
        lambda lf: (
            lf.sort("k", "ts").rolling("ts", period="30d", group_by="k").agg(pl.col("x").sum())
        ),
        "rolling",
        True,
        id="rolling",
    ),
    pytest.param(
        lambda lf: (
            lf.sort("ts").group_by_dynamic("ts", every="10d", group_by="k").agg(pl.col("x").sum())
        ),
        "group_by_dynamic",
        True,
        id="group_by_dynamic",
    ),
    pytest.param(
        lambda lf: lf.with_columns(pl.col("x").shift().over("k")),
        "over() window",
        True,
        id="shift-over-window",
    ),
    pytest.param(
        lambda lf: lf.with_columns(pl.col("x").shift().over("k")),
        "shift",
        True,
        id="shift-over-shift",
    ),
    pytest.param(lambda lf: lf.with_columns(pl.col("x").cum_sum()), "cum_sum", True, id="cum_sum"),
    pytest.param(
        lambda lf: lf.with_columns(pl.col("x").rolling_mean(3)),
        "rolling_mean",
        True,
        id="rolling_mean",
    ),
    pytest.param(
        lambda lf: lf.join(lf.select("k", pl.col("x").alias("x2")), on="k"),
        "join",
        True,
        id="join",
    ),
    pytest.param(
        lambda lf: lf.select(pl.col("x").sum()), "full-column aggregate sum", True, id="sum"
    ),
    pytest.param(
        lambda lf: lf.with_columns(pl.col("x") - pl.col("x").mean()),
        "full-column aggregate mean",
        True,
        id="minus-mean",
    ),
    pytest.param(lambda lf: lf.unique(), "unique", False, id="unique"),
    pytest.param(lambda lf: lf.head(5), "head/tail/slice", True, id="head"),
    # more plan nodes
    pytest.param(
        lambda lf: lf.group_by("k").agg(pl.col("x").sum()), "group_by", True, id="group_by"
    ),
    pytest.param(lambda lf: lf.group_by("k").len(), "group_by", True, id="group_by-len"),
    pytest.param(
        lambda lf: lf.group_by("k").map_groups(
            lambda df: df.with_columns(pl.col("x").cum_sum()), schema=None
        ),
        "map_groups (opaque)",
        True,
        id="map_groups",
    ),
    pytest.param(
        lambda lf: lf.unique(subset=["k"], keep="first", maintain_order=True),
        "unique",
        True,
        id="unique-subset",
    ),
    pytest.param(lambda lf: lf.tail(2), "head/tail/slice", True, id="tail"),
    pytest.param(lambda lf: lf.slice(1, 3), "head/tail/slice", True, id="slice"),
    pytest.param(lambda lf: lf.sort("x").head(3), "head/tail/slice", True, id="sort-head"),
    pytest.param(lambda lf: lf.top_k(2, by="x"), "head/tail/slice", True, id="top_k"),
    pytest.param(lambda lf: lf.first(), "head/tail/slice", True, id="lf-first"),
    pytest.param(lambda lf: lf.with_row_index(), "with_row_index", True, id="with_row_index"),
    pytest.param(lambda lf: lf.sum(), "full-column aggregate sum", True, id="lf-sum"),
    pytest.param(lambda lf: lf.max(), "full-column aggregate max", True, id="lf-max"),
    pytest.param(lambda lf: lf.count(), "full-column aggregate count", True, id="lf-count"),
    pytest.param(lambda lf: lf.shift(1), "shift", True, id="lf-shift"),
    pytest.param(
        lambda lf: lf.fill_null(strategy="forward"), "forward_fill", True, id="lf-fill-forward"
    ),
    pytest.param(lambda lf: lf.interpolate(), "interpolate", True, id="lf-interpolate"),
    pytest.param(lambda lf: lf.reverse(), "reverse", False, id="lf-reverse"),
    pytest.param(lambda lf: lf.gather_every(3), "gather_every", True, id="lf-gather_every"),
    pytest.param(
        lambda lf: lf.sort("ts").join_asof(
            lf.sort("ts").select("ts", pl.col("x").alias("x_prev")),
            on="ts",
            allow_exact_matches=False,
        ),
        "join_asof",
        True,
        id="join_asof",
    ),
    pytest.param(
        lambda lf: lf.join(lf.select(pl.col("x").alias("x2")), how="cross"),
        "cross join",
        True,
        id="cross-join",
    ),
    pytest.param(
        lambda lf: lf.join_where(
            lf.select(pl.col("ts").alias("ts2"), pl.col("x").alias("x2")),
            pl.col("ts2") < pl.col("ts"),
        ),
        "join_where",
        True,
        id="join_where",
    ),
    pytest.param(
        lambda lf: lf.join(OTHER.lazy().select("k", pl.col("x").alias("x2")), on="k", how="left"),
        "join",
        False,
        id="join-static-lookup",
    ),
    pytest.param(
        lambda lf: pl.concat([lf, OTHER.lazy()]),
        "concat with other data",
        True,
        id="concat-other-data",
    ),
    pytest.param(
        lambda lf: pl.concat([lf.select("k", "ts"), lf.select(pl.col("x"))], how="horizontal"),
        "horizontal concat",
        False,
        id="hconcat",
    ),
    pytest.param(
        lambda lf: lf.pivot(
            on="s", on_columns=["a", "b", "c", "d"], index="k", values="x", aggregate_function="sum"
        ),
        "pivot",
        True,
        id="pivot",
    ),
    pytest.param(
        lambda lf: lf.map_batches(lambda df: df.with_columns(pl.col("x").cum_sum())),
        "map_batches (opaque)",
        True,
        id="lf-map_batches",
    ),
    pytest.param(
        lambda lf: lf.pipe_with_schema(lambda plan, schema: plan),
        "pipe_with_schema (opaque)",
        False,
        id="pipe_with_schema",
    ),
    pytest.param(
        lambda lf: lf.sql("SELECT k, ts, x FROM self"),
        "SQL query (not inspected)",
        False,
        id="sql",
    ),
    # order-dependent expressions
    pytest.param(lambda lf: lf.with_columns(pl.col("x").diff()), "diff", True, id="diff"),
    pytest.param(
        lambda lf: lf.with_columns(pl.col("x").pct_change()), "pct_change", True, id="pct_change"
    ),
    pytest.param(lambda lf: lf.with_columns(pl.col("x").rank()), "rank", True, id="rank"),
    pytest.param(
        lambda lf: lf.with_columns(pl.col("x").ewm_mean(com=1)), "ewm_mean", True, id="ewm_mean"
    ),
    pytest.param(
        lambda lf: lf.with_columns(pl.col("x").cum_count()), "cum_count", True, id="cum_count"
    ),
    pytest.param(lambda lf: lf.with_columns(pl.col("x").cum_min()), "cum_min", True, id="cum_min"),
    pytest.param(
        lambda lf: lf.with_columns(pl.col("x").shift(1, fill_value=0)),
        "shift",
        True,
        id="shift-fill",
    ),
    pytest.param(
        lambda lf: lf.with_columns(pl.col("y").forward_fill()),
        "forward_fill",
        True,
        id="forward_fill",
    ),
    pytest.param(
        lambda lf: lf.with_columns(pl.col("y").fill_null(strategy="backward")),
        "backward_fill",
        False,
        id="fill_null-backward",
    ),
    pytest.param(
        lambda lf: lf.with_columns(pl.col("y").interpolate()),
        "interpolate",
        True,
        id="interpolate",
    ),
    pytest.param(
        lambda lf: lf.with_columns(pl.col("x").rolling_sum_by("ts", window_size="30d")),
        "rolling_sum_by",
        True,
        id="rolling_sum_by",
    ),
    pytest.param(
        lambda lf: lf.with_columns(
            pl.col("x").sum().rolling(index_column="ts", period="30d").alias("r")
        ),
        "rolling",
        True,
        id="expr-rolling",
    ),
    pytest.param(
        lambda lf: lf.with_columns(pl.col("x").cum_sum().over(order_by="ts").alias("c")),
        "over() window",
        True,
        id="over-order_by",
    ),
    pytest.param(
        lambda lf: lf.with_columns(pl.col("x").sum().over("k").alias("t")),
        "over() window",
        True,
        id="sum-over",
    ),
    pytest.param(
        lambda lf: lf.with_columns(pl.col("x").map_batches(_cum_sum_batches)),
        "map_batches (opaque)",
        True,
        id="expr-map_batches",
    ),
    pytest.param(
        lambda lf: lf.with_columns(pl.col("s").is_first_distinct().alias("first")),
        "is_first_distinct",
        True,
        id="is_first_distinct",
    ),
    pytest.param(
        lambda lf: lf.with_columns(pl.col("s").is_unique().alias("u")),
        "is_unique",
        True,
        id="is_unique",
    ),
    pytest.param(lambda lf: lf.with_columns(pl.col("s").rle_id()), "rle_id", True, id="rle_id"),
    pytest.param(
        lambda lf: lf.with_columns(pl.col("x").bin_quantiles([0.5], labels=False)),
        "bin_quantiles",
        True,
        id="bin_quantiles",
    ),
    pytest.param(
        lambda lf: lf.with_columns(pl.col("x").sort(descending=True)),
        "sort expression",
        True,
        id="sort-expression",
    ),
    pytest.param(
        lambda lf: lf.with_columns(pl.col("x").sort_by("ts", descending=True)),
        "sort_by expression",
        True,
        id="sort_by-expression",
    ),
    pytest.param(
        lambda lf: lf.with_columns(pl.col("x").get(0).alias("x0")), "gather/get", True, id="get"
    ),
    pytest.param(
        lambda lf: lf.with_columns(pl.col("x").cumulative_eval(pl.element().first())),
        "cumulative_eval",
        True,
        id="cumulative_eval",
    ),
    pytest.param(
        lambda lf: lf.with_columns(pl.int_range(pl.len()).alias("i")),
        "int_range (generated column, aligned by row position)",
        True,
        id="int_range",
    ),
    # aggregates broadcast over the frame
    pytest.param(
        lambda lf: lf.with_columns(pl.len().alias("n")),
        "full-column aggregate len",
        True,
        id="len",
    ),
    pytest.param(
        lambda lf: lf.with_columns(pl.col("x").first().alias("x0")),
        "full-column aggregate first",
        True,
        id="first",
    ),
    pytest.param(
        lambda lf: lf.with_columns(pl.col("x").n_unique().alias("n")),
        "full-column aggregate n_unique",
        True,
        id="n_unique",
    ),
    pytest.param(
        lambda lf: lf.with_columns(pl.col("x").quantile(0.5).alias("q")),
        "full-column aggregate quantile",
        True,
        id="quantile",
    ),
    pytest.param(
        lambda lf: lf.with_columns(pl.col("x").product().alias("p")),
        "full-column aggregate product",
        True,
        id="product",
    ),
    pytest.param(
        lambda lf: lf.with_columns(pl.col("s").str.join("-").alias("all_s")),
        "full-column aggregate str.join",
        True,
        id="str-join",
    ),
    pytest.param(
        lambda lf: lf.filter(pl.col("x") > pl.col("x").mean()),
        "full-column aggregate mean",
        True,
        id="filter-above-mean",
    ),
    pytest.param(
        lambda lf: lf.filter(pl.col("s").is_in(pl.col("s").filter(pl.col("x") > 6).implode())),
        "full-column aggregate implode",
        True,
        id="is_in-implode",
    ),
    pytest.param(
        lambda lf: lf.with_columns(pl.col("y").fill_null(pl.col("y").min())),
        "full-column aggregate min",
        True,
        id="fill_null-min",
    ),
    pytest.param(
        lambda lf: lf.with_columns(pl.col("st").struct.with_fields(pl.field("a").sum())),
        "full-column aggregate sum",
        True,
        id="struct-field-sum",
    ),
    pytest.param(
        lambda lf: lf.filter(pl.col("x").is_in(pl.col("y"))),
        "is_in with a column argument (reads other rows)",
        False,  # whole-column membership is deprecated: evaluating it warns
        id="is_in-column",
    ),
    pytest.param(
        lambda lf: lf.with_columns(pl.col("s").replace(pl.col("d"), pl.col("s"))),
        "replace with a column argument (reads other rows)",
        False,
        id="replace-column-mapping",
    ),
    # conservative: may depend on other rows, not shown on this frame
    pytest.param(
        lambda lf: lf.with_columns(pl.col("d").str.to_date().alias("dd")),
        "str.strptime/to_datetime without a format (inferred from the data)",
        False,
        id="to_date-inferred",
    ),
    pytest.param(
        lambda lf: lf.with_columns(
            pl.col("ts").dt.replace_time_zone("Europe/London", ambiguous="infer")
        ),
        "replace_time_zone(ambiguous='infer')",
        False,
        id="replace_time_zone-infer",
    ),
    pytest.param(
        lambda lf: lf.with_columns(pl.fold(pl.lit(0.0), lambda a, b: a + b, ["x", "y"])),
        "fold/reduce (opaque callback)",
        False,
        id="fold",
    ),
    pytest.param(
        lambda lf: lf.with_columns(pl.col("x").sample(fraction=1.0, seed=1)),
        "sample/shuffle",
        False,
        id="sample",
    ),
]

UNFLAGGED: list[Any] = [
    # the examples
    pytest.param(lambda lf: lf.with_columns((pl.col("x") * 2).alias("x2")), id="arithmetic"),
    pytest.param(lambda lf: lf.filter(pl.col("x") > 0), id="filter"),
    pytest.param(lambda lf: lf.select("k", "ts", pl.col("x").cast(pl.Float32)), id="cast"),
    pytest.param(
        lambda lf: lf.with_columns(pl.when(pl.col("x") > 1).then(1).otherwise(0).alias("z")),
        id="when-then",
    ),
    pytest.param(lambda lf: lf.with_columns(pl.col("s").str.to_uppercase()), id="str-upper"),
    pytest.param(
        lambda lf: lf.with_columns(pl.col("ts").dt.truncate("1d").alias("day")), id="dt-truncate"
    ),
    pytest.param(lambda lf: lf.rename({"x": "x_renamed"}), id="rename"),
    pytest.param(lambda lf: lf.drop("x"), id="drop"),
    # dates and literals
    pytest.param(
        lambda lf: lf.filter(
            pl.col("ts") >= datetime(2024, 1, 15), pl.col("ts") < pl.lit(date(2024, 2, 20))
        ),
        id="date-literals",
    ),
    pytest.param(
        lambda lf: lf.with_columns(
            (pl.col("ts") - timedelta(days=3)).alias("t3"),
            pl.lit("label").alias("label"),
            pl.lit(None, dtype=pl.Float64).alias("nothing"),
            pl.lit(date(2024, 1, 1)).alias("day0"),
            pl.lit(1.5).alias("f"),
        ),
        id="literals",
    ),
    pytest.param(lambda lf: lf.with_columns(pl.lit(3).sum().alias("c")), id="aggregate-of-literal"),
    pytest.param(lambda lf: lf.with_columns(pl.lit(pl.Series([7]))), id="one-value-series"),
    pytest.param(lambda lf: lf.filter(pl.col("s").is_in(["a", "b"])), id="is_in-list"),
    pytest.param(lambda lf: lf.filter(pl.col("x").is_in(pl.Series([1.0, 5.0]))), id="is_in-series"),
    pytest.param(
        lambda lf: lf.filter(pl.col("x").is_in(pl.lit(pl.Series([1.0, 5.0])).implode())),
        id="is_in-literal-implode",
    ),
    pytest.param(lambda lf: lf.with_columns(pl.col("s").replace({"a": "A"})), id="replace"),
    pytest.param(
        lambda lf: lf.with_columns(pl.col("k").is_in(pl.col("l")).alias("k_in_l")),
        id="is_in-list-column",
    ),
    # row-wise functions and namespaces
    pytest.param(
        lambda lf: lf.with_columns(
            pl.col("x").abs().sqrt().log1p().round(2).clip(0, 5).alias("m"),
            pl.col("x").is_between(2, 6).alias("between"),
            pl.col("y").fill_null(0).alias("y0"),
            pl.col("y").is_null().alias("y_null"),
            pl.coalesce("y", "x").alias("yx"),
            pl.max_horizontal("x", "y").alias("mx"),
            pl.sum_horizontal("x", "y").alias("sx"),
            pl.col("x").hash(1).alias("h"),
            pl.col("x").bin_intervals([0.0, 4.0, 9.0], labels=False).alias("bin"),
        ),
        id="row-wise-functions",
    ),
    pytest.param(
        lambda lf: lf.with_columns(
            pl.col("s").str.contains("a").alias("has_a"),
            pl.col("s").str.replace("a", "b").alias("r"),
            pl.col("s").str.len_chars().alias("n"),
            pl.col("d").str.to_date("%Y-%m-%d").alias("dd"),
            pl.concat_str("s", pl.lit("!")).alias("cs"),
            pl.format("{}-{}", "s", "k").alias("fmt"),
        ),
        id="str-namespace",
    ),
    pytest.param(
        lambda lf: lf.with_columns(
            pl.col("ts").dt.month().alias("month"),
            pl.col("ts").dt.weekday().alias("wd"),
            pl.col("ts").dt.offset_by("1d").alias("next"),
            pl.col("ts").dt.strftime("%Y-%m").alias("ym"),
            pl.col("ts").dt.replace_time_zone("UTC").alias("utc"),
            pl.date_ranges(pl.col("ts"), pl.col("ts") + timedelta(days=2)).alias("days"),
        ),
        id="dt-namespace",
    ),
    pytest.param(
        lambda lf: lf.with_columns(
            pl.col("l").list.len().alias("n"),
            pl.col("l").list.sum().alias("ls"),
            pl.col("l").list.eval(pl.element().cum_sum()).alias("lc"),
            pl.col("l").list.eval(pl.element().sum()).alias("le"),
            pl.col("l").list.first().alias("lf"),
        ),
        id="list-namespace",
    ),
    pytest.param(
        lambda lf: lf.with_columns(
            pl.col("st").struct.field("a").alias("a"),
            pl.col("st").struct.with_fields(pl.field("a") * 2).alias("st2"),
            pl.struct("k", "x").alias("kx"),
        ),
        id="struct-namespace",
    ),
    pytest.param(lambda lf: lf.with_columns(_plus_one_per_row()), id="map_elements"),
    pytest.param(
        lambda lf: lf.with_columns(pl.col("x").map_batches(lambda s: s * 2, is_elementwise=True)),
        id="map_batches-elementwise",
    ),
    # row-local plan nodes
    pytest.param(lambda lf: lf.explode("l"), id="explode"),
    pytest.param(lambda lf: lf.unnest("st"), id="unnest"),
    pytest.param(lambda lf: lf.unpivot(index=["k", "ts"], on=["x", "y"]), id="unpivot"),
    pytest.param(lambda lf: lf.sort("ts", "k"), id="sort"),
    pytest.param(lambda lf: lf.set_sorted("ts"), id="set_sorted"),
    pytest.param(lambda lf: lf.drop_nulls(), id="drop_nulls"),
    pytest.param(lambda lf: lf.fill_null(0), id="fill_null-value"),
    pytest.param(lambda lf: lf.fill_nan(0), id="fill_nan"),
    pytest.param(lambda lf: lf.cast({"x": pl.Float32}), id="lf-cast"),
    pytest.param(lambda lf: lf.with_columns_seq(pl.col("x") + 1), id="with_columns_seq"),
    pytest.param(lambda lf: lf.select(pl.all().name.suffix("_v")), id="name-suffix"),
    pytest.param(lambda lf: lf.cache().filter(pl.col("k") == 1), id="cache"),
    pytest.param(
        lambda lf: pl.concat([lf.filter(pl.col("k") == 1), lf.filter(pl.col("k") == 2)]),
        id="concat-same-source",
    ),
    pytest.param(
        lambda lf: lf.match_to_schema(SCHEMA),
        id="match_to_schema",
    ),
    pytest.param(
        lambda lf: (
            lf.with_columns((pl.col("x") * 2).alias("x2"))
            .filter(pl.col("x2") > 3)
            .select("k", "ts", "x2")
            .rename({"x2": "double"})
        ),
        id="chain",
    ),
]


@pytest.mark.parametrize(("transform", "reason", "differs"), FLAGGED)
def test_a_transform_that_reads_other_rows_is_flagged_with_its_reason(
    transform: Transform, reason: str, differs: bool
) -> None:
    reasons = row_context(_plan_of(transform))
    assert reason in reasons, reasons
    assert reasons == sorted(set(reasons))


# the flagged transforms whose split dependence DATA shows
DEMONSTRATED = [pytest.param(*p.values[:2], id=p.id) for p in FLAGGED if p.values[2]]


@pytest.mark.parametrize(("transform", "reason"), DEMONSTRATED)
def test_the_flags_are_real_splitting_the_range_changes_the_result(
    transform: Transform, reason: str
) -> None:
    """Evaluated whole and per month, the flagged transforms give different rows: what
    the detection protects against."""
    assert reason in row_context(_plan_of(transform))
    assert _whole(transform) != _split(transform)


@pytest.mark.parametrize("transform", UNFLAGGED)
def test_a_row_local_transform_is_not_flagged(transform: Transform) -> None:
    assert row_context(_plan_of(transform)) == []


@pytest.mark.parametrize("transform", UNFLAGGED)
def test_a_row_local_transform_gives_the_same_rows_however_the_range_is_split(
    transform: Transform,
) -> None:
    assert _whole(transform) == _split(transform)


def test_reasons_are_sorted_and_distinct() -> None:
    out = _plan_of(
        lambda lf: lf.with_columns(
            pl.col("x").shift().alias("a"),
            pl.col("y").shift(2).alias("b"),
            pl.col("x").cum_sum().over("k").alias("c"),
        ).join(lf.select("k"), on="k")
    )
    assert row_context(out) == ["cum_sum", "join", "over() window", "shift"]


def test_the_same_plan_reads_the_same_before_and_after_its_schema_is_resolved() -> None:
    fresh = _empty().with_columns(pl.col("x").cum_sum()).filter(pl.col("x") > 0)
    assert row_context(fresh) == ["cum_sum"]
    fresh.collect_schema()  # wraps the plan in an IR node
    assert row_context(fresh) == ["cum_sum"]
    assert row_context(fresh.with_columns(pl.col("y") + 1)) == ["cum_sum"]


def test_a_row_context_construct_under_a_row_local_one_is_found() -> None:
    out = _plan_of(
        lambda lf: (
            lf.with_columns(
                pl.when(pl.col("x") > pl.col("x").median())
                .then(pl.col("s"))
                .otherwise(pl.lit("lo"))
            )
            .select(pl.all().name.suffix("_v"))
            .rename({"k_v": "k"})
        )
    )
    assert row_context(out) == ["full-column aggregate median"]


def test_an_aggregate_inside_a_group_is_reported_once_as_the_group() -> None:
    assert row_context(
        _plan_of(lambda lf: lf.group_by("k").agg(pl.col("x").sum(), pl.len(), pl.col("s").first()))
    ) == ["group_by"]
    assert row_context(_plan_of(lambda lf: lf.with_columns(pl.col("x").mean().over("k")))) == [
        "over() window"
    ]


def test_row_context_leaks_no_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert row_context(_plan_of(lambda lf: lf.with_columns(pl.col("x").cum_sum()))) == [
            "cum_sum"
        ]


# -- robustness: never raises, never passes what it cannot read ---------------------------------


@pytest.mark.parametrize(
    "value", [None, 3, "plan", pl.DataFrame({"a": [1]}), pl.Series([1]), pl.col("x")]
)
def test_anything_but_a_lazyframe_is_not_inspected(value: Any) -> None:
    assert row_context(value) == [PLAN_NOT_INSPECTED]


def test_a_plan_that_cannot_be_serialized_is_reported() -> None:
    lock = threading.Lock()  # not picklable: the UDF cannot be serialized

    def udf(s: pl.Series) -> pl.Series:
        with lock:
            return s

    out = _empty().with_columns(pl.col("x").map_batches(udf))
    assert row_context(out) == [PLAN_NOT_INSPECTED]


def test_a_serializer_failure_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: pl.LazyFrame, *args: Any, **kwargs: Any) -> str:
        raise RuntimeError("no JSON plan in this Polars")

    monkeypatch.setattr(pl.LazyFrame, "serialize", broken)
    assert row_context(_empty().select("x")) == [PLAN_NOT_INSPECTED]


def test_a_very_deep_plan_never_raises() -> None:
    lf = _empty()
    for i in range(1500):
        lf = lf.with_columns(pl.col("x") + i)
    # deeper than the JSON reader's recursion limit: reported (or, if read, row-local)
    assert row_context(lf) in ([PLAN_NOT_INSPECTED], [])
    shallow = _empty()
    for i in range(100):
        shallow = shallow.with_columns(pl.col("x") + i)
    assert row_context(shallow) == []
    assert row_context(shallow.with_columns(pl.col("x").diff())) == ["diff"]


def _serialized(lf: pl.LazyFrame) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return json.loads(lf.serialize(format="json"))


def _with_plan(monkeypatch: pytest.MonkeyPatch, plan: Any) -> list[str]:
    monkeypatch.setattr(plan_module, "_serialized_plan", lambda lf: plan)
    return row_context(_empty())


def test_unknown_plan_shapes_are_reasons_not_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    source = _serialized(_empty())
    assert _with_plan(monkeypatch, {"FutureNode": {"input": source}}) == [
        "unknown plan node FutureNode"
    ]
    select = _serialized(_empty().select(pl.col("x")))
    select["Select"]["expr"] = [{"FutureExpr": {"input": {"Column": "x"}}}]
    assert _with_plan(monkeypatch, select) == ["unknown expression FutureExpr"]
    select["Select"]["expr"] = [{"Function": {"input": [{"Column": "x"}], "function": "Future"}}]
    assert _with_plan(monkeypatch, select) == ["unknown function Future"]
    mapped = _serialized(_empty().rename({"x": "z"}))
    mapped["MapFunction"]["function"] = {"FutureMap": {}}
    assert _with_plan(monkeypatch, mapped) == ["unknown plan function FutureMap"]


def test_a_field_a_newer_polars_adds_is_still_searched(monkeypatch: pytest.MonkeyPatch) -> None:
    select = _serialized(_empty().select(pl.col("x")))
    select["Select"]["future_exprs"] = [
        {"Function": {"input": [{"Column": "x"}], "function": "Shift"}}
    ]
    assert _with_plan(monkeypatch, select) == ["shift"]


def _junk(rng: random.Random, depth: int = 0) -> Any:
    choice = rng.randrange(8 if depth < 4 else 4)
    if choice == 0:
        return None
    if choice == 1:
        return rng.choice([0, 1, -1, 2.5, True, "Len", "Element", "Shift", ""])
    if choice == 2:
        return rng.choice(sorted(plan_module._PLAN_KINDS | plan_module._EXPR_KINDS))
    if choice == 3:
        return [rng.randrange(256) for _ in range(rng.randrange(30))]
    if choice == 4:
        return [_junk(rng, depth + 1) for _ in range(rng.randrange(4))]
    name = rng.choice(sorted(plan_module._PLAN_KINDS | plan_module._EXPR_KINDS | {"X", "Agg"}))
    if choice == 5:
        return {name: _junk(rng, depth + 1)}
    keys = ["input", "expr", "exprs", "function", "options", "inputs", "predicate", "by", "x"]
    return {name: {k: _junk(rng, depth + 1) for k in rng.sample(keys, rng.randrange(1, 5))}}


def _mutations(plan: Any, rng: random.Random) -> Any:
    """``plan`` with one random subtree replaced by junk."""
    if not isinstance(plan, dict | list) or rng.random() < 0.15:
        return _junk(rng)
    if isinstance(plan, list):
        if not plan:
            return [_junk(rng)]
        i = rng.randrange(len(plan))
        return [*plan[:i], _mutations(plan[i], rng), *plan[i + 1 :]]
    key = rng.choice(list(plan))
    return {**plan, key: _mutations(plan[key], rng)}


def test_malformed_plans_never_raise(monkeypatch: pytest.MonkeyPatch) -> None:
    """Seeded junk and randomly damaged real plans: the walker returns sorted reasons
    (or the not-inspected reason), never an exception."""
    rng = random.Random(8)
    real = [_serialized(_plan_of(t)) for t in (p.values[0] for p in FLAGGED[:12] + UNFLAGGED[:12])]
    plans = [_junk(rng) for _ in range(300)]
    plans += [_mutations(rng.choice(real), rng) for _ in range(300)]
    for plan in plans:
        reasons = _with_plan(monkeypatch, plan)
        assert isinstance(reasons, list)
        assert all(isinstance(r, str) for r in reasons)
        assert reasons == sorted(set(reasons))
