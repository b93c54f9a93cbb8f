"""Drift detection benchmark: featstore vs. Evidently and a hand-written numpy/scipy pass.

This is a benchmark script, not a test. It

1. generates a reference and a current frame (cached in ``--workdir``, keyed by scale):
   ``ref.parquet`` and ``cur.parquet``, ``--rows`` rows each, 20 features: 14 numeric
   (float64: normal, lognormal, uniform and integer-valued counts, 7 of them with 1-5%
   nulls) and 6 categorical (strings, 5 to 200 categories with Zipf-like frequencies,
   one with nulls). 7 features of the current frame drift (mean shift, scale change,
   categories the reference lacks, changed category frequencies); the other 13 are drawn
   from the same distribution on both sides;
2. times every method ``--repeat`` times, each run in a fresh subprocess, and reports the
   median wall time (and process CPU time) plus the subprocess's resident memory after
   imports and setup and its peak (``VmHWM``);
3. prints a table, writes JSON (``--out``), and compares featstore's per-feature
   distances with the numpy method's, and every method's drift verdicts with the numpy
   method's and with the injected drift. Nothing fails on a difference: it is reported.

Every method's timed region starts by reading ``ref.parquet`` and ``cur.parquet`` and
ends with the per-feature result table in memory (one row per feature). Imports and
setup (Evidently's ``Report`` and ``DataDefinition``, featstore's ``FeatureStore(...)``
on an empty temporary directory) are not timed. Before the first run both files are read
once, so all methods start with a warm OS page cache.

Methods:

* ``numpy``: ``pyarrow.parquet.read_table``, then per numeric feature PSI on the
  reference's deciles, ``scipy.stats.ks_2samp``, ``scipy.stats.wasserstein_distance``
  divided by the reference's standard deviation and the null-rate change; per categorical
  feature the aligned value counts, PSI, ``scipy.spatial.distance.jensenshannon`` (base 2),
  ``scipy.stats.chi2_contingency(correction=False)`` and the null-rate change. The
  reference for ratios and for the agreement check.
* ``evidently``: Evidently's ``DataDriftPreset`` on pandas frames from
  ``pandas.read_parquet``, with the numeric and categorical columns declared in a
  ``DataDefinition``; the per-column drift scores and verdicts are read from the snapshot.
  It runs with the python of a separate virtualenv (``--evidently-venv``), which the
  script creates on first use with the pinned ``EVIDENTLY_REQUIREMENTS``. Skipped by
  default above ``EVIDENTLY_DEFAULT_MAX_ROWS`` rows (name it in ``--methods`` to run it).
* ``featstore``: ``store.drift(pl.read_parquet(ref), pl.read_parquet(cur)).to_polars()``.
* ``featstore_lazy``: the same with ``pl.scan_parquet`` on both sides.

A method that fails (for example while ``FeatureStore.drift`` does not exist yet) is
reported as failed with its error; the other methods still run, and the script exits 1.

Run ``python benchmarks/drift.py --help`` for the options.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

# Benchmark this checkout's featstore (workers inherit it through this file's path).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DATA_VERSION = 1  # bump when the generator changes, to invalidate cached data
CHUNK_ROWS = 1_000_000  # rows generated at a time, and Parquet row-group size
REFERENCE = "numpy"

# Evidently runs in its own virtualenv, outside the repository. pandas 3 removed
# pandas.core.dtypes.common.infer_dtype_from_object, which evidently 0.7.23 imports.
EVIDENTLY_VERSION = "0.7.23"
EVIDENTLY_REQUIREMENTS = (f"evidently=={EVIDENTLY_VERSION}", "pandas==2.3.3")
EVIDENTLY_VENV = os.path.join(tempfile.gettempdir(), "featstore-bench-evidently", "venv")
EVIDENTLY_DEFAULT_MAX_ROWS = 1_000_000

# The numpy method's verdict: p-values are not used, because at 1M rows every
# difference is significant.
PSI_THRESHOLD = 0.1
WASSERSTEIN_THRESHOLD = 0.1  # normalized by the reference's standard deviation
JS_THRESHOLD = 0.1  # Jensen-Shannon distance, base 2
PSI_EPS = 1e-4  # floor of each bin's share in PSI

METRICS = ("psi", "jensen_shannon", "ks", "wasserstein", "chi2_pvalue", "null_rate_change")
NUMERIC, CATEGORICAL = "numeric", "categorical"


@dataclass(frozen=True)
class Feature:
    """One generated feature: its distribution on each side and its null fraction."""

    name: str
    kind: str  # numeric or categorical
    shape: str  # normal, lognormal, uniform, poisson, negbin, zipf
    ref: tuple[float, ...]  # the distribution's parameters in the reference
    cur: tuple[float, ...]  # ... and in the current frame (equal: no drift)
    null_fraction: float = 0.0
    drift: str | None = None  # what changes, None when both sides are the same


# zipf parameters: (categories, exponent, new categories in cur, their share of cur,
# swap rank pairs as a flat tuple a0, b0, a1, b1, ...)
FEATURES: tuple[Feature, ...] = (
    Feature("n00_normal", NUMERIC, "normal", (50.0, 10.0), (50.0, 10.0)),
    Feature("n01_normal_shift", NUMERIC, "normal", (0.0, 1.0), (0.3, 1.0), 0.02, "mean +0.3 sd"),
    Feature("n02_normal_scale", NUMERIC, "normal", (100.0, 15.0), (100.0, 22.5), 0.0, "sd x1.5"),
    Feature("n03_normal_nulls", NUMERIC, "normal", (-5.0, 2.0), (-5.0, 2.0), 0.05),
    Feature("n04_lognormal", NUMERIC, "lognormal", (3.0, 0.5), (3.0, 0.5)),
    Feature(
        "n05_lognormal_shift", NUMERIC, "lognormal", (1.0, 1.0), (1.3, 1.0), 0.01, "log-mean +0.3"
    ),
    Feature("n06_lognormal_nulls", NUMERIC, "lognormal", (0.0, 0.25), (0.0, 0.25), 0.03),
    Feature("n07_uniform", NUMERIC, "uniform", (0.0, 1.0), (0.0, 1.0)),
    Feature("n08_uniform_nulls", NUMERIC, "uniform", (-1000.0, 1000.0), (-1000.0, 1000.0), 0.01),
    Feature("n09_counts", NUMERIC, "poisson", (3.0,), (3.0,)),
    Feature("n10_counts_shift", NUMERIC, "poisson", (4.0,), (5.0,), 0.02, "mean 4 -> 5"),
    Feature("n11_counts_negbin", NUMERIC, "negbin", (2.0, 0.1), (2.0, 0.1)),
    Feature("n12_counts_sparse", NUMERIC, "poisson", (0.5,), (0.5,), 0.04),
    Feature("n13_normal_wide", NUMERIC, "normal", (0.0, 1000.0), (0.0, 1000.0)),
    Feature("c00_k5", CATEGORICAL, "zipf", (5, 1.0, 0, 0.0), (5, 1.0, 0, 0.0)),
    Feature(
        "c01_k20_freq", CATEGORICAL, "zipf", (20, 1.2, 0, 0.0), (20, 0.8, 0, 0.0), 0.0,
        "Zipf exponent 1.2 -> 0.8",
    ),
    Feature("c02_k50", CATEGORICAL, "zipf", (50, 1.1, 0, 0.0), (50, 1.1, 0, 0.0)),
    Feature(
        "c03_k200_new", CATEGORICAL, "zipf", (200, 1.0, 0, 0.0), (200, 1.0, 10, 0.05), 0.0,
        "10 new categories, 5% of rows",
    ),
    Feature("c04_k100_nulls", CATEGORICAL, "zipf", (100, 1.1, 0, 0.0), (100, 1.1, 0, 0.0), 0.02),
    Feature(
        "c05_k12_swap", CATEGORICAL, "zipf", (12, 1.0, 0, 0.0), (12, 1.0, 0, 0.0, 0, 3, 1, 5),
        0.0, "frequencies of ranks 1<->4 and 2<->6 swapped",
    ),
)  # fmt: skip


def numeric_features() -> list[str]:
    return [f.name for f in FEATURES if f.kind == NUMERIC]


def categorical_features() -> list[str]:
    return [f.name for f in FEATURES if f.kind == CATEGORICAL]


def drifted_features() -> list[str]:
    return [f.name for f in FEATURES if f.drift]


@dataclass(frozen=True)
class Dataset:
    """Paths of one generated dataset (loaded from its ``meta.json``)."""

    root: Path
    rows: int

    @property
    def ref(self) -> Path:
        return self.root / "ref.parquet"

    @property
    def cur(self) -> Path:
        return self.root / "cur.parquet"

    @classmethod
    def load(cls, root: Path) -> Dataset:
        meta = json.loads((root / "meta.json").read_text())
        return cls(root, rows=meta["rows"])


# --------------------------------------------------------------------------- generation


def dataset_dir(args: argparse.Namespace) -> Path:
    """Cache directory for the data at this scale."""
    return Path(args.workdir) / f"drift_v{DATA_VERSION}_r{args.rows}_s{args.seed}"


def _zipf_probabilities(params: tuple[float, ...]) -> tuple[Any, list[str]]:
    """Category probabilities and labels for zipf parameters (see ``FEATURES``)."""
    import numpy as np

    k, exponent, new, new_share = int(params[0]), params[1], int(params[2]), params[3]
    p = 1.0 / np.arange(1, k + 1) ** exponent
    p /= p.sum()
    swaps = params[4:]
    for a, b in zip(swaps[::2], swaps[1::2], strict=True):
        p[[int(a), int(b)]] = p[[int(b), int(a)]]
    labels = [f"v{i:03d}" for i in range(k)]
    if new:
        p = np.concatenate([p * (1.0 - new_share), np.full(new, new_share / new)])
        labels += [f"new{i:03d}" for i in range(new)]
    return p, labels


def _column(rng: Any, feature: Feature, side: str, n: int) -> Any:
    """``n`` values of ``feature`` on one side as a pyarrow array (with real nulls)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    params = feature.ref if side == "ref" else feature.cur
    mask = rng.random(n) < feature.null_fraction if feature.null_fraction else None
    if feature.shape == "zipf":
        p, labels = _zipf_probabilities(params)
        # each side labels its categories by rank; prefix with the feature's short name
        prefix = feature.name.split("_")[0] + "_"
        codes = rng.choice(len(p), size=n, p=p)
        return pc.take(pa.array([prefix + s for s in labels]), pa.array(codes, mask=mask))
    if feature.shape == "normal":
        values = rng.normal(params[0], params[1], n)
    elif feature.shape == "lognormal":
        values = rng.lognormal(params[0], params[1], n)
    elif feature.shape == "uniform":
        values = rng.uniform(params[0], params[1], n)
    elif feature.shape == "poisson":
        values = rng.poisson(params[0], n).astype(np.float64)
    elif feature.shape == "negbin":
        values = rng.negative_binomial(params[0], params[1], n).astype(np.float64)
    else:
        raise ValueError(f"unknown shape {feature.shape!r}")
    return pa.array(values, type=pa.float64(), mask=mask)


def _write_side(seed: int, side: str, rows: int, path: Path) -> None:
    """Write one frame in row groups of ``CHUNK_ROWS`` rows, features in random row order."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng([seed, 0 if side == "ref" else 1])
    schema = pa.schema(
        [(f.name, pa.float64() if f.kind == NUMERIC else pa.string()) for f in FEATURES]
    )
    with pq.ParquetWriter(path, schema) as writer:
        for lo in range(0, rows, CHUNK_ROWS):
            n = min(CHUNK_ROWS, rows - lo)
            columns = [_column(rng, f, side, n) for f in FEATURES]
            writer.write_table(pa.Table.from_arrays(columns, schema=schema))


def ensure_dataset(args: argparse.Namespace) -> Dataset:
    """Generate the dataset unless a complete copy is cached in the workdir."""
    root = dataset_dir(args)
    if (root / "meta.json").exists():
        print(f"using cached data in {root}")
        return Dataset.load(root)
    print(f"generating data in {root} ...", flush=True)
    t0 = time.perf_counter()
    tmp = root.with_name(root.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for side in ("ref", "cur"):
        _write_side(args.seed, side, args.rows, tmp / f"{side}.parquet")
    meta = {"rows": args.rows, "seed": args.seed, "features": [asdict(f) for f in FEATURES]}
    (tmp / "meta.json").write_text(json.dumps(meta, indent=2))
    tmp.rename(root)
    print(f"generated in {time.perf_counter() - t0:.1f}s", flush=True)
    return Dataset.load(root)


def warm_page_cache(data: Dataset) -> None:
    """Read both data files once so no method pays for cold disk reads."""
    for path in (data.ref, data.cur):
        with path.open("rb") as f:
            while f.read(1 << 24):
                pass


# --------------------------------------------------------------------------- methods
# Each method is (setup, run, records): setup(data) does imports and builds objects (not
# timed); run(ctx, data) reads both files and returns the per-feature result table;
# records(table) turns that table into a list of dicts with a "feature" key (not timed).


def numpy_setup(data: Dataset) -> Any:
    import numpy as np
    import pyarrow.compute as pc
    import pyarrow.parquet as pq
    from scipy import stats
    from scipy.spatial import distance

    return {"np": np, "pc": pc, "pq": pq, "stats": stats, "distance": distance}


def _psi(np: Any, ref_counts: Any, cur_counts: Any) -> float:
    """``sum((q - p) * ln(q / p))`` over bins, each share floored at ``PSI_EPS``."""
    p = np.maximum(ref_counts / ref_counts.sum(), PSI_EPS)
    q = np.maximum(cur_counts / cur_counts.sum(), PSI_EPS)
    return float(np.sum((q - p) * np.log(q / p)))


def _numpy_numeric(m: dict[str, Any], ref_col: Any, cur_col: Any) -> dict[str, Any]:
    np, stats = m["np"], m["stats"]
    ref_all = ref_col.to_numpy()  # nulls become NaN
    cur_all = cur_col.to_numpy()
    ref = ref_all[~np.isnan(ref_all)]
    cur = cur_all[~np.isnan(cur_all)]
    # the reference's 100 quantile bins (inverted CDF: actual values); PSI uses its deciles,
    # bins closed on the right: (-inf, d1], (d1, d2], ..., (d9, inf)
    quantiles = np.quantile(ref, np.linspace(0.0, 1.0, 101), method="inverted_cdf")
    cuts = np.unique(quantiles[10:100:10])
    bins = len(cuts) + 1
    ref_counts = np.bincount(np.searchsorted(cuts, ref, side="left"), minlength=bins)
    cur_counts = np.bincount(np.searchsorted(cuts, cur, side="left"), minlength=bins)
    psi = _psi(np, ref_counts.astype(np.float64), cur_counts.astype(np.float64))
    ks = stats.ks_2samp(ref, cur)
    std = float(ref.std())
    wasserstein = float(stats.wasserstein_distance(ref, cur)) / std if std > 0 else math.nan
    null_change = (len(cur_all) - len(cur)) / len(cur_all) - (len(ref_all) - len(ref)) / len(
        ref_all
    )
    return {
        "kind": NUMERIC,
        "psi": psi,
        "jensen_shannon": None,
        "ks": float(ks.statistic),
        "ks_pvalue": float(ks.pvalue),
        "wasserstein": wasserstein,
        "chi2_pvalue": None,
        "null_rate_change": null_change,
        "drifted": psi >= PSI_THRESHOLD or wasserstein >= WASSERSTEIN_THRESHOLD,
    }


def _numpy_categorical(m: dict[str, Any], ref_col: Any, cur_col: Any) -> dict[str, Any]:
    np, pc, stats, distance = m["np"], m["pc"], m["stats"], m["distance"]

    def counts(col: Any) -> dict[str, int]:
        vc = pc.value_counts(col)
        values, n = vc.field("values"), vc.field("counts")
        return dict(zip(values.to_pylist(), n.to_pylist(), strict=True))

    ref_vc, cur_vc = counts(ref_col), counts(cur_col)
    ref_nulls, cur_nulls = ref_vc.pop(None, 0), cur_vc.pop(None, 0)
    categories = sorted(ref_vc.keys() | cur_vc.keys())
    ref_counts = np.array([ref_vc.get(c, 0) for c in categories], dtype=np.float64)
    cur_counts = np.array([cur_vc.get(c, 0) for c in categories], dtype=np.float64)
    psi = _psi(np, ref_counts, cur_counts)
    js = float(distance.jensenshannon(ref_counts, cur_counts, base=2))  # normalizes itself
    chi2 = stats.chi2_contingency(np.vstack([ref_counts, cur_counts]), correction=False)
    return {
        "kind": CATEGORICAL,
        "psi": psi,
        "jensen_shannon": js,
        "ks": None,
        "ks_pvalue": None,
        "wasserstein": None,
        "chi2_pvalue": float(chi2.pvalue),
        "null_rate_change": cur_nulls / len(cur_col) - ref_nulls / len(ref_col),
        "drifted": psi >= PSI_THRESHOLD or js >= JS_THRESHOLD,
        "new_categories": len(cur_vc.keys() - ref_vc.keys()),
    }


def numpy_run(m: dict[str, Any], data: Dataset) -> list[dict[str, Any]]:
    ref = m["pq"].read_table(data.ref)
    cur = m["pq"].read_table(data.cur)
    table = []
    for name in ref.column_names:
        is_numeric = ref.schema.field(name).type == "double"
        fn = _numpy_numeric if is_numeric else _numpy_categorical
        table.append({"feature": name, **fn(m, ref.column(name), cur.column(name))})
    return table


def numpy_records(table: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return table


def evidently_setup(data: Dataset) -> Any:
    import pandas as pd
    from evidently import DataDefinition, Report
    from evidently import Dataset as EvidentlyDataset
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(
        numerical_columns=numeric_features(), categorical_columns=categorical_features()
    )
    return {
        "pd": pd,
        "Dataset": EvidentlyDataset,
        "definition": definition,
        "report": Report([DataDriftPreset()], include_tests=True),  # tests: verdicts
    }


def evidently_run(e: dict[str, Any], data: Dataset) -> Any:
    pd, ev_dataset, definition = e["pd"], e["Dataset"], e["definition"]
    ref = ev_dataset.from_pandas(pd.read_parquet(data.ref), data_definition=definition)
    cur = ev_dataset.from_pandas(pd.read_parquet(data.cur), data_definition=definition)
    snapshot = e["report"].run(cur, ref)
    # per column: ValueDrift's score with its resolved method and threshold, and the
    # verdict of its test (FAIL: drift detected)
    result = snapshot.dict()
    failed = {
        t["metric_config"]["metric_id"]: t["status"].value == "FAIL"
        for t in result["tests"]
        if t["id"] == "drift"
    }
    rows = [
        {
            "feature": m["config"]["column"],
            "method": m["config"]["method"],
            "threshold": m["config"]["threshold"],
            "score": float(m["value"]),
            "drifted": failed[m["id"]],
        }
        for m in result["metrics"]
        if m["config"]["type"].endswith(":ValueDrift")
    ]
    return pd.DataFrame(rows)


def evidently_records(table: Any) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = table.to_dict(orient="records")
    return records


def featstore_setup(data: Dataset) -> Any:
    import polars as pl

    import featstore as fs

    tmp = tempfile.TemporaryDirectory(prefix="featstore-drift-store-")
    return {"pl": pl, "store": fs.FeatureStore(tmp.name), "tmp": tmp}


def featstore_run(f: dict[str, Any], data: Dataset) -> Any:
    pl = f["pl"]
    report = f["store"].drift(pl.read_parquet(data.ref), pl.read_parquet(data.cur))
    return report.to_polars()


def featstore_lazy_run(f: dict[str, Any], data: Dataset) -> Any:
    pl = f["pl"]
    report = f["store"].drift(pl.scan_parquet(data.ref), pl.scan_parquet(data.cur))
    return report.to_polars()


def featstore_records(table: Any) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = table.to_dicts()
    return records


Method = tuple[Callable[[Dataset], Any], Callable[[Any, Dataset], Any], Callable[[Any], Any]]
METHODS: dict[str, Method] = {
    "numpy": (numpy_setup, numpy_run, numpy_records),
    "evidently": (evidently_setup, evidently_run, evidently_records),
    "featstore": (featstore_setup, featstore_run, featstore_records),
    "featstore_lazy": (featstore_setup, featstore_lazy_run, featstore_records),
}
MODULES = ("numpy", "scipy", "pyarrow", "pandas", "polars", "evidently", "featstore")


# --------------------------------------------------------------------------- worker


def _proc_status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def worker(method: str, data_root: Path, result_file: Path) -> int:
    """Run ``method`` once in this (fresh) process and write its numbers and its
    per-feature table to ``result_file``; on an exception write the error instead."""
    try:
        data = Dataset.load(data_root)
        setup, run, records = METHODS[method]
        ctx = setup(data)
        baseline = _proc_status_mb("VmRSS")
        t0, cpu0 = time.perf_counter(), time.process_time()
        table = run(ctx, data)
        seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - cpu0
        peak = _proc_status_mb("VmHWM")
        rows = records(table)
        if sorted(r["feature"] for r in rows) != sorted(f.name for f in FEATURES):
            raise RuntimeError(f"per-feature table has features {[r['feature'] for r in rows]}")
    except Exception as exc:
        error = "".join(traceback.format_exception_only(exc)).strip()
        result_file.write_text(json.dumps({"error": error, "traceback": traceback.format_exc()}))
        return 1
    versions = {
        m: getattr(sys.modules[m], "__version__", None) for m in MODULES if m in sys.modules
    }
    stats = {
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "baseline_rss_mb": baseline,
        "peak_rss_mb": peak,
        "python": sys.executable,
        "versions": versions,
        "table": rows,
    }
    result_file.write_text(json.dumps(stats, default=str))
    return 0


def run_worker(method: str, data: Dataset, python: str) -> dict[str, Any]:
    """Run ``method`` in a fresh interpreter and return its measurements (or its error)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        cmd = [python, __file__, "--worker", method, "--data-dir", str(data.root)]
        proc = subprocess.run([*cmd, "--result-file", str(out)], check=False)
        if not out.exists():
            return {"error": f"worker exited with code {proc.returncode} and wrote no result"}
        stats: dict[str, Any] = json.loads(out.read_text())
    return stats


# --------------------------------------------------------------------------- evidently venv


def _venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def _installed_versions(python: Path) -> list[str] | None:
    """``name==version`` of each pinned requirement in ``python``'s environment, or None."""
    names = [r.split("==")[0] for r in EVIDENTLY_REQUIREMENTS]
    code = (
        "import importlib.metadata as m, json, sys; "
        "print(json.dumps([n + '==' + m.version(n) for n in sys.argv[1:]]))"
    )
    proc = subprocess.run(
        [str(python), "-c", code, *names], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        return None
    versions: list[str] = json.loads(proc.stdout)
    return versions


def ensure_evidently_venv(venv: Path) -> str:
    """The python of a virtualenv with the pinned Evidently, creating it on first use."""
    python = _venv_python(venv)
    if python.exists() and _installed_versions(python) == list(EVIDENTLY_REQUIREMENTS):
        return str(python)
    print(f"installing {' '.join(EVIDENTLY_REQUIREMENTS)} into {venv} ...", flush=True)
    t0 = time.perf_counter()
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, *EVIDENTLY_REQUIREMENTS], check=True)
    installed = _installed_versions(python)
    if installed != list(EVIDENTLY_REQUIREMENTS):
        raise RuntimeError(f"{venv} has {installed}, not {list(EVIDENTLY_REQUIREMENTS)}")
    print(f"installed in {time.perf_counter() - t0:.0f}s", flush=True)
    return str(python)


# --------------------------------------------------------------------------- orchestration


def time_methods(
    data: Dataset, methods: list[str], repeat: int, pythons: dict[str, str]
) -> dict[str, dict[str, Any]]:
    """Run every method ``repeat`` times, round-robin, each run in a fresh subprocess.

    A method whose run fails is recorded with its error and not run again."""
    runs: dict[str, list[dict[str, Any]]] = {m: [] for m in methods}
    failed: dict[str, dict[str, Any]] = {}
    for r in range(repeat):
        for m in methods:
            if m in failed:
                continue
            stats = run_worker(m, data, pythons.get(m, sys.executable))
            if "error" in stats:
                print(f"  [{r + 1}/{repeat}] {m:<16} FAILED: {stats['error']}", flush=True)
                failed[m] = {"failed": stats["error"], "traceback": stats.get("traceback")}
                continue
            print(
                f"  [{r + 1}/{repeat}] {m:<16} {stats['seconds']:8.3f}s "
                f"(cpu {stats['cpu_seconds']:8.3f}s) peak {stats['peak_rss_mb']:8.0f} MB",
                flush=True,
            )
            runs[m].append(stats)
    results: dict[str, dict[str, Any]] = {}
    for m in methods:
        if m in failed:
            results[m] = failed[m]
            continue
        rs = runs[m]
        results[m] = {
            "median_seconds": statistics.median(s["seconds"] for s in rs),
            "seconds": [s["seconds"] for s in rs],
            "median_cpu_seconds": statistics.median(s["cpu_seconds"] for s in rs),
            "cpu_seconds": [s["cpu_seconds"] for s in rs],
            "baseline_rss_mb": statistics.median(s["baseline_rss_mb"] for s in rs),
            "peak_rss_mb": max(s["peak_rss_mb"] for s in rs),
            "python": rs[-1]["python"],
            "versions": rs[-1]["versions"],
            "table": rs[-1]["table"],
        }
    return results


def _timed(r: dict[str, Any]) -> bool:
    return "median_seconds" in r


def add_ratios(results: dict[str, dict[str, Any]]) -> None:
    """Add time and peak-memory ratios to the reference method, if it ran."""
    ref = results.get(REFERENCE)
    if not ref or not _timed(ref):
        return
    for r in results.values():
        if _timed(r):
            r["ratio_seconds"] = r["median_seconds"] / ref["median_seconds"]
            r["ratio_peak_rss"] = r["peak_rss_mb"] / ref["peak_rss_mb"]


def _verdicts(r: dict[str, Any]) -> dict[str, bool]:
    """Each feature's verdict; a table without a ``drifted`` column counts as none."""
    return {row["feature"]: bool(row.get("drifted")) for row in r["table"]}


def _max_diff(
    got: dict[str, dict[str, Any]], ref: dict[str, dict[str, Any]], key: str, ref_key: str
) -> dict[str, Any] | None:
    """Largest |got[key] - ref[ref_key]| over features where both are numbers."""
    best: dict[str, Any] | None = None
    compared = 0
    for feature, row in got.items():
        a, b = row.get(key), ref.get(feature, {}).get(ref_key)
        if not isinstance(a, int | float) or not isinstance(b, int | float):
            continue
        if math.isnan(a) or math.isnan(b):
            continue
        compared += 1
        diff = abs(float(a) - float(b))
        if best is None or diff > best["max_abs_diff"]:
            best = {"max_abs_diff": diff, "feature": feature, "value": a, "numpy": b}
    if best is not None:
        best["features_compared"] = compared
    return best


def check_agreement(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Compare the per-feature tables (not timed): featstore's distances and Evidently's
    scores with the numpy method's, and every method's verdicts. Nothing fails."""
    injected = set(drifted_features())
    report: dict[str, Any] = {"injected_drift": sorted(injected), "verdicts": {}}
    ref = results.get(REFERENCE)
    ref_rows = {row["feature"]: row for row in ref["table"]} if ref and _timed(ref) else None
    ref_verdicts = _verdicts(ref) if ref and _timed(ref) else None
    for m, r in results.items():
        if not _timed(r):
            continue
        verdicts = _verdicts(r)
        drifted = {f for f, d in verdicts.items() if d}
        entry: dict[str, Any] = {
            "drifted": len(drifted),
            "of": len(verdicts),
            "injected_found": len(drifted & injected),
            "false_positives": sorted(drifted - injected),
            "missed": sorted(injected - drifted),
        }
        if ref_verdicts is not None:
            entry["differs_from_numpy"] = sorted(
                f for f in verdicts if verdicts[f] != ref_verdicts.get(f)
            )
        report["verdicts"][m] = entry
    if ref_rows is None:
        return report
    for m, r in results.items():
        if m == REFERENCE or not _timed(r):
            continue
        rows = {row["feature"]: row for row in r["table"]}
        if m.startswith("featstore"):
            report[m] = {k: _max_diff(rows, ref_rows, k, k) for k in METRICS}
        elif m == "evidently":
            # Evidently's defaults here: normed Wasserstein (same definition as ours) for
            # numeric columns, Jensen-Shannon distance in natural log for categorical ones
            # (ours is base 2: scaled by sqrt(ln 2)), both on all non-null values
            scaled = {
                f: {**row, "js_nats": row["jensen_shannon"] * math.sqrt(math.log(2))}
                for f, row in ref_rows.items()
                if row["jensen_shannon"] is not None
            }
            wass = {f: row for f, row in rows.items() if row["method"].startswith("Wasserstein")}
            js = {f: row for f, row in rows.items() if row["method"].startswith("Jensen")}
            report[m] = {
                "methods": sorted({row["method"] for row in rows.values()}),
                "wasserstein": _max_diff(wass, ref_rows, "score", "wasserstein"),
                "jensen_shannon_nats": _max_diff(js, scaled, "score", "js_nats"),
            }
    return report


def print_table(results: dict[str, dict[str, Any]]) -> None:
    header = (
        f"{'method':<16} {'median s':>9} {'x ' + REFERENCE:>9} {'cpu s':>8} {'base MB':>8} "
        f"{'peak MB':>8} {'x peak':>7}"
    )
    print(header)
    print("-" * len(header))
    for m, r in results.items():
        if "skipped" in r:
            print(f"{m:<16} skipped: {r['skipped']}")
            continue
        if "failed" in r:
            print(f"{m:<16} failed: {r['failed']}")
            continue
        ratio = f"{r['ratio_seconds']:9.2f}" if "ratio_seconds" in r else f"{'-':>9}"
        ratio_peak = f"{r['ratio_peak_rss']:7.2f}" if "ratio_peak_rss" in r else f"{'-':>7}"
        print(
            f"{m:<16} {r['median_seconds']:9.3f} {ratio} {r['median_cpu_seconds']:8.2f} "
            f"{r['baseline_rss_mb']:8.0f} {r['peak_rss_mb']:8.0f} {ratio_peak}"
        )


def _fmt(x: Any) -> str:
    return f"{x:.3g}" if isinstance(x, float) else str(x)


def print_agreement(check: dict[str, Any]) -> None:
    for m, metrics in check.items():
        if m in ("injected_drift", "verdicts"):
            continue
        print(f"\n{m} vs {REFERENCE}: largest |difference| per metric over the features")
        for metric, d in metrics.items():
            if metric == "methods":
                print(f"  drift methods chosen: {', '.join(d)}")
            elif d is None:
                print(f"  {metric:<20} (no feature with both values)")
            else:
                print(
                    f"  {metric:<20} {d['max_abs_diff']:.3g} on {d['feature']} "
                    f"({_fmt(d['value'])} vs {_fmt(d['numpy'])}; "
                    f"{d['features_compared']} features compared)"
                )
    print(f"\ndrift verdicts (drift injected in {len(check['injected_drift'])} features):")
    for m, v in check["verdicts"].items():
        line = (
            f"  {m:<16} {v['drifted']:>2} of {v['of']} drifted, {v['injected_found']} injected "
            f"found; false positives {v['false_positives'] or '-'}; missed {v['missed'] or '-'}"
        )
        if "differs_from_numpy" in v:
            line += f"; differs from numpy on {v['differs_from_numpy'] or '-'}"
        print(line)


def environment(evidently_python: str | None) -> dict[str, Any]:
    import numpy as np
    import polars as pl
    import pyarrow as pa
    import scipy

    env: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "polars": pl.__version__,
        "pyarrow": pa.__version__,
        "featstore": None,
        "evidently_requirements": list(EVIDENTLY_REQUIREMENTS),
        "evidently_python": evidently_python,
    }
    try:
        import featstore

        env["featstore"] = featstore.__version__
    except Exception as exc:
        env["featstore"] = f"import failed: {exc!r}"
    return env


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument("--rows", type=int, default=1_000_000, help="rows of each frame")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--repeat", type=int, default=3, help="timed runs per method")
    p.add_argument(
        "--methods",
        nargs="+",
        choices=list(METHODS),
        help=(
            "methods to run (default: all; evidently only up to "
            f"{EVIDENTLY_DEFAULT_MAX_ROWS:,} rows)"
        ),
    )
    p.add_argument(
        "--workdir",
        default=os.path.join(tempfile.gettempdir(), "featstore-bench"),
        help="where generated data is cached",
    )
    p.add_argument("--out", help="JSON results file (default: <workdir>/drift_results.json)")
    p.add_argument(
        "--evidently-venv",
        default=EVIDENTLY_VENV,
        help=f"virtualenv for Evidently, created on first use ({' '.join(EVIDENTLY_REQUIREMENTS)})",
    )
    p.add_argument("--worker", choices=list(METHODS), help=argparse.SUPPRESS)
    p.add_argument("--data-dir", help=argparse.SUPPRESS)
    p.add_argument("--result-file", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        return worker(args.worker, Path(args.data_dir), Path(args.result_file))
    data = ensure_dataset(args)
    warm_page_cache(data)
    load_start = os.getloadavg()
    results: dict[str, dict[str, Any]] = {}
    methods = list(args.methods or METHODS)
    if args.methods is None and data.rows > EVIDENTLY_DEFAULT_MAX_ROWS:
        methods.remove("evidently")
        results["evidently"] = {
            "skipped": f"more than {EVIDENTLY_DEFAULT_MAX_ROWS:,} rows (name it in --methods)"
        }
    pythons: dict[str, str] = {}
    if "evidently" in methods:
        try:
            pythons["evidently"] = ensure_evidently_venv(Path(args.evidently_venv))
        except Exception as exc:
            methods.remove("evidently")
            results["evidently"] = {"failed": f"could not set up {args.evidently_venv}: {exc}"}
    print(f"timing {', '.join(methods)} ({args.repeat} runs each, fresh process per run)")
    results = {**time_methods(data, methods, args.repeat, pythons), **results}
    load_end = os.getloadavg()
    add_ratios(results)
    check = check_agreement(results)
    print()
    print_table(results)
    print(f"load average (1 min) at start {load_start[0]:.1f}, at end {load_end[0]:.1f}")
    print_agreement(check)
    report = {
        "config": {
            k: v for k, v in vars(args).items() if k not in ("worker", "data_dir", "result_file")
        },
        "data_dir": str(data.root),
        "features": [asdict(f) for f in FEATURES],
        "environment": environment(pythons.get("evidently")),
        "load_average": {"start": load_start, "end": load_end},
        "results": results,
        "agreement": check,
    }
    out = Path(args.out or Path(args.workdir) / "drift_results.json")
    out.write_text(json.dumps(report, indent=2, default=str))
    print(f"\nwrote {out}")
    return 1 if any("failed" in r for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
