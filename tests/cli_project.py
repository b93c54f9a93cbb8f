"""A new user's project, built through the ``featstore`` command line alone.

``build_cli_project(root)`` runs the first steps of the command-line walk in
``root/shop`` (``init``, ``apply``, ``materialize`` over the sample data's range,
``historical`` with ``--out`` and ``--save-as``, ``models register``, ``predictions log``)
and returns what they made; the ``cli_project`` fixture does it in ``tmp_path``. Test
modules that go on from there (lineage pictures, the UI) import both:

    from cli_project import CliProject, cli_project, run_cli  # noqa: F401
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from click.testing import CliRunner, Result

from featstore.cli import cli

SAMPLE_START = "2024-01-01"
SAMPLE_END = "2024-04-01"
FEATURES = ("spending:spend_30d", "spending:purchases_30d", "purchases:amount")
METRICS = {"auc": 0.81, "logloss": 0.42}


def run_cli(
    args: Sequence[str],
    *,
    cwd: Path,
    code: int = 0,
    env: dict[str, str] | None = None,
) -> Result:
    """Run ``featstore ARGS`` in-process from the directory ``cwd``; the exit status
    must be ``code``. FEATSTORE_STORE is unset unless ``env`` sets it."""
    environment = {"FEATSTORE_STORE": None, "FEATSTORE_CATALOG": None, **(env or {})}
    with contextlib.chdir(cwd):
        result = CliRunner().invoke(cli, list(args), env=environment, catch_exceptions=False)
    assert result.exit_code == code, (args, result.stdout, result.stderr)
    return result


def run_cli_json(args: Sequence[str], *, cwd: Path, env: dict[str, str] | None = None) -> Any:
    return json.loads(run_cli([*args, "--json"], cwd=cwd, env=env).stdout)


def reference_historical(root: Path) -> pl.DataFrame:
    """The scaffold's training frame computed with Polars alone, from the sample data, as
    directly as it can be said: for each entity row, the sum and count of the same
    customer's purchases with ``event_timestamp - 30 days < ts <= event_timestamp``
    (``spending``; no purchase: a null sum and a count of 0), and the latest purchase
    within 30 days (``purchases``); entity rows in their original order."""
    tx = pl.read_parquet(root / "data" / "transactions.parquet").sort("customer_id", "ts")
    entities = pl.read_parquet(root / "data" / "entities.parquet").with_row_index("_row")
    pairs = (
        entities.select("_row", "customer_id", "event_timestamp")
        .join(tx.select("customer_id", "ts", "amount"), on="customer_id")
        .filter(
            (pl.col("ts") > pl.col("event_timestamp") - timedelta(days=30))
            & (pl.col("ts") <= pl.col("event_timestamp"))
        )
        .group_by("_row")
        .agg(
            pl.col("amount").sum().alias("spend_30d"),
            pl.col("amount").count().cast(pl.Int64).alias("purchases_30d"),
        )
    )
    out = entities.join(pairs, on="_row", how="left").with_columns(
        pl.col("purchases_30d").fill_null(0)
    )
    ordered = out.sort("event_timestamp")
    out = ordered.join_asof(
        tx.select("customer_id", "ts", "amount").sort("ts"),
        left_on="event_timestamp",
        right_on="ts",
        by="customer_id",
        strategy="backward",
        tolerance=timedelta(days=30),
        check_sortedness=False,
    ).drop("ts")
    return out.sort("_row").drop("_row")


def naive_utc(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with time-zone-aware instants as naive UTC ones (naive entity
    timestamps are read as UTC; a written file may hold them UTC-adjusted)."""
    return frame.with_columns(
        pl.col(c).dt.convert_time_zone("UTC").dt.replace_time_zone(None)
        for c, d in frame.schema.items()
        if isinstance(d, pl.Datetime) and d.time_zone is not None
    )


@dataclass(frozen=True)
class CliProject:
    """What the first steps of the walk made."""

    root: Path
    store: Path
    training_set: str
    model: str
    batch: str
    historical: Path
    predictions: Path
    outputs: dict[str, Any]


def build_cli_project(parent: Path) -> CliProject:
    root = parent / "shop"
    outputs: dict[str, Any] = {}
    outputs["init"] = run_cli_json(["init", str(root)], cwd=parent)
    outputs["apply"] = run_cli_json(["apply"], cwd=root)
    outputs["materialize"] = run_cli_json(["materialize", SAMPLE_START, SAMPLE_END], cwd=root)
    features = [a for f in FEATURES for a in ("--feature", f)]
    outputs["historical"] = run_cli_json(
        [
            "historical",
            "data/entities.parquet",
            *features,
            "--out",
            "train.parquet",
            "--save-as",
            "churn_train",
        ],
        cwd=root,
    )
    training_set = outputs["historical"]["training_set"]
    (root / "model.json").write_text('{"weights": [0.25, -1.5]}\n')  # a trained model
    outputs["register"] = run_cli_json(
        [
            "models",
            "register",
            "churn",
            "--training-set",
            "churn_train",
            "--metrics",
            json.dumps({"auc": METRICS["auc"]}),
            "--metric",
            f"logloss={METRICS['logloss']}",
            "--param",
            "depth=3",
            "--description",
            "first model",
            "--artifact",
            "model.json",
        ],
        cwd=root,
    )
    # a score per customer of the entity file, as a trained model would write them
    keys = pl.read_parquet(root / "data" / "entities.parquet").select("customer_id").unique()
    scores = keys.sort("customer_id").with_columns(score=(pl.col("customer_id") * 37 % 100) / 100.0)
    predictions = root / "scores.parquet"
    scores.write_parquet(predictions)
    outputs["predictions"] = run_cli_json(
        [
            "predictions",
            "log",
            "churn@1",
            str(predictions.name),
            "--feature",
            "spending:spend_30d",
            "--as-of",
            "2024-03-31",
        ],
        cwd=root,
    )
    return CliProject(
        root=root,
        store=root / "store",
        training_set=training_set,
        model=outputs["register"]["id"],
        batch=outputs["predictions"]["id"],
        historical=root / "train.parquet",
        predictions=predictions,
        outputs=outputs,
    )


@pytest.fixture
def cli_project(tmp_path: Path) -> CliProject:
    """A scaffolded project, applied, materialized, with a saved training set, model
    ``churn`` version 1 and one prediction batch, all made by the command line."""
    return build_cli_project(tmp_path)
