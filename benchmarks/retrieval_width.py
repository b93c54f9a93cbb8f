"""Retrieval width benchmark: how featstore's retrieval time grows with the number of features.

This is a benchmark script, not a test. It

1. generates one raw Parquet source (cached in ``--workdir``, keyed by scale): ``--keys``
   customers with about ``--rows-per-key`` rows each over ``--days`` days, with columns
   ``customer_id, ts, created, f0000 .. f<max width - 1>`` (random float64), and an entity
   frame of ``--entity-rows`` rows (``customer_id, event_timestamp, label``);
2. applies and materializes, once per scale (cached), for every width ``N`` in
   ``--widths``:

   * ``single``: one feature view ``w<N>`` with the features ``f0000 .. f<N-1>``;
   * ``multi``: ``--views`` feature views ``m<N>_<j>`` splitting the same ``N`` features
     between them;

   every view has a TTL of ``--ttl-days`` (0: no TTL);
3. for each variant and width, in this one process, runs each method once as a warm-up and
   then ``--repeat`` times, and reports the median wall time:

   * ``featstore``: ``store.get_historical_features(entity, features=[... N refs ...])``
     (a Polars frame with the entity columns and the N features, plus its manifest);
     the time spent inside featstore's DuckDB query (``featstore.retrieval.run_query``)
     and in hashing frames (``featstore.retrieval.frame_hash``) is reported too, so the
     rest is Python-side overhead;
   * ``hand``: the query a skilled engineer would write by hand over the same offline
     Parquet files featstore reads: per view one ``ASOF LEFT JOIN`` of the rank-1 rows on
     ``customer_id`` and the event time, the N columns selected (with a TTL, each nulled
     by ``CASE WHEN`` when the match is too old), ordered back to entity order, returned
     as a Polars frame with the entity columns;

4. checks at the smallest width of each variant that both methods give the same frame, and
   prints a markdown table: time per feature, the ratio featstore / hand-written, and the
   growth factor from 300 to 1,200 features (linear growth is 4x).

Run ``python benchmarks/retrieval_width.py --help`` for the options; ``--quick`` is a
smaller scale for a smoke test.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

# Benchmark this checkout's featstore.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

import featstore as fs
import featstore.retrieval as fs_retrieval

DATA_VERSION = 1  # bump when the generator changes, to invalidate cached data
START = datetime(2024, 1, 1)


def feature_name(i: int) -> str:
    return f"f{i:04d}"


# --------------------------------------------------------------------------- data


def scale_key(args: argparse.Namespace) -> str:
    return (
        f"width_v{DATA_VERSION}_k{args.keys}_r{args.rows_per_key}_e{args.entity_rows}"
        f"_d{args.days}_w{max(args.widths)}_s{args.seed}"
    )


def generate(args: argparse.Namespace, root: Path) -> None:
    """Write the raw source (one file per month) and the entity frame."""
    rng = np.random.default_rng(args.seed)
    width = max(args.widths)
    n = args.keys * args.rows_per_key
    span_us = args.days * 86_400_000_000
    offs = np.sort(rng.integers(0, span_us, n))
    ts = np.datetime64(START, "us") + offs.astype("timedelta64[us]")
    cust = rng.integers(0, args.keys, n)
    created = ts + rng.integers(1_000_000, 600_000_000, n).astype("timedelta64[us]")
    src = root / "source"
    src.mkdir(parents=True)
    months = ts.astype("datetime64[M]")
    for month in np.unique(months):
        lo, hi = np.searchsorted(months, [month, month + 1])
        columns: dict[str, Any] = {
            "customer_id": cust[lo:hi],
            "ts": ts[lo:hi],
            "created": created[lo:hi],
        }
        for i in range(width):
            columns[feature_name(i)] = rng.standard_normal(hi - lo)
        pq.write_table(pa.table(columns), src / f"{month}.parquet")
    m = args.entity_rows
    e_ts = np.datetime64(START + timedelta(days=1), "us") + rng.integers(0, span_us, m).astype(
        "timedelta64[us]"
    )
    entity = pa.table(
        {
            "customer_id": rng.integers(0, args.keys, m),
            "event_timestamp": e_ts,
            "label": rng.integers(0, 2, m, dtype=np.int8),
        }
    )
    pq.write_table(entity, root / "entities.parquet")


def view_features(width: int, parts: int) -> list[list[str]]:
    """The features of ``width`` split into ``parts`` contiguous groups."""
    names = [feature_name(i) for i in range(width)]
    bounds = [round(j * width / parts) for j in range(parts + 1)]
    return [names[a:b] for a, b in itertools.pairwise(bounds)]


def definitions(args: argparse.Namespace, root: Path) -> tuple[list[Any], dict[str, Any]]:
    """Entity, source and views; and per (variant, width) the view names and features."""
    customer = fs.Entity("customer", join_keys=["customer_id"])
    src = fs.ParquetSource(
        "raw",
        path=str(root / "source" / "*.parquet"),
        timestamp_column="ts",
        created_timestamp_column="created",
    )
    ttl = timedelta(days=args.ttl_days) if args.ttl_days else None
    objects: list[Any] = [customer, src]
    layout: dict[str, Any] = {}
    for width in args.widths:
        if "single" in args.variants:
            layout[f"single/{width}"] = [(f"w{width}", view_features(width, 1)[0])]
        if "multi" in args.variants:
            groups = view_features(width, args.views)
            layout[f"multi/{width}"] = [(f"m{width}_{j}", g) for j, g in enumerate(groups)]
    for views in layout.values():
        for name, feats in views:
            objects.append(
                fs.FeatureView(name, entity=customer, source=src, features=feats, ttl=ttl)
            )
    return objects, layout


def open_store(args: argparse.Namespace) -> tuple[fs.FeatureStore, dict[str, Any], Path]:
    """The store at this scale, generated and materialized unless cached."""
    root = Path(args.workdir) / scale_key(args)
    if not (root / "entities.parquet").exists():
        print(f"generating data in {root} ...", flush=True)
        t0 = time.perf_counter()
        shutil.rmtree(root, ignore_errors=True)
        generate(args, root)
        print(f"  generated in {time.perf_counter() - t0:.1f}s", flush=True)
    store = fs.FeatureStore(root / "store", progress=False)
    objects, layout = definitions(args, root)
    store.apply(objects)
    marker = root / "store" / f"materialized_ttl{args.ttl_days}.json"
    wanted = sorted(name for views in layout.values() for name, _ in views)
    done = json.loads(marker.read_text()) if marker.exists() else []
    todo = [v for v in wanted if v not in done]
    if todo:
        print(f"materializing {len(todo)} views ...", flush=True)
        t0 = time.perf_counter()
        store.materialize(START, START + timedelta(days=args.days + 1), views=todo)
        marker.write_text(json.dumps(sorted({*done, *todo})))
        print(f"  materialized in {time.perf_counter() - t0:.1f}s", flush=True)
    return store, layout, root


# --------------------------------------------------------------------------- methods


def offline_files(store: fs.FeatureStore, view: str) -> list[str]:
    """The active offline files of a view's current version (what featstore reads)."""
    version = store._view_record_of(view)["version"]
    rows = store.catalog.all(
        "SELECT path FROM files WHERE view = ? AND view_version = ? AND active = 1 ORDER BY path",
        (view, version),
    )
    return [str(store.offline.absolute(r["path"])) for r in rows]


def hand_sql(views: list[tuple[str, list[str], list[str]]], ttl_days: int) -> str:
    """What one would write by hand: a chained ASOF join over the rank-1 offline rows."""
    select = ["e.* EXCLUDE (rn)"]
    joins = []
    for j, (_, feats, files) in enumerate(views):
        listed = ", ".join(f"'{f}'" for f in files)
        cols = ", ".join(f'"{f}"' for f in feats)
        joins.append(
            f"ASOF LEFT JOIN (SELECT customer_id, __fs_ts AS ts, {cols} FROM "
            f"read_parquet([{listed}]) WHERE __fs_rank = 1) v{j} "
            f"ON e.customer_id = v{j}.customer_id AND e.event_timestamp >= v{j}.ts"
        )
        if ttl_days:
            fresh = f"v{j}.ts >= e.event_timestamp - INTERVAL {ttl_days} DAYS"
            select += [f'CASE WHEN {fresh} THEN v{j}."{f}" END AS "{f}"' for f in feats]
        else:
            select += [f'v{j}."{f}"' for f in feats]
    return f"SELECT {', '.join(select)} FROM entity e {' '.join(joins)} ORDER BY e.rn"


def run_hand(con: duckdb.DuckDBPyConnection, entity: pl.DataFrame, sql: str) -> pl.DataFrame:
    con.register("entity", entity.with_row_index("rn").to_arrow())
    try:
        out = pl.from_arrow(con.sql(sql).to_arrow_table())
    finally:
        con.unregister("entity")
    assert isinstance(out, pl.DataFrame)
    return out


class Timers:
    """Wall time spent inside featstore's query execution and frame hashing."""

    def __init__(self) -> None:
        self.seconds = {"query": 0.0, "hash": 0.0}

    def wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*a: Any, **k: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                self.seconds[name] += time.perf_counter() - t0

        return timed


def measure(fn: Callable[[], Any], repeat: int, timers: Timers) -> dict[str, float]:
    fn()  # warm-up
    totals, cpu, parts = [], [], []
    for _ in range(repeat):
        timers.seconds = dict.fromkeys(timers.seconds, 0.0)
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        totals.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        parts.append(dict(timers.seconds))
    i = totals.index(statistics.median_low(totals))
    return {"seconds": statistics.median(totals), "cpu": statistics.median(cpu), **parts[i]}


# --------------------------------------------------------------------------- report


def growth(results: dict[int, dict[str, Any]], key: str, lo: int, hi: int) -> str:
    if lo in results and hi in results and results[lo][key]:
        return f"{results[hi][key] / results[lo][key]:.1f}x"
    return "-"


def print_table(variant: str, views: int, results: dict[int, dict[str, Any]]) -> None:
    what = "1 view" if variant == "single" else f"{views} views"
    print(f"\n#### {variant}: {what}\n")
    print(
        "| features | featstore s | of which DuckDB query s | of which hashing s | "
        "hand-written s | featstore ms/feature | hand-written ms/feature | featstore / hand |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n, r in sorted(results.items()):
        f, h = r["featstore"], r["hand"]
        print(
            f"| {n:,} | {f['seconds']:.2f} | {f['query']:.2f} | {f['hash']:.2f} | "
            f"{h['seconds']:.2f} | {1000 * f['seconds'] / n:.2f} | {1000 * h['seconds'] / n:.2f} "
            f"| {f['seconds'] / h['seconds']:.2f} |"
        )
    flat = {
        n: {
            "f": r["featstore"]["seconds"],
            "h": r["hand"]["seconds"],
            "fc": r["featstore"]["cpu"],
            "hc": r["hand"]["cpu"],
        }
        for n, r in results.items()
    }
    print(
        f"\nGrowth from 300 to 1,200 features (linear: 4x): featstore "
        f"{growth(flat, 'f', 300, 1200)}, hand-written {growth(flat, 'h', 300, 1200)} "
        f"(in process CPU time: featstore {growth(flat, 'fc', 300, 1200)}, hand-written "
        f"{growth(flat, 'hc', 300, 1200)})."
    )


def _load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--keys", type=int, default=2_500, help="distinct customers")
    p.add_argument("--rows-per-key", type=int, default=10, help="feature rows per customer")
    p.add_argument("--entity-rows", type=int, default=25_000)
    p.add_argument("--days", type=int, default=90, help="time span of the feature rows")
    p.add_argument(
        "--widths",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[75, 150, 300, 600, 1200],
        help="comma-separated feature counts",
    )
    p.add_argument("--variants", default="single,multi", help="single, multi or both")
    p.add_argument("--views", type=int, default=4, help="views in the multi variant")
    p.add_argument("--ttl-days", type=int, default=30, help="view TTL in days; 0 for none")
    p.add_argument("--repeat", type=int, default=3, help="timed runs after one warm-up")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--workdir",
        default=os.path.join(tempfile.gettempdir(), "featstore-bench-width"),
        help="where the generated data and the materialized store are cached",
    )
    p.add_argument("--quick", action="store_true", help="a small scale for a smoke test")
    args = p.parse_args(argv)
    if args.quick:
        args.keys, args.rows_per_key, args.entity_rows = 1_000, 5, 5_000
    args.variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    warnings.simplefilter("ignore", fs.CoverageWarning)
    t_start = time.perf_counter()
    store, layout, root = open_store(args)
    entity = pl.read_parquet(root / "entities.parquet")
    timers = Timers()
    fs_retrieval.run_query = timers.wrap("query", fs_retrieval.run_query)
    fs_retrieval.frame_hash = timers.wrap("hash", fs_retrieval.frame_hash)
    con = duckdb.connect()
    ok = True
    print(
        f"\n{os.cpu_count()} cores, Python {platform.python_version()}, polars {pl.__version__}, "
        f"duckdb {duckdb.__version__}; {args.keys:,} keys x {args.rows_per_key} rows, "
        f"{args.entity_rows:,} entity rows, TTL {args.ttl_days or 'none'} days; "
        f"load average {_load()}"
    )
    for variant in args.variants:
        results: dict[int, dict[str, Any]] = {}
        for width in sorted(args.widths):
            views = layout[f"{variant}/{width}"]
            refs = [f"{name}:{f}" for name, feats in views for f in feats]
            sql = hand_sql(
                [(name, feats, offline_files(store, name)) for name, feats in views], args.ttl_days
            )

            def featstore_run(refs: list[str] = refs) -> pl.DataFrame:
                return store.get_historical_features(entity, features=refs).frame

            def hand_run(sql: str = sql) -> pl.DataFrame:
                return run_hand(con, entity, sql)

            if width == min(args.widths):
                same = featstore_run().equals(hand_run())
                ok &= same
                print(f"{variant}/{width}: featstore and hand-written frames equal: {same}")
            results[width] = {
                "featstore": measure(featstore_run, args.repeat, timers),
                "hand": measure(hand_run, args.repeat, Timers()),
            }
            r = results[width]
            print(
                f"{variant}/{width}: featstore {r['featstore']['seconds']:.2f}s, "
                f"hand-written {r['hand']['seconds']:.2f}s",
                flush=True,
            )
        print_table(variant, args.views, results)
    print(f"\ntotal {time.perf_counter() - t_start:.0f}s; load average {_load()}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
