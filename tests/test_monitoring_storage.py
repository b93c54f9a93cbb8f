"""Statistics as materialization, training sets and batches record them; what gc does with
monitoring files; statistics off."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from helpers import BOTH_CATALOGS

import featstore as fs
from featstore.columns import RANK
from featstore.monitoring import stats

pytestmark = BOTH_CATALOGS


def _definitions(frame: pl.DataFrame) -> list[object]:
    customer = fs.Entity("customer", join_keys=["customer_id"])
    source = fs.DataFrameSource("txns", frame, timestamp_column="ts")
    view = fs.FeatureView(
        "spend", entity=customer, source=source, ttl=timedelta(days=90), features=["amount", "kind"]
    )
    return [customer, source, view]


def _txns(n: int, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    minutes = np.sort(rng.integers(0, 60 * 24 * 90, n))
    return (
        pl.DataFrame(
            {
                "customer_id": rng.integers(0, 50, n),
                "ts": [datetime(2024, 1, 1) + timedelta(minutes=int(m)) for m in minutes],
                "amount": rng.gamma(2, 5, n),
                "kind": rng.choice(["a", "b", "c"], n),
            }
        )
        .with_columns(  # about 5% nulls
            pl.when(pl.Series(rng.random(n)) < 0.05)
            .then(None)
            .otherwise(pl.col("amount"))
            .alias("amount")
        )
        .unique(["customer_id", "ts"], keep="first", maintain_order=True)
    )  # one row per key, time


def test_each_file_records_the_statistics_of_its_rows(tmp_path: Path) -> None:
    frame = _txns(3000, 1)
    store = fs.FeatureStore(tmp_path / "s", progress=False)
    store.apply(_definitions(frame))
    (run,) = store.materialize(datetime(2024, 1, 1), datetime(2024, 4, 1))
    assert len(run.files) == 3  # three months
    for rel in run.files:
        rows = pl.read_parquet(store.path / rel).filter(pl.col(RANK) == 1)
        expected = stats.compute(rows.select("amount", "kind"), "file")
        recorded = store.catalog.statistics_bodies([rel])[rel]
        got = stats.Statistics.from_json(__import__("json").loads(recorded))
        assert got.columns == expected.columns
    # the run and the view merge their files
    whole = stats.compute(frame.select("amount", "kind"), "all")
    for merged in (
        store.statistics(run),
        store.statistics(f"run:{run.run_id}"),
        store.statistics("spend"),
    ):
        assert merged.rows == frame.height
        assert merged.parts == 3
        assert merged["amount"].count == whole["amount"].count
        assert merged["amount"].nulls == whole["amount"].nulls
        assert merged["amount"].mean == pytest.approx(whole["amount"].mean)
        assert merged["amount"].std == pytest.approx(whole["amount"].std)
        assert merged["kind"].top == whole["kind"].top
    # a range cutting a month reads that month's rows in the range
    part = store.statistics("spend", start="2024-01-15", end="2024-03-01")
    rows = frame.filter(
        (pl.col("ts") >= datetime(2024, 1, 15)) & (pl.col("ts") < datetime(2024, 3, 1))
    )
    assert part["amount"].count == rows.height
    assert part["amount"].mean == pytest.approx(rows["amount"].mean())
    store.close()


def test_re_materializing_replaces_statistics_and_gc_forgets_superseded_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = fs.FeatureStore(tmp_path / "s", progress=False)
    store.apply(_definitions(_txns(500, 2)))
    (first,) = store.materialize(datetime(2024, 1, 1), datetime(2024, 2, 1))
    (second,) = store.materialize(datetime(2024, 1, 1), datetime(2024, 2, 1))
    assert store.catalog.statistics_bodies(list(first.files + second.files)).keys() == set(
        first.files + second.files
    )  # superseded files keep theirs until gc forgets the files
    from featstore import materialize

    monkeypatch.setattr(materialize, "SUPERSEDED_GRACE", timedelta(0))
    store.gc()
    assert set(store.catalog.statistics_bodies(list(first.files + second.files))) == set(
        second.files
    )
    with pytest.raises(fs.MonitoringError, match="have none recorded"):
        store.statistics(first)
    store.close()


def test_statistics_off_records_none_and_drift_reads_the_rows(tmp_path: Path) -> None:
    frame = _txns(800, 3)
    store = fs.FeatureStore(tmp_path / "s", progress=False, statistics=False)
    store.apply(_definitions(frame))
    (run,) = store.materialize(datetime(2024, 1, 1), datetime(2024, 4, 1))
    assert store.catalog.statistics_bodies(list(run.files)) == {}
    entity = frame.select("customer_id", pl.col("ts").alias("event_timestamp")).head(100)
    ts = store.save_training_set(store.get_historical_features(entity, ["spend:amount"]), "t")
    with pytest.raises(fs.MonitoringError, match="statistics off"):
        store.statistics(ts)
    report = store.drift(ts, store.window("spend", "2024-02-01", "2024-03-01"))
    assert not report.reference_from_statistics
    # statistics of the view are then computed from its rows
    assert store.statistics("spend")["amount"].count == frame.height
    store.close()


def test_gc_removes_monitoring_files_no_catalog_row_names(tmp_path: Path) -> None:
    frame = _txns(300, 4)
    store = fs.FeatureStore(tmp_path / "s", progress=False)
    store.apply(_definitions(frame))
    store.materialize(datetime(2024, 1, 1), datetime(2024, 4, 1))
    entity = frame.select("customer_id", pl.col("ts").alias("event_timestamp"), label=pl.col("customer_id") % 2).head(40)  # fmt: skip
    ts = store.save_training_set(store.get_historical_features(entity, ["spend:amount"]), "t")
    model = store.register_model("m", ts)
    ev = store.evaluate(model, ts, predictions=[i / 40 for i in range(40)], label_column="label")
    batch = store.log_predictions(model, entity.with_columns(score=pl.lit(0.5)), timestamp_column="event_timestamp")  # fmt: skip
    labels = store.log_labels(batch.to_polars().select("prediction_id", label=pl.lit(1)))
    kept = {ev.relative_path, labels.relative_path}
    orphans = [store.path / "labels" / "m" / ("a" * 32 + ".parquet"), store.path / "evaluations" / "m" / ("b" * 32 + ".parquet")]  # fmt: skip
    for path in orphans:
        path.write_bytes(b"left by a killed writer")
    removed = set(store.gc())
    assert {str(p.relative_to(store.path)) for p in orphans} <= removed
    assert not kept & removed
    assert all((store.path / rel).exists() for rel in kept)
    store.close()
