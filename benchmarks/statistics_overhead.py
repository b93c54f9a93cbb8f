"""What recording column statistics adds to materialization.

Materializes the point-in-time benchmark's data (``benchmarks/pit_join.py``: by default
3 views x 10M raw rows, which that script generates and caches) into a fresh store,
with ``FeatureStore(statistics=True)`` (the default) and ``statistics=False``, each run
in a fresh subprocess, alternating, ``--repeat`` times each; prints the median wall time
and peak memory of each and their ratio. A benchmark, not a test: nothing asserts.

    python benchmarks/pit_join.py --methods featstore          # generates the data once
    python benchmarks/statistics_overhead.py --repeat 3
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pit_join

DEFAULT_DATA = Path("/tmp/featstore-bench/data_v1_e1000000_f10000000_n3_k100000_d365_month_s0")


def worker(data_dir: Path, store_dir: Path, record: bool, result: Path) -> None:
    import featstore as fs

    data = pit_join.Dataset.load(data_dir)
    store = fs.FeatureStore(store_dir, statistics=record, progress=False)
    store.apply(pit_join.featstore_definitions(data))
    start = time.perf_counter()
    runs = store.materialize(data.start, data.end)
    seconds = time.perf_counter() - start
    result.write_text(
        json.dumps(
            {
                "seconds": seconds,
                "rows": sum(r.rows for r in runs),
                "peak_rss_mb": pit_join._proc_status_mb("VmHWM"),
            }
        )
    )
    store.close()


def run(data_dir: Path, workdir: Path, record: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        out = Path(tmp) / "result.json"
        cmd = [sys.executable, __file__, "--worker", "--data-dir", str(data_dir)]
        cmd += ["--store-dir", str(Path(tmp) / "store"), "--result-file", str(out)]
        if record:
            cmd.append("--statistics")
        subprocess.run(cmd, check=True)
        found: dict[str, Any] = json.loads(out.read_text())
        shutil.rmtree(Path(tmp) / "store", ignore_errors=True)
        return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/featstore-bench"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--statistics", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--store-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.data_dir, args.store_dir, args.statistics, args.result_file)
        return 0
    if not (args.data_dir / "entities.parquet").exists():
        sys.exit(f"no benchmark data in {args.data_dir}: run benchmarks/pit_join.py first")
    results: dict[str, list[dict[str, Any]]] = {"on": [], "off": []}
    for i in range(args.repeat):
        for mode in ("on", "off") if i % 2 == 0 else ("off", "on"):
            found = run(args.data_dir, args.workdir, mode == "on")
            results[mode].append(found)
            print(f"statistics {mode:>3}: {found['seconds']:7.2f} s, peak {found['peak_rss_mb']:,.0f} MB", flush=True)  # fmt: skip
    summary = {
        mode: {
            "median_seconds": statistics.median(r["seconds"] for r in rs),
            "peak_rss_mb": max(r["peak_rss_mb"] for r in rs),
            "rows": rs[0]["rows"],
        }
        for mode, rs in results.items()
    }
    ratio = summary["on"]["median_seconds"] / summary["off"]["median_seconds"]
    memory = summary["on"]["peak_rss_mb"] / summary["off"]["peak_rss_mb"]
    print(
        f"\n{summary['on']['rows']:,} rows: statistics on {summary['on']['median_seconds']:.2f} s, "
        f"off {summary['off']['median_seconds']:.2f} s: {ratio:.3f}x time "
        f"(+{(ratio - 1) * 100:.1f}%), {memory:.3f}x peak memory"
    )
    if args.out:
        args.out.write_text(json.dumps({"runs": results, "summary": summary}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
