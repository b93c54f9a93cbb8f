"""Point-in-time join benchmark: featstore vs. hand-written DuckDB and Polars.

This is a benchmark script, not a test. It

1. generates synthetic feature data (cached in ``--workdir``, keyed by scale):
   ``--views`` directories of month- (or day-) partitioned Parquet files with raw rows
   ``customer_id, ts, created, v<i>_f0, v<i>_f1, v<i>_f2``, about 1% of them sharing
   ``(customer_id, ts)`` with another row (ties), plus one ``entities.parquet`` file
   with ``customer_id, event_timestamp, label`` in random order (about 1% of its rows
   sit exactly on a feature timestamp of view 0, to exercise the ``<=`` boundary);
2. times every method ``--repeat`` times, each run in a fresh subprocess, and reports the
   median wall time plus the subprocess's resident memory after imports and its peak
   (``VmHWM``);
3. prints a table, writes JSON (``--out``), and checks on a sample of entity rows that
   every method returns the same features as ``duckdb_asof``.

Every method's timed region starts from the same ``entities.parquet`` file and ends with
a fully materialized ``pyarrow.Table`` holding the entity rows in their original order
plus all feature columns. Imports and connection/store setup are not timed. Before the
first run every data file is read once, so all methods start with a warm OS page cache.

Methods:

* ``duckdb_asof``: chained ``ASOF LEFT JOIN read_parquet(...)`` per view, ordered back
  to entity file order; the reference for ratios and for the correctness check.
* ``duckdb_asof_unordered``: the same query without the ``ORDER BY`` (output order is
  arbitrary).
* ``polars_join_asof``: lazy Polars, ``join_asof(by="customer_id", strategy="backward")``
  chained per view, ordered back to entity file order.
* ``featstore``: ``FeatureStore.get_historical_features`` on a store materialized once
  in the workdir (materialization is timed separately, once, and cached).
* ``featstore_spark``, ``featstore_spark_local1``: the same call on the same store with
  the Spark engine (``featstore[spark]``, Java 17) in local mode on two cores and on one
  (docs/spark.md). The session starts before the timed region; its first jobs are timed.
  Spark methods also time materializing a second store with the Spark engine, once.

Peak memory is the whole process tree's: the worker's peak resident set plus each child
process's (Spark's JVM and its Python workers), an upper bound of the tree's peak at
any one moment.

Raw ASOF joins pick an arbitrary row among ties on ``(customer_id, ts)``; featstore
breaks them with ``created``. The check therefore counts mismatches separately for rows
whose matched feature row is tied in some view; only mismatches on untied rows fail.

Run ``python benchmarks/pit_join.py --help`` for the options.
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
N_FEATURES = 3
TIE_FRACTION = 0.01
BOUNDARY_FRACTION = 0.01
REFERENCE = "duckdb_asof"


@dataclass(frozen=True)
class Dataset:
    """Paths and schema of one generated dataset (loaded from its ``meta.json``)."""

    root: Path
    entity_rows: int
    views: int
    days: int

    @property
    def entities(self) -> Path:
        return self.root / "entities.parquet"

    @property
    def store_dir(self) -> Path:
        return self.root / "featstore_store"

    @property
    def materialize_stats(self) -> Path:
        return self.root / "featstore_materialize.json"

    @property
    def start(self) -> datetime:
        return START

    @property
    def end(self) -> datetime:
        return START + timedelta(days=self.days)

    def view_name(self, i: int) -> str:
        return f"v{i}"

    def view_glob(self, i: int) -> str:
        return str(self.root / f"view{i}" / "*.parquet")

    def features(self, i: int) -> list[str]:
        return [f"v{i}_f{j}" for j in range(N_FEATURES)]

    def all_features(self) -> list[str]:
        return [f for i in range(self.views) for f in self.features(i)]

    @classmethod
    def load(cls, root: Path) -> Dataset:
        meta = json.loads((root / "meta.json").read_text())
        return cls(root, entity_rows=meta["entities"], views=meta["views"], days=meta["days"])


# --------------------------------------------------------------------------- generation


def dataset_dir(args: argparse.Namespace) -> Path:
    """Cache directory for the data at this scale."""
    key = (
        f"data_v{DATA_VERSION}_e{args.entities}_f{args.feature_rows}_n{args.views}"
        f"_k{args.keys}_d{args.days}_{args.partition}_s{args.seed}"
    )
    return Path(args.workdir) / key


def _write_partitioned(columns: dict[str, Any], ts_name: str, unit: str, out_dir: Path) -> None:
    """Write ts-sorted numpy columns as one Parquet file per day (unit D) or month (M)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    out_dir.mkdir(parents=True)
    keys, starts = np.unique(columns[ts_name].astype(f"datetime64[{unit}]"), return_index=True)
    table = pa.table(columns)
    bounds = [*starts.tolist(), table.num_rows]
    for key, lo, hi in zip(keys, bounds[:-1], bounds[1:], strict=True):
        pq.write_table(table.slice(lo, hi - lo), out_dir / f"{key}.parquet")


def _generate_view(rng: Any, args: argparse.Namespace, i: int, out_dir: Path) -> tuple[Any, Any]:
    """Write one view's raw rows; return its (customer_id, ts) arrays for boundary entities."""
    import numpy as np

    n = args.feature_rows
    n_ties = int(n * TIE_FRACTION)
    span_us = args.days * 86_400_000_000
    cust = rng.integers(0, args.keys, n - n_ties)
    offs = rng.integers(0, span_us, n - n_ties)
    tie_src = rng.integers(0, n - n_ties, n_ties)
    cust = np.concatenate([cust, cust[tie_src]])
    offs = np.concatenate([offs, offs[tie_src]])
    order = np.argsort(offs, kind="stable")
    cust, offs = cust[order], offs[order]
    ts = np.datetime64(START, "us") + offs.astype("timedelta64[us]")
    created = ts + rng.integers(1_000_000, 600_000_000, n).astype("timedelta64[us]")
    columns = {
        "customer_id": cust,
        "ts": ts,
        "created": created,
        f"v{i}_f0": rng.standard_normal(n),
        f"v{i}_f1": rng.random(n) * 100.0,
        f"v{i}_f2": rng.integers(0, 1_000, n),
    }
    _write_partitioned(columns, "ts", "M" if args.partition == "month" else "D", out_dir)
    return cust, ts


def _generate_entities(rng: Any, args: argparse.Namespace, v0: tuple[Any, Any], path: Path) -> None:
    """Write the entity frame; a few rows copy (customer_id, ts) of a view-0 feature row."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = args.entities
    cust = rng.integers(0, args.keys, n)
    ts = np.datetime64(START, "us") + rng.integers(0, args.days * 86_400_000_000, n).astype(
        "timedelta64[us]"
    )
    n_boundary = int(n * BOUNDARY_FRACTION)
    if n_boundary and len(v0[0]):
        rows = rng.choice(n, n_boundary, replace=False)
        src = rng.integers(0, len(v0[0]), n_boundary)
        cust[rows], ts[rows] = v0[0][src], v0[1][src]
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
    v0: tuple[Any, Any] = (np.empty(0), np.empty(0))
    for i in range(args.views):
        keys_ts = _generate_view(rng, args, i, tmp / f"view{i}")
        if i == 0:
            v0 = keys_ts
    _generate_entities(rng, args, v0, tmp / "entities.parquet")
    meta = {k: getattr(args, k) for k in ("entities", "feature_rows", "views", "keys", "days")}
    (tmp / "meta.json").write_text(json.dumps({**meta, "seed": args.seed}, indent=2))
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
# Each method is (setup, run): setup(data) does imports and opens connections/stores
# (not timed); run(ctx, data, entity_path) returns a materialized pyarrow.Table.


def duckdb_setup(data: Dataset) -> Any:
    import duckdb

    return duckdb.connect()


def duckdb_asof_sql(data: Dataset, entity_path: Path, ordered: bool) -> str:
    """The hand-written chained ASOF query; ``e.*`` passes any extra entity columns through."""
    feats = ", ".join(f"v{i}.{f}" for i in range(data.views) for f in data.features(i))
    joins = "\n".join(
        f"ASOF LEFT JOIN read_parquet('{data.view_glob(i)}') v{i}\n"
        f"  ON e.customer_id = v{i}.customer_id AND e.event_timestamp >= v{i}.ts"
        for i in range(data.views)
    )
    order = "ORDER BY e.file_row_number" if ordered else ""
    return (
        f"SELECT e.* EXCLUDE (file_row_number), {feats}\n"
        f"FROM read_parquet('{entity_path}', file_row_number = true) e\n{joins}\n{order}"
    )


def duckdb_asof(con: Any, data: Dataset, entity_path: Path) -> Any:
    return con.sql(duckdb_asof_sql(data, entity_path, ordered=True)).to_arrow_table()


def duckdb_asof_unordered(con: Any, data: Dataset, entity_path: Path) -> Any:
    return con.sql(duckdb_asof_sql(data, entity_path, ordered=False)).to_arrow_table()


def polars_setup(data: Dataset) -> Any:
    import polars

    return polars


def polars_join_asof(pl: Any, data: Dataset, entity_path: Path) -> Any:
    lf = pl.scan_parquet(entity_path).with_row_index("_row_nr").sort("event_timestamp")
    for i in range(data.views):
        feats = pl.scan_parquet(data.view_glob(i)).select("customer_id", "ts", *data.features(i))
        lf = lf.join_asof(
            feats.sort("ts"),
            left_on="event_timestamp",
            right_on="ts",
            by="customer_id",
            strategy="backward",
            check_sortedness=False,  # both sides are sorted just above
        ).drop("ts")
    return lf.sort("_row_nr").drop("_row_nr").collect().to_arrow()


def featstore_available() -> str | None:
    """None if featstore is importable and has FeatureStore, else the reason it is not."""
    try:
        import featstore
    except Exception as exc:
        return f"import featstore failed: {exc!r}"
    if not hasattr(featstore, "FeatureStore"):
        return "featstore has no FeatureStore yet"
    return None


def featstore_definitions(data: Dataset) -> list[Any]:
    import featstore as fs

    customer = fs.Entity("customer", join_keys=["customer_id"])
    objects: list[Any] = [customer]
    for i in range(data.views):
        src = fs.ParquetSource(
            f"v{i}_src",
            path=data.view_glob(i),
            timestamp_column="ts",
            created_timestamp_column="created",
        )
        view = fs.FeatureView(
            data.view_name(i), entity=customer, source=src, features=data.features(i)
        )
        objects += [src, view]
    return objects


def featstore_setup(data: Dataset) -> Any:
    import featstore as fs

    # FEATSTORE_BENCH_MEMORY_LIMIT (e.g. 6GB): the store's DuckDB memory_limit
    limit = os.environ.get("FEATSTORE_BENCH_MEMORY_LIMIT")
    store = fs.FeatureStore(str(data.store_dir), **({"memory_limit": limit} if limit else {}))
    store.apply(featstore_definitions(data))
    return store


def featstore_materialize(store: Any, data: Dataset, entity_path: Path) -> Any:
    return store.materialize(data.start, data.end)


def featstore_retrieve(store: Any, data: Dataset, entity_path: Path) -> Any:
    import polars as pl

    refs = [f"{data.view_name(i)}:{f}" for i in range(data.views) for f in data.features(i)]
    entity_df = pl.read_parquet(entity_path)
    return store.get_historical_features(entity_df, features=refs).to_arrow()


def spark_setup(data: Dataset, cores: int, store_dir: Path | None = None) -> Any:
    import featstore as fs
    from featstore.engine.spark import SparkEngine, local_session

    spark = local_session(
        f"local[{cores}]",
        conf={"spark.driver.memory": os.environ.get("FEATSTORE_BENCH_SPARK_MEMORY", "8g")},
    )
    store = fs.FeatureStore(str(store_dir or data.store_dir), engine=SparkEngine(spark))
    store.apply(featstore_definitions(data))
    return store


def spark_store_dir(data: Dataset) -> Path:
    return data.root / "featstore_store_spark"


METHODS: dict[str, tuple[Callable[[Dataset], Any], Callable[[Any, Dataset, Path], Any]]] = {
    "duckdb_asof": (duckdb_setup, duckdb_asof),
    "duckdb_asof_unordered": (duckdb_setup, duckdb_asof_unordered),
    "polars_join_asof": (polars_setup, polars_join_asof),
    "featstore": (featstore_setup, featstore_retrieve),
    "featstore_spark": (lambda data: spark_setup(data, 2), featstore_retrieve),
    "featstore_spark_local1": (lambda data: spark_setup(data, 1), featstore_retrieve),
}
SPARK_METHODS = ("featstore_spark", "featstore_spark_local1")
WORKER_TASKS = {
    **METHODS,
    "featstore_materialize": (featstore_setup, featstore_materialize),
    "featstore_materialize_spark": (
        lambda data: spark_setup(data, 2, spark_store_dir(data)),
        featstore_materialize,
    ),
}


# --------------------------------------------------------------------------- worker


def _proc_status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def _tree_peak_mb() -> float:
    """This process's peak resident set plus its descendants' (Spark's JVM, its Python
    workers), read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    total, todo = _proc_status_mb("VmHWM"), list(children.get(os.getpid(), []))
    while todo:
        pid = todo.pop()
        todo += children.get(pid, [])
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1]) / 1024
        except OSError:
            continue
    return total


def worker(task: str, data_root: Path, result_file: Path) -> None:
    """Run one task once in this (fresh) process and write its numbers to ``result_file``."""
    data = Dataset.load(data_root)
    setup, run = WORKER_TASKS[task]
    ctx = setup(data)
    baseline = _proc_status_mb("VmRSS")
    t0 = time.perf_counter()
    result = run(ctx, data, data.entities)
    seconds = time.perf_counter() - t0
    rows = getattr(result, "num_rows", None)
    stats = {
        "seconds": seconds,
        "rows": rows,
        "baseline_rss_mb": baseline,
        "peak_rss_mb": _tree_peak_mb(),
    }
    result_file.write_text(json.dumps(stats))
    os._exit(0)  # a Spark session's JVM would otherwise take seconds to stop


def run_worker(task: str, data: Dataset) -> dict[str, Any]:
    """Run ``task`` in a fresh interpreter and return its measurements."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        cmd = [sys.executable, __file__, "--worker", task, "--data-dir", str(data.root)]
        proc = subprocess.run([*cmd, "--result-file", str(out)], check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"{task} worker failed with exit code {proc.returncode}")
        stats: dict[str, Any] = json.loads(out.read_text())
    return stats


# --------------------------------------------------------------------------- orchestration


def ensure_materialized(data: Dataset, rematerialize: bool) -> dict[str, Any]:
    """Materialize the featstore store once (in a subprocess) and cache it with its timing."""
    marker = data.materialize_stats
    if marker.exists() and not rematerialize:
        print(f"using cached featstore store in {data.store_dir}")
        return {**json.loads(marker.read_text()), "cached": True}
    marker.unlink(missing_ok=True)
    shutil.rmtree(data.store_dir, ignore_errors=True)
    print("materializing featstore store ...", flush=True)
    stats = run_worker("featstore_materialize", data)
    stats.pop("rows")
    marker.write_text(json.dumps(stats, indent=2))
    print(f"materialized in {stats['seconds']:.2f}s, peak RSS {stats['peak_rss_mb']:.0f} MB")
    return {**stats, "cached": False}


def time_methods(data: Dataset, methods: list[str], repeat: int) -> dict[str, dict[str, Any]]:
    """Run every method ``repeat`` times, round-robin, each run in a fresh subprocess."""
    runs: dict[str, list[dict[str, Any]]] = {m: [] for m in methods}
    for r in range(repeat):
        for m in methods:
            stats = run_worker(m, data)
            if stats["rows"] != data.entity_rows:
                raise RuntimeError(f"{m} returned {stats['rows']} rows, not {data.entity_rows}")
            print(
                f"  [{r + 1}/{repeat}] {m:<22} {stats['seconds']:8.3f}s "
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


def tied_rows(con: Any, data: Dataset, entity_path: Path) -> set[int]:
    """row_ids whose ASOF-matched feature row shares (customer_id, ts) with another row."""
    tied: set[int] = set()
    for i in range(data.views):
        view = f"read_parquet('{data.view_glob(i)}')"
        rows = con.sql(
            f"""
            WITH dup AS (
                SELECT customer_id, ts FROM {view} GROUP BY ALL HAVING count(*) > 1
            ), m AS (
                SELECT e.row_id, v.customer_id, v.ts
                FROM read_parquet('{entity_path}') e
                ASOF LEFT JOIN {view} v
                  ON e.customer_id = v.customer_id AND e.event_timestamp >= v.ts
            )
            SELECT m.row_id FROM m JOIN dup USING (customer_id, ts)
            """
        ).fetchall()
        tied.update(r[0] for r in rows)
    return tied


def exact_reference(con: Any, data: Dataset, entity_path: Path) -> Any:
    """Deterministic point-in-time result for a small entity sample, by brute force.

    Per entity row and view: the feature row with the latest ``ts <= event_timestamp``,
    ties broken by the latest ``created`` (the usual feature-store semantics).
    """
    import polars as pl

    result = pl.read_parquet(entity_path).select("row_id")
    for i in range(data.views):
        feats = ", ".join(data.features(i))
        view = con.sql(
            f"""
            SELECT e.row_id, {feats}
            FROM read_parquet('{entity_path}') e
            JOIN read_parquet('{data.view_glob(i)}') v
              ON v.customer_id = e.customer_id AND v.ts <= e.event_timestamp
            QUALIFY row_number() OVER (
                PARTITION BY e.row_id ORDER BY v.ts DESC, v.created DESC) = 1
            """
        ).pl()
        result = result.join(view, on="row_id", how="left")
    return result


def check_agreement(
    data: Dataset, methods: list[str], sample: int, seed: int, workdir: Path
) -> dict[str, Any]:
    """Compare every method with duckdb_asof and the exact reference on sampled entity rows."""
    import polars as pl

    entities = pl.read_parquet(data.entities)
    n = min(sample, entities.height)
    sampled = entities.with_row_index("row_id").sample(n, seed=seed, shuffle=True)
    features = data.all_features()
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        path = Path(tmp) / "sample_entities.parquet"
        sampled.write_parquet(path)
        con = duckdb_setup(data)
        tied = tied_rows(con, data, path)
        exact = exact_reference(con, data, path)
        asof = pl.from_arrow(duckdb_asof(con, data, path))
        report: dict[str, Any] = {"sample_rows": n, "rows_with_tied_match": len(tied)}
        for m in methods:
            if m == REFERENCE:
                got = asof
            else:
                setup, run = METHODS[m]
                got = pl.from_arrow(run(setup(data), data, path))
            report[m] = compare(got, asof, exact, features, tied, sampled["row_id"].to_list())
    return report


def _mismatched_rows(got: Any, ref: Any, features: list[str]) -> list[int]:
    import polars as pl

    joined = ref.select("row_id", *features).join(
        got.select("row_id", *features), on="row_id", how="left", suffix="_got"
    )
    differs = pl.any_horizontal(~pl.col(f).eq_missing(pl.col(f + "_got")) for f in features)
    bad: list[int] = joined.filter(differs)["row_id"].to_list()
    return bad


def compare(
    got: Any, asof: Any, exact: Any, features: list[str], tied: set[int], order: list[int]
) -> dict[str, Any]:
    """How ``got`` differs from duckdb_asof and from the exact reference.

    ``ok`` means: right rows, and no difference from duckdb_asof except on rows whose
    matched feature row is tied (where duckdb_asof's pick is arbitrary).
    """
    missing = [c for c in ["row_id", *features] if c not in got.columns]
    if missing:
        return {"ok": False, "error": f"missing columns {missing}"}
    if sorted(got["row_id"].to_list()) != sorted(order):
        return {"ok": False, "error": f"returned {got.height} rows, not the {len(order)} given"}
    vs_asof = _mismatched_rows(got, asof, features)
    untied = [r for r in vs_asof if r not in tied]
    return {
        "ok": not untied,
        "order_preserved": got["row_id"].to_list() == order,
        "mismatches_vs_duckdb_asof": len(vs_asof),
        "of_which_on_tied_rows": len(vs_asof) - len(untied),
        "mismatches_vs_exact": len(_mismatched_rows(got, exact, features)),
        "untied_mismatch_row_ids": untied[:20],
    }


def add_ratios(results: dict[str, dict[str, Any]]) -> None:
    """Add time and peak-memory ratios to the reference method to every timed result."""
    ref = results[REFERENCE]
    for r in results.values():
        if "skipped" not in r:
            r["ratio_seconds"] = r["median_seconds"] / ref["median_seconds"]
            r["ratio_peak_rss"] = r["peak_rss_mb"] / ref["peak_rss_mb"]


def print_table(results: dict[str, dict[str, Any]]) -> None:
    header = (
        f"{'method':<22} {'median s':>9} {'x ' + REFERENCE:>15} {'base MB':>8} "
        f"{'peak MB':>8} {'x peak':>7}"
    )
    print(header)
    print("-" * len(header))
    for m, r in results.items():
        if "skipped" in r:
            print(f"{m:<22} skipped: {r['skipped']}")
            continue
        print(
            f"{m:<22} {r['median_seconds']:9.3f} {r['ratio_seconds']:15.2f} "
            f"{r['baseline_rss_mb']:8.0f} {r['peak_rss_mb']:8.0f} {r['ratio_peak_rss']:7.2f}"
        )


def environment() -> dict[str, Any]:
    import duckdb
    import polars as pl
    import pyarrow as pa

    env = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "duckdb": duckdb.__version__,
        "polars": pl.__version__,
        "pyarrow": pa.__version__,
        "featstore": None,
    }
    if featstore_available() is None:
        import featstore

        env["featstore"] = featstore.__version__
    return env


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument("--entities", type=int, default=1_000_000, help="entity (label) rows")
    p.add_argument("--feature-rows", type=int, default=10_000_000, help="raw rows per view")
    p.add_argument("--views", type=int, default=3, help="feature views")
    p.add_argument("--keys", type=int, default=100_000, help="distinct customer ids")
    p.add_argument("--days", type=int, default=365, help="time span of the data")
    p.add_argument(
        "--partition",
        choices=["month", "day"],
        default="month",
        help="one Parquet file per month or per day of feature data",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--repeat", type=int, default=3, help="timed runs per method")
    p.add_argument(
        "--methods",
        nargs="+",
        choices=list(METHODS),
        default=[m for m in METHODS if m not in SPARK_METHODS],
        help="methods to time (the Spark ones need featstore[spark] and Java)",
    )
    p.add_argument(
        "--workdir",
        default=os.path.join(tempfile.gettempdir(), "featstore-bench"),
        help="where generated data and the materialized store are cached",
    )
    p.add_argument("--out", help="JSON results file (default: <workdir>/results.json)")
    p.add_argument(
        "--check-rows",
        type=int,
        default=1_000,
        help="entity rows sampled for the agreement check (0 disables it)",
    )
    p.add_argument(
        "--rematerialize",
        action="store_true",
        help="discard the cached featstore store and materialize again",
    )
    p.add_argument("--worker", choices=list(WORKER_TASKS), help=argparse.SUPPRESS)
    p.add_argument("--data-dir", help=argparse.SUPPRESS)
    p.add_argument("--result-file", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if REFERENCE not in args.methods:
        args.methods.insert(0, REFERENCE)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        worker(args.worker, Path(args.data_dir), Path(args.result_file))
        return 0
    data = ensure_dataset(args)
    warm_page_cache(data)
    methods = list(args.methods)
    results: dict[str, dict[str, Any]] = {}
    materialization = None
    if "featstore" in methods:
        reason = featstore_available()
        if reason:
            methods.remove("featstore")
            results["featstore"] = {"skipped": reason}
        else:
            materialization = ensure_materialized(data, args.rematerialize)
    spark_materialization = None
    if any(m in methods for m in SPARK_METHODS):
        if "featstore" not in methods:
            ensure_materialized(data, args.rematerialize)
        shutil.rmtree(spark_store_dir(data), ignore_errors=True)
        print("materializing a second store with the Spark engine ...", flush=True)
        spark_materialization = run_worker("featstore_materialize_spark", data)
        spark_materialization.pop("rows")
        shutil.rmtree(spark_store_dir(data), ignore_errors=True)
    print(f"timing {', '.join(methods)} ({args.repeat} runs each, fresh process per run)")
    results = {**time_methods(data, methods, args.repeat), **results}
    check = None
    if args.check_rows:
        check = check_agreement(data, methods, args.check_rows, args.seed, Path(args.workdir))
    add_ratios(results)
    print()
    print_table(results)
    if materialization:
        print(
            f"\nfeatstore materialization: {materialization['seconds']:.2f}s, "
            f"peak RSS {materialization['peak_rss_mb']:.0f} MB"
            + (" (cached from an earlier run)" if materialization["cached"] else "")
        )
    if spark_materialization:
        print(
            f"featstore materialization on Spark (local[2]): "
            f"{spark_materialization['seconds']:.2f}s, peak RSS "
            f"{spark_materialization['peak_rss_mb']:.0f} MB (JVM included)"
        )
    if check:
        print(
            f"\nagreement on {check['sample_rows']} sampled entity rows "
            f"({check['rows_with_tied_match']} with a tied match in some view); "
            f"exact = latest ts, then latest created:"
        )
        for m in methods:
            print(f"  {m:<22} {json.dumps(check[m])}")
    report = {
        "config": {
            k: v for k, v in vars(args).items() if k not in ("worker", "data_dir", "result_file")
        },
        "data_dir": str(data.root),
        "environment": environment(),
        "results": results,
        "featstore_materialization": materialization,
        "featstore_materialization_spark": spark_materialization,
        "agreement": check,
    }
    out = Path(args.out or Path(args.workdir) / "results.json")
    out.write_text(json.dumps(report, indent=2, default=str))
    print(f"\nwrote {out}")
    failed = check and any(not check[m]["ok"] for m in methods)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
