"""The ``featstore`` command line, driven through click's CliRunner over a tiny store.

One store is built per module (through the CLI: init, materialize, historical
--save-as; then two model versions and a prediction batch through the Python API).
Tests that change it work on a copy.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from click.testing import CliRunner, Result

import featstore as fs
from featstore.cli import cli, load_definitions

DEFS = '''
from datetime import timedelta
from pathlib import Path

import polars as pl

import featstore as fs

HERE = Path(__file__).parent
customer = fs.Entity("customer", join_keys=["customer_id"])
transactions = fs.ParquetSource("transactions", path=str(HERE / "tx.parquet"),
                                timestamp_column="ts")


@fs.feature_view(entity=customer, source=transactions, ttl=timedelta(days={ttl}))
def last_amount(t: pl.LazyFrame) -> pl.LazyFrame:
    """The customer's latest purchase amount."""
    return t.select("customer_id", "ts", pl.col("amount").alias("last_amount"))


amounts = fs.FeatureView("amounts", entity=customer, source=transactions, features=["amount"])
scoring = fs.FeatureService("scoring", features=[last_amount, "amounts:amount"])
'''

TX = pl.DataFrame(
    {
        "customer_id": [1, 1, 2, 2, 3],
        "ts": [
            datetime(2024, 1, 5),
            datetime(2024, 2, 10),
            datetime(2024, 1, 20),
            datetime(2024, 3, 1),
            datetime(2024, 2, 15),
        ],
        "amount": [10.0, 20.0, 5.0, 7.5, 100.0],
    }
)
LABELS = pl.DataFrame(
    {
        "customer_id": [1, 2, 3, 4],
        "event_timestamp": [
            datetime(2024, 2, 1),
            datetime(2024, 3, 15),
            datetime(2024, 1, 1),
            datetime(2024, 3, 1),
        ],
        "label": [0, 1, 0, 1],
    }
)


def naive_utc(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with time-zone-aware instants as naive UTC ones (a written file holds
    UTC-adjusted timestamps; an in-memory result keeps the entity frame's)."""
    return frame.with_columns(
        pl.col(c).dt.convert_time_zone("UTC").dt.replace_time_zone(None)
        for c, d in frame.schema.items()
        if isinstance(d, pl.Datetime) and d.time_zone is not None
    )


def run(args: Sequence[str], *, code: int = 0, env: dict[str, str] | None = None) -> Result:
    result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
    assert result.exit_code == code, (result.stdout, result.stderr)
    return result


def run_json(args: Sequence[str]) -> Any:
    return json.loads(run([*args, "--json"]).stdout)


def write_project(root: Path, *, ttl: int = 30) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    TX.write_parquet(root / "tx.parquet")
    LABELS.write_parquet(root / "labels.parquet")
    pl.DataFrame({"customer_id": [1, 2, 3]}).write_parquet(root / "keys.parquet")
    defs = root / "defs.py"
    defs.write_text(DEFS.replace("{ttl}", str(ttl)))
    return defs


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A materialized store with a saved training set, two versions of model 'churn'
    (alias production -> 1) and one prediction batch of three rows."""
    root = tmp_path_factory.mktemp("project")
    defs = write_project(root)
    store = root / "repo"
    run(["--store", str(store), "init"])
    materialized = run_json(
        ["--store", str(store), "materialize", "2024-01-01", "2024-04-01", "--defs", str(defs)]
    )
    run(
        [
            "--store",
            str(store),
            "historical",
            str(root / "labels.parquet"),
            "--service",
            "scoring",
            "--out",
            str(root / "train.parquet"),
            "--save-as",
            "churn_train",
        ]
    )
    with fs.FeatureStore(store, progress=False) as s:
        ts = s.get_training_set("churn_train")
        s.register_model("churn", ts, metrics={"auc": 0.71}, params={"depth": 3})
        s.register_model("churn", ts, metrics={"auc": 0.75})
        s.set_alias("churn", "production", 1)
        keys = pl.read_parquet(root / "keys.parquet")
        features = s.get_latest_features(keys, ["last_amount:last_amount"], as_of="2024-02-20")
        preds = keys.with_columns(score=pl.Series([0.1, 0.9, 0.3]))
        batch = s.log_predictions(s.get_model("churn", 2), preds, features=features)
        versions = {r["name"]: r["version"] for r in s.list_feature_views()}
    return {
        "root": root,
        "defs": defs,
        "store": store,
        "batch": batch.id,
        "versions": versions,
        "materialized": materialized,
    }


@pytest.fixture
def copy(project: dict[str, Any], tmp_path: Path) -> Path:
    """A private copy of the module's store, for tests that change it."""
    target = tmp_path / "repo"
    shutil.copytree(project["store"], target)
    return target


def st(project: dict[str, Any]) -> list[str]:
    return ["--store", str(project["store"])]


# -- entry points, init, errors ------------------------------------------------------------


@pytest.mark.parametrize("launcher", ["module", "script"])
def test_installed_entry_points_print_help(launcher: str) -> None:
    if launcher == "module":
        command = [sys.executable, "-m", "featstore.cli", "--help"]
    else:
        script = Path(sys.executable).parent / "featstore"
        if not script.exists():
            pytest.skip("the featstore console script is not installed next to python")
        command = [str(script), "--help"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert "Usage: featstore" in done.stdout
    for name in ("materialize-incremental", "historical", "lineage", "models", "gc"):
        assert name in done.stdout


def test_init_creates_a_store_once(tmp_path: Path) -> None:
    target = tmp_path / "new_repo"
    first = run(["init", str(target), "--store-only"])
    assert f"created feature store at {target}" in first.stdout
    assert (target / "featstore.json").is_file()
    assert (target / "catalog.db").is_file()
    assert run_json(["init", str(target), "--store-only"]) == {
        "path": str(target),
        "created": False,
        "catalog": str(target / "catalog.db"),
    }


def test_init_uses_the_store_option_and_env(tmp_path: Path) -> None:
    run(["init"], env={"FEATSTORE_STORE": str(tmp_path / "from_env")})
    assert (tmp_path / "from_env" / "featstore.json").is_file()
    listed = run(["list", "views"], env={"FEATSTORE_STORE": str(tmp_path / "from_env")})
    assert listed.stdout.strip() == "no views yet"


def test_init_refuses_a_non_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    result = run(["init", str(tmp_path), "--store-only"], code=1)
    assert result.stderr.startswith("error: cannot create a store at")
    assert not (tmp_path / "featstore.json").exists()


def test_a_missing_store_is_an_error_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    result = run(["--store", str(missing), "list", "views"], code=1)
    assert result.stderr.startswith(f"error: no feature store at '{missing}'")
    assert "featstore --store" in result.stderr
    assert not missing.exists()


def test_unknown_view_is_error_with_suggestion(project: dict[str, Any]) -> None:
    result = run([*st(project), "show", "view", "last_amont"], code=1)
    assert (
        result.stderr == "error: unknown feature view 'last_amont'; did you mean 'last_amount'?\n"
    )
    assert "Traceback" not in result.output
    assert result.stdout == ""


def test_usage_errors_exit_2(project: dict[str, Any]) -> None:
    both = run(
        [
            *st(project),
            "historical",
            str(project["root"] / "labels.parquet"),
            "-f",
            "amounts:amount",
            "--service",
            "scoring",
            "--out",
            "x.parquet",
        ],
        code=2,
    )
    assert "pass either --feature (one or more) or --service" in both.stderr
    bad_kind = run(
        [*st(project), "lineage", "upstream", "source:transactions", "--kind", "x"], code=2
    )
    assert "'x' is not one of" in bad_kind.stderr
    assert run([*st(project), "list", "widgets"], code=2).exit_code == 2


def test_bad_timestamp_is_error(project: dict[str, Any], copy: Path) -> None:
    result = run(
        [
            "--store",
            str(copy),
            "materialize",
            "yesterday",
            "2024-04-01",
            "--defs",
            str(project["defs"]),
        ],
        code=1,
    )
    assert result.stderr.startswith("error: start 'yesterday' is not an ISO 8601 timestamp")


# -- apply -----------------------------------------------------------------------------------


def test_apply_reports_new_unchanged_and_updated(tmp_path: Path) -> None:
    defs = write_project(tmp_path)
    store = ["--store", str(tmp_path / "repo")]
    run([*store, "init"])
    table = run([*store, "apply", str(defs)]).stdout
    assert "applied 5 definitions (5 new)" in table
    for name in ("customer", "transactions", "amounts", "last_amount", "scoring"):
        assert name in table
    again = run_json([*store, "apply", str(defs)])
    assert [(a["kind"], a["name"], a["status"]) for a in again] == [
        ("entity", "customer", "unchanged"),
        ("source", "transactions", "unchanged"),
        ("feature_view", "amounts", "unchanged"),
        ("feature_view", "last_amount", "unchanged"),
        ("feature_service", "scoring", "unchanged"),
    ]
    with fs.FeatureStore(tmp_path / "repo", progress=False) as s:
        assert {a["name"]: a["version"] for a in again if a["kind"] == "feature_view"} == {
            r["name"]: r["version"] for r in s.list_feature_views()
        }
    old = {a["name"]: a["version"] for a in again}
    write_project(tmp_path, ttl=60)  # a new ttl: a new view version, and a new service version
    changed = {a["name"]: a for a in run_json([*store, "apply", str(defs)])}
    assert changed["last_amount"]["status"] == "updated"
    assert changed["last_amount"]["previous_version"] == old["last_amount"]
    assert changed["last_amount"]["version"] != old["last_amount"]
    assert changed["scoring"]["status"] == "updated"
    assert changed["amounts"]["status"] == "unchanged"
    history = run_json([*store, "show", "view", "last_amount"])["versions"]
    assert [v["version"] for v in history] == [
        old["last_amount"],
        changed["last_amount"]["version"],
    ]
    assert [v["current"] for v in history] == [False, True]


def test_apply_uses_a_definitions_list(tmp_path: Path) -> None:
    write_project(tmp_path)
    defs = tmp_path / "only_amounts.py"
    defs.write_text((tmp_path / "defs.py").read_text() + "\ndefinitions = [customer, amounts]\n")
    run(["--store", str(tmp_path / "repo"), "init"])
    applied = run_json(["--store", str(tmp_path / "repo"), "apply", str(defs)])
    assert [(a["kind"], a["name"]) for a in applied] == [
        ("entity", "customer"),
        ("source", "transactions"),  # brought along by the view
        ("feature_view", "amounts"),
    ]


def test_apply_reports_errors_in_user_code(tmp_path: Path) -> None:
    run(["--store", str(tmp_path / "repo"), "init"])
    bad = tmp_path / "bad.py"
    bad.write_text("import featstore as fs\n\nx = 1\ny = undefined_name + x\n")
    result = run(["--store", str(tmp_path / "repo"), "apply", str(bad)], code=1)
    assert result.stderr == (
        f"error: cannot load definitions from '{bad}': NameError: name 'undefined_name' is not "
        f"defined (at bad.py:4)\n"
    )
    empty = tmp_path / "empty.py"
    empty.write_text("import featstore as fs\nN = 3\n")
    result = run(["--store", str(tmp_path / "repo"), "apply", str(empty)], code=1)
    assert result.stderr.startswith(f"error: no definitions found in '{empty}'")
    assert (
        run(
            ["--store", str(tmp_path / "repo"), "apply", str(tmp_path / "nope.py")], code=2
        ).exit_code
        == 2
    )


def test_load_definitions_finds_module_level_objects(project: dict[str, Any]) -> None:
    found = load_definitions(project["defs"])
    assert sorted((type(d).__name__, d.name) for d in found) == [
        ("Entity", "customer"),
        ("FeatureService", "scoring"),
        ("FeatureView", "amounts"),
        ("FeatureView", "last_amount"),
        ("ParquetSource", "transactions"),
    ]


# -- list / show -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("what", "names"),
    [
        ("entities", ["customer"]),
        ("sources", ["transactions"]),
        ("views", ["amounts", "last_amount"]),
        ("services", ["scoring"]),
        ("models", ["churn"]),
        ("training-sets", ["churn_train"]),
        ("runs", ["last_amount", "amounts"]),
    ],
)
def test_list(project: dict[str, Any], what: str, names: list[str]) -> None:
    records = run_json([*st(project), "list", what])
    key = "view" if what == "runs" else "name"
    assert sorted(r[key] for r in records) == sorted(names)
    table = run([*st(project), "list", what]).stdout
    assert table.startswith(f"{what} ({len(names)})")
    for name in names:
        assert name in table


def test_list_details(project: dict[str, Any]) -> None:
    views = {r["name"]: r for r in run_json([*st(project), "list", "views"])}
    assert views["last_amount"]["features"] == {"last_amount": "Float64"}
    assert views["last_amount"]["ttl_us"] == 30 * 86_400 * 1_000_000
    assert views["amounts"]["version"] == project["versions"]["amounts"]
    (service,) = run_json([*st(project), "list", "services"])
    assert [(i["view"], i["features"]) for i in service["features"]] == [
        ("last_amount", ["last_amount"]),
        ("amounts", ["amount"]),
    ]
    (model,) = run_json([*st(project), "list", "models"])
    assert model == {
        "name": "churn",
        "latest_version": 2,
        "versions": 2,
        "aliases": {"production": 1},
    }
    runs = run_json([*st(project), "list", "runs"])
    assert {(r["start"], r["end"], r["rows"]) for r in runs} == {
        ("2024-01-01T00:00:00.000000", "2024-04-01T00:00:00.000000", 5)
    }
    assert "30d" in run([*st(project), "list", "views"]).stdout
    assert run([*st(project), "list"]).stdout.startswith("views (2)")


def test_show_view(project: dict[str, Any]) -> None:
    info = run_json([*st(project), "show", "view", "last_amount"])
    assert info["name"] == "last_amount"
    assert info["version"] == project["versions"]["last_amount"]
    assert info["features"] == {"last_amount": "Float64"}
    assert info["join_keys"] == ["customer_id"]
    assert info["ttl_us"] == 30 * 86_400 * 1_000_000
    assert info["description"] == "The customer's latest purchase amount."
    assert [(v["version"], v["current"]) for v in info["versions"]] == [(info["version"], True)]
    assert info["materialized"] == {"runs": 1, "rows": 5, "until": "2024-04-01T00:00:00.000000"}
    text = run([*st(project), "show", "view", "last_amount"]).stdout
    assert text.startswith("feature view last_amount\n")
    for piece in (
        info["version"],
        "customer (join keys: customer_id)",
        "Float64",
        "30d",
        "1 run, 5 rows, until 2024-04-01 00:00:00",
    ):
        assert piece in text


def test_show_model(project: dict[str, Any]) -> None:
    info = run_json([*st(project), "show", "model", "churn"])
    assert info["aliases"] == {"production": 1}
    assert [(v["version"], v["metrics"], v["aliases"]) for v in info["versions"]] == [
        (1, {"auc": 0.71}, ["production"]),
        (2, {"auc": 0.75}, []),
    ]
    assert info["versions"][0]["params"] == {"depth": 3}
    assert info["versions"][0]["training_set"].startswith("training_set:churn_train@")
    assert [h["version"] for h in info["alias_history"]["production"]] == [1]
    text = run([*st(project), "show", "model", "churn"]).stdout
    for piece in ("model churn", "auc", "0.71", "0.75", "production", "training_set:churn_train@"):
        assert piece in text
    missing = run([*st(project), "show", "model", "chrn"], code=1)
    assert missing.stderr == "error: unknown model 'chrn'; did you mean 'churn'?\n"


# -- materialize ---------------------------------------------------------------------------


def test_materialize_output(project: dict[str, Any]) -> None:
    result = project["materialized"]
    assert {a["status"] for a in result["applied"]} == {"new"}
    runs = {r["view"]: r for r in result["runs"]}
    assert set(runs) == {"amounts", "last_amount"}
    for r in runs.values():
        assert r["rows"] == 5
        assert r["id"] == f"run:{r['run_id']}"
        assert (r["start"], r["end"]) == (
            "2024-01-01T00:00:00.000000",
            "2024-04-01T00:00:00.000000",
        )
        assert [i["path"] for i in r["inputs"]] == [str(project["root"] / "tx.parquet")]
        assert all((project["store"] / f).is_file() for f in r["files"])
    assert runs["amounts"]["view_version"] == project["versions"]["amounts"]


def test_materialize_one_view_then_incremental(project: dict[str, Any], tmp_path: Path) -> None:
    store = ["--store", str(tmp_path / "repo")]
    run([*store, "init"])
    defs = ["--defs", str(project["defs"])]
    text = run([*store, "materialize", "2024-01-01", "2024-02-01", *defs, "--view", "amounts"])
    assert "applied 5 definitions (5 new)" in text.stdout
    assert "materialized 1 run" in text.stdout
    assert "2024-02-01 00:00:00" in text.stdout
    first = run_json([*store, "list", "runs"])
    assert [(r["view"], r["rows"]) for r in first] == [("amounts", 2)]  # Jan: two purchases
    inc = run_json([*store, "materialize-incremental", "2024-04-01", *defs])
    assert inc["applied"][0]["status"] == "unchanged"
    spans = {r["view"]: (r["start"][:10], r["end"][:10], r["rows"]) for r in inc["runs"]}
    assert spans == {
        "amounts": ("2024-02-01", "2024-04-01", 3),  # from where its last run ended
        "last_amount": ("2024-01-05", "2024-04-01", 5),  # from its first event
    }
    nothing = run([*store, "materialize-incremental", "2024-04-01", *defs])
    assert nothing.stdout.strip() == "nothing to materialize"


# -- retrieval -----------------------------------------------------------------------------


def test_historical_with_service_matches_the_python_api(
    project: dict[str, Any], copy: Path, tmp_path: Path
) -> None:
    out = tmp_path / "train.parquet"
    labels = project["root"] / "labels.parquet"
    summary = run_json(
        [
            "--store",
            str(copy),
            "historical",
            str(labels),
            "--service",
            "scoring",
            "--out",
            str(out),
            "--save-as",
            "cli_train",
        ]
    )
    frame = pl.read_parquet(out)
    assert frame.columns == ["customer_id", "event_timestamp", "label", "last_amount", "amount"]
    assert frame["last_amount"].to_list() == [10.0, 7.5, None, None]
    assert frame["amount"].to_list() == [10.0, 7.5, None, None]
    assert summary["rows"] == 4
    assert summary["features"] == [
        {"column": "last_amount", "dtype": "Float64", "nulls": 2},
        {"column": "amount", "dtype": "Float64", "nulls": 2},
    ]
    assert summary["training_set"] == f"training_set:cli_train@{summary['content_id']}"
    with fs.FeatureStore(copy, progress=False) as s:
        api = s.get_historical_features(LABELS, ["last_amount:last_amount", "amounts:amount"])
        assert naive_utc(api.frame).equals(naive_utc(frame))
        saved = s.get_training_set("cli_train")
        assert saved.manifest["feature_service"]["name"] == "scoring"
        assert naive_utc(saved.to_polars()).equals(naive_utc(frame))
    names = [t["name"] for t in run_json(["--store", str(copy), "list", "training-sets"])]
    assert sorted(names) == ["churn_train", "cli_train"]


def test_historical_with_features_and_full_names(project: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "t.parquet"
    text = run(
        [
            *st(project),
            "historical",
            str(project["root"] / "labels.parquet"),
            "-f",
            "last_amount:last_amount",
            "--feature",
            "amounts:amount",
            "--full-feature-names",
            "--out",
            str(out),
        ]
    ).stdout
    assert text.startswith(f"wrote 4 rows to {out}\n")
    assert "last_amount__last_amount" in text
    assert pl.read_parquet(out).columns[-2:] == ["last_amount__last_amount", "amounts__amount"]
    bad = run(
        [
            *st(project),
            "historical",
            str(project["root"] / "labels.parquet"),
            "-f",
            "amounts:amont",
            "--out",
            str(out),
        ],
        code=1,
    )
    assert bad.stderr.startswith("error: ")
    assert "did you mean 'amount'?" in bad.stderr
    # the transactions source records no created timestamps: no bitemporal reads
    blind = run(
        [
            *st(project),
            "historical",
            str(project["root"] / "labels.parquet"),
            "-f",
            "amounts:amount",
            "--bitemporal",
            "--out",
            str(out),
        ],
        code=1,
    )
    assert "'amounts' cannot be read bitemporally" in blind.stderr


def test_latest(project: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "latest.parquet"
    summary = run_json(
        [
            *st(project),
            "latest",
            str(project["root"] / "keys.parquet"),
            "-f",
            "last_amount:last_amount",
            "--as-of",
            "2024-02-20",
            "--out",
            str(out),
        ]
    )
    assert summary["mode"] == "latest"
    assert summary["as_of"] == "2024-02-20T00:00:00.000000"
    frame = pl.read_parquet(out)
    # customer 2's last purchase (Jan 20) is older than the 30-day TTL
    assert dict(zip(frame["customer_id"], frame["last_amount"], strict=True)) == {
        1: 20.0,
        2: None,
        3: 100.0,
    }
    text = run(
        [
            *st(project),
            "latest",
            str(project["root"] / "keys.parquet"),
            "--service",
            "scoring",
            "--as-of",
            "2024-02-20",
            "--out",
            str(out),
        ]
    ).stdout
    assert f"wrote 3 rows to {out} as of 2024-02-20 00:00:00" in text
    assert pl.read_parquet(out).columns == ["customer_id", "last_amount", "amount"]


# -- models --------------------------------------------------------------------------------


def test_models_alias_and_rollback(copy: Path) -> None:
    store = ["--store", str(copy)]
    assert run_json([*store, "models", "alias", "churn", "production", "2"]) == {
        "name": "churn",
        "alias": "production",
        "version": 2,
        "previous_version": 1,
    }
    assert run_json([*store, "show", "model", "churn"])["aliases"] == {"production": 2}
    text = run([*store, "models", "rollback", "churn", "production"]).stdout
    assert text == "model 'churn': alias 'production' -> version 1 (was 2)\n"
    with fs.FeatureStore(copy, progress=False) as s:
        assert s.get_model("churn", alias="production").version == 1
    again = run([*store, "models", "rollback", "churn", "production"], code=1)
    assert again.stderr.startswith("error: cannot roll back alias 'production' of model 'churn'")
    missing = run([*store, "models", "alias", "churn", "staging", "9"], code=1)
    assert missing.stderr.startswith("error: model 'churn' has no version 9; its versions are [")


# -- lineage -------------------------------------------------------------------------------


def test_lineage_downstream_and_upstream(project: dict[str, Any]) -> None:
    down = run_json(
        [
            *st(project),
            "lineage",
            "downstream",
            "source:transactions",
            "--kind",
            "model_version",
            "--kind",
            "prediction_batch",
        ]
    )
    assert down["node"] == "source:transactions"
    assert [n["id"] for n in down["nodes"]] == ["model:churn@1", "model:churn@2", project["batch"]]
    # shorthand: model:NAME is the latest version
    up = run_json([*st(project), "lineage", "upstream", "model:churn", "--kind", "feature_view"])
    assert up["node"] == "model:churn@2"
    versions = project["versions"]
    assert [n["id"] for n in up["nodes"]] == [
        f"view:amounts@{versions['amounts']}",
        f"view:last_amount@{versions['last_amount']}",
    ]
    text = run([*st(project), "lineage", "upstream", "view:amounts"]).stdout
    assert text.startswith(f"upstream of view:amounts@{versions['amounts']} (1)")
    assert "source:transactions" in text
    bad = run([*st(project), "lineage", "upstream", "source:transactons"], code=1)
    assert bad.stderr == (
        "error: unknown lineage node 'source:transactons'; did you mean 'source:transactions'?\n"
    )
    counts = run_json([*st(project), "lineage", "downstream", "source:transactions", "--count"])
    assert counts["counts"]["model_version"] == 2
    assert counts["counts"]["prediction_batch"] == 1
    assert next(iter(counts["counts"])) == "source_file"  # kind order, like the node lists
    only = run_json(
        [
            *st(project),
            "lineage",
            "downstream",
            "source:transactions",
            "--count",
            "--kind",
            "model_version",
        ]
    )
    assert only["counts"] == {"model_version": 2}
    text = run([*st(project), "lineage", "downstream", "source:transactions", "--count"]).stdout
    assert text.startswith(f"downstream of source:transactions ({sum(counts['counts'].values())})")


def test_lineage_path(project: dict[str, Any]) -> None:
    path = run_json([*st(project), "lineage", "path", "source:transactions", "model:churn@2"])
    assert path[0] == "source:transactions"
    assert path[1].startswith("view:")
    assert path[2].startswith("training_set:churn_train@")
    assert path[-1] == "model:churn@2"
    text = run([*st(project), "lineage", "path", "source:transactions", "model:churn@2"]).stdout
    assert text.splitlines() == [path[0], *(f"  -> {p}" for p in path[1:])]
    none = run([*st(project), "lineage", "path", "model:churn@2", "source:transactions"], code=1)
    assert none.stderr.startswith("error: no lineage path from 'model:churn@2'")


def test_lineage_explain(project: dict[str, Any]) -> None:
    batch_id = project["batch"].removeprefix("prediction_batch:")
    info = run_json([*st(project), "lineage", "explain", batch_id, "0"])
    assert info["prediction_batch"] == project["batch"]
    assert info["model_version"]["id"] == "model:churn@2"
    assert info["prediction"]["customer_id"] == 1
    assert info["prediction"]["score"] == 0.1
    (feature,) = info["features"]
    assert (feature["feature"], feature["value"]) == ("last_amount", 20.0)
    assert feature["event_timestamp"] == "2024-02-10T00:00:00"
    assert feature["run"].startswith("run:")
    assert [f["path"] for f in info["source_files"]] == [str(project["root"] / "tx.parquet")]
    assert info["source_files"][0]["unchanged"] is True
    text = run([*st(project), "lineage", "explain", project["batch"], "2"]).stdout
    assert f"{project['batch']} row 2" in text
    assert "model:churn@2" in text
    assert "100" in text  # customer 3's last amount
    out_of_range = run([*st(project), "lineage", "explain", batch_id, "7"], code=1)
    assert "row 7 is out of range" in out_of_range.stderr


@pytest.mark.parametrize(
    ("fmt", "start"),
    [
        ("json", "{"),
        ("graphml", "<?xml"),
        ("dot", "digraph lineage {"),
        ("mermaid", "flowchart LR"),
    ],
)
def test_lineage_export(project: dict[str, Any], fmt: str, start: str) -> None:
    text = run([*st(project), "lineage", "export", "--format", fmt]).stdout
    assert text.startswith(start)
    assert "transactions" in text
    assert "churn" in text


def test_lineage_export_json_node_and_file(project: dict[str, Any], tmp_path: Path) -> None:
    whole = json.loads(run([*st(project), "lineage", "export"]).stdout)
    assert whole["format"] == "featstore.lineage.node-link/1"
    ids = {n["id"] for n in whole["nodes"]}
    assert {"source:transactions", "model:churn@1", "model:churn@2", project["batch"]} <= ids
    out = tmp_path / "amounts.json"
    result = run(
        [
            *st(project),
            "lineage",
            "export",
            "--node",
            "view:amounts",
            "--direction",
            "up",
            "--out",
            str(out),
        ]
    )
    assert result.stdout == ""
    assert result.stderr == f"wrote 2 nodes and 1 edge to {out}\n"
    part = json.loads(out.read_text())
    assert {n["id"] for n in part["nodes"]} == {
        "source:transactions",
        f"view:amounts@{project['versions']['amounts']}",
    }


def test_lineage_openlineage(project: dict[str, Any], tmp_path: Path) -> None:
    lines = run([*st(project), "lineage", "openlineage"]).stdout.splitlines()
    events = [json.loads(line) for line in lines]
    # START and COMPLETE of two runs, a training set, two model versions, a prediction batch
    assert len(events) == 12
    assert [e["eventType"] for e in events].count("START") == 6
    assert sorted({e["job"]["name"] for e in events}) == [
        "materialize.amounts",
        "materialize.last_amount",
        "predict.churn",
        "register_model.churn",
        "training_set.churn_train",
    ]
    out = tmp_path / "events.jsonl"
    run([*st(project), "lineage", "openlineage", "--out", str(out)])
    assert [json.loads(line) for line in out.read_text().splitlines()] == events


# -- gc ------------------------------------------------------------------------------------


def test_gc_removes_dead_staging(copy: Path) -> None:
    dead = copy / "staging" / "deadbeef"
    dead.mkdir(parents=True)
    (dead / "part.parquet").write_bytes(b"half written")
    assert run_json(["--store", str(copy), "gc"]) == {"removed": ["staging/deadbeef"]}
    assert not dead.exists()
    assert run(["--store", str(copy), "gc"]).stdout == "removed 0 files\n"


def test_data_functions_return_plain_data(project: dict[str, Any]) -> None:
    from featstore import cli as cli_module

    with cli_module.open_store(project["store"]) as s:
        details = cli_module.view_details(s, "amounts")
        json.dumps(details)  # JSON-ready as is
        assert details["features"] == {"amount": "Float64"}
        walk = cli_module.lineage_walk(
            s, "view:last_amount", direction="downstream", kinds=["feature_service"]
        )
        assert [n["name"] for n in walk["nodes"]] == ["scoring"]
        assert cli_module.resolve_node(s, "service:scoring").startswith("service:scoring@")
