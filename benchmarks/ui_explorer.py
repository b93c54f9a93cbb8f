"""The lineage explorer in a real browser on a large store: time to the first interactive
±2-hop view, expanding a hop, and a search, measured in headless Chromium against
``featstore ui``'s server.

A script, not a test: nothing asserts on timings. See benchmarks/README.md
("ui_explorer.py").

    # the ~100k-node synthetic store of lineage_scale.py (built and cached by it)
    /work/venv/bin/python benchmarks/lineage_scale.py --nodes 100000
    /work/venv/bin/python benchmarks/ui_explorer.py

Timed, per sampled node (random nodes of each kind, fixed seed):

- **first view**: from ``page.goto(<ui>#/lineage/<node>)`` until the explorer says it is
  ready (``data-state=ready`` with that centre): page load, scripts, the API call, layout
  and the SVG built. Wall clock, measured by the test driver.
- **expand**: the explorer's own measure around one expansion (API call, merge, layout,
  SVG), for a shown node that has neighbours not yet shown.
- **search**: the explorer's own measure around one search (API call and the result list),
  after the input's 60 ms debounce.

The server's start (reading the lineage's structure into memory) is timed separately.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import threading
import time
import urllib.parse
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

TARGETS_MS = {"first_view": 2000.0, "expand": 200.0, "search": 100.0}
KINDS = ("feature_view", "materialization_run", "training_set", "model_version", "prediction_batch")


def _default_store() -> Path | None:
    found = sorted(Path("/tmp/featstore-bench-lineage").glob("store_v*_n100000_s*"))
    return next((p for p in found if p.is_dir()), None)


def _summary(samples: list[float]) -> dict[str, float]:
    samples = sorted(samples)
    return {
        "n": len(samples),
        "median_ms": round(statistics.median(samples), 1),
        "p90_ms": round(samples[min(len(samples) - 1, int(len(samples) * 0.9))], 1),
        "max_ms": round(samples[-1], 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", type=Path, default=None)
    parser.add_argument("--per-kind", type=int, default=4)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    store_path = args.store or _default_store()
    if store_path is None:
        print(
            "no store: build one with benchmarks/lineage_scale.py --nodes 100000, or pass --store"
        )
        return 2

    from browser import CHROMIUM_ARGS, chromium_path
    from playwright.sync_api import sync_playwright

    from featstore.ui.server import serve

    t0 = time.perf_counter()
    server = serve(store_path, port=0)
    start_s = time.perf_counter() - t0
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    st = server.graph_source.structure()
    rng = random.Random(args.seed)
    picks: list[str] = []
    for kind in KINDS:
        ids = [i for i, k in zip(st.ids, st.kinds, strict=True) if k == kind]
        picks += rng.sample(ids, min(args.per_kind, len(ids)))
    first: list[float] = []
    shown_counts: list[int] = []
    expand: list[float] = []
    search: list[float] = []
    words = sorted({n for n in st.names if n})[:: max(1, len(set(st.names)) // 50)]
    path = chromium_path()
    if path is None:
        print("no Chromium found (apt-get install chromium, or set FEATSTORE_CHROMIUM)")
        return 2
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        # warm the browser's cache of the static files, as a user's second view would be
        page.goto(server.url + "#/lineage/" + urllib.parse.quote(picks[0], safe=""))
        page.wait_for_selector("#explorer[data-state=ready]", timeout=60_000)
        for node in picks:
            page.goto("about:blank")
            t = time.perf_counter()
            page.goto(server.url + "#/lineage/" + urllib.parse.quote(node, safe=""))
            page.wait_for_selector(
                f'#explorer[data-state=ready][data-center="{node}"]', timeout=60_000
            )
            first.append((time.perf_counter() - t) * 1000)
            shown = page.eval_on_selector_all("g.fs-node", "gs => gs.map(g => g.dataset.id)")
            shown_counts.append(len(shown))
            # expand the first shown node that has neighbours not yet shown
            for candidate in shown:
                if candidate.startswith("group:"):
                    continue
                before = len(shown)
                done = page.evaluate(
                    """([id, before]) => new Promise((resolve) => {
                        const n0 = (window.__featstoreTimings || []).length;
                        const g = document.querySelector(`g.fs-node[data-id="${CSS.escape(id)}"]`);
                        g.dispatchEvent(new MouseEvent('dblclick', {bubbles: true}));
                        const t = setInterval(() => {
                          const ts = window.__featstoreTimings;
                          if (ts.length > n0 && ts[ts.length - 1].op === 'expand') {
                            clearInterval(t);
                            resolve([ts[ts.length - 1].ms, document.querySelectorAll('g.fs-node').length]);
                          }
                        }, 5);
                    })""",
                    [candidate, before],
                )
                if done[1] > before:
                    expand.append(done[0])
                    break
            word = rng.choice(words)
            page.fill("#fs-search", word[: max(3, len(word) - 2)])
            page.wait_for_function(
                "q => document.querySelector('#explorer').dataset.searched === q",
                arg=word[: max(3, len(word) - 2)],
                timeout=60_000,
            )
            ms = page.evaluate(
                "() => window.__featstoreTimings.filter(t => t.op === 'search').pop().ms"
            )
            search.append(ms)
        browser.close()
    server.shutdown()
    server.server_close()
    nodes, edges = len(st.ids), sum(len(s) for s in st.succ)
    result = {
        "store": str(store_path),
        "nodes": nodes,
        "edges": edges,
        "server_start_s": round(start_s, 2),
        "first_view": _summary(first),
        "nodes_shown_median": statistics.median(shown_counts),
        "expand": _summary(expand),
        "search": _summary(search),
        "page_errors": errors,
    }
    print(json.dumps(result, indent=2))
    for key, target in TARGETS_MS.items():
        got = result[key]["median_ms"]  # type: ignore[index]
        print(
            f"{key:>10}: median {got:8.1f} ms, p90 {result[key]['p90_ms']:8.1f} ms "  # type: ignore[index]
            f"(target {target:.0f} ms: {'met' if got <= target else 'MISSED'})"
        )
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
