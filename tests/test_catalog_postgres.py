"""A PostgreSQL catalog under load and under fire: eight processes writing one catalog at
once, writers SIGKILLed at random moments and while holding its locks, and the
store-level rules for a catalog URL (featstore.json, reopening, a server that is down,
read-only stores).

Skipped when there is no PostgreSQL (see tests/pgserver.py). ``-m slow`` runs bigger
loads and 24 more kills.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pgserver
import polars as pl
import pytest
from fault_worker import FEATURES, make_data, month_start, open_store
from helpers import END, START, files_under, make_events
from lineage_helpers import edge_set
from test_fault_injection import _counts, assert_consistent, calibrate, run_worker

import featstore as fs

WORKER = Path(__file__).with_name("fault_worker.py")

pytestmark = pytest.mark.usefixtures("postgres_server")


@pytest.fixture
def pg_url(postgres_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh PostgreSQL database for this test's store; FEATSTORE_CATALOG unset, so
    workers find the catalog through the store's featstore.json alone."""
    monkeypatch.delenv("FEATSTORE_CATALOG", raising=False)
    url = pgserver.fresh_database_url(postgres_server)
    yield url
    pgserver.drop_database(url, postgres_server)


def _start(store: Path, data: Path, op: str, arg: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(WORKER), str(store), str(data), op, arg],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _new_store(store_dir: Path, data: Path, url: str) -> fs.FeatureStore:
    """The workers' store (their definitions applied), its catalog in ``url``."""
    fs.FeatureStore(store_dir, catalog=url, progress=False).close()
    return open_store(store_dir, data)


def _dump(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every catalog table, sorted: compare whole catalog states."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as con:
        tables = [
            r[0]
            for r in con.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = 'public' ORDER BY table_name"
            )
        ]
        return {
            t: sorted(map(tuple, con.execute(f'SELECT * FROM "{t}"')), key=repr) for t in tables
        }


# -- (a) eight processes at once ---------------------------------------------------------


def run_eight(
    tmp_path: Path, url: str, *, registrations: int, batches: int, applies: int
) -> dict[str, Any]:
    """Eight worker processes on one PostgreSQL catalog at once: two materialize a view
    each (the whole year), two register versions of one model, two save training sets,
    one logs prediction batches and one applies new definitions; an in-process reader
    polls meanwhile. Checks that nothing was lost or doubled."""
    data = tmp_path / "data"
    make_data(data, rows_per_month=500)
    store_dir = tmp_path / "store"
    store = _new_store(store_dir, data, url)
    store.materialize(month_start(0), month_start(1))
    labels = pl.read_parquet(data / "labels.parquet")
    base = store.save_training_set(store.get_historical_features(labels, features=FEATURES), "base")
    store.register_model("model", base)
    store.close()

    jobs = [
        ("materialize_view", "last_txn"),
        ("materialize_view", "spend"),
        ("register_model", str(registrations)),
        ("register_model", str(registrations)),
        ("save_training_set", "a"),
        ("save_training_set", "b"),
        ("log_predictions", str(batches)),
        ("apply_definitions", str(applies)),
    ]
    reader_waits: list[float] = []
    stop = threading.Event()

    def read_loop() -> None:
        with fs.FeatureStore(store_dir, progress=False) as reader:
            while not stop.is_set():
                t0 = time.perf_counter()
                reader.runs()
                reader.list_model_versions("model")
                reader_waits.append(time.perf_counter() - t0)

    thread = threading.Thread(target=read_loop)
    thread.start()
    began = time.perf_counter()
    procs = [(_start(store_dir, data, op, arg), op, arg) for op, arg in jobs]
    wrote: list[tuple[str, dict[str, Any]]] = []
    failures = []
    for proc, op, _ in procs:
        out, err = proc.communicate(timeout=600)
        lines = out.strip().splitlines()
        if proc.returncode != 0 or not lines or lines[-1] != "ok":
            failures.append(f"{op}: rc={proc.returncode}\n{err[-3000:]}")
        else:
            wrote.append((op, json.loads(lines[-2])))
    wall = time.perf_counter() - began
    stop.set()
    thread.join()
    assert not failures, "\n".join(failures)

    store = assert_consistent(store_dir)  # records, lineage nodes and files agree
    try:
        counted = _check_eight(store, wrote, registrations, batches, applies)
    finally:
        store.close()
    return {
        "wall_s": round(wall, 1),
        "max_reader_wait_s": round(max(reader_waits), 3),
        "reads": len(reader_waits),
        **counted,
    }


def _check_eight(
    store: fs.FeatureStore,
    wrote: list[tuple[str, dict[str, Any]]],
    registrations: int,
    batches: int,
    applies: int,
) -> dict[str, int]:
    by_op: dict[str, list[dict[str, Any]]] = {}
    for op, what in wrote:
        by_op.setdefault(op, []).append(what)

    # model versions: contiguous 1..N, each taken by exactly one registration
    versions = [mv.version for mv in store.list_model_versions("model")]
    total = 1 + 2 * registrations
    assert versions == list(range(1, total + 1))
    taken = [v for w in by_op["register_model"] for v in w["versions"]]
    assert sorted(taken) == list(range(2, total + 1)), "a version was lost or doubled"
    for w in by_op["register_model"]:
        assert w["versions"] == sorted(w["versions"])

    # prediction batches: every one recorded once, with the version it was scored by
    (logged,) = (w["batches"] for w in by_op["log_predictions"])
    assert len(logged) == batches
    recorded = {b["batch_id"]: b for b in store.catalog.prediction_batches()}
    assert sorted(recorded) == sorted(batch_id for batch_id, _ in logged)
    for batch_id, version in logged:
        assert recorded[batch_id]["model_version"] == version
        assert store.offline.absolute(recorded[batch_id]["path"]).is_file()

    # training sets: base, ts_a and ts_b, each once
    saved = store.list_training_sets()
    assert sorted(t.name for t in saved) == ["base", "ts_a", "ts_b"]
    assert len({t.id for t in saved}) == 3
    for w in by_op["save_training_set"]:
        assert store.get_training_set(w["training_set"]).path.is_file()

    # runs: each view's month-0 run and its worker's whole-year run, each once
    runs = store.runs()
    assert len({r["run_id"] for r in runs}) == len(runs) == 4
    for w in by_op["materialize_view"]:
        (run_id,) = w["runs"]
        (run,) = [r for r in runs if r["run_id"] == run_id]
        assert (run["start"], run["end"][:10]) == (
            month_start(0).isoformat(timespec="microseconds"),
            "2025-01-01",
        )
    for view in ("last_txn", "spend"):
        assert len([r for r in runs if r["view"] == view]) == 2

    # definitions: the applier's versions in order; the eight identical applies of the
    # workers' own definitions recorded each definition once
    (applied,) = (w["versions"] for w in by_op["apply_definitions"])
    assert [r["version"] for r in store.versions("feature_view", "extra")] == applied
    assert len(set(applied)) == applies
    for i in range(applies):
        assert len(store.versions("feature_service", f"svc_{i}")) == 1
    for kind, name in (
        ("entity", "customer"),
        ("source", "txns"),
        ("feature_view", "last_txn"),
        ("feature_view", "spend"),
    ):
        assert len(store.versions(kind, name)) == 1, (kind, name)

    # lineage: every write has its edges, between recorded nodes
    graph = store.lineage.load().graph
    edges = edge_set(graph)
    assert all("kind" in attrs for _, attrs in graph.nodes(data=True)), "edge to a missing node"
    base = store.get_training_set("base")
    for v in versions:
        assert (base.id, f"model:model@{v}", "trained") in edges
    for batch_id, version in logged:
        assert (f"model:model@{version}", f"prediction_batch:{batch_id}", "predicted") in edges
    run_nodes = {f"run:{r['run_id']}" for r in runs}
    for r in runs:
        view_node = f"view:{r['view']}@{r['view_version']}"
        assert (view_node, f"run:{r['run_id']}", "materialized_by") in edges
    for ts in saved:
        into = {(s, k) for s, t, k in edges if t == ts.id}
        assert {s for s, k in into if k == "features_of"} == {
            f"view:{v}@{store.get_feature_view(v)['version']}" for v in ("last_txn", "spend")
        }
        readers = {s for s, k in into if k == "read_by"}
        assert readers
        assert readers <= run_nodes
    return {
        "model_versions": len(versions),
        "batches": len(recorded),
        "training_sets": len(saved),
        "runs": len(runs),
        "definitions_applied": applies * 2,
        "edges": len(edges),
    }


def test_eight_processes_lose_and_double_nothing(tmp_path: Path, pg_url: str) -> None:
    stats = run_eight(tmp_path, pg_url, registrations=5, batches=3, applies=3)
    # readers use snapshots and never wait for writers; slack for a loaded machine
    assert stats["max_reader_wait_s"] < 5.0
    print(f"8 processes on PostgreSQL: {stats}")


@pytest.mark.slow
def test_eight_processes_under_heavy_load(tmp_path: Path, pg_url: str) -> None:
    stats = run_eight(tmp_path, pg_url, registrations=60, batches=15, applies=15)
    assert stats["max_reader_wait_s"] < 5.0
    print(f"8 processes on PostgreSQL (heavy): {stats}")


# -- (b) SIGKILL -----------------------------------------------------------------------------


def _until_holding(proc: subprocess.Popen[str], timeout: float = 120) -> None:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.strip() == "holding":
            return
        if not line and proc.poll() is not None:
            break
    proc.kill()
    _, err = proc.communicate()
    raise AssertionError(f"the worker never held its lock:\n{err[-3000:]}")


def _kill(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL


def test_killed_writer_releases_the_write_lock_and_its_writes_vanish(
    tmp_path: Path, pg_url: str
) -> None:
    data = tmp_path / "data"
    make_data(data, rows_per_month=100)
    store = _new_store(tmp_path / "store", data, pg_url)
    try:
        proc = _start(store.path, data, "hold", "write")
        _until_holding(proc)
        # the lock is really held: a writer with a short wait (none: 0) gives up in time,
        # naming the cause
        from featstore.catalog.postgres import PostgresCatalog

        for max_wait_s in (0.3, 0):
            impatient = PostgresCatalog(pg_url, create=False, max_wait_s=max_wait_s)
            began = time.perf_counter()
            try:
                with (
                    pytest.raises(fs.CatalogError, match="held the catalog's write lock"),
                    impatient.transaction(),
                ):
                    pass
            finally:
                impatient.close()
            assert time.perf_counter() - began < 10, f"max_wait_s={max_wait_s} waited on"
        _kill(proc)
        began = time.perf_counter()
        mv = store.register_model("after_kill", None)
        waited = time.perf_counter() - began
        assert mv.version == 1
        assert waited < 10, f"the next writer waited {waited:.1f}s for a dead writer's lock"
        assert store.catalog.lineage_node("model:ghost@1") is None, "uncommitted write visible"
        assert store.catalog.model_names() == ["after_kill"]
    finally:
        store.close()


def test_killed_view_writer_releases_the_view_lock(tmp_path: Path, pg_url: str) -> None:
    data = tmp_path / "data"
    make_data(data, rows_per_month=100)
    store = _new_store(tmp_path / "store", data, pg_url)
    store.close()
    proc = _start(tmp_path / "store", data, "hold", "view")
    _until_holding(proc)
    done: list[object] = []

    def materialize() -> None:
        try:
            with open_store(tmp_path / "store", data) as s:
                done.append(s.materialize(month_start(0), month_start(1), views=["last_txn"]))
        except BaseException as exc:  # reported by the main thread
            done.append(exc)

    import psycopg

    thread = threading.Thread(target=materialize)
    thread.start()
    try:
        # wait until the materialization is blocked on the view's advisory lock
        with psycopg.connect(pg_url, autocommit=True) as con:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not done:
                row = con.execute(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                ).fetchone()
                if row and row[0]:
                    break
                time.sleep(0.05)
            else:
                raise AssertionError(f"the materialization never waited for the lock: {done}")
        assert not done, "materialize ran while another process held the view's lock"
    finally:
        _kill(proc)
        thread.join(timeout=120)
    assert not thread.is_alive(), "the materialization still waits for a dead writer's lock"
    (result,) = done
    assert not isinstance(result, BaseException), result
    assert [r.view for r in result] == ["last_txn"]  # type: ignore[attr-defined]
    assert_consistent(tmp_path / "store").close()


# the features of each view, as FEATURES names them
_VIEW_COLUMNS = {"last_txn": ["amount"], "spend": ["spend_30d", "n_30d"]}


def kill_mixed(root: Path, url: str, kills: int, *, seed: int) -> dict[str, list[bool]]:
    """Kill workers at random moments during materialize, save_training_set,
    register_model and log_predictions (in a shuffled order, each op a quarter of the
    kills); after each kill the state is exactly the one before or the one after."""
    data = root / "data"
    make_data(data, rows_per_month=500)
    store_dir = root / "store"
    _new_store(store_dir, data, url).close()
    labels = pl.read_parquet(data / "labels.parquet")
    duration = {"materialize": calibrate(store_dir, data, "materialize", "0")}
    with fs.FeatureStore(store_dir, progress=False) as store:
        base = store.get_historical_features(labels, features=FEATURES)
        store.register_model("model", store.save_training_set(base, "base"))
    for op, arg in (
        ("save_training_set", "cal"),
        ("register_model", "1"),
        ("log_predictions", "1"),
    ):
        duration[op] = calibrate(store_dir, data, op, arg)
    rng = random.Random(seed)
    ops = [op for _ in range(-(-kills // 4)) for op in rng.sample(sorted(duration), 4)][:kills]
    outcomes: dict[str, list[bool]] = {op: [] for op in duration}
    month = 0
    for n, op in enumerate(ops):
        kill_after = rng.uniform(0.2, 1.05) * duration[op]
        if op == "materialize":
            month += 1
            with fs.FeatureStore(store_dir, progress=False) as store:
                before = store.get_historical_features(labels, features=FEATURES).to_polars()
            completed = run_worker(store_dir, data, op, str(month), kill_after=kill_after)
            assert_consistent(store_dir).close()
            with open_store(store_dir, data) as store:
                start = month_start(month).isoformat(timespec="microseconds")
                recorded = {r["view"] for r in store.runs() if r["start"] == start}
                seen = store.get_historical_features(labels, features=FEATURES).to_polars()
                store.materialize(month_start(month), month_start(month + 1))  # re-run
                after = store.get_historical_features(labels, features=FEATURES).to_polars()
            # each view's run commits on its own: each view's features are before or after
            for view, columns in _VIEW_COLUMNS.items():
                got = seen.select(columns)
                assert got.equals(before.select(columns)) or got.equals(after.select(columns)), (
                    f"mixed state of {view} after kill {n}"
                )
                if completed or view in recorded:
                    assert got.equals(after.select(columns)), f"kill {n}: {view}'s run unseen"
        else:
            arg = {"save_training_set": f"k{n}", "register_model": "1"}.get(op, "1")
            before_counts = _counts(store_dir)
            completed = run_worker(store_dir, data, op, arg, kill_after=kill_after)
            assert_consistent(store_dir).close()
            grew = _counts(store_dir)[op] - before_counts[op]
            assert grew in (0, 1), f"kill {n} during {op}: {grew} records"
            if completed:
                assert grew == 1
        outcomes[op].append(completed)
    with fs.FeatureStore(store_dir, progress=False) as store:
        for ts in store.list_training_sets():
            assert store.rebuild_training_set(ts).frame.equals(ts.to_polars())
    return outcomes


def _summary(outcomes: dict[str, list[bool]]) -> str:
    return ", ".join(
        f"{op}: {len(done) - sum(done)} of {len(done)} killed midway"
        for op, done in sorted(outcomes.items())
    )


def test_killed_operations_leave_before_or_after(tmp_path: Path, pg_url: str) -> None:
    outcomes = kill_mixed(tmp_path, pg_url, 4, seed=4)
    assert sum(map(len, outcomes.values())) == 4
    print(f"SIGKILL on PostgreSQL: {_summary(outcomes)}")


@pytest.mark.slow
def test_killed_operations_many_times(tmp_path: Path, pg_url: str) -> None:
    outcomes = kill_mixed(tmp_path, pg_url, 24, seed=40)
    assert sum(map(len, outcomes.values())) == 24
    print(f"SIGKILL on PostgreSQL: {_summary(outcomes)}")


# -- (c) the store and its catalog URL ---------------------------------------------------------


def _with_password(url: str, password: str) -> str:
    scheme, rest = url.split("://", 1)
    user, host = rest.split("@", 1)
    return f"{scheme}://{user}:{password}@{host}"


def _small_views(tmp_path: Path) -> list[Any]:
    make_events(60, seed=3).write_parquet(tmp_path / "tx.parquet")
    customer = fs.Entity("customer", join_keys=["customer_id"])
    tx = fs.ParquetSource("tx", path=tmp_path / "tx.parquet", timestamp_column="ts")
    return [
        customer,
        tx,
        fs.FeatureView("amounts", entity=customer, source=tx, features=["amount"]),
    ]


def test_the_config_records_the_url_without_its_password(tmp_path: Path, pg_url: str) -> None:
    secret = _with_password(pg_url, "s3cr3t-pw")  # the test server trusts, so any password
    with fs.FeatureStore(tmp_path / "store", catalog=secret, progress=False) as store:
        store.apply(_small_views(tmp_path))
        assert "s3cr3t-pw" not in store.catalog.location
    text = (tmp_path / "store" / "featstore.json").read_text()
    assert "s3cr3t-pw" not in text
    assert json.loads(text)["catalog"] == pg_url
    assert not (tmp_path / "store" / "catalog.db").exists()
    # reopened without catalog=: the recorded URL; with the same URL (password or not): fine
    for again in (None, pg_url, secret):
        with fs.FeatureStore(tmp_path / "store", catalog=again, progress=False) as store:
            assert [d["name"] for d in store.list_definitions("feature_view")] == ["amounts"]
    # a worker process finds it from featstore.json alone (FEATSTORE_CATALOG is unset)
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, featstore as fs\n"
            "with fs.FeatureStore(sys.argv[1], progress=False) as s:\n"
            "    print(type(s.catalog).__name__, s.list_feature_views()[0]['name'])",
            str(tmp_path / "store"),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.split() == ["PostgresCatalog", "amounts"]


def test_another_catalog_for_an_existing_store_is_a_config_error(
    tmp_path: Path, pg_url: str, postgres_server: str
) -> None:
    fs.FeatureStore(tmp_path / "pg", catalog=pg_url, progress=False).close()
    other = pgserver.fresh_database_url(postgres_server)
    try:
        for wrong in (other, "sqlite"):
            with pytest.raises(fs.ConfigError, match="omit catalog= to use the recorded one"):
                fs.FeatureStore(tmp_path / "pg", catalog=wrong, progress=False)
        fs.FeatureStore(tmp_path / "lite", progress=False).close()
        with pytest.raises(fs.ConfigError, match="the embedded SQLite file"):
            fs.FeatureStore(tmp_path / "lite", catalog=pg_url, progress=False)
        # nothing was created in the other database by the refused attempts
        assert _dump(other) == {}
    finally:
        pgserver.drop_database(other, postgres_server)


def _dead_url() -> str:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"postgresql://someone:hunter2@127.0.0.1:{port}/featstore"


def test_a_server_that_is_down_is_a_catalog_error_naming_the_url(
    tmp_path: Path, pg_url: str
) -> None:
    dead = _dead_url()
    shown = dead.replace(":hunter2", "")
    with pytest.raises(fs.CatalogError) as info:
        fs.FeatureStore(tmp_path / "new", catalog=dead, progress=False)
    assert shown in str(info.value)
    assert "hunter2" not in str(info.value)
    assert not (tmp_path / "new").exists(), "a failed open left the new store's directory"
    # an existing store whose server went away (its config now names a dead server)
    fs.FeatureStore(tmp_path / "old", catalog=pg_url, progress=False).close()
    config = tmp_path / "old" / "featstore.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), "catalog": shown}))
    with pytest.raises(fs.CatalogError, match="cannot connect") as info:
        fs.FeatureStore(tmp_path / "old", progress=False)
    assert shown in str(info.value)


def test_read_only_refuses_every_write_and_writes_nothing(tmp_path: Path, pg_url: str) -> None:
    views = _small_views(tmp_path)
    with fs.FeatureStore(tmp_path / "store", catalog=pg_url, progress=False) as store:
        store.apply(views)
        store.materialize(START, END)
        entity = pl.DataFrame(
            {"customer_id": [0, 1, 2], "event_timestamp": [START, START, END]}
        ).with_columns(pl.col("event_timestamp").cast(pl.Datetime("us")))
        ts = store.save_training_set(store.get_historical_features(entity, ["amounts:amount"]), "t")
        store.register_model("m", ts)
    before_rows = _dump(pg_url)
    before_files = files_under(tmp_path / "store")
    with fs.FeatureStore(tmp_path / "store", read_only=True, progress=False) as ro:
        assert ro.read_only
        # reads work
        assert ro.get_model("m").version == 1
        assert [t.id for t in ro.list_training_sets()] == [ts.id]
        assert ro.get_historical_features(entity, ["amounts:amount"]).frame.height == 3
        assert ro.lineage.upstream("model:m@1", kinds="training_set")[0].id == ts.id
        # writes are refused
        scored = pl.DataFrame({"customer_id": [1], "p": [0.5]})
        refused: list[str] = []
        writes = {
            "apply": lambda: ro.apply(views[:1]),
            # the view given as code: a read-only store cannot apply it first
            "materialize": lambda: ro.materialize(START, END, views=[views[2]]),
            "save_training_set": lambda: ro.save_training_set(
                ro.get_historical_features(entity.head(2), ["amounts:amount"]), "t2"
            ),
            "register_model": lambda: ro.register_model("m", ts),
            "set_alias": lambda: ro.set_alias("m", "prod", 1),
            "log_predictions": lambda: ro.log_predictions(ro.get_model("m"), scored, as_of=END),
            "gc": lambda: ro.gc(),
        }
        for what, write in writes.items():
            with pytest.raises(fs.CatalogError, match=r"read.only"):
                write()
            refused.append(what)
    assert len(refused) == len(writes)
    assert _dump(pg_url) == before_rows, "a read-only store changed its catalog"
    after_files = files_under(tmp_path / "store")
    assert before_files <= after_files, "a read-only store deleted files"
    leftover = sorted(after_files - before_files)
    assert not leftover, f"a read-only store wrote {leftover}"


def test_cli_init_creates_a_store_with_a_postgresql_catalog(tmp_path: Path, pg_url: str) -> None:
    """`featstore init --catalog URL`: the store records the URL without its password,
    and every later command finds the catalog through featstore.json."""
    from click.testing import CliRunner

    from featstore.cli import cli

    with_password = (
        pg_url.replace("://", "://postgres:not-needed@", 1) if "@" not in pg_url else pg_url
    )
    runner = CliRunner()
    done = runner.invoke(cli, ["init", str(tmp_path / "s"), "--catalog", with_password, "--json"])
    assert done.exit_code == 0, done.output
    info = json.loads(done.output)
    assert info["created"] is True
    assert info["catalog"].startswith("postgresql://")
    assert "not-needed" not in done.output
    config = json.loads((tmp_path / "s" / "featstore.json").read_text())
    assert config["catalog"] == info["catalog"]
    assert not (tmp_path / "s" / "catalog.db").exists()
    listed = runner.invoke(cli, ["--store", str(tmp_path / "s"), "list", "views", "--json"])
    assert listed.exit_code == 0, listed.output
    assert json.loads(listed.output) == []
