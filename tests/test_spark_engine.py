"""The Spark engine against the DuckDB engine: the same store read by both gives the same
training sets, value for value and in order (the point-in-time and window suites also run
on both engines against the slow reference: ``store_engine`` in conftest); choosing the
engine; SQL sources on Spark; Spark frames in and out; and its failure paths."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import featstore as fs

pytestmark = pytest.mark.filterwarnings("ignore::featstore.CoverageWarning")

DAY, HOUR = timedelta(days=1), timedelta(hours=1)
START, END = datetime(2024, 1, 1), datetime(2024, 4, 1)
FNS = ("sum", "count", "mean", "min", "max", "var", "std", "last", "count_distinct")


def definitions(rng: random.Random) -> tuple[list[Any], list[str]]:
    """Plain views (with and without a TTL, composite keys, ties, nulls) and a window
    view over random rows, and every feature reference of them."""
    n = 600
    rows = pl.DataFrame(
        {
            "cid": [rng.randint(0, 30) for _ in range(n)],
            "region": [rng.choice(["n", "s", None]) for _ in range(n)],
            # whole hours: many rows tie on one instant
            "ts": [START + rng.randint(0, 24 * 85) * HOUR for _ in range(n)],
            "amount": [rng.choice([None, round(rng.uniform(-50, 50), 3)]) for _ in range(n)],
            "n": [rng.randint(0, 9) for _ in range(n)],
            "tag": [rng.choice(["a", "b", "c"]) for _ in range(n)],
        }
    ).with_columns(
        created=pl.col("ts") + pl.duration(hours=pl.col("n")), x=pl.col("amount") * 2 + 1
    )
    customer = fs.Entity("customer", join_keys=["cid"])
    place = fs.Entity("place", join_keys=["cid", "region"])
    source = fs.DataFrameSource(
        "txns", data=rows, timestamp_column="ts", created_timestamp_column="created"
    )
    plain = fs.FeatureView("plain", entity=customer, source=source, features=["amount", "tag"])
    fresh = fs.FeatureView("fresh", entity=place, source=source, features=["n", "x"], ttl=3 * DAY)
    aggs = [fs.Aggregation("amount", fn, window=w) for fn in FNS for w in (DAY, 30 * DAY)]
    aggs.append(fs.Aggregation("n", "sum", window=7 * DAY))
    windows = fs.FeatureView("windows", entity=customer, source=source, aggregations=aggs)
    refs = ["plain:amount", "plain:tag", "fresh:n", "fresh:x"]
    refs += [f"windows:{a.name}" for a in aggs]
    return [customer, place, source, plain, fresh, windows], refs


def entity_rows(rng: random.Random, n: int = 300) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "cid": [rng.choice([*range(32), None]) for _ in range(n)],
            "region": [rng.choice(["n", "s", None]) for _ in range(n)],
            "event_timestamp": [START + rng.randint(-24, 24 * 95) * HOUR for _ in range(n)],
            "label": list(range(n)),
        }
    )


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """One store, materialized in two runs by the DuckDB engine."""
    path = tmp_path_factory.mktemp("spark") / "store"
    defs, refs = definitions(random.Random(1))
    with fs.FeatureStore(path, progress=False) as store:
        store.apply(defs)
        store.materialize(START, datetime(2024, 2, 10, 5))
        store.materialize(datetime(2024, 2, 10, 5), END)
    return path, refs


@pytest.mark.parametrize("seed", [2, 3])
@pytest.mark.parametrize("bitemporal", [False, True])
def test_both_engines_give_the_same_training_set_from_one_store(
    world: tuple[Path, list[str]], spark_engine: fs.Engine, seed: int, bitemporal: bool
) -> None:
    path, refs = world
    entity = entity_rows(random.Random(seed))
    with (
        fs.FeatureStore(path, progress=False) as duck,
        fs.FeatureStore(path, progress=False, engine=spark_engine) as spark,
    ):
        a = duck.get_historical_features(entity, refs, bitemporal=bitemporal)
        b = spark.get_historical_features(entity, refs, bitemporal=bitemporal)
        assert b.frame.equals(a.frame)  # value for value, float bits and order included
        assert b.frame["label"].to_list() == entity["label"].to_list()
        assert b.content_id == a.content_id
        assert b.frame["amount_sum_30d"].null_count() < entity.height  # not all empty
        keys = entity.select("cid", "region")
        as_of = datetime(2024, 2, 20, 7)
        latest_a = duck.get_latest_features(keys, refs, as_of=as_of, bitemporal=bitemporal)
        latest_b = spark.get_latest_features(keys, refs, as_of=as_of, bitemporal=bitemporal)
        assert latest_b.frame.equals(latest_a.frame)


def test_explain_names_the_same_rows_and_files_on_both_engines(
    world: tuple[Path, list[str]], spark_engine: fs.Engine
) -> None:
    path, _ = world
    entity = entity_rows(random.Random(4), n=5).drop_nulls()
    explained = []
    for engine in (None, spark_engine):
        with fs.FeatureStore(path, progress=False, engine=engine) as store:
            result = store.get_historical_features(entity, ["plain:amount", "fresh:n"])
            saved = store.save_training_set(result, f"t{len(explained)}")
            model = store.register_model(f"m{len(explained)}", saved)
            batch = store.log_predictions(
                model,
                entity.select("cid", "region").with_columns(score=pl.lit(0.5)),
                features=result,
                as_of=datetime(2024, 3, 1),
            )
            out = store.lineage.explain(batch, 0)
            explained.append([(f["feature"], f["value"], f["file"]) for f in out["features"]])
    assert explained[0] == explained[1]
    assert any(file for _, _, file in explained[0])


def test_a_store_materialized_on_spark_reads_the_same_on_duckdb(
    tmp_path: Path, spark_engine: fs.Engine
) -> None:
    defs, refs = definitions(random.Random(5))
    entity = entity_rows(random.Random(6))
    frames = []
    for name, engine in (("duck", None), ("spark", spark_engine)):
        with fs.FeatureStore(tmp_path / name, progress=False, engine=engine) as store:
            store.apply(defs)
            store.materialize(START, END)
        with fs.FeatureStore(tmp_path / name, progress=False) as store:
            frames.append(store.get_historical_features(entity, refs).frame)
    assert frames[0].equals(frames[1])


def test_a_sql_source_runs_as_spark_sql(tmp_path: Path, spark_engine: fs.Engine) -> None:
    from featstore.engine.spark import SparkEngine

    assert isinstance(spark_engine, SparkEngine)
    spark = spark_engine.spark
    rows = pl.DataFrame(
        {"cid": [1, 1, 2], "ts": [START, START + DAY, START + HOUR], "x": [1.0, 2.0, 3.0]}
    )
    spark.createDataFrame(rows.to_arrow()).createOrReplaceTempView("fs_test_events")
    customer = fs.Entity("customer", join_keys=["cid"])
    source = fs.SqlSource(
        "events", query="SELECT cid, ts, x * 10 AS x FROM fs_test_events", timestamp_column="ts"
    )
    view = fs.FeatureView("v", entity=customer, source=source, features=["x"])
    with fs.FeatureStore(tmp_path / "store", progress=False, engine=spark_engine) as store:
        store.apply([customer, source, view])
        store.materialize(START, END)
        got = store.get_historical_features(
            pl.DataFrame({"cid": [1, 2, 3], "ts": [START + 2 * DAY] * 3}), ["v:x"]
        ).frame
    assert got["x"].to_list() == [20.0, 30.0, None]


def test_a_sql_source_naming_a_missing_table_fails_and_writes_nothing(
    tmp_path: Path, spark_engine: fs.Engine
) -> None:
    customer = fs.Entity("customer", join_keys=["cid"])
    source = fs.SqlSource("events", query="SELECT * FROM fs_no_such_table", timestamp_column="ts")
    view = fs.FeatureView("v", entity=customer, source=source, features=["x"])
    with fs.FeatureStore(tmp_path / "store", progress=False, engine=spark_engine) as store:
        with pytest.raises(fs.FeatstoreError, match="fs_no_such_table"):
            store.apply([customer, source, view])
        assert store.list_feature_views() == []


def test_spark_frames_in_and_out(tmp_path: Path, spark_engine: fs.Engine) -> None:
    from featstore.engine.spark import SparkEngine

    assert isinstance(spark_engine, SparkEngine)
    spark = spark_engine.spark
    defs, _ = definitions(random.Random(7))
    entity = entity_rows(random.Random(8), n=50)
    with fs.FeatureStore(tmp_path / "store", progress=False, engine=spark_engine) as store:
        store.apply(defs)
        store.materialize(START, END)
        local = store.get_historical_features(entity, ["plain:amount"])
        remote = store.get_historical_features(
            spark.createDataFrame(entity.to_arrow()), ["plain:amount"]
        )
        # a Spark frame's timestamps are instants: they come back zoned (UTC)
        assert remote.frame["amount"].equals(local.frame["amount"])
        back = local.to_spark(spark)
        assert back.count() == entity.height
        assert pl.from_arrow(back.toArrow()).equals(local.frame)


def test_choosing_the_engine_by_name_and_in_the_config(
    tmp_path: Path, spark_engine: fs.Engine
) -> None:
    from featstore.engine.spark import SparkEngine

    with fs.FeatureStore(tmp_path / "a", progress=False, engine="spark") as store:
        assert isinstance(store.engine, SparkEngine)
    # the session the fixture started is still running: a store stops only its own
    assert isinstance(spark_engine, SparkEngine)
    assert spark_engine.spark.range(3).count() == 3
    with fs.FeatureStore(tmp_path / "b", progress=False) as store:
        assert store.engine.__class__.__name__ == "DuckDBEngine"
    config = tmp_path / "b" / "featstore.json"
    data = json.loads(config.read_text())
    config.write_text(json.dumps({**data, "engine": "spark", "spark": {"partitions": 3}}))
    with fs.FeatureStore(tmp_path / "b", progress=False) as store:
        assert isinstance(store.engine, SparkEngine)
    with fs.FeatureStore(tmp_path / "b", progress=False, engine="duckdb") as store:
        assert store.engine.__class__.__name__ == "DuckDBEngine"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"engine": "flink"}, "engine 'flink' is not one of duckdb, spark"),
        ({"engine": "spark", "spark": "local[2]"}, "must be an object of Spark settings"),
        ({"engine": "spark", "spark": {"mastr": "local"}}, "unknown Spark setting 'mastr'"),
        ({"engine": "spark", "spark": {"partitions": 0}}, "partitions must be a positive"),
        ({"engine": "spark", "spark": {"conf": {"a": 1}}}, "'conf' must map strings"),
    ],
)
def test_bad_engine_settings_are_config_errors(
    tmp_path: Path, settings: dict[str, Any], message: str
) -> None:
    with fs.FeatureStore(tmp_path, progress=False):
        pass
    config = tmp_path / "featstore.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), **settings}))
    with pytest.raises(fs.ConfigError, match=message):
        fs.FeatureStore(tmp_path, progress=False).engine  # noqa: B018


def test_an_unknown_engine_name_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(fs.ConfigError, match="unknown engine 'spork': use one of duckdb, spark"):
        fs.FeatureStore(tmp_path, engine="spork")
    assert not tmp_path.joinpath("featstore.json").exists()


def test_lineage_records_the_engine_of_each_run_and_training_set(
    tmp_path: Path, spark_engine: fs.Engine
) -> None:
    defs, _ = definitions(random.Random(9))
    entity = entity_rows(random.Random(10), n=20)
    engines: dict[str, tuple[str | None, str | None]] = {}
    for name, engine in (("duckdb", None), ("spark", spark_engine)):
        with fs.FeatureStore(tmp_path / name, progress=False, engine=engine) as store:
            store.apply(defs)
            (run, *_) = store.materialize(START, END)
            saved = store.save_training_set(
                store.get_historical_features(entity, ["plain:amount"]), "t"
            )
            run_attrs = store.lineage.node(run.id).attrs
            set_attrs = store.lineage.node(saved.id).attrs
            engines[name] = (run_attrs.get("engine"), set_attrs.get("engine"))
    assert engines == {"duckdb": ("duckdb", "duckdb"), "spark": ("spark", "spark")}


def test_without_pyspark_the_engine_names_the_extra_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    # as if PySpark were not installed (its modules another test imported included)
    for name in [m for m in sys.modules if m == "pyspark" or m.startswith("pyspark.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "pyspark", None)
    monkeypatch.delitem(sys.modules, "featstore.engine.spark", raising=False)
    with pytest.raises(ImportError, match=r"pip install 'featstore\[spark\]'"):
        fs.SparkEngine  # noqa: B018
    with (
        fs.FeatureStore(tmp_path, progress=False, engine="spark") as store,
        pytest.raises(fs.ConfigError, match=r"pip install 'featstore\[spark\]'"),
    ):
        store.engine  # noqa: B018
