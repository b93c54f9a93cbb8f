"""Window-aggregation benchmark: featstore's exact windows vs. hand-written DuckDB and Polars.

This is a benchmark script, not a test. It

1. generates synthetic data (cached in ``--workdir``, keyed by scale): ``--events``
   transactions ``customer_id, ts, created, amount`` over ``--days`` days in
   month-partitioned Parquet files (1% of the amounts null, 1% of the rows sharing
   ``(customer_id, ts)`` with another row), and an ``entities.parquet`` of
   ``--entities`` rows ``customer_id, event_timestamp, label`` in random order, 1% of
   them exactly on an event of the same customer and 1% exactly one window (1d, 7d or
   30d) after one, to exercise both ends of ``t - window < ts <= t``;
2. materializes a featstore store once (timed, in its own subprocess, cached): a view
   ``spending`` with 4 aggregations (sum, count, mean, max) x 3 windows (1d, 7d, 30d) of
   ``amount``, and a plain view ``latest`` with ``features=["amount"]``;
3. times each method ``--repeat`` times, each run in a fresh subprocess, and reports the
   median wall time and the subprocess's peak resident memory (``VmHWM``);
4. checks that all methods return the same 12 features on every entity row (floats to a
   relative 1e-9, counts and maxima exactly), and that they and the plain point-in-time
   join agree with a brute-force numpy oracle on ``--check-rows`` sampled rows. Any
   difference exits non-zero.

Every timed region starts from ``entities.parquet`` and ends with a materialized
``pyarrow.Table`` of all entity rows in their original order plus the features.

Methods:

* ``featstore_windows``: ``get_historical_features`` of the 12 aggregations;
* ``duckdb_range``: one range join ``ON key AND ts > t - 30d AND ts <= t`` grouped by
  entity row, each window an aggregate ``FILTER``; the reference for the check;
* ``polars_rolling``: entity rows appended to the events as markers with a null
  amount, sorted by ``(customer_id, ts)``, ``rolling_*_by("ts", closed="right")``
  over ``customer_id``, then the marker rows picked out (O(N + M), exact);
* ``polars_join``: join on ``customer_id``, filter to the 30-day window, group by
  entity row with a filter per window (the pairs grow as N x M / K; skipped above
  ``--polars-join-max-pairs`` expected pairs);
* ``featstore_pit``: the plain point-in-time join of ``latest:amount`` on the same rows,
  for the "within 3x" target.

Run ``python benchmarks/windows.py --help`` for the options.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

# Benchmark this checkout's featstore (workers inherit it through this file's path).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DATA_VERSION = 1  # bump when the generator changes, to invalidate cached data
START = datetime(2024, 1, 1)
WINDOWS = {"1d": 1, "7d": 7, "30d": 30}  # label -> days
FUNCTIONS = ("sum", "count", "mean", "max")
FEATURES = [f"amount_{fn}_{w}" for w in WINDOWS for fn in FUNCTIONS]
NULL_FRACTION = 0.01
TIE_FRACTION = 0.01
ON_EVENT_FRACTION = 0.01
ON_WINDOW_START_FRACTION = 0.01
REL_TOL = 1e-9
REFERENCE = "duckdb_range"
DAY_US = 86_400_000_000


@dataclass(frozen=True)
class Dataset:
    """Paths and sizes of one generated dataset (loaded from its ``meta.json``)."""

    root: Path
    entity_rows: int
    events: int
    keys: int
    days: int

    @property
    def entities(self) -> Path:
        return self.root / "entities.parquet"

    @property
    def events_glob(self) -> str:
        return str(self.root / "events" / "*.parquet")

    @property
    def store_dir(self) -> Path:
        return self.root / "featstore_store"

    @property
    def materialize_stats(self) -> Path:
        return self.root / "featstore_materialize.json"

    @property
    def end(self) -> datetime:
        # entity rows one window after an event may lie up to 30 days past the data
        return START + timedelta(days=self.days + max(WINDOWS.values()) + 1)

    @classmethod
    def load(cls, root: Path) -> Dataset:
        m = json.loads((root / "meta.json").read_text())
        return cls(root, m["entities"], m["events"], m["keys"], m["days"])


# --------------------------------------------------------------------------- generation


def dataset_dir(args: argparse.Namespace) -> Path:
    key = (
        f"windows_v{DATA_VERSION}_e{args.entities}_m{args.events}_k{args.keys}"
        f"_d{args.days}_s{args.seed}"
    )
    return Path(args.workdir) / key


def _generate_events(rng: Any, args: argparse.Namespace, out_dir: Path) -> tuple[Any, Any]:
    """Write the events, one Parquet file per month, sorted by ts; return (keys, ts)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = args.events
    n_ties = int(n * TIE_FRACTION)
    cust = rng.integers(0, args.keys, n - n_ties)
    offs = rng.integers(0, args.days * DAY_US, n - n_ties)
    src = rng.integers(0, n - n_ties, n_ties)
    cust = np.concatenate([cust, cust[src]])
    offs = np.concatenate([offs, offs[src]])
    order = np.argsort(offs, kind="stable")
    cust, offs = cust[order], offs[order]
    ts = np.datetime64(START, "us") + offs.astype("timedelta64[us]")
    created = ts + rng.integers(1_000_000, 600_000_000, n).astype("timedelta64[us]")
    # positive amounts (a lognormal spend in currency units): sums do not cancel
    amount = np.round(rng.lognormal(3.0, 1.0, n), 2)
    nulls = rng.random(n) < NULL_FRACTION
    table = pa.table(
        {
            "customer_id": cust,
            "ts": ts,
            "created": created,
            "amount": pa.array(amount, mask=nulls),
        }
    )
    out_dir.mkdir(parents=True)
    months, starts = np.unique(ts.astype("datetime64[M]"), return_index=True)
    bounds = [*starts.tolist(), n]
    for month, lo, hi in zip(months, bounds[:-1], bounds[1:], strict=True):
        pq.write_table(table.slice(lo, hi - lo), out_dir / f"{month}.parquet")
    return cust, ts


def _generate_entities(
    rng: Any, args: argparse.Namespace, events: tuple[Any, Any], path: Path
) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = args.entities
    cust = rng.integers(0, args.keys, n)
    ts = np.datetime64(START, "us") + rng.integers(0, args.days * DAY_US, n).astype(
        "timedelta64[us]"
    )
    n_on = int(n * ON_EVENT_FRACTION)
    n_start = int(n * ON_WINDOW_START_FRACTION)
    rows = rng.choice(n, n_on + n_start, replace=False)
    src = rng.integers(0, len(events[0]), n_on + n_start)
    cust[rows], ts[rows] = events[0][src], events[1][src]
    # an event exactly one window before the entity row lies outside that window
    windows = np.array([d * DAY_US for d in WINDOWS.values()]).astype("timedelta64[us]")
    ts[rows[n_on:]] += windows[rng.integers(0, len(windows), n_start)]
    label = rng.integers(0, 2, n, dtype=np.int8)
    pq.write_table(pa.table({"customer_id": cust, "event_timestamp": ts, "label": label}), path)


def ensure_dataset(args: argparse.Namespace) -> Dataset:
    """Generate the dataset unless a complete copy is cached in the workdir."""
    import numpy as np

    root = dataset_dir(args)
    if (root / "meta.json").exists():
        print(f"using cached data in {root}")
        return Dataset.load(root)
    print(f"generating data in {root} ...", flush=True)
    t0 = time.perf_counter()
    tmp = root.with_name(root.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    rng = np.random.default_rng(args.seed)
    events = _generate_events(rng, args, tmp / "events")
    _generate_entities(rng, args, events, tmp / "entities.parquet")
    meta = {k: getattr(args, k) for k in ("entities", "events", "keys", "days", "seed")}
    (tmp / "meta.json").write_text(json.dumps(meta, indent=2))
    tmp.rename(root)
    print(f"generated in {time.perf_counter() - t0:.1f}s", flush=True)
    return Dataset.load(root)


def warm_page_cache(data: Dataset) -> None:
    """Read every data file once so no method pays for cold disk reads."""
    for path in sorted(data.root.rglob("*.parquet")):
        with path.open("rb") as f:
            while f.read(1 << 24):
                pass


# --------------------------------------------------------------------------- methods
# Each method is (setup, run): setup(data) does imports and opens connections or stores
# (not timed); run(ctx, data, entity_path) returns a materialized pyarrow.Table with the
# entity rows in file order and the feature columns.


def duckdb_setup(data: Dataset) -> Any:
    import duckdb

    return duckdb.connect()


def duckdb_range_sql(data: Dataset, entity_path: Path) -> str:
    """The hand-written range join: one join over the longest window, FILTER per window."""
    longest = max(WINDOWS.values())
    aggs = []
    for label, days in WINDOWS.items():
        inside = f"FILTER (WHERE v.ts > e.event_timestamp - INTERVAL {days} DAY)"
        aggs += [
            f"sum(v.amount) {inside} AS amount_sum_{label}",
            f"count(v.amount) {inside} AS amount_count_{label}",
            f"avg(v.amount) {inside} AS amount_mean_{label}",
            f"max(v.amount) {inside} AS amount_max_{label}",
        ]
    select = ",\n  ".join(aggs)
    return f"""
SELECT any_value(e.customer_id) AS customer_id, any_value(e.event_timestamp) AS event_timestamp,
  {select}
FROM read_parquet('{entity_path}', file_row_number = true) e
LEFT JOIN read_parquet('{data.events_glob}') v
  ON v.customer_id = e.customer_id
  AND v.ts > e.event_timestamp - INTERVAL {longest} DAY
  AND v.ts <= e.event_timestamp
GROUP BY e.file_row_number
ORDER BY e.file_row_number
"""


def duckdb_range(con: Any, data: Dataset, entity_path: Path) -> Any:
    return con.sql(duckdb_range_sql(data, entity_path)).to_arrow_table()


def polars_setup(data: Dataset) -> Any:
    import polars

    return polars


def _polars_finish(pl: Any, lf: Any, prefix: str = "") -> Any:
    """Null the sums of empty windows and order the features like FEATURES."""
    fixes = []
    for label in WINDOWS:
        count = pl.col(f"{prefix}amount_count_{label}")
        fixes.append(
            pl.when(count > 0)
            .then(pl.col(f"{prefix}amount_sum_{label}"))
            .otherwise(None)
            .alias(f"amount_sum_{label}")
        )
        fixes.append(count.alias(f"amount_count_{label}"))
        for fn in ("mean", "max"):
            fixes.append(pl.col(f"{prefix}amount_{fn}_{label}").alias(f"amount_{fn}_{label}"))
    return lf.with_columns(fixes).select("customer_id", "event_timestamp", *FEATURES)


def polars_rolling(pl: Any, data: Dataset, entity_path: Path) -> Any:
    """Entity rows as null-amount markers among the events; rolling by time per key."""
    entities = (
        pl.scan_parquet(entity_path)
        .select("customer_id", pl.col("event_timestamp").alias("ts"))
        .with_row_index("_row")
        .with_columns(
            pl.col("_row").cast(pl.UInt32), pl.lit(None, dtype=pl.Float64).alias("amount")
        )
    )
    events = (
        pl.scan_parquet(data.events_glob)
        .select("customer_id", "ts", "amount")
        .with_columns(pl.lit(None, dtype=pl.UInt32).alias("_row"))
    )
    both = pl.concat([events, entities], how="diagonal").sort("customer_id", "ts")
    aggs = []
    for label in WINDOWS:
        kw = {"window_size": label, "closed": "right"}
        amount = pl.col("amount")
        aggs += [
            amount.rolling_sum_by("ts", **kw).over("customer_id").alias(f"amount_sum_{label}"),
            amount.is_not_null()
            .cast(pl.Int64)
            .rolling_sum_by("ts", **kw)
            .over("customer_id")
            .alias(f"amount_count_{label}"),
            amount.rolling_mean_by("ts", **kw).over("customer_id").alias(f"amount_mean_{label}"),
            amount.rolling_max_by("ts", **kw).over("customer_id").alias(f"amount_max_{label}"),
        ]
    lf = (
        both.with_columns(aggs)
        .filter(pl.col("_row").is_not_null())
        .sort("_row")
        .rename({"ts": "event_timestamp"})
    )
    return _polars_finish(pl, lf).collect().to_arrow()


def polars_join(pl: Any, data: Dataset, entity_path: Path) -> Any:
    """Join on the key, keep the longest window, group by entity row, filter per window."""
    entities = pl.scan_parquet(entity_path).select("customer_id", "event_timestamp")
    entities = entities.with_row_index("_row")
    events = pl.scan_parquet(data.events_glob).select("customer_id", "ts", "amount")
    longest = timedelta(days=max(WINDOWS.values()))
    t = pl.col("event_timestamp")
    pairs = entities.join(events, on="customer_id", how="inner").filter(
        (pl.col("ts") <= t) & (pl.col("ts") > t - longest)
    )
    aggs = []
    for label, days in WINDOWS.items():
        inside = pl.col("amount").filter(pl.col("ts") > t - timedelta(days=days))
        aggs += [
            inside.sum().alias(f"w_amount_sum_{label}"),
            inside.count().alias(f"w_amount_count_{label}"),
            inside.mean().alias(f"w_amount_mean_{label}"),
            inside.max().alias(f"w_amount_max_{label}"),
        ]
    grouped = pairs.group_by("_row").agg(aggs)
    lf = entities.join(grouped, on="_row", how="left").sort("_row")
    lf = lf.with_columns(pl.col(f"w_amount_count_{w}").fill_null(0) for w in WINDOWS)
    return _polars_finish(pl, lf, prefix="w_").collect(engine="streaming").to_arrow()


def featstore_definitions(data: Dataset) -> list[Any]:
    import featstore as fs

    customer = fs.Entity("customer", join_keys=["customer_id"])
    txns = fs.ParquetSource(
        "txns", path=data.events_glob, timestamp_column="ts", created_timestamp_column="created"
    )
    spending = fs.FeatureView(
        "spending",
        entity=customer,
        source=txns,
        aggregations=[
            fs.Aggregation("amount", fn, window=timedelta(days=days))
            for days in WINDOWS.values()
            for fn in FUNCTIONS
        ],
    )
    latest = fs.FeatureView("latest", entity=customer, source=txns, features=["amount"])
    return [customer, txns, spending, latest]


def featstore_setup(data: Dataset) -> Any:
    import featstore as fs

    # FEATSTORE_BENCH_MEMORY_LIMIT (e.g. 6GB): the store's DuckDB memory_limit
    limit = os.environ.get("FEATSTORE_BENCH_MEMORY_LIMIT")
    store = fs.FeatureStore(str(data.store_dir), memory_limit=limit or None)
    store.apply(featstore_definitions(data))
    return store


def featstore_windows(store: Any, data: Dataset, entity_path: Path) -> Any:
    import polars as pl

    entity_df = pl.read_parquet(entity_path)
    refs = [f"spending:{f}" for f in FEATURES]
    return store.get_historical_features(entity_df, features=refs).to_arrow()


def featstore_pit(store: Any, data: Dataset, entity_path: Path) -> Any:
    import polars as pl

    entity_df = pl.read_parquet(entity_path)
    return store.get_historical_features(entity_df, features=["latest:amount"]).to_arrow()


def _materialize(view: str) -> Callable[[Any, Dataset, Path], Any]:
    def run(store: Any, data: Dataset, entity_path: Path) -> Any:
        return store.materialize(START, data.end, views=[view])

    return run


METHODS: dict[str, tuple[Callable[[Dataset], Any], Callable[[Any, Dataset, Path], Any]]] = {
    "featstore_windows": (featstore_setup, featstore_windows),
    "duckdb_range": (duckdb_setup, duckdb_range),
    "polars_rolling": (polars_setup, polars_rolling),
    "polars_join": (polars_setup, polars_join),
    "featstore_pit": (featstore_setup, featstore_pit),
}
WINDOW_METHODS = [m for m in METHODS if m != "featstore_pit"]
WORKER_TASKS = {
    **METHODS,
    "materialize_spending": (featstore_setup, _materialize("spending")),
    "materialize_latest": (featstore_setup, _materialize("latest")),
}


# --------------------------------------------------------------------------- worker


def _proc_status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def worker(task: str, data_root: Path, result_file: Path, table_file: Path | None) -> None:
    """Run one task once in this (fresh) process; write its numbers (and its table)."""
    data = Dataset.load(data_root)
    setup, run = WORKER_TASKS[task]
    ctx = setup(data)
    baseline = _proc_status_mb("VmRSS")
    t0 = time.perf_counter()
    result = run(ctx, data, data.entities)
    seconds = time.perf_counter() - t0
    stats = {
        "seconds": seconds,
        "rows": getattr(result, "num_rows", None),
        "baseline_rss_mb": baseline,
        "peak_rss_mb": _proc_status_mb("VmHWM"),
    }
    if table_file is not None:
        import pyarrow.parquet as pq

        pq.write_table(result, table_file, compression="lz4")
    result_file.write_text(json.dumps(stats))


def run_worker(task: str, data: Dataset, table_file: Path | None = None) -> dict[str, Any]:
    """Run ``task`` in a fresh interpreter and return its measurements."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        cmd = [sys.executable, __file__, "--worker", task, "--data-dir", str(data.root)]
        cmd += ["--result-file", str(out)]
        if table_file is not None:
            cmd += ["--table-file", str(table_file)]
        proc = subprocess.run(cmd, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"{task} worker failed with exit code {proc.returncode}")
        stats: dict[str, Any] = json.loads(out.read_text())
    return stats


# --------------------------------------------------------------------------- orchestration


def ensure_materialized(data: Dataset, rematerialize: bool) -> dict[str, Any]:
    """Materialize both views once (each in a subprocess) and cache the store."""
    marker = data.materialize_stats
    if marker.exists() and not rematerialize:
        print(f"using cached featstore store in {data.store_dir}")
        return {**json.loads(marker.read_text()), "cached": True}
    marker.unlink(missing_ok=True)
    shutil.rmtree(data.store_dir, ignore_errors=True)
    stats = {}
    for view in ("spending", "latest"):
        print(f"materializing featstore view {view!r} ...", flush=True)
        s = run_worker(f"materialize_{view}", data)
        s.pop("rows")
        print(f"  {s['seconds']:.2f}s, peak RSS {s['peak_rss_mb']:.0f} MB", flush=True)
        stats[view] = s
    marker.write_text(json.dumps(stats, indent=2))
    return {**stats, "cached": False}


def time_methods(
    data: Dataset, methods: list[str], repeat: int, tables: Path
) -> dict[str, dict[str, Any]]:
    """Run every method ``repeat`` times, round-robin, each run in a fresh subprocess; the
    first run of each keeps its result table in ``tables`` for the check."""
    runs: dict[str, list[dict[str, Any]]] = {m: [] for m in methods}
    for r in range(repeat):
        for m in methods:
            stats = run_worker(m, data, tables / f"{m}.parquet" if r == 0 else None)
            if stats["rows"] != data.entity_rows:
                raise RuntimeError(f"{m} returned {stats['rows']} rows, not {data.entity_rows}")
            print(
                f"  [{r + 1}/{repeat}] {m:<18} {stats['seconds']:8.3f}s "
                f"peak {stats['peak_rss_mb']:8.0f} MB",
                flush=True,
            )
            runs[m].append(stats)
    return {
        m: {
            "median_seconds": statistics.median(s["seconds"] for s in rs),
            "seconds": [s["seconds"] for s in rs],
            "baseline_rss_mb": statistics.median(s["baseline_rss_mb"] for s in rs),
            "peak_rss_mb": max(s["peak_rss_mb"] for s in rs),
        }
        for m, rs in runs.items()
    }


# --------------------------------------------------------------------------- checks


def compare_columns(name: str, got: Any, ref: Any, exact: bool) -> list[str]:
    """Differences of one column (pyarrow) from the reference: nulls in the same rows,
    values equal (``exact``) or within a relative REL_TOL."""
    import numpy as np

    if len(got) != len(ref):
        return [f"{name}: {len(got)} rows, reference {len(ref)}"]
    g_null = np.asarray(got.is_null())
    r_null = np.asarray(ref.is_null())
    problems = []
    bad_null = np.flatnonzero(g_null != r_null)
    if len(bad_null):
        problems.append(
            f"{name}: null in {len(bad_null)} rows where the reference is not (or the "
            f"reverse), first rows {bad_null[:5].tolist()}"
        )
    both = ~(g_null | r_null)
    # counts and maxima are small integers or copies of stored doubles: exact in float64
    g = np.asarray(got.fill_null(0), dtype=np.float64)[both]
    r = np.asarray(ref.fill_null(0), dtype=np.float64)[both]
    if exact:
        bad = np.flatnonzero(g != r)
    else:
        bad = np.flatnonzero(np.abs(g - r) > REL_TOL * np.maximum(np.abs(g), np.abs(r)))
    if len(bad):
        rows = np.flatnonzero(both)[bad[:5]].tolist()
        problems.append(
            f"{name}: {len(bad)} values differ beyond "
            f"{'equality' if exact else f'relative {REL_TOL}'}, first rows {rows}: "
            f"got {g[bad[:5]].tolist()}, reference {r[bad[:5]].tolist()}"
        )
    return problems


def compare_tables(got: Any, ref: Any, features: list[str]) -> list[str]:
    """Every difference of ``got`` from ``ref`` (same entity rows in the same order)."""
    problems = []
    for key in ("customer_id", "event_timestamp"):
        if not got.column(key).combine_chunks().equals(ref.column(key).combine_chunks()):
            problems.append(f"{key}: entity rows differ from the input order")
    for f in features:
        if f not in got.column_names:
            problems.append(f"{f}: missing")
            continue
        exact = "_count_" in f or "_max_" in f
        problems += compare_columns(
            f, got.column(f).combine_chunks(), ref.column(f).combine_chunks(), exact
        )
    return problems


def oracle(data: Dataset, rows: Any) -> dict[str, list[Any]]:
    """Brute force with numpy on the entity rows ``rows``: the 12 window features and the
    latest amount (latest ts <= t, ties to the latest created)."""
    import numpy as np
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    ev = ds.dataset(str(data.root / "events"), format="parquet").to_table()
    key = np.asarray(ev.column("customer_id"))
    ts = np.asarray(ev.column("ts")).astype("int64")
    created = np.asarray(ev.column("created")).astype("int64")
    amount_col = ev.column("amount").combine_chunks()
    valid = ~np.asarray(amount_col.is_null())
    amount = np.asarray(amount_col.fill_null(0.0))
    order = np.lexsort((created, ts, key))
    key, ts, created, amount, valid = (
        key[order],
        ts[order],
        created[order],
        amount[order],
        valid[order],
    )
    ent = pq.read_table(data.entities)
    e_key = np.asarray(ent.column("customer_id"))[rows]
    e_ts = np.asarray(ent.column("event_timestamp")).astype("int64")[rows]
    out: dict[str, list[Any]] = {f: [] for f in [*FEATURES, "amount"]}
    for k, t in zip(e_key.tolist(), e_ts.tolist(), strict=True):
        lo, hi = np.searchsorted(key, k, "left"), np.searchsorted(key, k, "right")
        kts = ts[lo:hi]
        end = lo + np.searchsorted(kts, t, "right")  # rows with ts <= t end here
        # the last row sorted by (ts, created) among ts <= t is the point-in-time winner
        out["amount"].append(float(amount[end - 1]) if end > lo and valid[end - 1] else None)
        for label, days in WINDOWS.items():
            begin = lo + np.searchsorted(kts, t - days * DAY_US, "right")
            vals = [float(a) for a, v in zip(amount[begin:end], valid[begin:end], strict=True) if v]
            total = 0.0
            for v in sorted(vals):
                total += v
            out[f"amount_sum_{label}"].append(total if vals else None)
            out[f"amount_count_{label}"].append(len(vals))
            out[f"amount_mean_{label}"].append(total / len(vals) if vals else None)
            out[f"amount_max_{label}"].append(max(vals) if vals else None)
    return out


def check(
    data: Dataset, methods: list[str], tables: Path, sample: int, seed: int
) -> dict[str, Any]:
    """Compare every window method with duckdb_range on all rows, and all methods with the
    oracle on ``sample`` rows; the problems found, per method."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    results = {m: pq.read_table(tables / f"{m}.parquet") for m in methods}
    report: dict[str, Any] = {}
    ref = results.get(REFERENCE)
    for m in methods:
        if m in WINDOW_METHODS and ref is not None and m != REFERENCE:
            report[m] = {"vs_" + REFERENCE: compare_tables(results[m], ref, FEATURES)}
        else:
            report[m] = {}
    if sample:
        rng = np.random.default_rng(seed)
        rows = np.sort(rng.choice(data.entity_rows, min(sample, data.entity_rows), replace=False))
        expected = oracle(data, rows)
        for m in methods:
            features = FEATURES if m in WINDOW_METHODS else ["amount"]
            got = results[m].take(pa.array(rows))
            problems = []
            for f in features:
                exact = "_count_" in f or "_max_" in f or f == "amount"
                want = pa.array(expected[f], type=got.column(f).type)
                problems += compare_columns(f, got.column(f).combine_chunks(), want, exact)
            report[m]["vs_oracle"] = problems
    return report


# --------------------------------------------------------------------------- report


def print_table(results: dict[str, dict[str, Any]]) -> None:
    header = f"{'method':<18} {'median s':>9} {'base MB':>8} {'peak MB':>8}"
    print(header)
    print("-" * len(header))
    for m, r in results.items():
        if "skipped" in r:
            print(f"{m:<18} skipped: {r['skipped']}")
            continue
        print(
            f"{m:<18} {r['median_seconds']:9.3f} {r['baseline_rss_mb']:8.0f} "
            f"{r['peak_rss_mb']:8.0f}"
        )


def ratios(results: dict[str, dict[str, Any]]) -> dict[str, dict[str, float]]:
    """featstore_windows against each other method: time and peak-memory ratios."""
    fw = results.get("featstore_windows")
    out: dict[str, dict[str, float]] = {}
    if not fw or "skipped" in fw:
        return out
    for m, r in results.items():
        if m == "featstore_windows" or "skipped" in r:
            continue
        out[m] = {
            "other_over_featstore_seconds": r["median_seconds"] / fw["median_seconds"],
            "featstore_over_other_seconds": fw["median_seconds"] / r["median_seconds"],
            "featstore_over_other_peak_rss": fw["peak_rss_mb"] / r["peak_rss_mb"],
        }
    return out


def environment() -> dict[str, Any]:
    import duckdb
    import polars as pl
    import pyarrow as pa

    import featstore

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "duckdb": duckdb.__version__,
        "polars": pl.__version__,
        "pyarrow": pa.__version__,
        "featstore": featstore.__version__,
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument("--entities", type=int, default=1_000_000, help="entity (label) rows")
    p.add_argument("--events", type=int, default=10_000_000, help="source events")
    p.add_argument(
        "--keys",
        type=int,
        help="distinct customers (default: events / 100, i.e. 100 events per customer "
        "per year of --days 365, about 8 in a 30-day window)",
    )
    p.add_argument("--days", type=int, default=365, help="time span of the events")
    p.add_argument("--small", action="store_true", help="100k entity rows x 1M events")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--repeat", type=int, default=3, help="timed runs per method")
    p.add_argument("--methods", nargs="+", choices=list(METHODS), default=list(METHODS))
    p.add_argument(
        "--polars-join-max-pairs",
        type=float,
        default=2e8,
        help="skip polars_join when the key join is expected to give more (entity, event) "
        "pairs than this (entities x events / keys); it holds them all in memory",
    )
    p.add_argument(
        "--workdir",
        default=os.path.join(tempfile.gettempdir(), "featstore-bench"),
        help="where generated data and the materialized store are cached",
    )
    p.add_argument("--out", help="JSON results file (default: <workdir>/windows_results.json)")
    p.add_argument(
        "--check-rows",
        type=int,
        default=500,
        help="entity rows checked against the brute-force oracle (all rows are compared "
        "across methods regardless)",
    )
    p.add_argument("--rematerialize", action="store_true", help="materialize the store again")
    p.add_argument("--worker", choices=list(WORKER_TASKS), help=argparse.SUPPRESS)
    p.add_argument("--data-dir", help=argparse.SUPPRESS)
    p.add_argument("--result-file", help=argparse.SUPPRESS)
    p.add_argument("--table-file", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.small:
        args.entities, args.events = 100_000, 1_000_000
    if args.keys is None:
        args.keys = max(1, args.events // 100)
    if REFERENCE not in args.methods:
        args.methods.insert(0, REFERENCE)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        table = Path(args.table_file) if args.table_file else None
        worker(args.worker, Path(args.data_dir), Path(args.result_file), table)
        return 0
    data = ensure_dataset(args)
    warm_page_cache(data)
    print(
        f"{data.entity_rows:,} entity rows, {data.events:,} events, {data.keys:,} customers, "
        f"{data.days} days: {data.events / data.keys:.0f} events per customer, about "
        f"{data.events / data.keys / data.days * 30:.1f} in a 30-day window"
    )
    methods = list(args.methods)
    results: dict[str, dict[str, Any]] = {}
    pairs = data.entity_rows * data.events / data.keys
    if "polars_join" in methods and pairs > args.polars_join_max_pairs:
        methods.remove("polars_join")
        results["polars_join"] = {
            "skipped": f"~{pairs:.2g} key-join pairs > --polars-join-max-pairs "
            f"{args.polars_join_max_pairs:.2g}"
        }
    materialization = None
    if any(m.startswith("featstore") for m in methods):
        materialization = ensure_materialized(data, args.rematerialize)
    print(f"timing {', '.join(methods)} ({args.repeat} runs each, fresh process per run)")
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        timed = time_methods(data, methods, args.repeat, Path(tmp))
        print("checking results ...", flush=True)
        t0 = time.perf_counter()
        agreement = check(data, methods, Path(tmp), args.check_rows, args.seed)
        print(f"checked in {time.perf_counter() - t0:.1f}s")
    results = {**timed, **results}
    print()
    print_table(results)
    if materialization:
        for view in ("spending", "latest"):
            m = materialization[view]
            print(
                f"featstore materialization of {view!r}: {m['seconds']:.2f}s, "
                f"peak RSS {m['peak_rss_mb']:.0f} MB"
                + (" (cached from an earlier run)" if materialization["cached"] else "")
            )
    rat = ratios(results)
    if rat:
        print("\nfeatstore_windows against (its time / the other's; the other's / its):")
        for m, r in rat.items():
            print(
                f"  {m:<18} time {r['featstore_over_other_seconds']:6.2f}x "
                f"(speed-up {r['other_over_featstore_seconds']:5.2f}x), "
                f"peak RSS {r['featstore_over_other_peak_rss']:5.2f}x"
            )
    targets = {}
    if "duckdb_range" in rat:
        targets[">= 5x faster than duckdb_range"] = (
            rat["duckdb_range"]["other_over_featstore_seconds"] >= 5
        )
    if "featstore_pit" in rat:
        targets["within 3x of featstore_pit"] = (
            rat["featstore_pit"]["featstore_over_other_seconds"] <= 3
        )
    for name, met in targets.items():
        print(f"target {name}: {'met' if met else 'NOT met'}")
    print(f"\nagreement (all rows vs {REFERENCE}, {args.check_rows} rows vs the oracle):")
    failed = False
    for m, checks in agreement.items():
        for what, problems in checks.items():
            failed |= bool(problems)
            print(f"  {m:<18} {what:<16} {'ok' if not problems else 'FAILED'}")
            for problem in problems:
                print(f"      {problem}")
    report = {
        "config": {
            k: v
            for k, v in vars(args).items()
            if k not in ("worker", "data_dir", "result_file", "table_file")
        },
        "data_dir": str(data.root),
        "environment": environment(),
        "results": results,
        "featstore_materialization": materialization,
        "ratios": rat,
        "targets": targets,
        "agreement": agreement,
    }
    out = Path(args.out or Path(args.workdir) / "windows_results.json")
    out.write_text(json.dumps(report, indent=2, default=str))
    print(f"\nwrote {out}")
    if failed:
        print("RESULTS DIFFER: see above", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
