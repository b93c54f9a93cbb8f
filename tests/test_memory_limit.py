"""Resource bounds: with a DuckDB memory limit far below the data size, materialization
and retrieval spill to ``<store>/tmp`` and finish instead of failing or being killed."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SCRIPT = textwrap.dedent(
    """
    import resource, sys
    from datetime import datetime, timedelta
    import numpy as np
    import polars as pl
    import featstore as fs

    root, mode = sys.argv[1], sys.argv[4]
    rows, entities, keys = int(sys.argv[2]), int(sys.argv[3]), 200_000
    if mode == "generate":  # in its own process, so the peak below is featstore's alone
        rng = np.random.default_rng(0)
        start = np.datetime64("2024-01-01T00:00:00", "us")
        span = 365 * 24 * 3600 * 1_000_000
        ts = start + rng.integers(0, span, rows).astype("timedelta64[us]")
        pl.DataFrame({
            "k": rng.integers(0, keys, rows), "ts": ts,
            "a": rng.random(rows), "b": rng.random(rows), "c": rng.integers(0, 100, rows),
            "s": rng.integers(0, 1000, rows).astype(str),
        }).write_parquet(f"{root}/feat.parquet", row_group_size=500_000)
        pl.DataFrame({
            "k": rng.integers(0, keys, entities),
            "event_timestamp": start + rng.integers(0, span, entities).astype("timedelta64[us]"),
        }).write_parquet(f"{root}/entities.parquet")
        sys.exit(0)
    ent = pl.read_parquet(f"{root}/entities.parquet")
    e = fs.Entity("e", join_keys=["k"])
    src = fs.ParquetSource("src", path=f"{root}/feat.parquet", timestamp_column="ts")
    view = fs.FeatureView("v", entity=e, source=src, features=["a", "b", "c", "s"], ttl=timedelta(days=60))
    store = fs.FeatureStore(f"{root}/store", memory_limit="256MB", progress=False)
    store.apply([e, src, view])
    limit, spill = store.con.sql(
        "SELECT current_setting('memory_limit'), current_setting('temp_directory')"
    ).fetchall()[0]
    assert limit == "244.1 MiB", limit  # 256 MB
    assert spill == f"{root}/store/tmp", spill
    store.materialize(datetime(2024, 1, 1), datetime(2025, 1, 1))
    out = store.get_historical_features(ent, features=["v:a", "v:b", "v:c", "v:s"]).to_polars()
    assert out.height == entities
    # spot check against Polars join_asof on a sample of keys
    sample = ent.with_row_index("i").filter(pl.col("k") < 500)
    feats = pl.scan_parquet(f"{root}/feat.parquet").filter(pl.col("k") < 500).collect().sort("ts")
    ref = sample.sort("event_timestamp").join_asof(
        feats, left_on="event_timestamp", right_on="ts", by="k", tolerance="60d", check_sortedness=False
    ).sort("i")
    got = out.with_row_index("i").filter(pl.col("k") < 500).sort("i")
    assert got["a"].to_list() == ref["a"].to_list()
    print("peak_mb", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
    """
)


@pytest.mark.slow
def test_retrieval_and_materialization_hold_a_256mb_limit(tmp_path: Path) -> None:
    script = tmp_path / "bounded.py"
    script.write_text(SCRIPT)
    # 12M feature rows (~700 MB in memory as Arrow) and 3M entity rows
    for mode in ("generate", "run"):
        result = subprocess.run(
            [sys.executable, str(script), str(tmp_path), "12000000", "3000000", mode],
            capture_output=True,
            text=True,
            timeout=1800,
        )
        assert result.returncode == 0, result.stderr[-3000:]
    peak = int(result.stdout.split("peak_mb")[-1])
    print(f"memory limit 256MB: peak RSS {peak} MB")
