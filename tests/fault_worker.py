"""A worker process for the fault-injection and concurrency tests.

``python fault_worker.py STORE DATA OP [ARG]`` opens the store, applies the definitions
below and runs one operation, printing ``ok`` when it completes. The tests kill it at
random moments (SIGKILL) or run several at once.

OP is one of: ``materialize`` (ARG = month index 0-11), ``materialize_view`` (ARG = view
name, the whole year), ``save_training_set`` (ARG = name suffix), ``register_model``
(ARG = count), ``log_predictions`` (ARG = count, at least one), ``apply_definitions``
(ARG = count: new versions of the view ``extra`` and new feature services ``svc_<i>``),
``historical``, and ``hold`` (ARG = ``write``: hold a catalog write transaction with an
uncommitted lineage node ``model:ghost@1``; ``view``: hold the writer lock of the view
``last_txn``; prints ``holding`` and sleeps until killed).

Before ``ok`` it prints one JSON line: what it wrote (model versions, batch ids, training
set id), so concurrent runs can be checked for lost or doubled writes.
"""

from __future__ import annotations

import json
import sys
import time
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
    wrote: dict[str, object] = {}
    if op == "materialize":
        i = int(arg)
        store.materialize(month_start(i), month_start(i + 1))
    elif op == "materialize_view":
        runs = store.materialize(month_start(0), month_start(12), views=[arg])
        wrote["runs"] = [run.run_id for run in runs]
    elif op == "save_training_set":
        saved = store.save_training_set(
            store.get_historical_features(labels, features=FEATURES), f"ts_{arg}"
        )
        wrote["training_set"] = saved.id
    elif op == "register_model":
        training = store.get_training_set("base")
        wrote["versions"] = [
            store.register_model("model", training, metrics={"auc": 0.5}).version
            for _ in range(int(arg))
        ]
    elif op == "log_predictions":
        batches = []
        for _ in range(max(1, int(arg))):
            model = store.get_model("model")
            latest = store.get_latest_features(
                labels.select("customer_id").unique().sort("customer_id"),
                features=FEATURES,
                as_of=datetime(YEAR, 12, 31),
            )
            scored = latest.to_polars().with_columns(pl.lit(0.5).alias("p"))
            batch = store.log_predictions(model, scored, features=latest)
            batches.append([batch.batch_id, model.version])
        wrote["batches"] = batches
    elif op == "apply_definitions":
        wrote["versions"] = apply_definitions(store, data_dir, int(arg))
    elif op == "historical":
        store.get_historical_features(labels, features=FEATURES)
    elif op == "hold":
        hold(store, arg)
    else:
        raise SystemExit(f"unknown op {op!r}")
    print(json.dumps(wrote), flush=True)
    print("ok", flush=True)


def apply_definitions(store: fs.FeatureStore, data: Path, count: int) -> list[str]:
    """Apply ``count`` new versions of the view ``extra`` (ttl 1..count days), each with
    a new feature service ``svc_<i>`` on it; the versions of ``extra``, in order."""
    customer, txns, *_ = definitions(data)
    versions = []
    for i in range(count):
        extra = fs.FeatureView(
            "extra", entity=customer, source=txns, features=["amount"], ttl=timedelta(days=i + 1)
        )
        store.apply([extra, fs.FeatureService(f"svc_{i}", features=[extra, "last_txn:amount"])])
        versions.append(extra.version)
    return versions


def hold(store: fs.FeatureStore, what: str) -> None:
    """Hold a catalog lock until killed (see the module docstring)."""
    if what == "write":
        with store.catalog.transaction() as tx:
            tx.add_node("model:ghost@1", "model_version", "ghost", "2024-01-01", {"version": 1})
            print("holding", flush=True)
            time.sleep(600)
    elif what == "view":
        with store.catalog.writer_lock("view/last_txn"):
            print("holding", flush=True)
            time.sleep(600)
    raise SystemExit(f"unknown lock {what!r}")


if __name__ == "__main__":
    main()
