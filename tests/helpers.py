"""Small helpers shared by test_materialize, test_versioning, test_registry and
test_apply_errors: deterministic raw events, the definitions built on them, and ways to
look at a store from the outside (stored rows through the catalog, catalog snapshots,
file listings, a subprocess runner)."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import featstore as fs
from featstore.dtypes import scan_frames
from featstore.registration import DEFINITION_KINDS

__all__ = [
    "BOTH_CATALOGS",
    "END",
    "ON_BOTH",
    "SLOW_ON_POSTGRESQL",
    "START",
    "catalog_snapshot",
    "files_under",
    "last_json_line",
    "make_events",
    "oracle_rows",
    "rolling_spend",
    "run_python",
    "stored_rows",
]

START = datetime(2024, 1, 1)
END = datetime(2024, 5, 1)

# ``pytestmark = BOTH_CATALOGS``: every test of the module runs on SQLite and on
# PostgreSQL (fixtures ``catalog_backend``, ``catalog_env`` and ``module_catalog`` in
# conftest.py); stores the tests create without ``catalog=`` use that backend
ON_BOTH = pytest.mark.parametrize(
    "catalog_backend", ["sqlite", "postgresql"], indirect=True, scope="module"
)
BOTH_CATALOGS = [pytest.mark.usefixtures("catalog_env"), ON_BOTH]
# for one test of a module marked ``pytest.mark.usefixtures("catalog_env")``: SQLite in
# the default suite, PostgreSQL too with ``-m slow`` (a long test another covers there)
SLOW_ON_POSTGRESQL = pytest.mark.parametrize(
    "catalog_backend",
    ["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)],
    indirect=True,
    scope="module",
)

# the columns every stored feature row carries besides its features
STORED_KEYS = ["customer_id", "__fs_ts"]


def make_events(
    n: int = 240,
    *,
    seed: int = 0,
    start: datetime = START,
    end: datetime = END,
    customers: int = 4,
) -> pl.DataFrame:
    """Raw transactions: ``customer_id`` (Int64), ``ts`` (naive Datetime us, unique per
    customer), ``amount`` (Int64, so sums are exact whatever the window arithmetic).

    Also holds one row exactly at ``start`` and one exactly at ``end`` (outside
    ``[start, end)``) to pin the range edges."""
    rng = random.Random(seed)
    span_s = int((end - start).total_seconds())
    seen: set[tuple[int, datetime]] = set()
    rows: list[tuple[int, datetime, int]] = [(0, start, 7), (1, end, 9)]
    seen.update((c, t) for c, t, _ in rows)
    while len(rows) < n:
        cust = rng.randrange(customers)
        ts = start + timedelta(seconds=rng.randrange(1, span_s))
        if (cust, ts) in seen:
            continue
        seen.add((cust, ts))
        rows.append((cust, ts, rng.randrange(1, 500)))
    return pl.DataFrame(
        rows,
        schema={"customer_id": pl.Int64, "ts": pl.Datetime("us"), "amount": pl.Int64},
        orient="row",
    ).sort("ts", "customer_id")


def rolling_spend(tx: pl.LazyFrame) -> pl.LazyFrame:
    """Trailing 30-day spend and count per customer (a windowed feature needing lookback)."""
    return (
        tx.sort("customer_id", "ts")
        .rolling("ts", period="30d", group_by="customer_id")
        .agg(pl.col("amount").sum().alias("spend_30d"), pl.len().alias("txn_30d"))
    )


def oracle_rows(
    events: pl.DataFrame,
    start: datetime,
    end: datetime,
    *,
    transform: Any = None,
    features: tuple[str, ...] = ("amount",),
) -> pl.DataFrame:
    """What the store should hold for ``[start, end)``: the transform over the WHOLE
    history (no lookback tricks), then the range filter; columns renamed like stored rows
    and sorted."""
    frame = events.lazy()
    if transform is not None:
        frame = transform(frame)
    out = (
        frame.filter((pl.col("ts") >= start) & (pl.col("ts") < end))
        .select("customer_id", pl.col("ts").alias("__fs_ts"), *features)
        .collect()
    )
    return out.sort(STORED_KEYS)


def stored_rows(
    store: fs.FeatureStore,
    view: str,
    version: str | None = None,
    *,
    columns: list[str] | None = None,
) -> pl.DataFrame:
    """Every stored row of a view version (current by default), read from exactly the
    files the catalog lists as active, sorted by key, timestamp and rank."""
    version = version or store.get_feature_view(view)["version"]
    rows = store.catalog.active_files(view, version)
    paths = [store.offline.absolute(r["path"]) for r in rows]
    if not paths:
        return pl.DataFrame()
    frame = scan_frames(paths).collect()  # naive timestamps as written (docs/files.md)
    order = [c for c in [*STORED_KEYS, "__fs_rank"] if c in frame.columns]
    frame = frame.sort(order)
    return frame.select(columns) if columns else frame


def catalog_snapshot(store: fs.FeatureStore) -> dict[str, list[Any]]:
    """Every record of the store's catalog, read through catalog methods in one snapshot
    (so on any backend), each kind of record sorted (compare states without caring about
    order). Not read: the backend's own bookkeeping (the format version, the schema)."""
    with store.catalog.snapshot() as cat:
        current = [(k, *row) for k in DEFINITION_KINDS for row in cat.current_versions(k)]
        runs = cat.run_bodies()
        run_ids = [json.loads(body)["run_id"] for body in runs]
        views = {name for kind, name, _, _ in current if kind == "feature_view"}
        views |= {json.loads(body)["view"] for body in runs}
        paths = sorted(p for view in views for p in cat.file_paths(view))
        models = cat.model_names()
        state: dict[str, list[Any]] = {
            "definitions": [
                (kind, name, *entry)
                for kind, name, _, _ in current
                for entry in cat.definition_history(kind, name)
            ],
            "current_definitions": current,
            "runs": runs,
            "files": [tuple(row.items()) for row in cat.files(paths).values()],
            "run_inputs": [
                (run_id, tuple(i.items())) for run_id in run_ids for i in cat.run_inputs(run_id)
            ],
            "training_sets": [tuple(row.items()) for row in cat.training_sets()],
            "model_versions": cat.model_version_bodies(),
            "alias_events": [
                (name, alias, tuple(event.items()))
                for name in models
                for alias in cat.alias_names(name)
                for event in cat.alias_events(name, alias)
            ],
            "prediction_batches": [tuple(row.items()) for row in cat.prediction_batches()],
            "nodes": cat.lineage_all_nodes(),
            "edges": cat.lineage_all_edges(),
        }
    return {kind: sorted(rows, key=repr) for kind, rows in state.items()}


def files_under(root: Path) -> set[str]:
    """Relative paths of every file under ``root`` (empty set if it does not exist)."""
    if not root.exists():
        return set()
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def run_python(code: str, *, cwd: Path | None = None, timeout: float = 60) -> str:
    """Run ``code`` in a fresh interpreter (the same venv); return stdout, failing the
    test with stderr if it exits non-zero."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=timeout,
        check=False,
    )
    assert proc.returncode == 0, f"subprocess failed:\n{proc.stderr}"
    return proc.stdout


def last_json_line(stdout: str) -> Any:
    """The JSON document a subprocess printed on its last line."""
    return json.loads(stdout.strip().splitlines()[-1])
