"""A worker process for the fault-injection and concurrency tests.

``python fault_worker.py STORE DATA OP [ARG]`` opens the store, applies the definitions
below and runs one operation, printing ``ok`` when it completes. The tests kill it at
random moments (SIGKILL) or run several at once.

OP is one of: ``materialize`` (ARG = month index 0-11), ``materialize_view`` (ARG = view
name, the whole year), ``save_training_set``,
``register_model`` (ARG = count), ``log_predictions``, ``historical``.
"""

from __future__ import annotations

import sys
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

import featstore as fs

YEAR = 2024
CUSTOMERS = 300


def month_start(i: int) -> datetime:
    return datetime(YEAR + i // 12, i % 12 + 1, 1)


def make_data(data: Path, rows_per_month: int = 4000, seed: int = 7) -> None:
    """Twelve monthly Parquet files of transactions, plus an entity (label) frame."""
    rng = np.random.default_rng(seed)
    (data / "txns").mkdir(parents=True, exist_ok=True)
    for i in range(12):
        start = month_start(i)
        seconds = (month_start(i + 1) - start).total_seconds()
        offsets = np.sort(rng.integers(0, int(seconds), rows_per_month))
        ts = [start + timedelta(seconds=int(s)) for s in offsets]
        pl.DataFrame(
            {
                "customer_id": rng.integers(0, CUSTOMERS, rows_per_month),
                "ts": ts,
                "amount": rng.gamma(2.0, 20.0, rows_per_month).round(2),
            }
        ).write_parquet(data / "txns" / f"{i:02d}.parquet")
    n = 2000
    day = rng.integers(0, 365, n)
    pl.DataFrame(
        {
            "customer_id": rng.integers(0, CUSTOMERS + 20, n),
            "event_timestamp": [
                datetime(YEAR, 1, 1) + timedelta(days=int(d), hours=12) for d in day
            ],
            "label": rng.integers(0, 2, n),
        }
    ).write_parquet(data / "labels.parquet")


def definitions(data: Path) -> list[object]:
    customer = fs.Entity("customer", join_keys=["customer_id"])
    txns = fs.ParquetSource("txns", path=data / "txns", timestamp_column="ts")
    last = fs.FeatureView(
        "last_txn", entity=customer, source=txns, features=["amount"], ttl=timedelta(days=45)
    )

    @fs.feature_view(entity=customer, source=txns, lookback=timedelta(days=30))
    def spend(df: pl.LazyFrame) -> pl.LazyFrame:
        return (
            df.sort("customer_id", "ts")
            .rolling("ts", period="30d", group_by="customer_id")
            .agg(pl.col("amount").sum().alias("spend_30d"), pl.len().alias("n_30d"))
        )

    return [customer, txns, last, spend]


FEATURES = ["last_txn:amount", "spend:spend_30d", "spend:n_30d"]


def open_store(store: Path, data: Path) -> fs.FeatureStore:
    s = fs.FeatureStore(store, progress=False)
    s.apply(definitions(data))
    return s


def main() -> None:
    store_dir, data_dir, op = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    arg = sys.argv[4] if len(sys.argv) > 4 else "0"
    store = open_store(store_dir, data_dir)
    labels = pl.read_parquet(data_dir / "labels.parquet")
    if op == "materialize":
        i = int(arg)
        store.materialize(month_start(i), month_start(i + 1))
    elif op == "materialize_view":
        store.materialize(month_start(0), month_start(12), views=[arg])
    elif op == "save_training_set":
        store.save_training_set(
            store.get_historical_features(labels, features=FEATURES), f"ts_{arg}"
        )
    elif op == "register_model":
        training = store.get_training_set("base")
        for _ in range(int(arg)):
            store.register_model("model", training, metrics={"auc": 0.5})
    elif op == "log_predictions":
        model = store.get_model("model")
        latest = store.get_latest_features(
            labels.select("customer_id").unique().sort("customer_id"),
            features=FEATURES,
            as_of=datetime(YEAR, 12, 31),
        )
        scored = latest.to_polars().with_columns(pl.lit(0.5).alias("p"))
        store.log_predictions(model, scored, features=latest)
    elif op == "historical":
        store.get_historical_features(labels, features=FEATURES)
    else:
        raise SystemExit(f"unknown op {op!r}")
    print("ok", flush=True)


if __name__ == "__main__":
    main()
