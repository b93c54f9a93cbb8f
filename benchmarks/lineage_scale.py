"""Lineage at scale: bulk recording, one-off queries and the loaded lineage on ~1M nodes.

A script, not a test: nothing asserts on timings. See benchmarks/README.md
("lineage_scale.py") for what is built, what is timed and the targets.

    /work/venv/bin/python benchmarks/lineage_scale.py --nodes 50000      # small, about 20 s
    /work/venv/bin/python benchmarks/lineage_scale.py                    # ~1M nodes, ~3M edges

Every timed query runs in a fresh ``python`` subprocess of this same script (``--child``);
interpreter start, ``import featstore`` and ``FeatureStore(path)`` are not in the timed
region. A cached store whose catalog has an older format is migrated once, by opening it,
and the migration is timed.
"""

from __future__ import annotations

import argparse
import bisect
import hashlib
import json
import math
import os
import platform
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

# The version of the synthetic history, part of the cache key ``store_v<N>_n<nodes>_s<seed>``.
# It is not the catalog format: a cached store may hold an older catalog format, which
# featstore migrates on first open (timed below, see ``ensure_current_format``).
GEN_VERSION = 1  # bump when the synthetic history changes (invalidates cached stores)
BASE_DAY = datetime(2023, 1, 1)
ISO = "%Y-%m-%dT%H:%M:%S.%f"  # featstore.materialize.ISO

TARGETS = {
    "oneoff_ms": 200.0,  # one-off upstream / impact from a fresh process
    "loaded_upstream_ms": 1.0,  # median over random nodes, lineage loaded
    "loaded_impact_ms": 100.0,  # median over random nodes, lineage loaded
    "record_rows_per_s": 10_000.0,
}

WORDS = [
    "txns",
    "clicks",
    "sessions",
    "orders",
    "payments",
    "refunds",
    "logins",
    "devices",
    "merchants",
    "accounts",
    "support_tickets",
    "shipments",
    "returns",
    "reviews",
    "searches",
    "carts",
    "emails",
    "pushes",
    "credit_bureau",
    "geo",
]
AGGS = ["sum", "count", "avg", "max", "min", "distinct", "last", "ratio", "trend", "std"]


# ----------------------------------------------------------------------------------
# the synthetic history
# ----------------------------------------------------------------------------------


def scale_config(nodes: int, seed: int) -> dict[str, Any]:
    """Entity counts for a target node count. Days and entity counts both scale with
    sqrt(nodes / 1M), so their product (what the node count is made of) scales linearly."""
    f = math.sqrt(nodes / 1_000_000)
    return {
        "target_nodes": nodes,
        "seed": seed,
        "days": max(60, round(1095 * f)),
        "sources": max(3, round(20 * f)),
        "views": max(4, round(50 * f)),
        "models": max(3, round(100 * f)),
        "version_gap_days": (90, 300),  # a view gets a new version every 90-300 days
        "view_windows": [1, 3, 7, 7, 14, 14, 30, 60],  # daily source files a run reads
        "backfill_days": 180,  # a new view version is backfilled over this
        "model_views": [1, 2, 3, 3, 4, 4],  # feature views per model
        "retrain_days": [14, 30, 30, 60, 90],
        "train_window_days": [90, 180, 365, 365, 540],  # runs a training set reads
        # batches_per_day: set by plan() so that nodes ~= target; 1 of them per model and day
        # is an offline scoring batch logged with its retrieval (features_of + read_by
        # edges), the others are online prediction logs (only model -> batch 'predicted')
    }


def _hex(rng: random.Random, digits: int) -> str:
    return f"{rng.getrandbits(digits * 4):0{digits}x}"


def _at(day: int, seconds: float) -> str:
    return (BASE_DAY + timedelta(days=day, seconds=seconds)).strftime(ISO)


def _structure(cfg: dict[str, Any]) -> dict[str, Any]:
    """Sources, views and models with their parameters (independent of batches_per_day)."""
    rng = random.Random(cfg["seed"])
    days = cfg["days"]
    sources = []
    for i in range(cfg["sources"]):
        name = WORDS[i % len(WORDS)] + (f"_{i // len(WORDS)}" if i >= len(WORDS) else "")
        sources.append({"name": name, "weight": 1 / (i + 1) ** 0.9})
    views = []
    for j in range(cfg["views"]):
        src = rng.choices(range(len(sources)), weights=[s["weight"] for s in sources])[0]
        start = rng.randint(1, max(1, days // 5))
        changes, d = [], start + rng.randint(*cfg["version_gap_days"])
        while d < days:
            changes.append(d)
            d += rng.randint(*cfg["version_gap_days"])
        views.append(
            {
                "name": f"{sources[src]['name']}_{rng.choice(AGGS)}_{j:03d}",
                "source": src,
                "window": rng.choice(cfg["view_windows"]),
                "start": start,
                "changes": changes,
                "features": [
                    f"f{k}_{rng.choice(AGGS)}_{rng.choice([7, 30, 90])}d"
                    for k in range(rng.randint(3, 8))
                ],
                "weight": 1 / (j + 1) ** 0.7,
            }
        )
    models = []
    for k in range(cfg["models"]):
        n = min(rng.choice(cfg["model_views"]), len(views))
        chosen: list[int] = []
        while len(chosen) < n:
            v = rng.choices(range(len(views)), weights=[x["weight"] for x in views])[0]
            if v not in chosen:
                chosen.append(v)
        earliest = max(views[v]["start"] for v in chosen) + 2
        start = rng.randint(max(earliest, days // 10), max(earliest, days // 2))
        models.append(
            {
                "name": f"{rng.choice(WORDS)}_model_{k:03d}",
                "views": chosen,
                "start": start,
                "retrain": rng.choice(cfg["retrain_days"]),
                "train_window": rng.choice(cfg["train_window_days"]),
            }
        )
    return {"sources": sources, "views": views, "models": models}


def history(cfg: dict[str, Any], bpd: int, picks: dict[str, Any] | None = None):
    """Yield ``(day, nodes, edges)`` per simulated day, oldest first, as featstore's own
    recording paths would write them (node attrs shaped like the real ones).

    nodes: ``(id, kind, name, at, attrs)``; edges: ``(src, dst, kind)``. ``picks`` (a dict)
    is filled with the ids the queries use."""
    st = _structure(cfg)
    rng = random.Random(cfg["seed"] + 1)
    days = cfg["days"]
    sources, views, models = st["sources"], st["views"], st["models"]
    files: list[list[str]] = [[] for _ in sources]  # per source, per day
    current: list[str | None] = [None] * len(views)  # current view version node
    runs_of: dict[str, tuple[list[int], list[str]]] = {}  # view node -> (days, run ids)
    mv_of: list[dict[str, Any] | None] = [None] * len(models)  # current model version
    last_batch: list[str | None] = [None] * len(models)
    version_day: dict[str, int] = {}
    for day in range(days):
        nodes: list[tuple[str, str, str, str, dict[str, Any]]] = []
        edges: list[tuple[str, str, str]] = []
        if day == 0:
            for s in sources:
                nodes.append(
                    (
                        f"source:{s['name']}",
                        "source",
                        s["name"],
                        _at(0, 0),
                        {
                            "source_kind": "parquet",
                            "path": f"/data/lake/{s['name']}/*/*.parquet",
                            "query": None,
                            "timestamp_column": "event_ts",
                        },
                    )
                )
        date = (BASE_DAY + timedelta(days=day)).strftime("%Y-%m-%d")
        # 1. each source lands one daily file
        for i, s in enumerate(sources):
            path = f"/data/lake/{s['name']}/dt={date}/part-00000.parquet"
            sha = _hex(rng, 64)
            fid = f"file:{path}@{sha[:12]}"
            rows = rng.randint(50_000, 2_000_000)
            nodes.append(
                (
                    fid,
                    "source_file",
                    path,
                    _at(day, 1800 + i),
                    {
                        "path": path,
                        "size": rows * 37,
                        "mtime_ns": int((BASE_DAY + timedelta(days=day)).timestamp() * 1e9),
                        "rows": rows,
                        "sha256": sha,
                        "source": s["name"],
                    },
                )
            )
            edges.append((f"source:{s['name']}", fid, "has_snapshot"))
            files[i].append(fid)

        def run(
            day: int, nodes: list[Any], edges: list[Any], j: int, first: int, last: int, sec: float
        ) -> None:
            """A materialization run of view j's current version reading files [first, last]."""
            v = views[j]
            vnode = current[j]
            assert vnode is not None
            rid = f"run:{_hex(rng, 32)}"
            start = BASE_DAY + timedelta(days=max(first, last - 1))
            nodes.append(
                (
                    rid,
                    "materialization_run",
                    v["name"],
                    _at(day, sec),
                    {
                        "view_version": vnode.rsplit("@", 1)[1],
                        "start": start.strftime(ISO),
                        "end": (BASE_DAY + timedelta(days=last + 1)).strftime(ISO),
                        "rows": rng.randint(10_000, 500_000),
                        "files": [
                            f"offline/{v['name']}/{vnode.rsplit('@', 1)[1]}/{start:%Y-%m}/{_hex(rng, 32)}.parquet"
                        ],
                    },
                )
            )
            edges.append((vnode, rid, "materialized_by"))
            edges.extend(
                (files[v["source"]][d], rid, "read_by") for d in range(max(0, first), last + 1)
            )
            ds, ids = runs_of.setdefault(vnode, ([], []))
            ds.append(day)
            ids.append(rid)

        # 2. feature views: new versions (backfilled), then the daily run
        for j, v in enumerate(views):
            if day < v["start"]:
                continue
            if day == v["start"] or day in v["changes"]:
                version = _hex(rng, 12)
                vnode = f"view:{v['name']}@{version}"
                nodes.append(
                    (
                        vnode,
                        "feature_view",
                        v["name"],
                        _at(day, 3600),
                        {
                            "version": version,
                            "features": v["features"],
                            "entity": "customer",
                            "source_version": _hex(rng, 12),
                        },
                    )
                )
                edges.append((f"source:{sources[v['source']]['name']}", vnode, "feeds"))
                current[j] = vnode
                version_day[vnode] = day
                back = min(day, cfg["backfill_days"])
                run(day, nodes, edges, j, day - back - v["window"] + 1, day - 1, 4000 + j)
            else:
                run(day, nodes, edges, j, day - v["window"], day - 1, 7200 + j)
        # 3. models: retrain -> training set + model version
        for k, m in enumerate(models):
            mv = mv_of[k]
            if day < m["start"] or (mv is not None and day - mv["day"] < m["retrain"]):
                continue
            cid = _hex(rng, 16)
            ts_name = f"{m['name']}_train"
            ts = f"training_set:{ts_name}@{cid}"
            rows = rng.randint(100_000, 5_000_000)
            nodes.append(
                (
                    ts,
                    "training_set",
                    ts_name,
                    _at(day, 21600 + k),
                    {
                        "content_id": cid,
                        "rows": rows,
                        "path": f"training_sets/{ts_name}/{cid}.parquet",
                        "mode": "point_in_time",
                        "bitemporal": False,
                        "entity_hash": _hex(rng, 16),
                    },
                )
            )
            pinned = [current[j] for j in m["views"]]
            read: set[str] = set()
            for vnode in pinned:
                assert vnode is not None
                edges.append((vnode, ts, "features_of"))
                ds, ids = runs_of[vnode]
                read.update(ids[bisect.bisect_left(ds, day - m["train_window"]) :])
            edges.extend((r, ts, "read_by") for r in sorted(read))
            version = 1 if mv is None else mv["version"] + 1
            mid = f"model:{m['name']}@{version}"
            nodes.append(
                (
                    mid,
                    "model_version",
                    m["name"],
                    _at(day, 25200 + k),
                    {
                        "version": version,
                        "metrics": {
                            "auc": round(rng.uniform(0.6, 0.95), 4),
                            "logloss": round(rng.uniform(0.1, 0.6), 4),
                        },
                        "artifact": f"/models/{m['name']}/{version}/model.pkl",
                        "git_commit": _hex(rng, 40),
                    },
                )
            )
            edges.append((ts, mid, "trained"))
            mv_of[k] = {
                "id": mid,
                "version": version,
                "day": day,
                "pinned": pinned,
                "ts": ts,
                "ts_runs": len(read),
            }
        # 4. prediction batches: one offline scoring batch with its retrieval, the rest
        #    online prediction logs
        for k, m in enumerate(models):
            mv = mv_of[k]
            if mv is None:
                continue
            for b in range(bpd):
                bid = f"prediction_batch:{_hex(rng, 32)}"
                nodes.append(
                    (
                        bid,
                        "prediction_batch",
                        m["name"],
                        _at(day, 30000 + b * 4000 + k),
                        {
                            "model_version": mv["version"],
                            "rows": rng.randint(100, 200_000),
                            "path": f"predictions/{m['name']}/{mv['version']}/{bid.split(':')[1]}.parquet",
                        },
                    )
                )
                edges.append((mv["id"], bid, "predicted"))
                if b == 0:
                    for vnode in mv["pinned"]:
                        edges.append((vnode, bid, "features_of"))
                        edges.append((runs_of[vnode][1][-1], bid, "read_by"))
                    last_batch[k] = bid
        yield day, nodes, edges

    if picks is not None:
        _pick_queries(st, cfg, mv_of, last_batch, current, version_day, runs_of, picks)


def _pick_queries(st, cfg, mv_of, last_batch, current, version_day, runs_of, picks) -> None:
    """The nodes the one-off queries ask about (deterministic)."""
    models, views, sources = st["models"], st["views"], st["sources"]
    # upstream: the newest scoring batch of the model whose training set reads the most
    # runs (worst case) and of the median one (typical)
    order = sorted(range(len(models)), key=lambda k: (mv_of[k]["ts_runs"], k))
    picks["batch_typical"] = last_batch[order[len(order) // 2]]
    picks["batch_worst"] = last_batch[order[-1]]
    # downstream of a source: the one feeding most views (worst) and a median one
    fed = [sum(1 for v in views if v["source"] == i) for i in range(len(sources))]
    by_fed = sorted((i for i in range(len(sources)) if fed[i]), key=lambda i: (fed[i], -i))
    picks["source_worst"] = f"source:{sources[by_fed[-1]]['name']}"
    picks["source_typical"] = f"source:{sources[by_fed[len(by_fed) // 2]]['name']}"
    # downstream of a view version: the most used view's version current at mid-history
    used = [sum(1 for m in models if j in m["views"]) for j in range(len(views))]
    j = max(range(len(views)), key=lambda j: (used[j], -j))
    mid = cfg["days"] // 2
    versions = sorted(
        (d, vn) for vn, d in version_day.items() if vn.startswith(f"view:{views[j]['name']}@")
    )
    picks["view_version"] = [vn for d, vn in versions if d <= mid][-1]


def plan(cfg: dict[str, Any]) -> dict[str, Any]:
    """Choose batches_per_day so that nodes ~= target; count nodes and edges."""
    base = count(cfg, 0)
    st = _structure(cfg)
    model_days = sum(cfg["days"] - m["start"] for m in st["models"])
    bpd = max(1, round((cfg["target_nodes"] - base["nodes"]) / model_days))
    counts = count(cfg, bpd)
    return {"batches_per_day": bpd, **counts}


def count(cfg: dict[str, Any], bpd: int) -> dict[str, Any]:
    nodes = edges = 0
    by_kind: dict[str, int] = {}
    by_edge: dict[str, int] = {}
    for _, ns, es in history(cfg, bpd):
        nodes += len(ns)
        edges += len(es)
        for n in ns:
            by_kind[n[1]] = by_kind.get(n[1], 0) + 1
        for e in es:
            by_edge[e[2]] = by_edge.get(e[2], 0) + 1
    return {"nodes": nodes, "edges": edges, "nodes_by_kind": by_kind, "edges_by_kind": by_edge}


# ----------------------------------------------------------------------------------
# building (bulk recording)
# ----------------------------------------------------------------------------------


def build(store_dir: Path, cfg: dict[str, Any], bpd: int, batch_rows: int) -> dict[str, Any]:
    import featstore
    from featstore.catalog import FORMAT_VERSION

    if store_dir.exists():
        shutil.rmtree(store_dir)
    store = featstore.FeatureStore(store_dir)
    picks: dict[str, Any] = {}
    pending_n: list[Any] = []
    pending_e: list[Any] = []
    rows = 0
    tx_s = 0.0
    tx_count = 0
    marks = []  # (rows so far, tx seconds so far) for the rate over time
    wall0 = time.perf_counter()

    def flush() -> None:
        nonlocal rows, tx_s, tx_count
        t0 = time.perf_counter()
        with store.catalog.transaction() as tx:
            for n in pending_n:
                tx.add_node(*n)
            tx.add_edges(pending_e)
        tx_s += time.perf_counter() - t0
        tx_count += 1
        rows += len(pending_n) + len(pending_e)
        marks.append((rows, tx_s))
        pending_n.clear()
        pending_e.clear()

    for day, ns, es in history(cfg, bpd, picks):
        pending_n.extend(ns)
        pending_e.extend(es)
        if len(pending_n) + len(pending_e) >= batch_rows:
            flush()
        if day % 100 == 0:
            print(
                f"  day {day}/{cfg['days']}: {rows:,} rows recorded, "
                f"{rows / tx_s if tx_s else 0:,.0f} rows/s",
                file=sys.stderr,
                flush=True,
            )
    if pending_n or pending_e:
        flush()
    wall = time.perf_counter() - wall0
    n_nodes = store.catalog.one("SELECT count(*) AS c FROM nodes")["c"]
    n_edges = store.catalog.one("SELECT count(*) AS c FROM edges")["c"]
    store.catalog.close()
    # rate over the last 10% of rows (B-trees are largest then)
    tail = next(m for m in marks if m[0] >= 0.9 * rows)
    size = sum(p.stat().st_size for p in store_dir.glob("catalog.db*"))
    return {
        "nodes": n_nodes,
        "edges": n_edges,
        "rows": rows,
        "transactions": tx_count,
        "batch_rows": batch_rows,
        "tx_seconds": tx_s,
        "wall_seconds": wall,
        "rows_per_s": rows / tx_s,
        "rows_per_s_last_10pct": (rows - tail[0]) / (tx_s - tail[1]) if tx_s > tail[1] else None,
        "catalog_bytes": size,
        "catalog_format": FORMAT_VERSION,
        "picks": picks,
    }


# ----------------------------------------------------------------------------------
# the catalog format of a cached store
# ----------------------------------------------------------------------------------


def _ro(db: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{db}?mode=ro", uri=True)


def _catalog_format(db: Path) -> int | None:
    con = _ro(db)
    try:
        row = con.execute("SELECT value FROM meta WHERE key = 'format_version'").fetchone()
    except sqlite3.OperationalError:
        row = None
    finally:
        con.close()
    return None if row is None else int(row[0])


def _catalog_stats(store_dir: Path) -> dict[str, Any]:
    """File sizes, pages (used and free) and lineage row counts of a store's catalog."""
    con = _ro(store_dir / "catalog.db")
    try:
        page_size, pages, free = (
            con.execute(f"PRAGMA {p}").fetchone()[0]
            for p in ("page_size", "page_count", "freelist_count")
        )
        nodes = con.execute("SELECT count(*) FROM nodes").fetchone()[0]
        edges = con.execute("SELECT count(*) FROM edges").fetchone()[0]
    finally:
        con.close()
    return {
        "files": {p.name: p.stat().st_size for p in sorted(store_dir.glob("catalog.db*"))},
        "page_size": page_size,
        "pages": pages,
        "free_pages": free,
        "nodes": nodes,
        "edges": edges,
    }


def ensure_current_format(store_dir: Path, meta: dict[str, Any], meta_path: Path) -> None:
    """A cached store built by an older featstore has an older catalog format, which
    featstore migrates in place when the store is opened. Do that once, in a child
    process, time it and keep the figures in the cache's ``.json``."""
    from featstore.catalog import FORMAT_VERSION

    found = _catalog_format(store_dir / "catalog.db")
    if found == FORMAT_VERSION:
        return
    if found is None or found > FORMAT_VERSION:
        raise SystemExit(
            f"{store_dir}: catalog format {found}; expected <= {FORMAT_VERSION} "
            "(--rebuild to rebuild the cached store)"
        )
    print(
        f"migrating {store_dir}: catalog format {found} -> {FORMAT_VERSION} "
        "(first open, timed) ...",
        file=sys.stderr,
        flush=True,
    )
    before = _catalog_stats(store_dir)
    loadavg = os.getloadavg()
    timing = run_child({"mode": "migrate", "store": str(store_dir)})
    after = _catalog_stats(store_dir)
    meta["migration"] = {
        "from_format": found,
        "to_format": _catalog_format(store_dir / "catalog.db"),
        "open_s": timing["open_s"],
        "close_s": timing["close_s"],
        "peak_rss_mb": timing["peak_rss_mb"],
        "before": before,
        "after": after,
        "loadavg_before": loadavg,
    }
    meta_path.write_text(json.dumps(meta, indent=1))


# ----------------------------------------------------------------------------------
# child processes
# ----------------------------------------------------------------------------------


def _mem_mb() -> dict[str, float]:
    out = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(("VmRSS:", "VmHWM:")):
                out[line.split(":")[0]] = int(line.split()[1]) / 1024
    return out


def _digest(nodes: list[Any]) -> str:
    """Identifies an answer (ids in order, and the attrs of the first 100 nodes), to
    check that the one-off (SQL) and loaded modes return the same thing."""

    h = hashlib.sha1()
    for n in nodes:
        h.update(n.id.encode() + b"\n")
    for n in nodes[:100]:
        h.update(json.dumps([n.kind, n.name, n.created_at, n.attrs], sort_keys=True).encode())
    return h.hexdigest()[:16]


def child(spec: dict[str, Any]) -> dict[str, Any]:
    t_imp = time.perf_counter()
    import featstore

    t0 = time.perf_counter()
    store = featstore.FeatureStore(spec["store"])  # migrates an older catalog
    lin = store.lineage
    t1 = time.perf_counter()
    out: dict[str, Any] = {"import_s": t0 - t_imp, "open_s": t1 - t0}
    mode = spec["mode"]
    if mode == "migrate":
        t2 = time.perf_counter()
        store.close()  # the last connection checkpoints the WAL
        out.update(close_s=time.perf_counter() - t2, peak_rss_mb=_mem_mb()["VmHWM"])
    elif mode == "oneoff" and spec.get("counts"):
        # how many nodes of each kind, without building the nodes
        count = lin.upstream_counts if spec["direction"] == "up" else lin.downstream_counts
        t2 = time.perf_counter()
        counts = count(spec["node"])
        t3 = time.perf_counter()
        digest = hashlib.sha256(json.dumps(counts).encode()).hexdigest()[:16]
        out.update(query_s=t3 - t2, size=sum(counts.values()), digest=digest, counts=counts)
        t4 = time.perf_counter()
        count(spec["node"])
        out["warm_query_s"] = time.perf_counter() - t4
    elif mode == "oneoff":
        walk = lin.upstream if spec["direction"] == "up" else lin.downstream
        t2 = time.perf_counter()
        res = walk(spec["node"], kinds=spec["kinds"])
        t3 = time.perf_counter()
        out.update(query_s=t3 - t2, size=len(res), digest=_digest(res))
        # the same query again in the same process (SQLite page cache now warm)
        t4 = time.perf_counter()
        walk(spec["node"], kinds=spec["kinds"])
        out["warm_query_s"] = time.perf_counter() - t4
    elif mode == "breakdown":
        out.update(breakdown(store, spec))
    elif mode == "loaded":
        out.update(loaded(lin, spec))
    elif mode == "graph":
        out.update(whole_graph(lin))
    else:
        raise ValueError(f"unknown child mode {mode!r}")
    return out


def breakdown(store: Any, spec: dict[str, Any]) -> dict[str, Any]:
    """Where a one-off walk spends its time, with featstore's own SQL and conversion:
    the recursive walk alone (cold), the whole query (walk + join ``nodes`` + kinds filter;
    the edge pages are cached by then), rows -> sorted ``Node`` list, and parsing every
    node's ``attrs`` (what a caller pays only if it reads them all)."""
    from featstore.catalog.ops import ReadOps, _walk_sql
    from featstore.lineage import _check_kinds, _sorted_nodes

    up = spec["direction"] == "up"
    wanted = _check_kinds(spec["kinds"])
    ks = sorted(wanted) if wanted is not None else []
    sql = _walk_sql(up=up, n_kinds=len(ks), join=ReadOps._walk_join)
    cte, sep, _ = sql.partition(" SELECT n.id")
    if not sep:
        raise RuntimeError(f"breakdown: unexpected shape of featstore.lineage._walk_sql: {sql}")
    catalog = store.catalog
    res: dict[str, Any] = {}
    t = time.perf_counter()
    res["walk_rows"] = catalog._rows(cte + " SELECT count(*) FROM walk", (spec["node"],))[0][0]
    res["sql_walk_only_s"] = time.perf_counter() - t
    t = time.perf_counter()
    rows = catalog._rows(sql, (spec["node"], spec["node"], *ks))
    res["sql_full_s"] = time.perf_counter() - t
    res["result_size"] = len(rows)
    t = time.perf_counter()
    nodes = _sorted_nodes(rows)
    res["py_rows_to_nodes_s"] = time.perf_counter() - t
    t = time.perf_counter()
    for n in nodes:
        _ = n.attrs
    res["py_parse_all_attrs_s"] = time.perf_counter() - t
    res["digest"] = _digest(nodes)
    return res


def loaded(lin: Any, spec: dict[str, Any]) -> dict[str, Any]:
    import gc

    rng = random.Random(spec["seed"])
    out: dict[str, Any] = {"rss_before_load_mb": _mem_mb()["VmRSS"]}
    t = time.perf_counter()
    returned = lin.load()
    out["load_s"] = time.perf_counter() - t
    if returned is not lin or not lin.loaded:
        raise RuntimeError("store.lineage.load() did not load the lineage")
    t = time.perf_counter()
    gc.collect()
    out["gc_collect_after_s"] = time.perf_counter() - t
    mem = _mem_mb()
    out.update(rss_after_load_mb=mem["VmRSS"], peak_rss_mb=mem["VmHWM"])
    con = _ro(Path(spec["store"]) / "catalog.db")
    all_ids = [r[0] for r in con.execute("SELECT id FROM nodes ORDER BY id")]
    by_kind: dict[str, list[str]] = {}
    for i, k in con.execute("SELECT id, kind FROM nodes ORDER BY id"):
        by_kind.setdefault(k, []).append(i)
    con.close()

    def timed(fn, node, kinds=None):
        t = time.perf_counter()
        r = fn(node, kinds=kinds)
        return (time.perf_counter() - t) * 1e3, len(r)

    def summary(samples):
        ms = sorted(s[0] for s in samples)
        return {
            "n": len(ms),
            "median_ms": statistics.median(ms),
            "p95_ms": ms[min(len(ms) - 1, int(0.95 * len(ms)))],
            "max_ms": ms[-1],
            "median_size": statistics.median(s[1] for s in samples),
            "max_size": max(s[1] for s in samples),
        }

    sample = rng.sample(all_ids, min(spec["samples"], len(all_ids)))
    out["random_upstream"] = summary([timed(lin.upstream, n) for n in sample])
    out["random_downstream"] = summary([timed(lin.downstream, n) for n in sample])
    out["per_kind"] = {}
    for kind, ids in sorted(by_kind.items()):
        ks = rng.sample(ids, min(spec["per_kind"], len(ids)))
        out["per_kind"][kind] = {
            "upstream": summary([timed(lin.upstream, n) for n in ks]),
            "downstream": summary([timed(lin.downstream, n) for n in ks]),
        }
    out["named"] = {}
    for q in spec["queries"]:
        fn = lin.upstream if q["direction"] == "up" else lin.downstream
        ms, size = zip(*[timed(fn, q["node"], q["kinds"]) for _ in range(3)], strict=True)
        out["named"][q["label"]] = {
            "median_ms": statistics.median(ms),
            "size": size[0],
            "digest": _digest(fn(q["node"], kinds=q["kinds"])),
        }
    return out


def whole_graph(lin: Any) -> dict[str, Any]:
    """``store.lineage.graph``: the whole networkx MultiDiGraph, built from the catalog."""
    import gc

    out: dict[str, Any] = {"rss_before_mb": _mem_mb()["VmRSS"]}
    t = time.perf_counter()
    graph = lin.graph
    out["graph_s"] = time.perf_counter() - t
    # a full collection now has to traverse every container of the graph
    t = time.perf_counter()
    gc.collect()
    out["gc_collect_after_s"] = time.perf_counter() - t
    mem = _mem_mb()
    out.update(
        rss_after_mb=mem["VmRSS"],
        peak_rss_mb=mem["VmHWM"],
        nodes=graph.number_of_nodes(),
        edges=graph.number_of_edges(),
        loaded_after=lin.loaded,
    )
    return out


def run_child(spec: dict[str, Any]) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(spec)], capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise RuntimeError(f"child failed ({spec['mode']}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------------
# the benchmark
# ----------------------------------------------------------------------------------


def queries(picks: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "label": "upstream(batch typical, source_file)",
            "direction": "up",
            "node": picks["batch_typical"],
            "kinds": ["source_file"],
        },
        {
            "label": "upstream(batch worst, source_file)",
            "direction": "up",
            "node": picks["batch_worst"],
            "kinds": ["source_file"],
        },
        {
            "label": "downstream(source typical, model+batch)",
            "direction": "down",
            "node": picks["source_typical"],
            "kinds": ["model_version", "prediction_batch"],
        },
        {
            "label": "downstream(source worst, model+batch)",
            "direction": "down",
            "node": picks["source_worst"],
            "kinds": ["model_version", "prediction_batch"],
        },
        {
            "label": "downstream(view version, all)",
            "direction": "down",
            "node": picks["view_version"],
            "kinds": None,
        },
    ]


def explain_plans(db: Path) -> dict[str, list[str]]:
    """EXPLAIN QUERY PLAN of featstore's recursive lineage SQL."""
    from featstore.catalog.ops import ReadOps, _walk_sql

    con = _ro(db)
    plans = {}
    for name, up, params in [
        ("up, 1 kind", True, ("x", "x", "source_file")),
        ("down, 2 kinds", False, ("x", "x", "model_version", "prediction_batch")),
        ("down, all kinds", False, ("x", "x")),
    ]:
        sql = _walk_sql(up=up, n_kinds=len(params) - 2, join=ReadOps._walk_join)
        plans[name] = [
            f"{r[0]}|{r[1]}|{r[3]}" for r in con.execute("EXPLAIN QUERY PLAN " + sql, params)
        ]
    con.close()
    return plans


def main() -> int:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        print(json.dumps(child(json.loads(sys.argv[2]))))
        return 0
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument(
        "--nodes", type=int, default=1_000_000, help="target node count (default 1M; edges ~3x)"
    )
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--workdir", type=Path, default=Path("/tmp/featstore-bench-lineage"))
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="JSON results (default <workdir>/results_n<nodes>.json)",
    )
    p.add_argument("--rebuild", action="store_true", help="rebuild the cached store")
    p.add_argument("--plan-only", action="store_true", help="print the planned counts and exit")
    p.add_argument(
        "--batch-rows",
        type=int,
        default=10_000,
        help="nodes+edges per recording transaction (whole simulated days; default 10000)",
    )
    p.add_argument(
        "--repeat", type=int, default=5, help="fresh processes per one-off query (default 5)"
    )
    p.add_argument(
        "--samples", type=int, default=500, help="random nodes, loaded lineage (default 500)"
    )
    p.add_argument(
        "--per-kind",
        type=int,
        default=20,
        help="random nodes per kind, loaded lineage (default 20)",
    )
    args = p.parse_args()

    cfg = scale_config(args.nodes, args.seed)
    key = f"store_v{GEN_VERSION}_n{args.nodes}_s{args.seed}"  # v: synthetic history, not catalog format
    store_dir = args.workdir / key
    meta_path = args.workdir / f"{key}.json"
    out_path = args.out or args.workdir / f"results_n{args.nodes}.json"
    args.workdir.mkdir(parents=True, exist_ok=True)

    if args.plan_only:
        t = time.perf_counter()
        print(json.dumps(plan(cfg), indent=1))
        print(f"planned in {time.perf_counter() - t:.1f}s", file=sys.stderr)
        return 0

    if args.rebuild or not meta_path.exists() or not store_dir.exists():
        meta_path.unlink(missing_ok=True)
        print(f"planning {key} ...", file=sys.stderr, flush=True)
        pl = plan(cfg)
        print(
            f"building {key}: {pl['nodes']:,} nodes, {pl['edges']:,} edges ...",
            file=sys.stderr,
            flush=True,
        )
        b = build(store_dir, cfg, pl["batches_per_day"], args.batch_rows)
        meta = {"config": cfg, "plan": pl, "build": b}
        meta_path.write_text(json.dumps(meta, indent=1))
    else:
        meta = json.loads(meta_path.read_text())
        print(f"reusing {store_dir} (--rebuild to rebuild)", file=sys.stderr)
        ensure_current_format(store_dir, meta, meta_path)
    b = meta["build"]
    qs = queries(b["picks"])

    import networkx

    results: dict[str, Any] = {
        "config": cfg,
        "plan": meta["plan"],
        "build": b,
        "migration": meta.get("migration"),
        "store": str(store_dir),
        "catalog": _catalog_stats(store_dir),
        "targets": TARGETS,
        "python": sys.version.split()[0],
        "sqlite": sqlite3.sqlite_version,
        "networkx": networkx.__version__,
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "loadavg_start": os.getloadavg(),
        "explain_query_plan": explain_plans(store_dir / "catalog.db"),
    }

    # one-off queries, each in fresh processes (round-robin over the queries)
    counted = [
        {
            "label": f"downstream_counts(source {which})",
            "direction": "down",
            "node": b["picks"][f"source_{which}"],
            "kinds": None,
            "counts": True,
        }
        for which in ("typical", "worst")
    ]
    results["oneoff"] = {q["label"]: [] for q in qs + counted}
    for r in range(args.repeat):
        for q in qs + counted:
            print(f"one-off {r + 1}/{args.repeat}: {q['label']}", file=sys.stderr, flush=True)
            results["oneoff"][q["label"]].append(
                run_child({"mode": "oneoff", "store": str(store_dir), **q})
            )
    print("one-off breakdown ...", file=sys.stderr, flush=True)
    results["breakdown"] = {
        q["label"]: run_child({"mode": "breakdown", "store": str(store_dir), **q}) for q in qs
    }

    # the loaded lineage (store.lineage.load()), then the networkx graph, each in its own process
    print("loaded lineage ...", file=sys.stderr, flush=True)
    results["loaded"] = run_child(
        {
            "mode": "loaded",
            "store": str(store_dir),
            "seed": args.seed,
            "samples": args.samples,
            "per_kind": args.per_kind,
            "queries": qs,
        }
    )
    print("networkx graph ...", file=sys.stderr, flush=True)
    results["graph"] = run_child({"mode": "graph", "store": str(store_dir)})
    results["loadavg_end"] = os.getloadavg()

    ok = report(results)
    out_path.write_text(json.dumps(results, indent=1))
    print(f"\nJSON: {out_path}")
    return 0 if ok else 1


def _mark(value: float | None, target: float, higher_is_better: bool = False) -> str:
    if value is None:
        return ""
    return "✓" if (value >= target if higher_is_better else value < target) else "✗"


def report(res: dict[str, Any]) -> bool:
    """Print the table; return whether the answers and counts agree (timings are only
    reported, never asserted)."""
    b, t, cat = res["build"], res["targets"], res["catalog"]
    size = sum(cat["files"].values())
    print(
        f"\nlineage_scale: {b['nodes']:,} nodes, {b['edges']:,} edges "
        f"({size / 2**20:,.0f} MiB catalog, {cat['free_pages'] * cat['page_size'] / 2**20:,.0f} MiB "
        f"of it free pages), store {res['store']}"
    )
    la0, la1 = res["loadavg_start"], res["loadavg_end"]
    print(
        f"load average (1 min) {la0[0]:.2f} at start, {la1[0]:.2f} at end; {res['cpus']} CPUs; "
        f"Python {res['python']}, SQLite {res['sqlite']}, networkx {res['networkx']}"
    )
    print(f"{'measure':<58} {'value':>12} {'target':>9}")
    print("-" * 96)

    def row(label, value, unit, target=None, higher=False, extra=""):
        v = f"{value:,.1f} {unit}" if value is not None else "-"
        tt = (("≥" if higher else "<") + f"{target:,.0f}") if target is not None else ""
        mark = _mark(value, target, higher) if target is not None else " "
        print(f"{label:<58} {v:>12} {tt:>9} {mark} {extra}".rstrip())

    fmt = b.get("catalog_format", 1)
    row(
        f"bulk recording, nodes+edges/s (catalog format {fmt})",
        b["rows_per_s"],
        "/s",
        t["record_rows_per_s"],
        True,
        f"(last 10%: {b['rows_per_s_last_10pct']:,.0f}/s; {b['tx_seconds']:.0f}s in {b['transactions']} tx)",
    )
    m = res.get("migration")
    if m:
        mb = sum(m["before"]["files"].values()) / 2**20
        ma = sum(m["after"]["files"].values()) / 2**20
        row(
            f"catalog migration, format {m['from_format']} -> {m['to_format']} (first open)",
            m["open_s"],
            "s",
            extra=f"close {m['close_s']:.1f}s; peak RSS {m['peak_rss_mb']:,.0f} MB; "
            f"catalog {mb:,.0f} -> {ma:,.0f} MiB",
        )
    oneoff = res["oneoff"]
    print(f"one-off, fresh process (median of {len(next(iter(oneoff.values())))}; query only)")
    for label, runs in oneoff.items():
        med = statistics.median(r["query_s"] for r in runs) * 1e3
        opn = statistics.median(r["open_s"] for r in runs) * 1e3
        warm = statistics.median(r["warm_query_s"] for r in runs) * 1e3
        row(
            f"  {label}",
            med,
            "ms",
            t["oneoff_ms"],
            extra=f"n={runs[0]['size']:,} open={opn:.0f}ms warm={warm:.0f}ms",
        )
    L = res["loaded"]
    print("loaded lineage (store.lineage.load(), own process)")
    row(
        "  load()",
        L["load_s"],
        "s",
        extra=f"peak RSS {L['peak_rss_mb']:,.0f} MB "
        f"(before {L['rss_before_load_mb']:,.0f}, after {L['rss_after_load_mb']:,.0f})",
    )
    u, d = L["random_upstream"], L["random_downstream"]
    row(
        f"  upstream, median of {u['n']} random nodes",
        u["median_ms"],
        "ms",
        t["loaded_upstream_ms"],
        extra=f"p95 {u['p95_ms']:.2f} max {u['max_ms']:.1f}; size med {u['median_size']:,.0f} max {u['max_size']:,}",
    )
    row(
        f"  downstream, median of {d['n']} random nodes",
        d["median_ms"],
        "ms",
        t["loaded_impact_ms"],
        extra=f"p95 {d['p95_ms']:.2f} max {d['max_ms']:.1f}; size med {d['median_size']:,.0f} max {d['max_size']:,}",
    )
    for kind, pk in L["per_kind"].items():
        print(
            f"    {kind:<22} up med {pk['upstream']['median_ms']:8.2f} ms (n≈{pk['upstream']['median_size']:>7,.0f})"
            f"   down med {pk['downstream']['median_ms']:8.2f} ms max {pk['downstream']['max_ms']:8.1f}"
            f" (n≈{pk['downstream']['median_size']:>7,.0f})"
        )
    for label, q in L["named"].items():
        target = t["loaded_upstream_ms"] if label.startswith("up") else t["loaded_impact_ms"]
        row(f"  {label}", q["median_ms"], "ms", target, extra=f"n={q['size']:,}")
    G = res["graph"]
    row(
        "networkx graph: store.lineage.graph (own process)",
        G["graph_s"],
        "s",
        extra=f"peak RSS {G['peak_rss_mb']:,.0f} MB (before {G['rss_before_mb']:,.0f}, "
        f"after {G['rss_after_mb']:,.0f}); gc.collect() after {G['gc_collect_after_s']:.2f}s",
    )

    print(
        "one-off breakdown, one fresh process per query (ms): walk only (cold) | whole SQL | "
        "rows -> Nodes | parse every attrs"
    )
    for label, bd in res["breakdown"].items():
        print(
            f"  {label:<44} {bd['sql_walk_only_s'] * 1e3:8.1f} | {bd['sql_full_s'] * 1e3:8.1f} | "
            f"{bd['py_rows_to_nodes_s'] * 1e3:8.1f} | {bd['py_parse_all_attrs_s'] * 1e3:8.1f}"
            f"   [{bd['walk_rows']:,} walked, {bd['result_size']:,} returned]"
        )

    digests: dict[str, set[str]] = {}
    for label, runs in oneoff.items():
        digests.setdefault(label, set()).update(r["digest"] for r in runs)
    for label, bd in res["breakdown"].items():
        digests.setdefault(label, set()).add(bd["digest"])
    for label, q in L["named"].items():
        digests.setdefault(label, set()).add(q["digest"])
    bad = [label for label, d in digests.items() if len(d) != 1]
    res["answers_agree"] = not bad
    print(
        "answers: "
        + ("one-off (SQL) and loaded answers identical" if not bad else f"DIFFER for {bad}")
    )
    counts = {"catalog": (cat["nodes"], cat["edges"]), "networkx graph": (G["nodes"], G["edges"])}
    if m:
        counts["before migration"] = (m["before"]["nodes"], m["before"]["edges"])
    wrong = {k: v for k, v in counts.items() if v != (b["nodes"], b["edges"])}
    res["counts_agree"] = not wrong
    print(
        f"counts: {b['nodes']:,} nodes, {b['edges']:,} edges recorded; "
        + ("the same in " + ", ".join(counts) if not wrong else f"DIFFER: {wrong}")
    )
    return not bad and not wrong


if __name__ == "__main__":
    sys.exit(main())
