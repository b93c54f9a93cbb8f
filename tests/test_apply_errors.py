"""Every user-facing error of defining, applying, materializing and referencing features:
the right exception type, a message naming the problem, and nothing registered or
written."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from helpers import END, START, catalog_snapshot, files_under, make_events

import featstore as fs
from featstore.catalog import FORMAT_VERSION


@dataclass
class Ctx:
    root: Path
    store: fs.FeatureStore
    events: pl.DataFrame
    customer: fs.Entity
    tx: fs.ParquetSource
    amounts: fs.FeatureView

    def view(self, name: str = "other", **kwargs: Any) -> fs.FeatureView:
        """A view over the registered entity and source (a valid one by default)."""
        args: dict[str, Any] = {"entity": self.customer, "source": self.tx}
        if "transform" not in kwargs:
            args["features"] = ["amount"]
        return fs.FeatureView(name, **{**args, **kwargs})

    def frame_source(
        self, frame: pl.DataFrame, name: str = "frame_src", **kwargs: Any
    ) -> fs.Source:
        return fs.DataFrameSource(name, data=frame, timestamp_column="ts", **kwargs)


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[Ctx]:
    events = make_events(60, seed=2)
    events.write_parquet(tmp_path / "tx.parquet")
    customer = fs.Entity("customer", join_keys=["customer_id"])
    tx = fs.ParquetSource("tx", path=tmp_path / "tx.parquet", timestamp_column="ts")
    amounts = fs.FeatureView("amounts", entity=customer, source=tx, features=["amount"])
    store = fs.FeatureStore(tmp_path / "store", progress=False)
    store.apply([customer, tx, amounts])
    store.materialize(START, END)
    yield Ctx(tmp_path, store, events, customer, tx, amounts)
    store.close()


def _visible_state(ctx: Ctx) -> dict[str, object]:
    return {
        "catalog": catalog_snapshot(ctx.store),
        "offline": files_under(ctx.store.path / "offline"),
        "staging": files_under(ctx.store.path / "staging"),
        "store_dir": sorted(p.name for p in ctx.store.path.iterdir()),
    }


# -- the cases: (action, exception type, message pattern) -------------------------------

Action = Callable[[Ctx], object]


def _drops_key(lf: pl.LazyFrame) -> pl.LazyFrame:
    return lf.drop("customer_id")


def _drops_ts(lf: pl.LazyFrame) -> pl.LazyFrame:
    return lf.select("customer_id", "amount")


def _returns_none(lf: pl.LazyFrame) -> Any:
    return None


def _returns_series(lf: pl.LazyFrame) -> Any:
    return pl.Series("amount", [1, 2])


def _raises(lf: pl.LazyFrame) -> pl.LazyFrame:
    raise KeyError("lookup table not loaded")


def _missing_column(lf: pl.LazyFrame) -> pl.LazyFrame:
    return lf.with_columns(pl.col("fee").alias("fee2"))


def _reserved_output(lf: pl.LazyFrame) -> pl.LazyFrame:
    return lf.with_columns(pl.col("amount").alias("__fs_amount"))


def _only_keys(lf: pl.LazyFrame) -> pl.LazyFrame:
    return lf.select("customer_id", "ts")


def _newer_store(ctx: Ctx) -> object:
    other = ctx.root / "from_the_future"
    other.mkdir()
    (other / "featstore.json").write_text(json.dumps({"format_version": 99, "created_by": "9.0"}))
    try:
        return fs.FeatureStore(other, progress=False)
    finally:
        assert not (other / "catalog.db").exists(), "a catalog was created in the newer store"


def _newer_catalog(ctx: Ctx) -> object:
    other = ctx.root / "newer_catalog"
    fs.FeatureStore(other, progress=False).close()
    with closing(sqlite3.connect(other / "catalog.db")) as con:
        con.execute("UPDATE meta SET value = '99' WHERE key = 'format_version'")
        con.commit()
    return fs.FeatureStore(other, progress=False)


def _bad_config(ctx: Ctx) -> object:
    other = ctx.root / "not_a_store"
    other.mkdir()
    (other / "featstore.json").write_text("{ not json")
    return fs.FeatureStore(other, progress=False)


def _entity_rows() -> pl.DataFrame:
    return pl.DataFrame({"customer_id": [1, 2], "event_timestamp": [datetime(2024, 2, 1)] * 2})


CASES: dict[str, tuple[Action, type[Exception], str]] = {
    # entities and names
    "unknown-entity": (
        lambda c: c.store.apply([c.view(entity=fs.Entity("shop", join_keys=["shop_id"]))]),
        fs.DefinitionError,
        r"feature view 'other' uses entity 'shop', which is not registered; apply it together",
    ),
    "entity-registered-with-other-keys": (
        lambda c: c.store.apply(
            [c.view(entity=fs.Entity("customer", join_keys=["customer_id", "ts2"]))]
        ),
        fs.DefinitionError,
        r"uses entity 'customer', which is not registered",
    ),
    "duplicate-view-names": (
        lambda c: c.store.apply([c.customer, c.view("dup"), c.view("dup", ttl=timedelta(days=1))]),
        fs.DefinitionError,
        r"two different FeatureViews are named 'dup'; rename one",
    ),
    "duplicate-entity-names": (
        lambda c: c.store.apply(
            [fs.Entity("shop", join_keys=["a"]), fs.Entity("shop", join_keys=["b"])]
        ),
        fs.DefinitionError,
        r"two different Entitys are named 'shop'",
    ),
    "two-sources-one-name": (
        lambda c: c.store.apply(
            [c.view("a"), c.view("b", source=c.frame_source(c.events, name="tx"))]
        ),
        fs.DefinitionError,
        r"uses source 'tx', but a different source of that name is being applied",
    ),
    "not-a-definition": (
        lambda c: c.store.apply([c.customer, {"name": "amounts"}]),  # type: ignore[list-item]
        fs.DefinitionError,
        r"cannot apply \{'name': 'amounts'\}: expected Entity",
    ),
    # columns and schemas
    "feature-missing-from-source": (
        lambda c: c.store.apply([c.view(features=["amount", "fee"])]),
        fs.SchemaError,
        r"feature view 'other': feature 'fee' is not a column of source 'tx'; found \['amount'\]",
    ),
    "transform-drops-join-key": (
        lambda c: c.store.apply([c.view(transform=_drops_key)]),
        fs.DefinitionError,
        r"its transform dropped join key 'customer_id' of entity 'customer'; "
        r"found columns \['ts', 'amount'\]",
    ),
    "transform-drops-timestamp": (
        lambda c: c.store.apply([c.view(transform=_drops_ts)]),
        fs.DefinitionError,
        r"its transform dropped timestamp column 'ts'",
    ),
    "transform-returns-none": (
        lambda c: c.store.apply([c.view(transform=_returns_none)]),
        fs.DefinitionError,
        r"transform must return a polars LazyFrame; found NoneType",
    ),
    "transform-returns-series": (
        lambda c: c.store.apply([c.view(transform=_returns_series)]),
        fs.DefinitionError,
        r"transform must return a polars LazyFrame; found Series",
    ),
    "transform-raises": (
        lambda c: c.store.apply([c.view(transform=_raises)]),
        fs.DefinitionError,
        r"feature view 'other': its transform raised KeyError: 'lookup table not loaded'",
    ),
    "transform-reads-missing-column": (
        lambda c: c.store.apply([c.view(transform=_missing_column)]),
        fs.DefinitionError,
        r"feature view 'other': its transform fails on the source schema: .*fee",
    ),
    "transform-outputs-reserved-name": (
        lambda c: c.store.apply([c.view(transform=_reserved_output)]),
        fs.DefinitionError,
        r"names starting with '__fs_' \(in any case\) are reserved for featstore's own columns: \['__fs_amount'\]",
    ),
    "transform-outputs-no-feature": (
        lambda c: c.store.apply([c.view(transform=_only_keys)]),
        fs.DefinitionError,
        r"produces no feature columns besides keys and timestamps",
    ),
    "float-join-key": (
        lambda c: c.store.apply(
            [
                c.view(
                    source=c.frame_source(
                        c.events.with_columns(pl.col("customer_id").cast(pl.Float64))
                    )
                )
            ]
        ),
        fs.SchemaError,
        r"join key 'customer_id' is Float64; keys must be integers, strings",
    ),
    "declared-schema-mismatch": (
        lambda c: c.store.apply([c.view(schema={"amount": pl.Int32})]),
        fs.SchemaError,
        r"feature 'amount' is Int64, declared Int32; cast it in the transform",
    ),
    "declared-feature-not-produced": (
        lambda c: c.store.apply([c.view(schema={"fee": "Float64"})]),
        fs.SchemaError,
        r"declared feature 'fee' is not produced; found \['amount'\]",
    ),
    "declared-dtype-unknown": (
        lambda c: c.view(schema={"amount": "Integer64"}),
        fs.DefinitionError,
        r"schema dtype 'Integer64' of 'amount' is not a Polars dtype",
    ),
    "timestamp-is-a-string": (
        lambda c: c.store.apply(
            [c.view(source=c.frame_source(c.events.with_columns(pl.col("ts").dt.to_string())))]
        ),
        fs.SchemaError,
        r"timestamp column 'ts' must be a Datetime or Date; found String \(parse it first",
    ),
    "timestamp-column-missing": (
        lambda c: c.store.apply(
            [c.view(source=fs.DataFrameSource("s", data=c.events, timestamp_column="time"))]
        ),
        fs.SchemaError,
        r"source 's' has no column 'time'; found \['customer_id', 'ts', 'amount'\]",
    ),
    "sql-source-query-fails": (
        lambda c: c.store.apply(
            [
                c.view(
                    source=fs.SqlSource(
                        "q", query="SELECT * FROM no_such_table", timestamp_column="ts"
                    )
                )
            ]
        ),
        fs.DefinitionError,
        r"source 'q': its SQL query failed: .*no_such_table",
    ),
    "csv-timestamp-not-parseable": (
        lambda c: (
            (c.root / "bad.csv").write_text("customer_id,ts,amount\n1,yesterday,3\n"),
            c.store.apply(
                [c.view(source=fs.CsvSource("csv", path=c.root / "bad.csv", timestamp_column="ts"))]
            ),
        ),
        fs.SchemaError,
        r"source 'csv': timestamp column 'ts' must be a Datetime or Date; found String",
    ),
    "source-path-matches-no-file": (
        lambda c: c.store.apply(
            [
                c.view(
                    source=fs.ParquetSource(
                        "gone", path=c.root / "nope" / "*.parquet", timestamp_column="ts"
                    )
                )
            ]
        ),
        fs.NotFoundError,
        r"source 'gone': path '.*nope/\*\.parquet' matches no file; check the path",
    ),
    "features-include-join-key": (
        lambda c: c.view(features=["customer_id", "amount"]),
        fs.DefinitionError,
        r"\['customer_id'\] are join keys or timestamps, not features",
    ),
    "features-include-timestamp": (
        lambda c: c.view(features=["ts"]),
        fs.DefinitionError,
        r"\['ts'\] are join keys or timestamps, not features",
    ),
    "features-empty": (
        lambda c: c.view(features=[]),
        fs.DefinitionError,
        r"features is empty",
    ),
    "neither-features-nor-transform": (
        lambda c: fs.FeatureView("v", entity=c.customer, source=c.tx),
        fs.DefinitionError,
        r"give features=\[...\] \(a column selection\), aggregations=\[...\] or a transform",
    ),
    # time
    "ttl-zero": (
        lambda c: c.view(ttl=timedelta(0)),
        fs.DefinitionError,
        r"ttl must be positive; found 0:00:00",
    ),
    "ttl-negative": (
        lambda c: c.view(ttl=timedelta(days=-1)),
        fs.DefinitionError,
        r"ttl must be positive; found -1 day",
    ),
    "ttl-not-a-timedelta": (
        lambda c: c.view(ttl=3600),
        fs.DefinitionError,
        r"ttl must be a datetime.timedelta; found 3600",
    ),
    "lookback-negative": (
        lambda c: c.view(lookback=timedelta(hours=-1)),
        fs.DefinitionError,
        r"lookback must not be negative",
    ),
    "materialize-start-after-end": (
        lambda c: c.store.materialize(END, START),
        fs.MaterializationError,
        r"start 2024-05-01 00:00:00 is not before end 2024-01-01 00:00:00; swap them",
    ),
    "materialize-empty-range": (
        lambda c: c.store.materialize("2024-02-01T00:00:00+01:00", datetime(2024, 1, 31, 23)),
        fs.MaterializationError,
        r"is not before end",
    ),
    "materialize-bad-timestamp-text": (
        lambda c: c.store.materialize("last tuesday", END),
        fs.PointInTimeError,
        r"start 'last tuesday' is not an ISO 8601 timestamp",
    ),
    # references
    "unknown-feature-did-you-mean": (
        lambda c: c.store.get_historical_features(_entity_rows(), ["amounts:amont"]),
        fs.NotFoundError,
        r"feature view 'amounts' has no feature 'amont'; did you mean 'amount'\?",
    ),
    "unknown-view-did-you-mean": (
        lambda c: c.store.get_historical_features(_entity_rows(), ["amount:amount"]),
        fs.NotFoundError,
        r"unknown feature view 'amount' in reference 'amount:amount'; did you mean 'amounts'\?",
    ),
    "malformed-reference": (
        lambda c: c.store.get_historical_features(_entity_rows(), ["amounts.amount"]),
        fs.DefinitionError,
        r"feature reference 'amounts.amount' is not 'view:feature'",
    ),
    "materialize-unknown-view": (
        lambda c: c.store.materialize(START, END, views=["amount"]),
        fs.NotFoundError,
        r"unknown feature view 'amount'; did you mean 'amounts'\?",
    ),
    "service-unknown-feature": (
        lambda c: c.store.apply([fs.FeatureService("svc", features=["amounts:amout"])]),
        fs.DefinitionError,
        r"feature service 'svc': feature view 'amounts' has no feature 'amout'; "
        r"did you mean 'amount'\?",
    ),
    "service-empty": (
        lambda c: fs.FeatureService("svc", features=[]),
        fs.DefinitionError,
        r"feature service 'svc' lists no features",
    ),
    # store directories
    "store-with-newer-format": (_newer_store, fs.ConfigError, r"format 99\).*upgrade featstore"),
    "catalog-with-newer-format": (
        _newer_catalog,
        fs.ConfigError,
        rf"has format version 99, newer than this featstore understands \({FORMAT_VERSION}\); upgrade featstore",
    ),
    "store-with-unreadable-config": (
        _bad_config,
        fs.ConfigError,
        r"featstore.json is not a featstore config .*is this the right directory\?",
    ),
}

BAD_NAMES = {
    "quote": 'cust"omer',
    "single-quote": "o'brien",
    "slash": "a/b",
    "backslash": "a\\b",
    "dot-dot": "..",
    "parent-path": "../escape",
    "space": "my view",
    "empty": "",
    "too-long": "x" * 200,
    "leading-digit": "1st",
    "trailing-dot": "spend.",
    "newline": "a\nb",
}


def _bad_name_action(kind: str, name: str) -> Action:
    def act(c: Ctx) -> object:
        if kind == "entity":
            return fs.Entity(name, join_keys=["customer_id"])
        if kind == "source":
            return fs.ParquetSource(name, path=c.tx.path, timestamp_column="ts")
        if kind == "view":
            return c.view(name)
        return fs.FeatureService(name, features=["amounts:amount"])

    return act


for _kind in ("entity", "source", "view", "service"):
    for _label, _name in BAD_NAMES.items():
        CASES[f"bad-{_kind}-name-{_label}"] = (
            _bad_name_action(_kind, _name),
            fs.DefinitionError,
            r"name .* is not allowed: use letters, digits and underscores",
        )


@pytest.mark.parametrize("case", list(CASES))
def test_rejected_with_a_clear_error_and_no_trace(ctx: Ctx, case: str) -> None:
    action, error, pattern = CASES[case]
    before = _visible_state(ctx)
    with pytest.raises(error, match=pattern):
        action(ctx)
    assert _visible_state(ctx) == before
    # the store still works as before
    assert ctx.store.get_feature_view("amounts")["version"] == ctx.amounts.version


def test_error_types_are_in_the_hierarchy() -> None:
    for _, error, _ in CASES.values():
        assert issubclass(error, fs.FeatstoreError)
    assert issubclass(fs.DefinitionError, ValueError)
    assert issubclass(fs.NotFoundError, LookupError)
    assert issubclass(fs.ConfigError, ValueError)


def test_apply_is_all_or_nothing(ctx: Ctx) -> None:
    """Valid definitions applied together with a bad one are not registered either."""
    shop = fs.Entity("shop", join_keys=["customer_id"])
    src = fs.DataFrameSource("fresh", data=ctx.events, timestamp_column="ts")
    good = fs.FeatureView("good", entity=shop, source=src, features=["amount"])
    bad = fs.FeatureView("bad", entity=shop, source=src, transform=_drops_key)
    service = fs.FeatureService("svc", features=[good])
    before = _visible_state(ctx)
    with pytest.raises(fs.DefinitionError, match="dropped join key"):
        ctx.store.apply([shop, src, good, service, bad])
    assert _visible_state(ctx) == before
    assert [r["name"] for r in ctx.store.list_definitions("entity")] == ["customer"]
    with pytest.raises(fs.NotFoundError, match="unknown feature view 'good'"):
        ctx.store.get_feature_view("good")
    ctx.store.apply([shop, src, good, service])  # without the bad one it goes through
    assert ctx.store.get_feature_view("good")["version"] == good.version


def test_transform_returning_a_dataframe_is_accepted(ctx: Ctx) -> None:
    """Not an error: a transform returning an eager DataFrame is made lazy (its plan
    cannot be inspected, so it declares its lookback)."""
    view = ctx.view("eager", transform=lambda lf: lf.collect(), lookback=timedelta(0))
    ctx.store.apply([view])
    (run,) = ctx.store.materialize(START, END, views=["eager"])
    assert run.rows == ctx.events.filter(pl.col("ts") < END).height
    # a declared lookback of 0 is recorded as 0, not as "none declared"
    assert ctx.store.get_feature_view("eager")["lookback_us"] == 0
