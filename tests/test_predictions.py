"""log_predictions: the Parquet it writes, the batch record, where ``as_of`` comes from,
the errors, and the lineage of a batch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import polars as pl
import pytest
from helpers import BOTH_CATALOGS
from lineage_helpers import LATEST_AS_OF, TS_BATCH_ROWS, World, run_json, world_fixture

import featstore as fs

ADDED = ["prediction_id", "model_name", "model_version", "as_of"]


pytestmark = BOTH_CATALOGS

world = world_fixture("predictions")


def _prediction_files(store: fs.FeatureStore) -> set[Path]:
    return set((store.path / "predictions").rglob("*.parquet"))


def _batch_rows(store: fs.FeatureStore) -> int:
    return len(store.catalog.prediction_batches())


def _batch_nodes(store: fs.FeatureStore) -> int:
    # lineage_all_nodes: (nid, id, kind, name, created_at, attrs)
    return sum(1 for node in store.catalog.lineage_all_nodes() if node[2] == "prediction_batch")


def test_batch_with_features_writes_parquet_and_record(world: World) -> None:
    batch = world.batch
    assert (
        batch.path == world.store_path / "predictions" / "churn" / "1" / f"{batch.batch_id}.parquet"
    )
    assert (batch.model, batch.model_version, batch.rows) == ("churn", 1, 3)
    frame = pl.read_parquet(batch.path)
    # the served feature values follow: what skew recomputes
    assert frame.columns == ["customer_id", "score", *ADDED, "amount", "age"]
    assert dict(batch.served_features) == {
        "amount": f"spend@{world.spend.version}:amount",
        "age": f"profile@{world.profile.version}:age",
    }
    assert frame.select("amount", "age").equals(world.latest.frame.select("amount", "age"))
    assert frame["prediction_id"].to_list() == [f"{batch.batch_id}:{i}" for i in range(3)]
    assert frame["model_name"].to_list() == ["churn"] * 3
    assert frame["model_version"].to_list() == [1] * 3
    # taken from get_latest_features; stored as a UTC instant, read back naive by featstore
    assert frame["as_of"].dt.replace_time_zone(None).to_list() == [LATEST_AS_OF] * 3
    assert batch.to_polars()["as_of"].to_list() == [LATEST_AS_OF] * 3
    assert frame["customer_id"].to_list() == [1, 2, 3]
    for ref in (batch.id, batch.batch_id):
        record = world.store.get_prediction_batch(ref)
        assert record["batch_id"] == batch.batch_id
        assert (record["model"], record["model_version"], record["rows"]) == ("churn", 1, 3)
        assert record["path"] == f"predictions/churn/1/{batch.batch_id}.parquet"
        assert record["as_of"] == "2024-03-15T00:00:00.000000"
        assert record["retrieval"] == world.latest.manifest
        assert record["columns"] == frame.columns
        assert record["created_at"] == batch.created_at


def test_batch_with_a_timestamp_column(world: World) -> None:
    frame = world.ts_batch.to_polars()
    assert frame["as_of"].to_list() == [ts for _, ts, _ in TS_BATCH_ROWS]
    assert frame["scored_at"].to_list() == frame["as_of"].to_list()
    record = world.store.get_prediction_batch(world.ts_batch.id)
    assert record["as_of"] is None
    assert record["retrieval"] is None


def test_as_of_sources(world: World) -> None:
    store, model = world.store, world.model
    keys = pl.DataFrame({"customer_id": [1, 2], "score": [0.3, 0.4]})
    explicit = store.log_predictions(model, keys, as_of="2024-02-01T01:00:00+01:00")
    assert explicit.to_polars()["as_of"].to_list() == [datetime(2024, 2, 1)] * 2
    aware = store.log_predictions(
        model, keys, as_of=datetime(2024, 2, 1, 12, tzinfo=timezone(timedelta(hours=2)))
    )
    assert aware.to_polars()["as_of"].to_list() == [datetime(2024, 2, 1, 10)] * 2
    # an explicit as_of wins over the features' as_of
    both = store.log_predictions(
        model,
        world.latest.frame.select("customer_id"),
        features=world.latest,
        as_of=datetime(2024, 1, 1),
    )
    assert both.to_polars()["as_of"].to_list() == [datetime(2024, 1, 1)] * 3
    # an event_timestamp column is found by name; a tz-aware one is converted to UTC
    stamped = keys.with_columns(
        pl.Series(
            "event_timestamp",
            [datetime(2024, 3, 1, 5, tzinfo=UTC), datetime(2024, 3, 2, 6, tzinfo=UTC)],
        )
    )
    auto = store.log_predictions(model, stamped)
    assert auto.to_polars()["as_of"].to_list() == [datetime(2024, 3, 1, 5), datetime(2024, 3, 2, 6)]


def test_model_given_by_id_or_name(world: World) -> None:
    keys = pl.DataFrame({"customer_id": [3], "score": [0.5]})
    by_id = world.store.log_predictions("model:churn@1", keys, as_of="2024-03-01")
    by_name = world.store.log_predictions("churn", keys, as_of="2024-03-01")
    assert (
        (by_id.model, by_id.model_version) == (by_name.model, by_name.model_version) == ("churn", 1)
    )
    pandas_frame = keys.to_pandas()
    from_pandas = world.store.log_predictions(world.model, pandas_frame, as_of="2024-03-01")
    assert from_pandas.to_polars()["customer_id"].to_list() == [3]


def test_errors_write_nothing(world: World) -> None:
    store, model = world.store, world.model
    before = (_prediction_files(store), _batch_rows(store), _batch_nodes(store))
    no_key = pl.DataFrame({"user": [1], "score": [0.1], "event_timestamp": [datetime(2024, 3, 1)]})
    with pytest.raises(fs.PointInTimeError, match=r"lacks entity key 'customer_id'.*model:churn@1"):
        store.log_predictions(model, no_key)
    with pytest.raises(fs.PointInTimeError, match="lacks entity key 'customer_id'"):
        store.log_predictions(model, no_key.drop("event_timestamp"), features=world.latest)
    clash = pl.DataFrame({"customer_id": [1], "as_of": [datetime(2024, 3, 1)]})
    with pytest.raises(fs.PointInTimeError, match="already has column 'as_of'"):
        store.log_predictions(model, clash)
    no_time = pl.DataFrame({"customer_id": [1], "score": [0.1]})
    with pytest.raises(fs.PointInTimeError, match="cannot tell which column is the timestamp"):
        store.log_predictions(model, no_time)
    with pytest.raises(fs.PointInTimeError, match="no timestamp column 'when'"):
        store.log_predictions(model, no_time, timestamp_column="when")
    with pytest.raises(fs.PointInTimeError, match="not an ISO 8601 timestamp"):
        store.log_predictions(model, no_time, as_of="yesterday")
    with pytest.raises(fs.NotFoundError, match="unknown model 'chrun'"):
        store.log_predictions("chrun", no_time, as_of="2024-03-01")
    with pytest.raises(fs.NotFoundError, match="unknown prediction batch 'prediction_batch:nope'"):
        store.get_prediction_batch("prediction_batch:nope")
    assert (_prediction_files(store), _batch_rows(store), _batch_nodes(store)) == before


def test_batch_lineage(world: World) -> None:
    lineage = world.store.lineage
    up_ts = {n.id for n in lineage.upstream(world.ts_batch.id)}
    assert world.model.id in up_ts
    assert world.training_set.id in up_ts
    direct = lineage.subgraph(world.batch.id, direction="up")
    into = {(s, d["kind"]) for s, _, d in direct.in_edges(world.batch.id, data=True)}
    assert (world.model.id, "predicted") in into
    assert (f"run:{world.runs['spend'].run_id}", "read_by") in into
    assert (f"view:profile@{world.profile.version}", "features_of") in into
    node = lineage.node(world.batch.id)
    assert node.attrs == {
        "model_version": 1,
        "rows": 3,
        "path": f"predictions/churn/1/{world.batch.batch_id}.parquet",
    }


def test_model_without_training_set_logs_but_cannot_explain(world: World) -> None:
    bare = world.store.register_model("m_bare", None)
    batch = world.store.log_predictions(bare, pl.DataFrame({"x": [1, 2]}), as_of="2024-03-01")
    assert batch.rows == 2
    assert [n.id for n in world.store.lineage.upstream(batch.id)] == [bare.id]
    with pytest.raises(fs.LineageError, match="has no training set"):
        world.store.lineage.explain(batch, 0)


def test_batches_readable_from_a_new_process(world: World) -> None:
    out = run_json(f"""
        import json
        import polars as pl
        import featstore as fs
        with fs.FeatureStore({str(world.store_path)!r}, progress=False) as store:
            record = store.get_prediction_batch({world.batch.id!r})
            frame = pl.read_parquet(store.path / record["path"])
            print(json.dumps({{"record": dict(record), "ids": frame["prediction_id"].to_list()}}))
    """)
    assert out["record"] == world.store.get_prediction_batch(world.batch.id)
    assert out["ids"] == world.batch.to_polars()["prediction_id"].to_list()


def test_every_batch_gets_its_own_id_and_file(world: World) -> None:
    keys = pl.DataFrame({"customer_id": [1], "score": [0.5]})
    a = world.store.log_predictions(world.model, keys, as_of="2024-03-01")
    b = world.store.log_predictions(world.model, keys, as_of="2024-03-01")
    assert a.batch_id != b.batch_id
    assert a.path != b.path
    assert a.path.is_file()
    assert b.path.is_file()
