"""A new user's path through the ``featstore`` command line alone: ``init`` scaffolds a
project, and from inside it ``apply``, ``materialize``, ``historical``, ``models
register``, ``predictions log``, ``models show`` and ``plan`` need no ``--store`` and no
definitions path. Checked against the sample data with Polars (tests/cli_project.py
builds the project), once through a real ``featstore`` process.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from cli_project import (
    FEATURES,
    METRICS,
    SAMPLE_END,
    SAMPLE_START,
    CliProject,
    build_cli_project,
    cli_project,
    naive_utc,
    reference_historical,
    run_cli,
    run_cli_json,
)
from polars.testing import assert_frame_equal

import featstore as fs
from featstore.cli.project import PROJECT_FILE, find_project, read_project
from featstore.errors import ConfigError

__all__ = ["cli_project"]  # the fixture, imported for pytest

FEATURE_COLUMNS = ["spend_30d", "purchases_30d", "amount"]


# -- init ------------------------------------------------------------------------------


def test_init_scaffolds_a_project_and_prints_the_next_commands(tmp_path: Path) -> None:
    result = run_cli(["init", "shop"], cwd=tmp_path)
    root = tmp_path / "shop"
    assert f"created featstore project in {root}" in result.stdout
    assert read_project(root / PROJECT_FILE).store == root / "store"
    assert (root / "store" / "featstore.json").is_file()
    tx = pl.read_parquet(root / "data" / "transactions.parquet")
    entities = pl.read_parquet(root / "data" / "entities.parquet")
    assert tx.height == 300
    assert entities.height == 60
    # the printed range is the sample data's: every event falls inside [start, end)
    start, end = tx["ts"].min(), tx["ts"].max()
    assert str(start)[:10] == SAMPLE_START
    assert str(end)[:10] < SAMPLE_END
    lines = [line.strip() for line in result.stdout.splitlines()]
    next_commands = lines[lines.index("next:") + 1 :]
    assert next_commands == [
        f"cd {root}",
        "featstore apply",
        f"featstore materialize {SAMPLE_START} {SAMPLE_END}",
        "featstore historical data/entities.parquet "
        + " ".join(f"--feature {f}" for f in FEATURES),
    ]


def test_init_sample_data_is_deterministic(tmp_path: Path) -> None:
    run_cli(["init", "a"], cwd=tmp_path)
    run_cli(["init", "b"], cwd=tmp_path)
    for name in ("transactions.parquet", "entities.parquet"):
        assert_frame_equal(
            pl.read_parquet(tmp_path / "a" / "data" / name),
            pl.read_parquet(tmp_path / "b" / "data" / name),
        )
    assert (tmp_path / "a" / "features.py").read_text() == (
        tmp_path / "b" / "features.py"
    ).read_text()


def test_init_in_the_current_directory_and_again(tmp_path: Path) -> None:
    run_cli(["init"], cwd=tmp_path)
    (tmp_path / "features.py").write_text("# mine\n")
    again = run_cli_json(["init"], cwd=tmp_path)
    assert again["created"] is False
    assert (tmp_path / "features.py").read_text() == "# mine\n"  # nothing overwritten


def test_init_refuses_a_non_empty_directory_that_is_no_project(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    result = run_cli(["init"], cwd=tmp_path, code=1)
    assert result.stderr.startswith(f"error: cannot create a project in '{tmp_path}'")
    assert "'notes.txt'" in result.stderr
    assert "--store-only" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_init_store_only_keeps_the_plain_store(tmp_path: Path) -> None:
    info = run_cli_json(["init", "repo", "--store-only"], cwd=tmp_path)
    assert info["created"] is True
    assert (tmp_path / "repo" / "featstore.json").is_file()
    assert not (tmp_path / "repo" / PROJECT_FILE).exists()


# -- the project file ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ('store = "store"\ncatalogue = "x"\n', r"unknown key 'catalogue'; the keys are 'store'"),
        ("store = 3\n", r"key 'store' must be a non-empty string.*found an integer 3"),
        ('definitions = ""\n', r"key 'definitions' must be a non-empty string"),
        ('store = "/abs/store"\n', r"key 'store' must be relative to the project"),
        ("store = \n", r"is not valid TOML"),
    ],
)
def test_bad_project_files_are_config_errors(tmp_path: Path, text: str, match: str) -> None:
    (tmp_path / PROJECT_FILE).write_text(text)
    with pytest.raises(ConfigError, match=match) as caught:
        read_project(tmp_path / PROJECT_FILE)
    assert str(tmp_path / PROJECT_FILE) in str(caught.value)
    # the command line reports it as one line, naming the file
    result = run_cli(["list", "views"], cwd=tmp_path, code=1)
    assert result.stderr.startswith(f"error: project file '{tmp_path / PROJECT_FILE}'")


def test_the_project_is_found_from_a_subdirectory(tmp_path: Path) -> None:
    run_cli(["init"], cwd=tmp_path)
    deep = tmp_path / "notebooks" / "week1"
    deep.mkdir(parents=True)
    found = find_project(deep)
    assert found is not None
    assert found.root == tmp_path
    applied = run_cli_json(["apply"], cwd=deep)
    assert {a["name"] for a in applied} == {"customer", "transactions", "purchases", "spending"}
    listed = run_cli_json(["list", "views"], cwd=deep)
    assert [v["name"] for v in listed] == ["purchases", "spending"]


def test_outside_a_project_the_definitions_must_be_named(tmp_path: Path) -> None:
    result = run_cli(["--store", str(tmp_path / "s"), "apply"], cwd=tmp_path, code=1)
    assert "no definitions file: pass one (DEFS or --defs)" in result.stderr


def test_explicit_store_and_definitions_win_over_the_project(tmp_path: Path) -> None:
    run_cli(["init", "shop"], cwd=tmp_path)
    root = tmp_path / "shop"
    other = tmp_path / "other_store"
    run_cli(["--store", str(other), "init"], cwd=tmp_path)  # a plain store
    only_entity = root / "entity_only.py"
    only_entity.write_text(
        'import featstore as fs\ncustomer = fs.Entity("customer", join_keys=["customer_id"])\n'
    )
    applied = run_cli_json(["--store", str(other), "apply", only_entity.name], cwd=root)
    assert [a["name"] for a in applied] == ["customer"]
    # the project's own store saw none of it
    assert run_cli_json(["list", "entities"], cwd=root) == []
    by_env = run_cli_json(["list", "entities"], cwd=root, env={"FEATSTORE_STORE": str(other)})
    assert [e["name"] for e in by_env] == ["customer"]


# -- the walk ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def walked(tmp_path_factory: pytest.TempPathFactory) -> CliProject:
    """One walked project for the tests that only read it (the others take their own
    ``cli_project``)."""
    return build_cli_project(tmp_path_factory.mktemp("walked"))


def test_the_walk_matches_polars(walked: CliProject) -> None:
    p = walked
    runs = p.outputs["materialize"]["runs"]
    tx = pl.read_parquet(p.root / "data" / "transactions.parquet")
    # every sample row is materialized once per view
    assert {r["view"]: r["rows"] for r in runs} == {"purchases": tx.height, "spending": tx.height}
    got = naive_utc(pl.read_parquet(p.historical))
    expected = reference_historical(p.root)
    assert got.height == expected.height == 60
    assert_frame_equal(got.select(expected.columns), expected, check_exact=False, rel_tol=1e-9)
    summary = p.outputs["historical"]
    assert summary["rows"] == expected.height
    nulls = {f["column"]: f["nulls"] for f in summary["features"]}
    assert nulls == {c: expected[c].null_count() for c in FEATURE_COLUMNS}
    assert 0 < nulls["spend_30d"] < expected.height


def test_historical_without_out_prints_a_preview(walked: CliProject) -> None:
    p = walked
    args = ["historical", "data/entities.parquet", "-f", "spending:spend_30d", "--rows", "3"]
    shown = run_cli_json(args, cwd=p.root)
    expected = reference_historical(p.root)
    assert shown["out"] is None
    assert shown["rows"] == expected.height
    preview = shown["preview"]
    assert preview["columns"] == ["customer_id", "event_timestamp", "churned", "spend_30d"]
    assert [r[0] for r in preview["rows"]] == expected["customer_id"].head(3).to_list()
    assert [r[3] for r in preview["rows"]] == pytest.approx(
        expected["spend_30d"].head(3).to_list(), nan_ok=True
    )
    text = run_cli(args, cwd=p.root).stdout
    assert f"{expected.height} rows x 4 columns (first 3 shown" in text
    assert "coverage spending@" in text
    assert not list(p.root.glob("*.parquet.tmp"))


def test_latest_without_out_prints_a_preview(walked: CliProject) -> None:
    p = walked
    keys = p.root / "keys.parquet"
    pl.DataFrame({"customer_id": [1, 2, 99]}).write_parquet(keys)
    shown = run_cli_json(
        ["latest", keys.name, "-f", "purchases:amount", "--as-of", "2024-03-15"], cwd=p.root
    )
    tx = pl.read_parquet(p.root / "data" / "transactions.parquet")
    window = tx.filter(
        pl.col("ts") <= pl.datetime(2024, 3, 15), pl.col("ts") >= pl.datetime(2024, 2, 14)
    )
    last = dict(window.sort("ts").group_by("customer_id").agg(pl.col("amount").last()).iter_rows())
    assert [row[-1] for row in shown["preview"]["rows"]] == [last.get(1), last.get(2), None]


def test_models_register_show_and_predictions(cli_project: CliProject) -> None:
    p = cli_project
    registered = p.outputs["register"]
    assert registered["id"] == "model:churn@1"
    assert registered["metrics"] == METRICS
    assert registered["params"] == {"depth": 3}
    assert registered["tags"] == {"description": "first model"}
    assert registered["training_set"] == p.training_set
    artifact = p.root / "model.json"
    assert registered["artifact"] == str(artifact)  # absolute: the same file from anywhere
    assert registered["artifact_sha256"] == hashlib.sha256(artifact.read_bytes()).hexdigest()
    run_cli(["models", "alias", "churn", "production", "1"], cwd=p.root)
    shown = run_cli_json(["models", "show", "churn"], cwd=p.root)
    assert shown == run_cli_json(["show", "model", "churn"], cwd=p.root)  # the old spelling
    assert [v["metrics"] for v in shown["versions"]] == [METRICS]
    assert shown["aliases"] == {"production": 1}
    assert [h["version"] for h in shown["alias_history"]["production"]] == [1]
    text = run_cli(["models", "show", "churn"], cwd=p.root).stdout
    assert "0.81" in text
    assert "production" in text
    batch = p.outputs["predictions"]
    scores = pl.read_parquet(p.predictions)
    assert batch["rows"] == scores.height == pl.read_parquet(batch["path"]).height
    assert batch["model_id"] == "model:churn@1"
    assert next(iter(batch["served_features"].values())).startswith("spending@")
    with fs.FeatureStore(p.store, progress=False) as store:
        assert store.get_prediction_batch(p.batch).rows == scores.height
        upstream = {n.id for n in store.lineage.upstream(p.batch)}
    assert p.model in upstream
    assert p.training_set in upstream
    # an alias names a version too, and NAME alone the latest
    again = run_cli_json(
        ["predictions", "log", "churn:production", p.predictions.name, "--as-of", "2024-03-31"],
        cwd=p.root,
    )
    assert again["model_version"] == 1
    assert again["rows"] == scores.height


def test_plan_before_the_first_apply(tmp_path: Path) -> None:
    run_cli(["init"], cwd=tmp_path)
    planned = run_cli_json(["plan"], cwd=tmp_path)
    assert [(a["kind"], a["name"], a["status"]) for a in planned] == [
        (
            "entity",
            "customer",
            "new",
        ),
        ("source", "transactions", "new"),
        ("feature_view", "purchases", "new"),
        ("feature_view", "spending", "new"),
    ]
    assert all(a["previous_version"] is None for a in planned)
    assert run_cli_json(["list", "views"], cwd=tmp_path) == []  # plan wrote nothing
    applied = run_cli_json(["apply"], cwd=tmp_path)
    assert [a["version"] for a in applied] == [a["version"] for a in planned]


def test_plan_shows_changes_and_writes_nothing(cli_project: CliProject) -> None:
    p = cli_project
    before = run_cli_json(["plan"], cwd=p.root)
    assert {a["status"] for a in before} == {"unchanged"}
    features = p.root / "features.py"
    text = features.read_text()
    edited = text.replace('"sum", window=timedelta(days=30)', '"sum", window=timedelta(days=14)')
    assert edited != text
    features.write_text(edited)
    catalog = p.store / "catalog.db"
    stamp = (catalog.read_bytes(), catalog.stat().st_mtime_ns)
    with fs.FeatureStore(p.store, progress=False) as store:
        nodes = store.lineage.graph.number_of_nodes()
        old = store.get_feature_view("spending").version
    planned = {a["name"]: a for a in run_cli_json(["plan"], cwd=p.root)}
    text = run_cli(["plan"], cwd=p.root).stdout
    assert (catalog.read_bytes(), catalog.stat().st_mtime_ns) == stamp
    spending = planned["spending"]
    assert spending["status"] == "changed"
    assert spending["previous_version"] == old
    assert planned["purchases"]["status"] == "unchanged"
    assert f"{old} -> {spending['version']}" in text
    with fs.FeatureStore(p.store, progress=False) as store:
        assert store.lineage.graph.number_of_nodes() == nodes
        assert store.get_feature_view("spending").version == old
    applied = {a["name"]: a for a in run_cli_json(["apply"], cwd=p.root)}
    assert applied["spending"]["version"] == spending["version"]  # plan told the truth


# -- errors ----------------------------------------------------------------------------


def test_errors_are_json_under_json(walked: CliProject) -> None:
    p = walked
    result = run_cli(["models", "show", "chrn", "--json"], cwd=p.root, code=1)
    assert result.stdout == ""
    assert json.loads(result.stderr) == {
        "error": "unknown model 'chrn'; did you mean 'churn'?",
        "type": "NotFoundError",
    }
    plain = run_cli(["models", "show", "chrn"], cwd=p.root, code=1)
    assert plain.stderr == "error: unknown model 'chrn'; did you mean 'churn'?\n"
    usage = run_cli(["historical", "missing.parquet", "--json"], cwd=p.root, code=2)
    error = json.loads(usage.stderr)
    assert error["type"] == "UsageError"
    assert "missing.parquet" in error["error"]
    bad_metric = run_cli(
        ["models", "register", "churn", "--metric", "auc=high", "--json"], cwd=p.root, code=1
    )
    assert json.loads(bad_metric.stderr)["type"] == "DefinitionError"
    assert "'auc': 'high' is not a number" in json.loads(bad_metric.stderr)["error"]
    unknown_set = run_cli(
        ["models", "register", "churn", "--training-set", "nope", "--json"], cwd=p.root, code=1
    )
    assert json.loads(unknown_set.stderr)["type"] == "NotFoundError"
    bad_ref = run_cli(["predictions", "log", "churn@one", "scores.parquet"], cwd=p.root, code=1)
    assert bad_ref.stderr.startswith("error: model reference 'churn@one': 'one' is not a version")
    assert run_cli_json(["list", "models"], cwd=p.root)[0]["versions"] == 1  # nothing added
    # the monitoring commands find the project's store, and report errors alike
    stats = run_cli_json(["stats", "spending"], cwd=p.root)
    assert stats["rows"] == pl.read_parquet(p.root / "data" / "transactions.parquet").height
    # an aggregation view stores its source column; the windows are computed at retrieval
    assert [c["name"] for c in stats["columns"]] == ["amount"]
    missing = run_cli(["stats", "view:nope", "--json"], cwd=p.root, code=1)
    assert json.loads(missing.stderr)["type"] == "NotFoundError"


def test_the_main_path_through_a_real_process(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "featstore"
    launcher = [str(script)] if script.exists() else [sys.executable, "-m", "featstore.cli"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEATSTORE_")}

    def featstore(*args: str, cwd: Path, code: int = 0) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [*launcher, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == code, (args, done.stdout, done.stderr)
        return done

    init = featstore("init", "shop", cwd=tmp_path)
    root = tmp_path / "shop"
    commands = [
        s for s in (line.strip() for line in init.stdout.splitlines()) if s.startswith("featstore ")
    ]
    assert commands[:2] == ["featstore apply", f"featstore materialize {SAMPLE_START} {SAMPLE_END}"]
    historical = commands[2].split()[1:]  # the printed command, run as printed
    featstore("apply", cwd=root)
    featstore(*commands[1].split()[1:], cwd=root / "data")  # from a subdirectory
    out = json.loads(featstore(*historical, "--out", "train.parquet", "--json", cwd=root).stdout)
    expected = reference_historical(root)
    got = naive_utc(pl.read_parquet(root / "train.parquet"))
    assert out["rows"] == got.height == expected.height
    assert_frame_equal(got.select(expected.columns), expected, check_exact=False, rel_tol=1e-9)
    failed = featstore("models", "show", "churn", "--json", cwd=root, code=1)
    assert json.loads(failed.stderr)["type"] == "NotFoundError"
