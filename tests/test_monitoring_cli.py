"""The monitoring commands of the ``featstore`` command line (stats, drift, skew, labels,
performance, evaluate, compare, and the --require gate of ``models alias``), driven
through click's CliRunner.

One store is built per module through the Python API: a view over an in-memory source,
materialized; a saved training set; two versions of model 'm' with evaluations; three
prediction batches logged with their features, and labels for them. Tests that change
what other tests read (labels, new evaluations, aliases) work on a copy. Every --json
document is checked against the numbers the Python API gives.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner, Result

import featstore as fs
from featstore.cli import cli
from featstore.monitoring.labels import labels_of

START, END = datetime(2024, 1, 1), datetime(2024, 7, 1)


def run(args: Sequence[str], *, code: int = 0) -> Result:
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == code, (result.stdout, result.stderr)
    return result


def run_json(args: Sequence[str], *, code: int = 0) -> Any:
    return json.loads(run([*args, "--json"], code=code).stdout)


def no_tracebacks(result: Result) -> None:
    assert "Traceback" not in result.output


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("monitoring_cli")
    rng = np.random.default_rng(7)
    n = 3000
    seconds = np.sort(rng.integers(0, int((END - START).total_seconds()) - 1, n))
    txns = pl.DataFrame(
        {
            "customer_id": rng.integers(0, 200, n),
            "ts": [START + timedelta(seconds=int(s)) for s in seconds],
            "amount": rng.gamma(2.0, 10.0, n),
            "plan": rng.choice(["basic", "plus", "pro"], n),
        }
    )
    customer = fs.Entity("customer", join_keys=["customer_id"])
    source = fs.DataFrameSource("txns", txns, timestamp_column="ts")
    view = fs.FeatureView(
        "stats", entity=customer, source=source, ttl=timedelta(days=60), features=["amount", "plan"]
    )
    store_path = root / "store"
    with fs.FeatureStore(store_path, progress=False) as store:
        store.apply([customer, source, view])
        runs = store.materialize(START, END)
        entities = pl.DataFrame(
            {
                "customer_id": rng.integers(0, 200, 600),
                "event_timestamp": [
                    datetime(2024, 3, 1) + timedelta(hours=int(h))
                    for h in rng.integers(0, 24 * 90, 600)
                ],
            }
        ).with_columns(label=(pl.col("customer_id") % 2).cast(pl.Int64))
        result = store.get_historical_features(entities, ["stats:amount", "stats:plan"])
        ts = store.save_training_set(result, "train")
        mv1 = store.register_model("m", ts, metrics={"auc": 0.7})
        mv2 = store.register_model("m", ts, metrics={"auc": 0.72})
        keys = pl.DataFrame({"customer_id": list(range(60))})
        batches = []
        for mv, day in ((mv1, 10), (mv1, 20), (mv2, 20)):
            latest = store.get_latest_features(
                keys, ["stats:amount", "stats:plan"], as_of=datetime(2024, 6, day)
            )
            scored = keys.with_columns(score=pl.Series(rng.random(keys.height)))
            batches.append(store.log_predictions(mv, scored, features=latest))
        for b in batches:
            ids = b.to_polars().select("prediction_id")
            store.log_labels(ids.with_columns(label=pl.Series(rng.integers(0, 2, ids.height))))
        # a batch whose served amounts are not what the store gives: skew
        latest = store.get_latest_features(keys, ["stats:amount"], as_of=datetime(2024, 6, 25))
        served = latest.frame.select("customer_id", pl.col("amount") + 1.0).with_columns(
            score=pl.Series(rng.random(keys.height))
        )
        skewed = store.log_predictions(mv1, served, features=latest)
        p1, p2 = rng.random(ts.rows), rng.random(ts.rows)
        ev1 = store.evaluate(mv1, ts, predictions=pl.Series(p1), label_column="label")
        ev2 = store.evaluate(mv2, ts, predictions=pl.Series(p2), label_column="label")
        frame = ts.to_polars()
    frame.write_parquet(root / "train.parquet")
    frame.write_csv(root / "train.csv")
    shifted = frame.with_columns(
        pl.col("amount") * 1.8,
        pl.when(pl.col("plan") == "basic")
        .then(pl.lit("gold"))
        .otherwise(pl.col("plan"))
        .alias("plan"),
    )
    shifted.write_parquet(root / "shifted.parquet")
    pl.DataFrame({"prediction": p1}).write_parquet(root / "p1.parquet")
    pl.DataFrame({"p": p2, "other": p1}).write_parquet(root / "p2.parquet")
    return {
        "root": root,
        "store": store_path,
        "training_set": ts.id,
        "run": runs[0].run_id,
        "batches": [b.id for b in batches],
        "skewed": skewed.id,
        "evaluations": [ev1.id, ev2.id],
    }


def st(project: dict[str, Any]) -> list[str]:
    return ["--store", str(project["store"])]


def api(project: dict[str, Any]) -> fs.FeatureStore:
    return fs.FeatureStore(project["store"], progress=False)


@pytest.fixture
def copy(project: dict[str, Any], tmp_path: Path) -> Path:
    """A private copy of the module's store, for tests that change it."""
    target = tmp_path / "store"
    shutil.copytree(project["store"], target)
    return target


def check_report_file(path: Path) -> str:
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    assert "<svg" in text
    assert "<script" not in text.lower()
    outside = re.findall(r"""[\w:-]*=?["']?https?://[^"'\s>]*""", text)
    assert all(ref.startswith('xmlns="http://www.w3.org/2000/svg') for ref in outside), outside
    return text


def close(a: Any, b: Any) -> bool:
    """JSON numbers against the API's (NaN is null, infinities are strings)."""
    if isinstance(b, float):
        if b != b:
            return a is None
        if b in (float("inf"), float("-inf")):
            return a == ("inf" if b > 0 else "-inf")
        return isinstance(a, int | float) and a == pytest.approx(b, rel=1e-12, abs=1e-15)
    return bool(a == b)


# -- stats --------------------------------------------------------------------------------


def expected_columns(stats: Any) -> list[dict[str, Any]]:
    out = []
    for c in stats.columns:
        data = c.to_json()
        data.pop("sketch")
        data.pop("hasher")
        out.append(json.loads(json.dumps(data)))
    return out


def test_stats_of_a_view_table_json_and_html(project: dict[str, Any]) -> None:
    table = run([*st(project), "stats", "stats"]).stdout
    assert "statistics of feature view 'stats'@" in table
    assert "3,000 rows" in table
    for word in ("amount", "plan", "numeric", "categorical", "median"):
        assert word in table
    got = run_json([*st(project), "stats", "stats"])
    with api(project) as s:
        want = s.statistics("stats")
    assert got["target"] == want.target
    assert got["rows"] == want.rows == 3000
    assert got["exact"] == want.exact
    assert got["columns"] == expected_columns(want)
    out = project["root"] / "stats.html"
    result = run([*st(project), "stats", "stats", "--html", out])
    assert f"wrote the statistics report to {out}" in result.stderr
    assert "amount" in check_report_file(out)


@pytest.mark.parametrize("kind", ["name", "id", "run", "batch", "window"])
def test_stats_targets_match_the_api(project: dict[str, Any], kind: str) -> None:
    args: list[str]
    target: Any
    if kind == "name":
        args, target = ["train"], "train"
    elif kind == "id":
        args, target = [project["training_set"]], project["training_set"]
    elif kind == "run":
        args, target = [f"run:{project['run']}"], f"run:{project['run']}"
    elif kind == "batch":
        args, target = [project["batches"][0]], project["batches"][0]
    else:
        args = ["stats", "--start", "2024-02-01", "--end", "2024-05-01"]
        target = "stats"
    got = run_json([*st(project), "stats", *args])
    with api(project) as s:
        if kind == "window":
            want = s.statistics("stats", start="2024-02-01", end="2024-05-01")
        else:
            want = s.statistics(target)
    assert got["rows"] == want.rows
    assert got["columns"] == expected_columns(want)


def test_stats_errors(project: dict[str, Any]) -> None:
    unknown = run([*st(project), "stats", "nothing_here"], code=1)
    assert unknown.stderr.startswith("error: ")
    assert "'nothing_here'" in unknown.stderr
    no_tracebacks(unknown)
    usage = run([*st(project), "stats", "train", "--start", "2024-01-01"], code=2)
    assert "apply to a feature view" in usage.stderr
    bad_time = run([*st(project), "stats", "stats", "--start", "yesterday"], code=1)
    assert bad_time.stderr.startswith("error: start 'yesterday' is not an ISO 8601 timestamp")


# -- drift --------------------------------------------------------------------------------

METRICS = ("psi", "jensen_shannon", "ks", "ks_error", "wasserstein", "chi2_pvalue")


def assert_same_drift(got: dict[str, Any], want: Any) -> None:
    assert [f["feature"] for f in got["features"]] == [f.feature for f in want.features]
    for g, w in zip(got["features"], want.features, strict=True):
        for metric in (*METRICS, "null_rate_change", "reference_null_rate"):
            assert close(g[metric], getattr(w, metric)), (w.feature, metric)
        assert g["drifted"] == w.drifted
        assert g["reasons"] == list(w.reasons)
        assert g["bins"] == list(w.bins)
        assert all(
            close(a, b) for a, b in zip(g["reference_shares"], w.reference_shares, strict=True)
        )
    assert got["drifted"] == want.drifted
    assert got["drifted_features"] == want.drifted_features


def test_drift_of_identical_data_passes(project: dict[str, Any]) -> None:
    frame = project["root"] / "train.parquet"
    result = run([*st(project), "drift", "train", frame, "--fail-on-drift"])
    assert "0 of 3 features drifted" in result.stdout
    assert "thresholds: psi 0.2" in result.stdout
    got = run_json([*st(project), "drift", "train", frame, "--fail-on-drift"])
    assert got["drifted"] is False
    assert got["id"].startswith("drift_report:")
    with api(project) as s:
        saved = s.get_drift_report(got["id"])
        assert_same_drift(got, saved)
        assert_same_drift(got, s.drift("train", pl.read_parquet(frame)))


def test_drift_of_shifted_data_fails_with_status_3(project: dict[str, Any]) -> None:
    shifted = project["root"] / "shifted.parquet"
    out = project["root"] / "drift.html"
    result = run(
        [*st(project), "drift", "train", shifted, "--fail-on-drift", "--html", out], code=3
    )
    assert "2 of 3 features drifted" in result.stdout
    assert "DRIFTED" in result.stdout
    assert result.stderr.splitlines()[-1] == "drift: 2 features drifted: amount, plan"
    assert f"wrote the drift report to {out}" in result.stderr
    text = check_report_file(out)
    assert text.count('class="bar ref"') > 0
    got = run_json(
        [*st(project), "drift", project["training_set"], shifted, "--fail-on-drift"], code=3
    )
    with api(project) as s:
        want = s.drift(s.get_training_set("train"), pl.read_parquet(shifted))
    assert_same_drift(got, want)
    # without --fail-on-drift the same drift exits 0
    assert run_json([*st(project), "drift", "train", shifted])["drifted"] is True


def test_drift_against_a_window_and_a_batch(project: dict[str, Any]) -> None:
    got = run_json([*st(project), "drift", "train", "window:stats:2024-05-01..2024-06-01"])
    with api(project) as s:
        version = s.get_feature_view("stats").version
        want = s.drift("train", s.window("stats", "2024-05-01", "2024-06-01"))
    assert_same_drift(got, want)
    assert got["current_node"] == f"view:stats@{version}"
    pinned = run_json(
        [*st(project), "drift", "train", f"window:stats@{version}:2024-05-01T00:00..2024-06-01"]
    )
    assert_same_drift(pinned, want)
    batch = project["batches"][0]
    got = run_json([*st(project), "drift", "train", batch])
    with api(project) as s:
        want = s.drift("train", s.get_prediction_batch(batch))
    assert_same_drift(got, want)
    csv = run_json([*st(project), "drift", "train", project["root"] / "train.csv"])
    assert csv["drifted"] is False


def test_drift_features_and_thresholds(project: dict[str, Any]) -> None:
    shifted = project["root"] / "shifted.parquet"
    got = run_json(
        [*st(project), "drift", "train", shifted, "--features", "amount",
         "--threshold", "psi=100", "--threshold", "jensen_shannon=off",
         "--threshold", "wasserstein=off", "--threshold", "ks=0.5"]
    )  # fmt: skip
    assert [f["feature"] for f in got["features"]] == ["amount"]
    assert got["thresholds"]["psi"] == 100.0
    assert got["thresholds"]["jensen_shannon"] is None
    assert got["thresholds"]["ks"] == 0.5
    assert got["drifted"] is False
    both = run_json([*st(project), "drift", "train", shifted, "--features", "plan,amount"])
    assert [f["feature"] for f in both["features"]] == ["plan", "amount"]


@pytest.mark.parametrize(
    "window",
    [
        "window:stats:2024-05-01",
        "window:stats",
        "window::2024-05-01..2024-06-01",
        "window:stats@:2024-05-01..2024-06-01",
        "window:stats:2024-05-01..",
        "window:stats:..2024-06-01",
        "window:stats:2024-05-01..2024-06-01..2024-07-01",
    ],
)
def test_a_malformed_window_is_an_error(project: dict[str, Any], window: str) -> None:
    result = run([*st(project), "drift", "train", window], code=1)
    assert result.stderr.startswith(f"error: malformed window {window!r}: write window:VIEW:")
    no_tracebacks(result)


def test_drift_bad_input(project: dict[str, Any]) -> None:
    unknown = run([*st(project), "drift", "trian", "train"], code=1)
    assert unknown.stderr.startswith("error: reference 'trian' is not a saved training set")
    assert "did you mean 'train'?" in unknown.stderr
    bad_time = run([*st(project), "drift", "train", "window:stats:2024-13-01..2024-06-01"], code=1)
    assert bad_time.stderr.startswith("error: start '2024-13-01' is not an ISO 8601 timestamp")
    view = run([*st(project), "drift", "train", "window:stat:2024-05-01..2024-06-01"], code=1)
    assert view.stderr.startswith("error: unknown feature view 'stat'")
    backwards = run([*st(project), "drift", "train", "window:stats:2024-06-01..2024-05-01"], code=1)
    assert "is not before end" in backwards.stderr
    missing = run([*st(project), "drift", "train", "nowhere/frame.parquet"], code=1)
    assert missing.stderr.startswith("error: current: no such file 'nowhere/frame.parquet'")
    key = run([*st(project), "drift", "train", "train", "--threshold", "psy=1"], code=1)
    assert key.stderr.startswith("error: drift: unknown threshold 'psy'")
    for bad in ("psi", "psi=", "psi=high"):
        usage = run([*st(project), "drift", "train", "train", "--threshold", bad], code=2)
        assert "--threshold" in usage.stderr
    for result in (unknown, bad_time, view, backwards, missing, key):
        no_tracebacks(result)


def test_drift_help_documents_the_syntax_and_exit_codes() -> None:
    text = run(["drift", "--help"]).stdout
    assert "window:VIEW:START..END" in text
    assert "window:VIEW@VERSION:START..END" in text
    assert "3 a feature drifted" in text
    assert "2 usage error" in text


# -- skew ---------------------------------------------------------------------------------


def test_skew_of_a_faithful_batch(project: dict[str, Any]) -> None:
    batch = project["batches"][0]
    table = run([*st(project), "skew", batch, "--fail-on-skew"]).stdout
    assert "0 of 2 served features differ" in table
    got = run_json([*st(project), "skew", batch, "--fail-on-skew"])
    with api(project) as s:
        want = s.skew(batch)
    assert got["skewed"] is False
    assert got["batch"] == batch
    assert [(f["column"], f["differing"], f["share"]) for f in got["features"]] == [
        (f.column, f.differing, f.share) for f in want.features
    ]


def test_skew_of_a_skewed_batch_fails_with_status_3(project: dict[str, Any]) -> None:
    batch = project["skewed"]
    out = project["root"] / "skew.html"
    result = run([*st(project), "skew", batch, "--fail-on-skew", "--html", out], code=3)
    assert "1 of 1 served feature differs" in result.stdout
    assert result.stderr.splitlines()[-1] == "skew: 1 served feature differs: amount"
    check_report_file(out)
    got = run_json([*st(project), "skew", batch.removeprefix("prediction_batch:")])
    with api(project) as s:
        want = s.skew(batch)
    assert got["skewed"] is True
    (g,) = got["features"]
    (w,) = want.features
    assert (
        (g["differing"], g["rows"], g["share"]) == (w.differing, w.rows, w.share) == (60, 60, 1.0)
    )
    assert close(g["max_difference"], w.max_difference)
    tolerant = run_json([*st(project), "skew", batch, "--tolerance", "1.5", "--fail-on-skew"])
    assert tolerant["skewed"] is False
    assert run([*st(project), "skew", batch, "--tolerance", "-1"], code=2)
    unknown = run([*st(project), "skew", "prediction_batch:nope"], code=1)
    assert unknown.stderr == "error: unknown prediction batch 'prediction_batch:nope'\n"


# -- labels -------------------------------------------------------------------------------


def test_labels_from_parquet_and_csv(project: dict[str, Any], copy: Path, tmp_path: Path) -> None:
    with fs.FeatureStore(copy, progress=False) as s:
        ids = s.get_prediction_batch(project["batches"][0]).to_polars().select("prediction_id")
    labels = ids.with_columns(label=pl.Series([1] * ids.height))
    labels.write_parquet(tmp_path / "labels.parquet")
    got = run_json(["--store", copy, "labels", tmp_path / "labels.parquet"])
    assert got["rows"] == 60
    assert got["unmatched"] == 0
    assert got["model"] == "m"
    assert got["batches"] == [project["batches"][0].removeprefix("prediction_batch:")]
    assert got["id"] == f"label_batch:{got['batch_id']}"
    # the latest label counts: every prediction of that batch is now labelled 1
    with fs.FeatureStore(copy, progress=False) as s:
        known = labels_of(s, "m").join(ids, on="prediction_id")
    assert known.height == 60
    assert known.get_column("label").to_list() == [1] * 60
    renamed = labels.rename({"label": "truth"})
    renamed.write_csv(tmp_path / "labels.csv")
    text = run(["--store", copy, "labels", tmp_path / "labels.csv", "--label-column", "truth"])
    assert text.stdout.startswith("logged 60 labels for model 'm' as label_batch:")


def test_labels_by_keys_and_unmatched(project: dict[str, Any], copy: Path, tmp_path: Path) -> None:
    frame = pl.DataFrame(
        {
            "customer_id": [1, 2, 999],
            "event_timestamp": [datetime(2024, 6, 12)] * 3,
            "label": [1, 0, 1],
        }
    )
    frame.write_parquet(tmp_path / "keys.parquet")
    refused = run(["--store", copy, "labels", tmp_path / "keys.parquet", "--model", "m"], code=1)
    assert refused.stderr.startswith("error: log_labels: 1 of 3 labels match no logged prediction")
    got = run_json(
        ["--store", copy, "labels", tmp_path / "keys.parquet", "--model", "m", "--skip-unmatched"]
    )
    assert (got["rows"], got["unmatched"]) == (2, 1)
    no_model = run(["--store", copy, "labels", tmp_path / "keys.parquet"], code=1)
    assert "needs model=<name>" in no_model.stderr
    missing = run(["--store", copy, "labels", tmp_path / "none.parquet"], code=1)
    assert missing.stderr.startswith("error: labels: no such file")
    (tmp_path / "junk.parquet").write_text("not parquet")
    junk = run(["--store", copy, "labels", tmp_path / "junk.parquet"], code=1)
    assert junk.stderr.startswith("error: labels: cannot read")
    for result in (refused, no_model, missing, junk):
        no_tracebacks(result)


# -- performance --------------------------------------------------------------------------


def test_performance_table_json_and_html(project: dict[str, Any]) -> None:
    table = run([*st(project), "performance", "m"]).stdout
    assert "performance of model 'm' every 1w" in table
    assert "registered auc" in table
    got = run_json([*st(project), "performance", "m", "--every", "1d"])
    with api(project) as s:
        want = s.performance("m", every="1d")
    assert got["metrics"] == list(want.metrics)
    assert (got["labelled"], got["unlabelled"]) == (want.labelled, want.unlabelled)
    assert got["registered"] == {"1": {"auc": 0.7}, "2": {"auc": 0.72}}
    rows = want.frame.to_dicts()
    assert len(got["buckets"]) == len(rows) == 3
    for g, w in zip(got["buckets"], rows, strict=True):
        assert g["bucket"] == w["bucket"].isoformat()
        assert all(close(g[k], w[k]) for k in w if k != "bucket")
    out = project["root"] / "performance.html"
    run([*st(project), "performance", "m", "--every", "1d", "--html", out])
    text = check_report_file(out)
    assert text.count('class="line"') == 2 * len(want.metrics)


def test_performance_options(project: dict[str, Any]) -> None:
    got = run_json(
        [*st(project), "performance", "m", "--versions", "2", "--metrics", "auc,accuracy",
         "--prediction-column", "score", "--threshold", "0.3"]
    )  # fmt: skip
    with api(project) as s:
        want = s.performance(
            "m", versions=[2], metrics=["auc", "accuracy"], prediction_column="score", threshold=0.3
        )
    assert got["metrics"] == ["auc", "accuracy"]
    assert {b["model_version"] for b in got["buckets"]} == {2}
    assert [b["accuracy"] for b in got["buckets"]] == want.frame.get_column("accuracy").to_list()
    assert run([*st(project), "performance", "m", "--versions", "two"], code=2)
    bad = run([*st(project), "performance", "m", "--metrics", "acc"], code=2)
    assert "unknown metric 'acc'" in bad.stderr
    every = run([*st(project), "performance", "m", "--every", "fortnight"], code=1)
    assert every.stderr.startswith("error: performance: every='fortnight' is not")
    unknown = run([*st(project), "performance", "nomodel"], code=1)
    assert unknown.stderr.startswith("error: ")


# -- evaluate / compare -------------------------------------------------------------------


def test_evaluate_finds_the_recorded_evaluation(project: dict[str, Any]) -> None:
    p1 = project["root"] / "p1.parquet"
    args = [
        *st(project),
        "evaluate",
        "m@1",
        "train",
        "--predictions",
        p1,
        "--label-column",
        "label",
    ]
    got = run_json(args)
    with api(project) as s:
        (want,) = [e for e in s.evaluations("m", 1) if e.id == got["id"]]
    assert got["id"] == project["evaluations"][0]
    assert got["metrics"] == dict(want.metrics)
    assert got["requirements"] == []
    assert got["passed"] is True
    table = run(args).stdout
    assert "evaluation of model:m@1 on training_set:train@" in table
    assert "log_loss" in table


def test_evaluate_requirements_exit_3(project: dict[str, Any], copy: Path) -> None:
    p2 = project["root"] / "p2.parquet"
    base = ["--store", copy, "evaluate", "model:m@2", "train", "--predictions", p2,
            "--column", "p", "--label-column", "label"]  # fmt: skip
    failed = run([*base, "--require", "auc>=0.9", "--require", "log_loss < 5"], code=3)
    assert "FAILED" in failed.stdout
    assert failed.stderr.startswith("requirement failed: auc ")
    assert failed.stderr.rstrip().endswith(">= 0.9")
    got = run_json([*base, "--require", "auc>=0.9", "--require", "log_loss<5"], code=3)
    assert got["id"] == project["evaluations"][1]
    assert [(r["metric"], r["op"], r["bound"], r["passed"]) for r in got["requirements"]] == [
        ("auc", ">=", 0.9, False),
        ("log_loss", "<", 5.0, True),
    ]
    assert got["requirements"][0]["value"] == got["metrics"]["auc"]
    assert got["passed"] is False
    passed = run_json([*base, "--require", "auc>0.01"])
    assert passed["passed"] is True
    with fs.FeatureStore(copy, progress=False) as s:
        assert len(s.evaluations("m", 2)) == 1  # the same evaluation, found again
        assert s.aliases("m") == {}


def test_evaluate_bad_input(project: dict[str, Any]) -> None:
    p2 = project["root"] / "p2.parquet"
    base = [*st(project), "evaluate", "m@2", "train", "--label-column", "label"]
    ambiguous = run([*base, "--predictions", p2], code=1)
    assert "name the predictions column with --column" in ambiguous.stderr
    column = run([*base, "--predictions", p2, "--column", "nope"], code=1)
    assert "has no column 'nope'" in column.stderr
    for bad in ("auc", "auc>=x", "auc=>0.8", "acu>=0.8"):
        usage = run([*base, "--predictions", p2, "--column", "p", "--require", bad], code=2)
        assert "--require" in usage.stderr
    unused = run(
        [*base, "--predictions", p2, "--column", "p", "--metrics", "auc", "--require", "f1>0"],
        code=2,
    )
    assert "which --metrics does not compute" in unused.stderr
    no_version = run(
        [*st(project), "evaluate", "m", "train", "--predictions", p2, "--column", "p",
         "--label-column", "label"],
        code=1,
    )  # fmt: skip
    assert "names no version" in no_version.stderr
    unknown = run(
        [*st(project), "evaluate", "m@1", "tran", "--predictions", p2, "--column", "p",
         "--label-column", "label"],
        code=1,
    )  # fmt: skip
    assert unknown.stderr.startswith("error: unknown training set 'tran'")
    for result in (ambiguous, column, no_version, unknown):
        no_tracebacks(result)


def test_compare_table_json_and_html(project: dict[str, Any]) -> None:
    args = [*st(project), "compare", "m@1", "m@2", "--eval-set", "train", "--n-boot", "200",
            "--seed", "3", "--metrics", "auc,log_loss"]  # fmt: skip
    table = run(args).stdout
    assert "comparison on training_set:train@" in table
    assert "baseline model:m@1" in table
    got = run_json(args)
    with api(project) as s:
        want = s.compare(["m@1", "m@2"], "train", metrics=["auc", "log_loss"], n_boot=200, seed=3)
    assert (got["baseline"], got["n_boot"], got["seed"]) == ("model:m@1", 200, 3)
    rows = want.frame.to_dicts()
    assert len(got["versions"]) == len(rows) == 2
    for g, w in zip(got["versions"], rows, strict=True):
        assert all(close(g[k], w[k]) for k in w), (g, w)
    assert got["versions"][0]["auc_diff"] is None
    out = project["root"] / "compare.html"
    run([*args, "--html", out])
    text = check_report_file(out)
    assert text.count('class="errbar"') == 2  # one version against the baseline, 2 metrics
    missing = run([*st(project), "compare", "m@1", "--eval-set", "nope"], code=1)
    assert missing.stderr.startswith("error: unknown training set 'nope'")
    assert run([*st(project), "compare", "--eval-set", "train"], code=2)


# -- the alias gate -----------------------------------------------------------------------


def test_alias_gate(project: dict[str, Any], copy: Path) -> None:
    store = ["--store", copy]
    with fs.FeatureStore(copy, progress=False) as s:
        auc = s.evaluations("m", 2)[-1].metrics["auc"]
    refused = run(
        [*store, "models", "alias", "m", "production", "2", "--require", "auc>=0.99"], code=3
    )
    assert refused.stderr.startswith("error: cannot move the alias to model:m@2: auc is")
    with fs.FeatureStore(copy, progress=False) as s:
        assert s.aliases("m") == {}
    moved = run_json(
        [*store, "models", "alias", "m", "production", "2", "--require", f"auc>={auc - 0.01}",
         "--eval-set", "train"]
    )  # fmt: skip
    assert moved == {"name": "m", "alias": "production", "version": 2, "previous_version": None}
    plain = run([*store, "models", "alias", "m", "production", "1"]).stdout
    assert plain == "model 'm': alias 'production' -> version 1 (was 2)\n"
    usage = run([*store, "models", "alias", "m", "production", "1", "--eval-set", "train"], code=2)
    assert "--eval-set applies to --require" in usage.stderr
    bad = run([*store, "models", "alias", "m", "production", "1", "--require", "auc"], code=2)
    assert "--require" in bad.stderr
    unknown = run(
        [*store, "models", "alias", "m", "production", "9", "--require", "auc>=0.1"], code=1
    )
    assert unknown.stderr.startswith("error: ")
    with fs.FeatureStore(copy, progress=False) as s:
        assert s.aliases("m") == {"production": 1}
    assert "--require METRIC>=VALUE" in run(["models", "alias", "--help"]).stdout
