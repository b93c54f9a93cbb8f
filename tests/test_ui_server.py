"""The UI server (featstore.ui.server): plain HTTP against ``serve()`` over the store of
:func:`lineage_helpers.build_world` plus a view with two versions. Every endpoint gives
what the store holds, unknown objects are 404 with JSON errors, nothing but GET is
served, only the known static files are, and a crawl of every endpoint writes nothing."""

from __future__ import annotations

import json
import os
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import polars as pl
import pytest
from lineage_helpers import MAT_END, MAT_START, World, build_world

import featstore as fs
from featstore.errors import ConfigError, DefinitionError, LineageError
from featstore.ui import graph, server
from featstore.ui.server import serve

SIDE_FILES = {"catalog.db-shm", "catalog.db-wal"}  # SQLite's reader index, beside catalog.db


def _tx_v1(customer: fs.Entity, source: fs.Source) -> fs.FeatureView:
    @fs.feature_view(entity=customer, source=source, owner="growth", tags={"tier": "gold"})
    def spend_tx(df: pl.LazyFrame) -> pl.LazyFrame:
        """Doubled amounts."""
        return df.select("customer_id", "ts", (pl.col("amount") * 2).alias("double"))

    return spend_tx


def _tx_v2(customer: fs.Entity, source: fs.Source) -> fs.FeatureView:
    @fs.feature_view(
        entity=customer, source=source, owner="growth", tags={"tier": "gold"}, ttl=timedelta(days=7)
    )
    def spend_tx(df: pl.LazyFrame) -> pl.LazyFrame:
        """Doubled amounts."""
        return df.select(
            "customer_id",
            "ts",
            (pl.col("amount") * 3).alias("double"),
            (pl.col("amount") > 20).alias("big"),
        )

    return spend_tx


@dataclass
class Served:
    world: World
    server: server.UIServer
    url: str
    versions: tuple[str, str]  # spend_tx's two versions, oldest first
    tx_run: fs.MaterializationRun  # spend_tx's run, the newest
    catalog_bytes: bytes
    tree: dict[str, tuple[int, int]]


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            if name in SIDE_FILES:
                continue
            st = (Path(dirpath) / name).lstat()
            out[str((Path(dirpath) / name).relative_to(root))] = (st.st_size, st.st_mtime_ns)
    return out


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    world = build_world(tmp_path_factory.mktemp("ui"))
    store = world.store
    store.apply([_tx_v1(world.customer, world.txn_source)])
    (tx_run,) = store.materialize(MAT_START, MAT_END, ["spend_tx"])
    store.apply([_tx_v2(world.customer, world.txn_source)])
    store.set_alias("churn", "production", world.model.version)
    versions = tuple(v.version for v in store.versions("feature_view", "spend_tx"))
    assert len(versions) == 2
    store.close()  # a cleanly closed store: everything is in catalog.db
    root = world.store_path
    catalog_bytes = (root / "catalog.db").read_bytes()
    tree = _tree(root)
    ui = serve(root)
    thread = threading.Thread(target=ui.serve_forever, daemon=True)
    thread.start()
    try:
        yield Served(world, ui, ui.url, (versions[0], versions[1]), tx_run, catalog_bytes, tree)
    finally:
        ui.shutdown()
        ui.server_close()
        thread.join(5)


def fetch(url: str, *, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, method=method)  # noqa: S310 (loopback http)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, dict(exc.headers), exc.read()


def get(s: Served, path: str) -> Any:
    status, headers, body = fetch(s.url + path.lstrip("/"))
    assert status == 200, body
    assert headers["Content-Type"].startswith("application/json")
    return json.loads(body)


def error(s: Served, path: str, status: int) -> dict[str, Any]:
    got, headers, body = fetch(s.url + path.lstrip("/"))
    assert got == status, body
    assert headers["Content-Type"].startswith("application/json")
    data: dict[str, Any] = json.loads(body)
    assert set(data) == {"error", "type"}
    return data


# -- pages -----------------------------------------------------------------------------


def test_summary_counts_what_the_store_holds(served: Served) -> None:
    data = get(served, "/api/summary")
    # build_world: views spend and profile (+ spend_tx here), one run per view, one
    # training set, model churn v1, two prediction batches
    assert data["counts"] == {
        "views": 3,
        "runs": 3,
        "training_sets": 1,
        "models": 1,
        "model_versions": 1,
        "batches": 2,
    }
    assert data["store"] == str(served.world.store_path)
    assert data["featstore_version"] == fs.__version__
    assert data["read_only"] is True


def test_views_list_and_every_version_with_its_definition(served: Served) -> None:
    views = {v["name"]: v for v in get(served, "/api/views")["views"]}
    assert sorted(views) == ["profile", "spend", "spend_tx"]
    spend = views["spend"]
    assert spend["version"] == served.world.spend.version
    assert spend["lineage_id"] == f"view:spend@{served.world.spend.version}"
    assert (spend["entity"], spend["source"], spend["features"]) == ("customer", "txns", 1)
    assert views["spend_tx"]["versions"] == 2

    detail = get(served, "/api/views/spend_tx")
    old, new = served.versions
    assert [v["version"] for v in detail["versions"]] == [old, new]
    assert [v["current"] for v in detail["versions"]] == [False, True]
    assert [v["runs"] for v in detail["versions"]] == [1, 0]  # only v1 was materialized
    first, second = (v["definition"] for v in detail["versions"])
    assert first["features"] == [{"name": "double", "dtype": "Int64"}]
    assert second["features"] == [
        {"name": "double", "dtype": "Int64"},
        {"name": "big", "dtype": "Boolean"},
    ]
    assert "* 2" in first["transform_source"]
    assert "* 3" in second["transform_source"]
    assert (first["ttl"], second["ttl"]) == (None, "7 days, 0:00:00")
    assert second["description"] == "Doubled amounts."
    assert (second["owner"], second["tags"]) == ("growth", {"tier": "gold"})
    assert (second["entity"], second["join_keys"], second["source"]) == (
        "customer",
        ["customer_id"],
        "txns",
    )
    assert detail["versions"][0]["lineage_id"] == f"view:spend_tx@{old}"


def test_diff_of_two_versions_shows_the_changed_lines(served: Served) -> None:
    old, new = served.versions
    data = get(served, f"/api/views/spend_tx/diff?a={old}&b={new}")
    lines = data["diff"].splitlines()
    assert lines[0] == f"--- spend_tx@{old}"
    assert lines[1] == f"+++ spend_tx@{new}"
    removed = [line[1:] for line in lines if line.startswith("-") and not line.startswith("---")]
    added = [line[1:] for line in lines if line.startswith("+") and not line.startswith("+++")]
    assert any('(pl.col("amount") * 2).alias("double")' in line for line in removed)
    assert any('(pl.col("amount") * 3).alias("double"),' in line for line in added)
    assert any('"big": "Boolean"' in line for line in added)
    assert data["summary"]["added"] == [{"name": "big", "dtype": "Boolean"}]
    assert data["summary"]["removed"] == []
    assert data["summary"]["changed_dtype"] == []
    assert {"transform_source", "ttl_us", "features"} <= set(data["summary"]["fields_changed"])
    same = get(served, f"/api/views/spend_tx/diff?a={new}&b={new}")
    assert same["identical"] is True
    assert same["diff"] == ""


def test_diff_needs_two_known_versions(served: Served) -> None:
    old, _ = served.versions
    missing = error(served, f"/api/views/spend_tx/diff?a={old}", 400)
    assert missing["type"] == "DefinitionError"
    assert "'b'" in missing["error"]
    unknown = error(served, f"/api/views/spend_tx/diff?a={old}&b=feedbeef", 404)
    assert unknown["type"] == "NotFoundError"
    assert "feedbeef" in unknown["error"]
    assert old in unknown["error"]


def test_runs_newest_first_and_one_run_with_files_and_statistics(served: Served) -> None:
    runs = get(served, "/api/runs")["runs"]
    world_runs = {r.run_id for r in served.world.runs.values()}
    assert runs[0]["run_id"] == served.tx_run.run_id
    assert {r["run_id"] for r in runs[1:]} == world_runs
    assert [r["finished_at"] for r in runs] == sorted(
        (r["finished_at"] for r in runs), reverse=True
    )
    spend_run = served.world.runs["spend"]
    row = next(r for r in runs if r["run_id"] == spend_run.run_id)
    assert row["rows"] == 9  # the nine raw transactions
    assert (row["start"], row["end"]) == (
        "2024-01-01T00:00:00.000000",
        "2024-04-01T00:00:00.000000",
    )
    assert row["lineage_id"] == f"run:{spend_run.run_id}"

    detail = get(served, f"/api/runs/{quote(spend_run.id)}")  # the node id works too
    assert [f["path"] for f in detail["file_list"]] == list(spend_run.files)
    assert [f["bucket"] for f in detail["file_list"]] == ["2024-01", "2024-02", "2024-03"]
    assert [f["rows"] for f in detail["file_list"]] == [3, 3, 3]
    assert sorted(i["path"] for i in detail["inputs"]) == sorted(map(str, served.world.txn_files))
    stats = detail["statistics"]
    assert detail["statistics_missing"] is None
    amount = next(c for c in stats["columns"] if c["column"] == "amount")
    amounts = [10, 20, 5, 30, 7, 40, 50, 9, 60]  # lineage_helpers.TXNS
    assert amount["count"] == 9
    assert amount["nulls"] == 0
    assert amount["mean"] == pytest.approx(sum(amounts) / 9)
    assert (float(amount["min"]), float(amount["max"])) == (min(amounts), max(amounts))


def test_a_run_without_statistics_says_so(served: Served, tmp_path: Path) -> None:
    root = tmp_path / "store"
    customer = fs.Entity("customer", join_keys=["customer_id"])
    data = pl.DataFrame(
        {"customer_id": [1], "ts": [MAT_START], "x": [1.0]},
        schema={"customer_id": pl.Int64, "ts": pl.Datetime("us"), "x": pl.Float64},
    )
    source = fs.DataFrameSource("frame", data=data, timestamp_column="ts")
    with fs.FeatureStore(root, progress=False, statistics=False) as store:
        store.apply([customer, fs.FeatureView("v", entity=customer, source=source, features=["x"])])
        (run,) = store.materialize(MAT_START, MAT_END)
    ui = serve(root)
    thread = threading.Thread(target=ui.serve_forever, daemon=True)
    thread.start()
    try:
        status, _, body = fetch(ui.url + f"api/runs/{run.run_id}")
    finally:
        ui.shutdown()
        ui.server_close()
    assert status == 200
    detail = json.loads(body)
    assert detail["statistics"] is None
    assert "none recorded" in detail["statistics_missing"]


def test_training_sets_with_manifest_rows_and_columns(served: Served) -> None:
    ts = served.world.training_set
    listed = get(served, "/api/training-sets")["training_sets"]
    assert [t["id"] for t in listed] == [ts.id]
    assert listed[0]["views"] == [
        f"spend@{served.world.spend.version}",
        f"profile@{served.world.profile.version}",
    ]
    for ref in (ts.id, ts.name):
        detail = get(served, f"/api/training-sets/{quote(ref, safe='')}")
        assert detail["id"] == ts.id
        assert detail["lineage_id"] == ts.id
        assert detail["rows"] == 5  # lineage_helpers.ENTITY_ROWS
        assert [c["name"] for c in detail["columns"]] == [
            "customer_id",
            "event_timestamp",
            "label",
            "amount",
            "age",
        ]
        assert [(f["view"], f["features"]) for f in detail["features"]] == [
            ("spend", ["amount"]),
            ("profile", ["age"]),
        ]
        assert {r["run_id"] for r in detail["runs"]} == {
            served.world.runs["spend"].run_id,
            served.world.runs["profile"].run_id,
        }
        assert detail["models"] == [{"name": "churn", "version": 1, "lineage_id": "model:churn@1"}]


def test_models_with_versions_metrics_and_alias_history(served: Served) -> None:
    listed = get(served, "/api/models")["models"]
    assert listed == [
        {
            "name": "churn",
            "latest_version": 1,
            "versions": 1,
            "aliases": {"production": 1},
            "metrics": {"auc": 0.81, "logloss": 0.4},
            "created_at": served.world.model.created_at,
            "lineage_id": "model:churn@1",
        }
    ]
    detail = get(served, "/api/models/churn")
    (v,) = detail["versions"]
    assert (v["version"], v["metrics"], v["params"]) == (
        1,
        {"auc": 0.81, "logloss": 0.4},
        {"depth": 3, "lr": 0.1},
    )
    assert v["aliases"] == ["production"]
    assert v["lineage_id"] == "model:churn@1"
    assert v["training_set_lineage_id"] == served.world.training_set.id
    assert detail["aliases"] == {"production": 1}
    assert [(e["action"], e["version"]) for e in detail["alias_history"]["production"]] == [
        ("set", 1)
    ]


def test_batches_newest_first(served: Served) -> None:
    batches = get(served, "/api/batches")["batches"]
    world = served.world
    assert [b["batch_id"] for b in batches] == [world.ts_batch.batch_id, world.batch.batch_id]
    assert [b["rows"] for b in batches] == [4, 3]  # TS_BATCH_ROWS, three customers
    assert batches[1]["lineage_id"] == f"prediction_batch:{world.batch.batch_id}"
    assert batches[1]["model_lineage_id"] == "model:churn@1"
    assert batches[1]["as_of"] == "2024-03-15T00:00:00.000000"


def test_every_lineage_id_is_a_node_of_the_graph(served: Served) -> None:
    ids = [v["lineage_id"] for v in get(served, "/api/views")["views"]]
    ids += [r["lineage_id"] for r in get(served, "/api/runs")["runs"]]
    ids += [t["lineage_id"] for t in get(served, "/api/training-sets")["training_sets"]]
    ids += [m["lineage_id"] for m in get(served, "/api/models")["models"]]
    ids += [b["lineage_id"] for b in get(served, "/api/batches")["batches"]]
    assert len(ids) == 3 + 3 + 1 + 1 + 2
    with fs.FeatureStore(served.world.store_path, read_only=True) as store:
        for node in ids:
            assert store.lineage.node(node).id == node


# -- errors, methods, static files -----------------------------------------------------


@pytest.mark.parametrize(
    ("path", "named"),
    [
        ("/api/views/nope", "'nope'"),
        ("/api/runs/0123abcd", "'0123abcd'"),
        ("/api/training-sets/nope", "'nope'"),
        ("/api/models/nope", "'nope'"),
        ("/api/nothing", "/api/nothing"),
        ("/api/views/spend/diff/extra", "/api/views/spend/diff/extra"),
    ],
)
def test_unknown_objects_are_404_naming_them(served: Served, path: str, named: str) -> None:
    data = error(served, path, 404)
    assert named in data["error"]
    assert data["type"] == "NotFoundError"


def test_a_misspelt_view_gets_a_suggestion(served: Served) -> None:
    assert "spend" in error(served, "/api/views/spnd", 404)["error"]


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_only_get_is_served(served: Served, method: str) -> None:
    for path in ("api/summary", "", "static/app.js"):
        status, headers, body = fetch(served.url + path, method=method)
        assert status == 405
        assert headers["Allow"] == "GET"
        assert "read-only" in json.loads(body)["error"]


@pytest.mark.parametrize(
    "path",
    [
        "/static/../store.py",
        "/static/%2e%2e/server.py",
        "/static/..%2Fserver.py",
        "/static/server.py",
        "/static/",
        "/static/static/app.js",
        "/../featstore/ui/server.py",
    ],
)
def test_only_the_known_static_files_are_served(served: Served, path: str) -> None:
    status, _, body = fetch(served.url + path.lstrip("/"))
    assert status == 404
    assert b"import" not in body


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("", "text/html"),
        ("static/index.html", "text/html"),
        ("static/app.js", "text/javascript"),
        ("static/app.css", "text/css"),
        ("static/explorer.js", "text/javascript"),
        ("static/explorer.css", "text/css"),
    ],
)
def test_static_files_with_their_type_and_policy(served: Served, path: str, kind: str) -> None:
    status, headers, body = fetch(served.url + path)
    assert status == 200
    assert body
    assert headers["Content-Type"].startswith(kind)
    assert (
        headers["Content-Security-Policy"] == "default-src 'self'; style-src 'self' 'unsafe-inline'"
    )
    assert headers["Cache-Control"] == "no-store"


def test_index_loads_the_styles_and_scripts_in_order(served: Served) -> None:
    html = fetch(served.url)[2].decode()
    order = [
        html.index(f"/static/{name}")
        for name in ("app.css", "explorer.css", "explorer.js", "app.js")
    ]
    assert order == sorted(order)
    assert "http://" not in html
    assert "https://" not in html


def test_api_responses_carry_the_policy_too(served: Served) -> None:
    _, headers, _ = fetch(served.url + "api/summary")
    assert headers["Content-Security-Policy"].startswith("default-src 'self'")


def test_a_foreign_host_header_is_refused(served: Served) -> None:
    request = urllib.request.Request(  # noqa: S310 (loopback http)
        served.url + "api/summary", headers={"Host": "evil.example"}
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=10)  # noqa: S310
    caught.value.close()
    assert caught.value.code == 403


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "example.com", ""])  # noqa: S104
def test_only_loopback_hosts(served: Served, host: str) -> None:
    with pytest.raises(ConfigError, match="loopback"):
        serve(served.world.store_path, host=host)


def test_no_store_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no feature store"):
        serve(tmp_path / "missing")
    assert not (tmp_path / "missing").exists()


# -- the explorer's API ------------------------------------------------------------------


def test_lineage_calls_reach_the_explorer_api(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[Any, str, dict[str, str]]] = []

    def fake(source: Any, op: str, params: dict[str, str]) -> dict[str, Any]:
        calls.append((source, op, params))
        if op == "missing":
            raise LineageError("unknown lineage node 'view:zzz@1'")
        if op == "bad":
            raise DefinitionError("parameter 'up' must be a number")
        return {"op": op, "params": params}

    monkeypatch.setattr(served.server, "lineage_api", fake)
    node = f"file:/data/a b.parquet@{'0' * 12}"
    got = get(served, f"/api/lineage/graph?node={quote(node, safe='')}&up=2&up=5&empty=")
    assert got == {"op": "graph", "params": {"node": node, "up": "2", "empty": ""}}
    assert calls[0][0] is served.server.graph_source
    assert isinstance(calls[0][0], graph.GraphSource)
    assert error(served, "/api/lineage/missing", 404) == {
        "error": "unknown lineage node 'view:zzz@1'",
        "type": "LineageError",
    }
    assert error(served, "/api/lineage/bad", 400)["type"] == "DefinitionError"


def test_the_real_explorer_api_answers(served: Served) -> None:
    node = f"view:spend@{served.world.spend.version}"
    data = get(served, f"/api/lineage/graph?node={quote(node, safe='')}")
    assert isinstance(data, dict)
    assert data
    assert error(served, "/api/lineage/node?id=view:nope@1", 404)["type"] == "LineageError"


# -- read-only ---------------------------------------------------------------------------


def test_a_crawl_of_every_endpoint_writes_nothing(served: Served) -> None:
    paths = ["/", "/api/summary", "/api/views", "/api/runs", "/api/training-sets"]
    paths += ["/api/models", "/api/batches", "/api/lineage/kinds"]
    for v in get(served, "/api/views")["views"]:
        paths.append(f"/api/views/{v['name']}")
        for a in get(served, f"/api/views/{v['name']}")["versions"]:
            paths.append(f"/api/views/{v['name']}/diff?a={a['version']}&b={v['version']}")
            paths.append(f"/api/lineage/graph?node={quote(a['lineage_id'], safe='')}")
    paths += [f"/api/runs/{r['run_id']}" for r in get(served, "/api/runs")["runs"]]
    paths += [
        f"/api/training-sets/{quote(t['id'], safe='')}"
        for t in get(served, "/api/training-sets")["training_sets"]
    ]
    paths += [f"/api/models/{m['name']}" for m in get(served, "/api/models")["models"]]
    for path in paths:
        status, _, body = fetch(served.url + path.lstrip("/"))
        assert status == 200, (path, body)
    for method in ("POST", "DELETE"):
        fetch(served.url + "api/views/spend", method=method)
    root = served.world.store_path
    assert (root / "catalog.db").read_bytes() == served.catalog_bytes
    assert _tree(root) == served.tree


def test_concurrent_requests_all_answer(served: Served) -> None:
    paths = ["api/summary", "api/views/spend", "api/runs", "api/models/churn", "api/batches"] * 4
    results: list[int] = []

    def one(path: str) -> None:
        results.append(fetch(served.url + path)[0])

    threads = [threading.Thread(target=one, args=(p,)) for p in paths]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert results == [200] * len(paths)


def test_the_ui_command_serves_on_loopback_until_interrupted(served: Served) -> None:
    """`featstore ui --store PATH --port 0` in a real process: it prints its address,
    serves the app, and stops on SIGINT with status 0."""
    import re
    import signal
    import subprocess
    import sys

    command = [sys.executable, "-m", "featstore.cli", "ui"]
    command += ["--store", str(served.world.store_path), "--port", "0"]
    with subprocess.Popen(
        command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
    ) as proc:
        try:
            assert proc.stderr is not None
            line = proc.stderr.readline()
            found = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
            assert found, line
            status, _, body = fetch(found.group(0) + "api/summary")
            assert status == 200
            assert json.loads(body)["counts"] == get(served, "/api/summary")["counts"]
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
