"""Exact distinct counts over time windows: featstore's as-of plan vs. a hand-written
DuckDB range join with ``count(DISTINCT ...)``.

This is a benchmark script, not a test. On the dataset of ``benchmarks/windows.py``
(generated and cached the same way, same options) it

1. materializes a featstore view ``bands`` once (cached, timed in its own subprocess):
   ``band = floor(amount / 10)`` (a pre-transformation; about 20 values, so values repeat
   inside windows) and ``count_distinct`` of ``band`` over 1, 7 and 30 days;
2. times, each ``--repeat`` times in a fresh subprocess (median wall time, peak RSS):
   ``featstore_distinct`` (``get_historical_features`` of the three counts),
   ``duckdb_range_distinct`` (one range join over 30 days, grouped by entity row, a
   ``count(DISTINCT ...) FILTER`` per window) and ``featstore_pit`` (featstore's plain
   point-in-time join of one feature over the same rows, for scale);
3. checks that featstore's counts equal the range join's on every entity row; any
   difference exits non-zero.

Run ``python benchmarks/distinct_windows.py --help`` for the options.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import windows  # the dataset, its cache and the worker's measurements

WINDOWS = windows.WINDOWS
FEATURES = [f"band_count_distinct_{label}" for label in WINDOWS]
METHODS = ("duckdb_range_distinct", "featstore_distinct", "featstore_pit")


def bands(lf: Any) -> Any:
    import polars as pl

    return lf.with_columns((pl.col("amount") / 10).floor().cast(pl.Int64).alias("band"))


def store(data: windows.Dataset) -> Any:
    import featstore as fs

    customer = fs.Entity("customer", join_keys=["customer_id"])
    txns = fs.ParquetSource(
        "txns", path=data.events_glob, timestamp_column="ts", created_timestamp_column="created"
    )
    view = fs.FeatureView(
        "bands",
        entity=customer,
        source=txns,
        transform=bands,
        aggregations=[
            fs.Aggregation("band", "count_distinct", window=timedelta(days=days))
            for days in WINDOWS.values()
        ],
    )
    latest = fs.FeatureView("latest", entity=customer, source=txns, features=["amount"])
    s = fs.FeatureStore(str(data.root / "featstore_distinct_store"))
    s.apply([customer, txns, view, latest])
    return s


def run(task: str, data: windows.Dataset) -> Any:
    """One task's work, timed by the worker; returns a pyarrow.Table in entity order."""
    import polars as pl

    if task == "duckdb_range_distinct":
        import duckdb

        con = duckdb.connect()
        t0 = time.perf_counter()
        longest = max(WINDOWS.values())
        aggs = ",\n  ".join(
            f"count(DISTINCT floor(v.amount / 10)::BIGINT) FILTER (WHERE v.ts > "
            f"e.event_timestamp - INTERVAL {days} DAY) AS band_count_distinct_{label}"
            for label, days in WINDOWS.items()
        )
        sql = f"""
SELECT {aggs}
FROM read_parquet('{data.entities}', file_row_number = true) e
LEFT JOIN read_parquet('{data.events_glob}') v
  ON v.customer_id = e.customer_id
  AND v.ts > e.event_timestamp - INTERVAL {longest} DAY
  AND v.ts <= e.event_timestamp
GROUP BY e.file_row_number
ORDER BY e.file_row_number
"""
        return con.sql(sql).to_arrow_table(), time.perf_counter() - t0
    s = store(data)
    t0 = time.perf_counter()
    if task.startswith("materialize"):
        s.materialize(windows.START, data.end, views=["bands", "latest"])
        return None, time.perf_counter() - t0
    entity = pl.read_parquet(data.entities)
    refs = [f"bands:{f}" for f in FEATURES] if task == "featstore_distinct" else ["latest:amount"]
    return s.get_historical_features(entity, features=refs).to_arrow(), time.perf_counter() - t0


def worker(task: str, root: Path, result: Path, table: Path | None) -> None:
    data = windows.Dataset.load(root)
    out, seconds = run(task, data)
    stats = {"seconds": seconds, "peak_rss_mb": windows._proc_status_mb("VmHWM")}
    if table is not None and out is not None:
        import pyarrow.parquet as pq

        pq.write_table(out, table, compression="lz4")
    result.write_text(json.dumps(stats))


def in_process(task: str, data: windows.Dataset, table: Path | None = None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        cmd = [sys.executable, __file__, "--worker", task, "--data-dir", str(data.root)]
        cmd += ["--result-file", str(out)] + (["--table-file", str(table)] if table else [])
        if subprocess.run(cmd, check=False).returncode != 0:
            raise RuntimeError(f"{task} failed")
        stats: dict[str, Any] = json.loads(out.read_text())
    return stats


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--worker", choices=[*METHODS, "materialize"], help=argparse.SUPPRESS)
    p.add_argument("--data-dir", help=argparse.SUPPRESS)
    p.add_argument("--result-file", help=argparse.SUPPRESS)
    p.add_argument("--table-file", help=argparse.SUPPRESS)
    p.add_argument("--rematerialize", action="store_true")
    ours, rest = p.parse_known_args(argv)
    if ours.worker:
        table = Path(ours.table_file) if ours.table_file else None
        worker(ours.worker, Path(ours.data_dir), Path(ours.result_file), table)
        return 0
    args = windows.parse_args(rest)  # --entities, --events, --keys, --days, --repeat, ...
    data = windows.ensure_dataset(args)
    windows.warm_page_cache(data)
    print(
        f"{data.entity_rows:,} entity rows, {data.events:,} events, {data.keys:,} customers: "
        f"about {data.events / data.keys / data.days * 30:.1f} events in a 30-day window"
    )
    marker = data.root / "featstore_distinct_materialize.json"
    if ours.rematerialize or not marker.exists():
        import shutil

        shutil.rmtree(data.root / "featstore_distinct_store", ignore_errors=True)
        m = in_process("materialize", data)
        marker.write_text(json.dumps(m))
    m = json.loads(marker.read_text())
    print(
        f"materialized 'bands' and 'latest' in {m['seconds']:.2f}s, peak {m['peak_rss_mb']:.0f} MB"
    )
    runs: dict[str, list[dict[str, Any]]] = {t: [] for t in METHODS}
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        for r in range(args.repeat):
            for t in METHODS:
                s = in_process(t, data, Path(tmp) / f"{t}.parquet" if r == 0 else None)
                print(
                    f"  [{r + 1}/{args.repeat}] {t:<22} {s['seconds']:8.3f}s "
                    f"peak {s['peak_rss_mb']:8.0f} MB",
                    flush=True,
                )
                runs[t].append(s)
        import pyarrow.parquet as pq

        want = pq.read_table(Path(tmp) / "duckdb_range_distinct.parquet")
        got = pq.read_table(Path(tmp) / "featstore_distinct.parquet")
        bad = [f for f in FEATURES if not got.column(f).cast("int64").equals(want.column(f))]
        print(
            "featstore's counts equal the range join's on every row"
            if not bad
            else f"DIFFERENT: {bad}"
        )
    med = {t: statistics.median(s["seconds"] for s in rs) for t, rs in runs.items()}
    peak = {t: max(s["peak_rss_mb"] for s in rs) for t, rs in runs.items()}
    ref = "featstore_distinct"
    print(f"\n{'method':<24}{'median s':>10}{'peak MB':>10}{'time / featstore':>18}")
    for t in METHODS:
        print(f"{t:<24}{med[t]:>10.2f}{peak[t]:>10.0f}{med[t] / med[ref]:>17.2f}x")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
