"""Materialization benchmark: a view's Polars transformation on the DuckDB engine (in the
driver) and on the Spark engine (in Spark's Python workers), against the same Polars
code written by hand.

This is a benchmark script, not a test. It

1. generates ``--rows`` transactions ``customer_id, ts, created, amount, n_items`` of
   ``--keys`` customers over four months, one Parquet file per month (cached in
   ``--workdir``);
2. runs each method once, in a fresh subprocess, and reports its wall time and the peak
   resident memory of its whole process tree (the JVM and Spark's Python workers
   included);
3. checks that the featstore methods stored the same rows, file for file (the same bits),
   and that they hold the values the hand-written Polars job computes (floats to a
   relative 1e-9). Any difference exits non-zero.

The views: ``derived`` (row by row: a derived amount and a flag) and ``rolling`` (7-day
rolling sums of the amount and the items per customer, ``per_key=True``, lookback 7 days).

Methods:

* ``polars_by_hand``: ``scan_parquet``, the two transformations, one sorted Parquet file
  per month per view, written with Polars: what an engineer would write without a
  feature store;
* ``featstore_duckdb``: ``materialize`` on the DuckDB engine (transformations in the
  driver, in Polars);
* ``featstore_spark``: ``materialize`` on the Spark engine, ``local[2]``: both views in
  Spark tasks (``derived`` split as Spark reads it, ``rolling`` one customer per group);
* ``featstore_spark_driver``: the same, but ``rolling`` without ``per_key=True``, so it
  runs in the driver (how every transformation ran before it could run in Spark).

Run ``python benchmarks/spark_materialize.py --help`` for the options.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from pit_join import _tree_peak_mb  # this directory is on sys.path

START = datetime(2024, 1, 1)
END = datetime(2024, 5, 1)
METHODS = ("polars_by_hand", "featstore_duckdb", "featstore_spark", "featstore_spark_driver")


def generate(root: Path, rows: int, keys: int) -> Path:
    import numpy as np
    import polars as pl

    source = root / f"source_{rows}_{keys}"
    if source.exists():
        return source
    tmp = root / "source.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    rng = np.random.default_rng(7)
    span = int((END - START).total_seconds())
    seconds = np.sort(rng.integers(0, span, rows))
    frame = pl.DataFrame(
        {
            "customer_id": rng.integers(0, keys, rows),
            "ts": pl.Series(seconds * 1_000_000).cast(pl.Duration("us")) + START,
            "amount": np.round(rng.gamma(2.0, 20.0, rows), 2),
            "n_items": rng.integers(1, 6, rows).astype(np.int32),
        }
    ).with_columns(created=pl.col("ts") + pl.duration(minutes=5))
    for (month,), part in frame.group_by(pl.col("ts").dt.strftime("%Y-%m"), maintain_order=True):
        part.write_parquet(tmp / f"{month}.parquet")
    tmp.rename(source)
    return source


# -- the transformations (shipped to Spark's workers with this module) -------------------


def derived(tx: Any) -> Any:
    import polars as pl

    return tx.with_columns(
        amount_per_item=pl.col("amount") / pl.col("n_items"), big=pl.col("amount") > 100
    ).select("customer_id", "ts", "created", "amount_per_item", "big")


def rolling(tx: Any) -> Any:
    import polars as pl

    return tx.with_columns(
        spend_7d=pl.col("amount").rolling_sum_by("ts", "7d").over("customer_id"),
        items_7d=pl.col("n_items").rolling_sum_by("ts", "7d").over("customer_id"),
    ).select("customer_id", "ts", "created", "spend_7d", "items_7d")


def definitions(source: Path, per_key: bool) -> list[Any]:
    import featstore as fs

    customer = fs.Entity("customer", join_keys=["customer_id"])
    txns = fs.ParquetSource(
        "txns", path=str(source), timestamp_column="ts", created_timestamp_column="created"
    )
    return [
        customer,
        txns,
        fs.FeatureView("derived", entity=customer, source=txns, transform=derived),
        fs.FeatureView(
            "rolling",
            entity=customer,
            source=txns,
            transform=rolling,
            lookback=timedelta(days=7),
            per_key=per_key,
        ),
    ]


# -- the methods ---------------------------------------------------------------------------


def polars_by_hand(source: Path, out: Path) -> None:
    import polars as pl

    scan = pl.scan_parquet(sorted(source.glob("*.parquet")))
    for name, fn in (("derived", derived), ("rolling", rolling)):
        rows = fn(scan).collect(engine="streaming")
        parts = rows.with_columns(month=pl.col("ts").dt.strftime("%Y-%m")).partition_by(
            "month", as_dict=True, include_key=False
        )
        (out / name).mkdir(parents=True)
        for (month,), part in parts.items():
            part.sort("customer_id", "ts").write_parquet(out / name / f"{month}.parquet")


def featstore(source: Path, out: Path, engine: str, per_key: bool) -> None:
    import featstore as fs

    chosen: Any = None
    if engine == "spark":
        from featstore.engine.spark import SparkEngine, local_session

        memory = os.environ.get("FEATSTORE_BENCH_SPARK_MEMORY", "8g")
        chosen = SparkEngine(local_session("local[2]", conf={"spark.driver.memory": memory}))
        chosen.spark.range(1).count()  # the JVM's start is not timed
    store = fs.FeatureStore(out / "store", engine=chosen, progress=False)
    store.apply(definitions(source, per_key))
    t0 = time.perf_counter()
    store.materialize(START, END)
    (out / "seconds").write_text(str(time.perf_counter() - t0))


def worker(method: str, source: Path, out: Path, result: Path) -> None:
    t0 = time.perf_counter()
    if method == "polars_by_hand":
        polars_by_hand(source, out)
        seconds = time.perf_counter() - t0
    else:
        engine = "duckdb" if method == "featstore_duckdb" else "spark"
        featstore(source, out, engine, per_key=method != "featstore_spark_driver")
        seconds = float((out / "seconds").read_text())
    result.write_text(json.dumps({"seconds": seconds, "peak_mb": _tree_peak_mb()}))
    os._exit(0)  # a Spark session's JVM would otherwise take seconds to stop


# -- the checks ----------------------------------------------------------------------------


def stored(out: Path) -> dict[str, Any]:
    import polars as pl

    import featstore as fs

    frames = {}
    with fs.FeatureStore(out / "store", read_only=True, progress=False) as store:
        for view in store.list_feature_views():
            files = sorted(
                store.catalog.active_files(view.name, view.version), key=lambda r: r["bucket"]
            )
            frames[view.name] = pl.concat(
                [pl.read_parquet(store.offline.absolute(f["path"])) for f in files]
            )
    return frames


def check(outs: dict[str, Path]) -> list[str]:
    import polars as pl

    problems = []
    found = {m: stored(p) for m, p in outs.items() if m != "polars_by_hand"}
    first, *others = found
    for other in others:
        for view, frame in found[first].items():
            if not found[other][view].equals(frame):
                problems.append(f"{other} stored other rows than {first} for {view!r}")
    if "polars_by_hand" in outs:
        for view, frame in found[first].items():
            hand = pl.read_parquet(sorted((outs["polars_by_hand"] / view).glob("*.parquet")))
            features = [c for c in hand.columns if c not in ("customer_id", "ts", "created")]
            ts = pl.col("__fs_ts").dt.replace_time_zone(None).alias("ts")  # stored as UTC
            mine = frame.select("customer_id", ts, *features)
            theirs = hand.select("customer_id", "ts", *features)
            # to a relative 1e-9: a Polars rolling sum adds and subtracts as it goes, so its
            # last bits depend on where the evaluated rows start (featstore evaluates a
            # range in chunks, each from its start less the lookback)
            order = ["customer_id", "ts", *features]
            mine, theirs = mine.sort(order), theirs.sort(order)
            same = mine.height == theirs.height and mine.select("customer_id", "ts").equals(
                theirs.select("customer_id", "ts")
            )
            for column in features if same else []:
                a, b = mine[column], theirs[column]
                if a.dtype.is_float():
                    close = ((a - b).abs() <= 1e-9 * b.abs().clip(lower_bound=1.0)) | (
                        a.is_null() & b.is_null()
                    )
                    same = same and bool(close.fill_null(False).all())
                else:
                    same = same and a.equals(b)
            if not same:
                problems.append(f"{first}'s {view!r} differs from the hand-written job's")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "fs_bench_sm")
    parser.add_argument("--worker", nargs=3, metavar=("METHOD", "SOURCE", "OUT"))
    args = parser.parse_args(argv)
    if args.worker:
        method, source, out = args.worker
        worker(method, Path(source), Path(out), Path(out) / "result.json")
        return 0
    args.workdir.mkdir(parents=True, exist_ok=True)
    source = generate(args.workdir, args.rows, args.keys)
    results, outs = {}, {}
    for method in args.methods:
        out = args.workdir / "runs" / method
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        cmd = [sys.executable, __file__, "--worker", method, str(source), str(out)]
        subprocess.run(cmd, check=True)
        results[method] = json.loads((out / "result.json").read_text())
        outs[method] = out
        print(f"{method}: {results[method]['seconds']:.2f} s, {results[method]['peak_mb']:.0f} MB")
    base = results.get("featstore_duckdb") or next(iter(results.values()))
    print(f"\n{args.rows:,} rows, {args.keys:,} keys, 2 views\n")
    print("| method | s | x featstore_duckdb | peak MB |")
    print("|---|---:|---:|---:|")
    for method, r in results.items():
        ratio = r["seconds"] / base["seconds"]
        print(f"| `{method}` | {r['seconds']:.2f} | {ratio:.2f} | {r['peak_mb']:.0f} |")
    problems = check(outs)
    for problem in problems:
        print("MISMATCH:", problem)
    print("all methods agree" if not problems else "")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
