"""Churn prediction end to end with featstore.

    python examples/churn/run.py            # reuse the store if it exists
    python examples/churn/run.py --fresh    # start the store over
    python examples/churn/run.py --store /tmp/churn-store

Steps: generate the raw data (if missing) -> register the definitions -> materialize
(a backfill to mid-2024, then an incremental run to the year end) -> build a
point-in-time training set from monthly churn labels -> show what a naive join would
leak, and what the old event-time rolling window gave one row -> train on earlier
snapshots, test on later ones -> register the model, save its test rows as a training
set, evaluate it there and point its ``production`` alias at it through a promotion gate
-> score every customer as of the year end and list the riskiest -> log the predictions
with their feature values and trace one back to its raw files, show what a source
change would impact, and write lineage pictures (Mermaid and DOT) to ``out/`` -> check
the scored batch for drift from the training set (an HTML report in ``out/``) and for
training/serving skew -> log the outcomes of the scored customers a month later and
show the model's performance on them.

Each step is a function called from :func:`main` that returns what later steps need.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from time import perf_counter
from types import ModuleType
from typing import Any

import polars as pl

import featstore as fs
from featstore.ui.draw import draw
from featstore.ui.graph import GraphSource

HERE = Path(__file__).resolve().parent
LAUNCHED_FROM = Path.cwd()
sys.path.insert(0, str(HERE))

import data  # noqa: E402  (this example's own modules, next to this file)
import features  # noqa: E402

DEFAULT_STORE = HERE / "feature_repo"
OUT = HERE / "out"
BACKFILL_START = data.SIGNUPS_FROM  # the earliest event of any source: the first signup
BACKFILL_END = datetime(2024, 7, 1)
YEAR_END = data.YEAR_END
TEST_FROM = datetime(2024, 9, 1)  # train on the Mar-Aug snapshots, test on Sep-Dec
SCORE_AS_OF = YEAR_END
TOP_N = 10
GATE = {"auc": ">= 0.80"}  # the promotion gate: production needs this on the test set

PLAN_CODES = {"basic": 0, "standard": 1, "premium": 2}
MODEL_COLUMNS = [
    "spend_30d",
    "txn_count_30d",
    "avg_basket_30d",
    "last_amount",
    "last_n_items",
    "days_since_purchase",
    "tickets_90d",
    "urgent_tickets_90d",
    "mean_resolution_hours_90d",
    "plan_code",
    "tenure_days",
]
WIDTH = 78


# -- output helpers ---------------------------------------------------------------------


@contextmanager
def step(title: str) -> Iterator[Callable[[str], None]]:
    """Time a step, then print its title and time followed by the lines it reported."""
    lines: list[str] = []
    start = perf_counter()
    yield lines.append
    elapsed = perf_counter() - start
    print(f"\n{title} {'.' * (WIDTH - len(title) - 9)} {elapsed:6.2f}s")
    for line in lines:
        print(f"  {line}" if line else "")


def table(rows: list[list[Any]], header: list[str] | None = None) -> list[str]:
    """Rows as aligned text lines: numbers right-aligned, the rest left-aligned."""
    cells = [[_cell(v) for v in row] for row in ([header] if header else []) + rows]
    if not cells:
        return []
    ncols = len(cells[0])
    numeric = [all(_is_number(row[i]) for row in rows) for i in range(ncols)]
    widths = [max(len(row[i]) for row in cells) for i in range(ncols)]
    out = []
    for row in cells:
        parts = zip(row, widths, numeric, strict=True)
        out.append("  ".join(c.rjust(w) if num else c.ljust(w) for c, w, num in parts).rstrip())
    if header:
        out.insert(1, "  ".join("-" * w for w in widths))
    return out


def _is_number(value: Any) -> bool:
    if isinstance(value, str):
        return re.fullmatch(r"-?[\d,]+(\.\d+)?%?", value) is not None
    return value is None or isinstance(value, int | float)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _display(path: Path) -> str:
    """``path`` relative to where the script was started, when it lies below it."""
    try:
        return str(path.relative_to(LAUNCHED_FROM))
    except ValueError:
        return str(path)


def _sklearn() -> tuple[ModuleType, ModuleType]:
    """scikit-learn's ensemble and metrics modules, or exit saying how to install it."""
    try:
        import sklearn.ensemble
        import sklearn.metrics
    except ImportError:
        sys.exit(
            "this example trains a scikit-learn model, and scikit-learn is not installed; "
            "install the example's extras with: pip install -e '.[examples]'"
        )
    return sklearn.ensemble, sklearn.metrics


# -- steps ------------------------------------------------------------------------------


def load_data() -> pl.DataFrame:
    """Generate the raw data unless it is there; return the churn labels."""
    with step("1. raw data") as say:
        generated = data.ensure_data(data.DATA_DIR)
        where = _display(data.DATA_DIR)
        say(
            f"generated {where} (seed {data.SEED})"
            if generated
            else f"reusing {where} (delete it to regenerate)"
        )
        labels = pl.read_parquet(data.DATA_DIR / "labels.parquet")
        tx_files = sorted((data.DATA_DIR / "transactions").glob("*.parquet"))
        n_tx, n_txn_ids, first, last = (
            pl.scan_parquet(tx_files)
            .select(
                pl.len(),
                pl.col("txn_id").n_unique(),
                pl.col("ts").min().alias("first"),
                pl.col("ts").max().alias("last"),
            )
            .collect()
            .row(0)
        )

        def count(name: str) -> int:
            return int(pl.scan_parquet(data.DATA_DIR / name).select(pl.len()).collect().item())

        say("")
        rows = [
            ["customers", count("customers.parquet"), "plan, region, signup date"],
            [
                "transactions",
                n_tx,
                f"{len(tx_files)} monthly files, {first:%Y-%m-%d} .. "
                f"{last:%Y-%m-%d}, {n_tx - n_txn_ids:,} late corrections",
            ],
            ["tickets", count("tickets.parquet"), "priority, hours to resolution"],
            [
                "labels",
                labels.height,
                f"{labels['event_timestamp'].n_unique()} monthly snapshots, "
                f"{labels['churned'].mean():.1%} churn within 30 days",
            ],
        ]
        for line in table(rows):
            say(line)
    return labels


def open_store(path: Path, *, fresh: bool, engine: str) -> fs.FeatureStore:
    """Open the store and apply the definitions; report which versions are new."""
    with step("2. definitions") as say:
        if fresh and path.exists():
            if (path / "featstore.json").exists() or not any(path.iterdir()):
                shutil.rmtree(path)
            else:
                sys.exit(f"--fresh: {path} is not a featstore store; refusing to delete it")
        store = fs.FeatureStore(path, progress=False, engine=engine)
        views = [d for d in features.definitions if isinstance(d, fs.FeatureView)]
        before: dict[str, str | None] = {}
        for view in views:
            try:
                before[view.name] = store.get_feature_view(view.name)["version"]
            except fs.NotFoundError:
                before[view.name] = None
        store.apply(features.definitions)

        say(f"store {_display(path)}{' (started fresh)' if fresh else ''}")
        say("")
        rows = []
        for d in features.definitions:
            if isinstance(d, fs.Entity):
                rows.append(["entity", d.name, d.version, f"join keys {', '.join(d.join_keys)}"])
            elif isinstance(d, fs.Source):
                rows.append(["source", d.name, d.version, getattr(d, "path", d.kind)])
            elif isinstance(d, fs.FeatureView):
                old = before[d.name]
                state = (
                    "new"
                    if old is None
                    else "unchanged"
                    if old == d.version
                    else f"changed (was {old})"
                )
                windows = [
                    f"{label} {value.days}d"
                    for label, value in (("lookback", d.lookback), ("ttl", d.ttl))
                    if value
                ]
                if d.aggregations:
                    days = sorted({a.window.days for a in d.aggregations})
                    windows.append(f"windows {', '.join(f'{n}d' for n in days)} (exact)")
                rows.append(["view", d.name, d.version, ", ".join([state, *windows])])
            elif isinstance(d, fs.FeatureService):
                rec = store.get_feature_service(d.name)
                n = sum(len(item["features"]) for item in rec["features"])
                rows.append(
                    [
                        "service",
                        d.name,
                        rec["version"],
                        f"{n} features from {len(rec['features'])} views",
                    ]
                )
        for line in table(rows, ["kind", "name", "version", "details"]):
            say(line)
    return store


def materialize(store: fs.FeatureStore) -> list[fs.MaterializationRun]:
    """Backfill views never materialized up to mid-year; then run every view
    incrementally up to the year end (a no-op when the store is up to date)."""
    with step("3. materialize") as say:
        views = [d for d in features.definitions if isinstance(d, fs.FeatureView)]
        done = {(r["view"], r["view_version"]) for r in store.runs()}
        new = [v for v in views if (v.name, v.version) not in done]
        runs: list[tuple[str, fs.MaterializationRun]] = []
        if new:
            runs += [("backfill", r) for r in store.materialize(BACKFILL_START, BACKFILL_END, new)]
        runs += [("incremental", r) for r in store.materialize_incremental(YEAR_END, views)]
        if not runs:
            say(f"all {len(views)} views are materialized up to {YEAR_END:%Y-%m-%d}: nothing to do")
        rows = [
            [kind, r.view, f"{r.start:%Y-%m-%d} .. {r.end:%Y-%m-%d}", r.rows, len(r.files)]
            for kind, r in runs
        ]
        for line in table(rows, ["run", "view", "event time", "rows", "files"]) if rows else []:
            say(line)
    return [r for _, r in runs]


def training_set(store: fs.FeatureStore, labels: pl.DataFrame) -> fs.RetrievalResult:
    """The point-in-time training set of the labels."""
    with step("4. training set (point-in-time join)") as say:
        result = store.get_historical_features(labels, features=features.churn_v1)
        frame, manifest = result.frame, result.manifest
        service = manifest["feature_service"]
        say(
            f"{frame.height:,} rows x {frame.width} columns from service "
            f"{service['name']}@{service['version']}, content_id {result.content_id}"
        )
        say("")
        files: dict[str, int] = {}
        rows_read: dict[str, int] = {}
        for f in manifest["files"]:
            files[f["view"]] = files.get(f["view"], 0) + 1
            rows_read[f["view"]] = rows_read.get(f["view"], 0) + f["rows"]
        rows = []
        for item in manifest["features"]:
            filled = 1 - frame[item["features"][0]].null_count() / max(frame.height, 1)
            rows.append(
                [
                    item["view"],
                    item["version"],
                    files.get(item["view"], 0),
                    rows_read.get(item["view"], 0),
                    f"{filled:.0%}",
                    ", ".join(item["features"]),
                ]
            )
        for line in table(rows, ["view", "version", "files", "rows read", "filled", "features"]):
            say(line)
        say("")
        for line in _customer_story(frame):
            say(line)
    return result


def _customer_story(frame: pl.DataFrame) -> list[str]:
    """The training rows of one customer who churned: spend fades, tickets pile up."""
    churners = (
        frame.group_by("customer_id")
        .agg(
            pl.len().alias("snapshots"),
            pl.col("churned").max(),
            pl.col("tickets_90d").max().alias("tickets"),
        )
        .filter((pl.col("churned") == 1) & (pl.col("snapshots") >= 6))
        .sort("tickets", "customer_id", descending=[True, False], nulls_last=True)
    )
    if churners.is_empty():
        return []
    cid = churners["customer_id"][0]
    rows = frame.filter(pl.col("customer_id") == cid).select(
        pl.col("event_timestamp").dt.date(),
        "spend_30d",
        "txn_count_30d",
        "last_amount",
        "tickets_90d",
        "plan",
        "churned",
    )
    title = f"preview: the rows of customer {cid}, who churned: spend fades, tickets pile up"
    return [title, *table([list(r) for r in rows.iter_rows()], rows.columns)]


def point_in_time_check(
    store: fs.FeatureStore, labels: pl.DataFrame, training: fs.RetrievalResult
) -> None:
    """Why point-in-time matters: count the future values a naive join would use."""
    with step("5. why point-in-time") as say:
        # the features that are times: the last purchase and the signup
        ahead = pl.max_horizontal(
            [pl.col(c) - pl.col("event_timestamp") for c in ("last_purchase_at", "signed_up_at")]
        )

        # the naive way: each customer's latest values, joined to every label row
        latest = store.get_latest_features(
            labels.select("customer_id").unique(maintain_order=True),
            features=features.churn_v1,
            as_of=YEAR_END,
        )
        naive = labels.join(latest.frame, on="customer_id", how="left", maintain_order="left")
        naive_ahead = naive.select(ahead.alias("ahead")).filter(pl.col("ahead") > pl.duration())
        honest = training.frame.select((ahead > pl.duration()).sum()).item()
        n = labels.height
        say(
            f"point-in-time join  {honest:>7,} of {n:,} rows use a feature value from after "
            f"their snapshot"
        )
        say(
            f"naive latest join   {naive_ahead.height:>7,} of {n:,} rows "
            f"({naive_ahead.height / n:.0%}) would, a median "
            f"{naive_ahead['ahead'].median().days} days ahead:"
        )
        say("                    a model trained on them learns what no live prediction can know")

        # only views that record when each value became known can be read bitemporally:
        # tickets and profiles carry no created timestamp, so they are left out here
        bitemporal = store.get_historical_features(
            labels, features=["last_purchase:last_amount"], bitemporal=True
        )
        changed = training.frame["last_amount"].ne_missing(bitemporal.frame["last_amount"]).sum()
        say(
            f"bitemporal=True     {changed:>7,} rows get another last_amount: corrections created "
            f"after"
        )
        say("                    the snapshot stay hidden, as they were at the time")
        for line in _stale_windows(training.frame):
            say(line)


def _stale_windows(frame: pl.DataFrame) -> list[str]:
    """What ``spending`` declared with aggregations changes: the exact 30-day spend of
    each training row against what the event-time rolling view it replaced
    (``features.spending_as_of_each_purchase``, read point-in-time with its 30-day TTL)
    would give. One row is shown, and both of its values are checked against a sum of
    the raw rows."""
    window = features.SPENDING_WINDOW
    tx_files = sorted((data.DATA_DIR / "transactions").glob("*.parquet"))
    rolled = (
        features.spending_as_of_each_purchase(pl.scan_parquet(tx_files))
        .unique(["customer_id", "ts"])  # the rows of one instant share their window
        .rename({"ts": "window_end", "spend_30d": "stale"})
        .collect()
    )
    # the old view, read point-in-time: the latest window ending at or before the row,
    # null once it ended more than the TTL (30 days) before
    rows = (
        frame.select("customer_id", "event_timestamp", "spend_30d")
        .with_row_index()
        .sort("event_timestamp")
        .join_asof(
            rolled.sort("window_end"),
            left_on="event_timestamp",
            right_on="window_end",
            by="customer_id",
            strategy="backward",
            tolerance=window,
            check_sortedness=False,  # sorted by time overall, so within each customer too
        )
        .sort("index")
    )
    # amounts are cents: equal sums round to the same cents whatever their float rounding
    differ = rows.filter(~pl.col("stale").round(2).eq_missing(pl.col("spend_30d").round(2)))
    if differ.is_empty():
        return []
    cid, at, exact, stale, end = differ.select(
        "customer_id", "event_timestamp", "spend_30d", "stale", "window_end"
    ).row(0)

    # the same two numbers from the raw rows: each purchase's latest version, summed
    raw = (
        pl.scan_parquet(tx_files)
        .filter(pl.col("customer_id") == cid)
        .sort("created")
        .group_by("txn_id")
        .last()
        .collect()
    )

    def spend(until: datetime) -> float | None:
        inside = raw.filter((pl.col("ts") > until - window) & (pl.col("ts") <= until))
        return None if inside.is_empty() else float(inside["amount"].sum())

    for value, until in ((exact, at), (stale, end)):
        direct = spend(until)
        assert (value is None and direct is None) or (
            value is not None and direct is not None and abs(value - direct) < 1e-6
        ), f"spend_30d of customer {cid} to {until}: {value} in the example, {direct} raw"
    return [
        f"exact windows       {differ.height:>7,} of {frame.height:,} rows get another "
        f"spend_30d than from the rolling view it replaced,",
        "                    whose windows end at each customer's last purchase, not at the "
        "snapshot:",
        f"                    30-day spend of customer {cid} at {at:%m-%d %H:%M}: "
        f"{_money(exact)} exact; {_money(stale)} from the window",
        f"                    that ended at the last purchase on {end:%m-%d %H:%M}",
    ]


def _money(value: float | None) -> str:
    return "null" if value is None else f"{value:,.2f}"


def add_model_columns(frame: pl.DataFrame, *, at: str = "event_timestamp") -> pl.DataFrame:
    """Model inputs derived from the features: the same code for training and scoring."""
    idle = pl.col(at) - pl.col("last_purchase_at")
    return frame.with_columns(
        (idle.dt.total_seconds() / 86_400).alias("days_since_purchase"),
        (pl.col(at) - pl.col("signed_up_at")).dt.total_days().alias("tenure_days"),
        pl.col("plan")
        .replace_strict(PLAN_CODES, default=None, return_dtype=pl.Int8)
        .alias("plan_code"),
    )


def train(training: fs.RetrievalResult) -> tuple[Any, float]:
    """Fit a gradient-boosted classifier on the earlier snapshots; AUC on the later ones."""
    with step("6. train") as say:
        ensemble, metrics = _sklearn()
        frame = add_model_columns(training.frame)
        train_rows = frame.filter(pl.col("event_timestamp") < TEST_FROM)
        test_rows = frame.filter(pl.col("event_timestamp") >= TEST_FROM)
        model = ensemble.HistGradientBoostingClassifier(
            learning_rate=0.05, max_iter=300, random_state=0
        )
        model.fit(train_rows.select(MODEL_COLUMNS).to_numpy(), train_rows["churned"].to_numpy())
        proba = model.predict_proba(test_rows.select(MODEL_COLUMNS).to_numpy())[:, 1]
        auc = float(metrics.roc_auc_score(test_rows["churned"].to_numpy(), proba))

        say(
            f"HistGradientBoostingClassifier on {len(MODEL_COLUMNS)} inputs "
            f"(null = no recent activity), split by time"
        )
        say("")
        rows = []
        for name, part in (("train", train_rows), ("test", test_rows)):
            ts = part["event_timestamp"]
            rows.append(
                [
                    name,
                    f"{ts.min():%Y-%m} .. {ts.max():%Y-%m}",
                    part.height,
                    f"{part['churned'].mean():.1%}",
                ]
            )
        for line in table(rows, ["split", "snapshots", "rows", "churned"]):
            say(line)
        say("")
        say(f"test AUC {auc:.3f}")
    return model, auc


def score(store: fs.FeatureStore, model: Any) -> tuple[pl.DataFrame, fs.RetrievalResult]:
    """Score every customer on the latest features as of the year end; show the riskiest
    of those still buying. Returns all customers with their ``risk``, riskiest first, and
    the retrieval the scores were computed from."""
    with step("9. batch scoring (latest features)") as say:
        customers = pl.read_parquet(data.DATA_DIR / "customers.parquet").select("customer_id")
        latest = store.get_latest_features(customers, features=features.churn_v1, as_of=SCORE_AS_OF)
        frame = add_model_columns(
            latest.frame.with_columns(pl.lit(SCORE_AS_OF).alias("as_of")), at="as_of"
        )
        risk = model.predict_proba(frame.select(MODEL_COLUMNS).to_numpy())[:, 1]
        scored = frame.with_columns(pl.Series("risk", risk)).sort(
            "risk", "customer_id", descending=[True, False]
        )
        # a retention campaign targets customers still buying, not those already gone
        active = scored.filter(pl.col("days_since_purchase").is_not_null())
        say(
            f"as of {SCORE_AS_OF:%Y-%m-%d}: {frame.height:,} customers scored, "
            f"{active.height:,} bought in the last 30 days; content_id {latest.content_id}"
        )
        say("")
        top = active.head(TOP_N).select(
            pl.col("customer_id").cast(pl.String),
            "plan",
            pl.col("risk").round(3).cast(pl.String),
            "spend_30d",
            "txn_count_30d",
            pl.col("days_since_purchase").round(1).cast(pl.String),
            "tickets_90d",
            "urgent_tickets_90d",
        )
        header = [
            "customer",
            "plan",
            "risk",
            "spend_30d",
            "txns_30d",
            "days_idle",
            "tickets",
            "urgent",
        ]
        for line in table([list(r) for r in top.iter_rows()], header):
            say(line)
    return scored, latest


def register(
    store: fs.FeatureStore,
    labels: pl.DataFrame,
    training: fs.RetrievalResult,
    model: Any,
    auc: float,
) -> tuple[fs.ModelVersion, fs.TrainingSet, fs.TrainingSet]:
    """Save the training set and its held-out test rows, and register the model version.
    Returns the version, the training set and the test set."""
    with step("7. register the model") as say:
        saved = store.save_training_set(training, "churn_train")
        # the test split as its own point-in-time training set: what an evaluation reads
        test = store.get_historical_features(
            labels.filter(pl.col("event_timestamp") >= TEST_FROM),
            features=features.churn_v1,
        )
        test_set = store.save_training_set(test, "churn_test")
        OUT.mkdir(exist_ok=True)
        card = OUT / "model_card.json"
        params = {k: v for k, v in model.get_params().items() if isinstance(v, int | float | str)}
        card.write_text(
            json.dumps(
                {
                    "model": type(model).__name__,
                    "params": params,
                    "inputs": MODEL_COLUMNS,
                    "test_auc": auc,
                },
                indent=1,
            )
        )
        version = store.register_model(
            "churn",
            saved,
            artifact=card,
            params=params,
            metrics={"auc": auc},
            tags={"algorithm": type(model).__name__},
        )
        commit = version.code_version.get("git_commit")
        say(f"training set {saved.id} ({saved.rows:,} rows)")
        say(
            f"test set     {test_set.id} ({test_set.rows:,} rows, the snapshots from "
            f"{TEST_FROM:%Y-%m-%d})"
        )
        say(
            f"model {version.id}, registered with test AUC {auc:.3f}, code "
            f"{(commit or 'not in a git work tree')[:12]}"
            f"{' (dirty)' if version.code_version.get('git_dirty') else ''}"
        )
    return version, saved, test_set


def evaluate_and_promote(
    store: fs.FeatureStore, version: fs.ModelVersion, test_set: fs.TrainingSet, model: Any
) -> None:
    """Evaluate the version on the saved test set; move ``production`` to it through the
    promotion gate, which checks that evaluation."""
    with step("8. evaluate and promote") as say:
        frame = add_model_columns(test_set.to_polars())
        proba = model.predict_proba(frame.select(MODEL_COLUMNS).to_numpy())[:, 1]
        evaluation = store.evaluate(version, test_set, predictions=proba, label_column="churned")
        say(
            f"{version.id} on the test set, {evaluation.rows:,} rows (accuracy to f1 at "
            f"risk >= {evaluation.threshold:g}), recorded as"
        )
        say(f"{evaluation.id}")
        say("")
        names = list(evaluation.metrics)
        for line in table([[f"{evaluation.metrics[n]:.3f}" for n in names]], names):
            say(line)
        say("")
        gate = ", ".join(f"{metric} {bound}" for metric, bound in GATE.items())
        try:
            store.set_alias("churn", "production", version.version, require=GATE, eval_set=test_set)
        except fs.GateError as exc:
            say(f"gate {gate}: refused, production stays where it was: {exc}")
        else:
            history = [h["version"] for h in store.alias_history("churn", "production")]
            say(
                f"gate {gate}: passed; alias production -> version {version.version} "
                f"(history: {history})"
            )


def lineage(
    store: fs.FeatureStore,
    version: fs.ModelVersion,
    scored: pl.DataFrame,
    latest: fs.RetrievalResult,
) -> fs.PredictionBatch:
    """Log the predictions with the feature values they were computed from; trace the
    riskiest back to raw files; show a source's impact. Returns the prediction batch."""
    with step("10. lineage") as say:
        # the served values go into the batch (scored is sorted by risk, so it carries
        # them itself): a skew check recomputes them later
        served = [f for item in latest.manifest["features"] for f in item["features"]]
        batch = store.log_predictions(
            version, scored.select("customer_id", *served, "risk"), features=latest
        )
        say(
            f"logged {batch.rows:,} predictions as {batch.id}, with the {len(served)} "
            f"feature values served"
        )
        files = store.lineage.upstream(batch.id, kinds=["source_file"])
        views = store.lineage.upstream(batch.id, kinds=["feature_view"])
        say(f"upstream: {len(views)} feature view versions and {len(files)} raw files, e.g.")
        for node in files[:3]:
            a = node.attrs
            say(f"  {_display(Path(a['path']))}  {a['rows']:,} rows  sha256 {a['sha256'][:12]}")
        say("")
        # explain the riskiest customer who still buys (the top of the campaign list)
        buying = scored.with_row_index().filter(pl.col("days_since_purchase").is_not_null())
        row = buying["index"][0]
        why = store.lineage.explain(batch.id, row=int(row))
        say(
            f"why customer {why['prediction']['customer_id']} got risk "
            f"{why['prediction']['risk']:.3f} ({why['model_version']['id']}, "
            f"trained on {why['training_set']}):"
        )
        rows = [
            [
                f["view"] + "@" + f["view_version"][:6],
                f["feature"],
                f["value"],
                f["event_timestamp"],
                (f["run"] or "-")[:16],
            ]
            for f in why["features"]
        ]
        for line in table(rows, ["view", "feature", "value", "as of", "run"]):
            say("  " + line)
        say(
            f"  from {len(why['source_files'])} raw files, all unchanged on disk: "
            f"{all(f['unchanged'] for f in why['source_files'])}"
        )
        say("")
        impact = store.lineage.downstream(
            "source:tickets", kinds=["model_version", "prediction_batch"]
        )
        models = sorted({n.id for n in impact if n.kind == "model_version"})
        batches = [n for n in impact if n.kind == "prediction_batch"]
        say(
            f"impact of a change to source:tickets: {_n(len(models), 'model version')} "
            f"({', '.join(models[-3:])}) and {_n(len(batches), 'prediction batch')}"
        )
        picture = store.lineage.subgraph(batch.id, direction="up")
        OUT.mkdir(exist_ok=True)
        (OUT / "lineage.mmd").write_text(store.lineage.export("mermaid", picture))
        (OUT / "lineage.dot").write_text(store.lineage.export("dot", picture))
        say(
            f"wrote {_display(OUT / 'lineage.mmd')} and {_display(OUT / 'lineage.dot')} "
            f"({picture.number_of_nodes()} nodes, {picture.number_of_edges()} edges): "
            f"render with `dot -Tsvg` or any Mermaid viewer"
        )
        # the explorer as one offline page, and a picture: `featstore lineage draw` in Python
        source = GraphSource(store)
        draw(source, batch.id, OUT / "lineage.html", up=4, down=1)
        svg = draw(source, batch.id, OUT / "lineage.svg", up=4, down=1)
        say(
            f"wrote {_display(OUT / 'lineage.html')} (the explorer, opens offline) and "
            f"{_display(OUT / 'lineage.svg')} ({svg['nodes']} nodes); browse the whole "
            f"store with `featstore --store {_display(store.path)} ui`"
        )
    return batch


def drift_and_skew(
    store: fs.FeatureStore, saved: fs.TrainingSet, batch: fs.PredictionBatch
) -> None:
    """Compare the scored batch with the training set (drift), and its served feature
    values with a point-in-time recomputation (skew); write the drift report as HTML."""
    with step("11. drift and skew") as say:
        report = store.drift(saved, batch)
        say(
            f"drift from the training set to the scored batch: "
            f"{len(report.drifted_features)} of {len(report.features)} features drifted"
        )
        say("")
        rows = [
            [
                f.feature,
                f"{f.reference_null_rate:.0%}",
                f"{f.current_null_rate:.0%}",
                *[
                    None if v is None else f"{v:.3f}"
                    for v in (f.psi, f.jensen_shannon, f.wasserstein)
                ],
                ", ".join(_why(r) for r in f.reasons) or "no",
            ]
            for f in report.features
        ]
        header = ["feature", "null train", "null batch", "psi", "js", "wasserstein", "drifted"]
        for line in table(rows, header):
            say(line)
        limits = [
            f"{_why(k)} {'±' if k == 'null_rate_change' else ''}{v:g}"
            for k, v in report.thresholds.items()
            if v is not None
        ]
        say(f"drifted: beyond {', '.join(limits)} (the null rate's change)")
        # the batch scores every customer, the training rows are the customers of each
        # snapshot: compare only those still buying to see what else moved
        buying = batch.to_polars().filter(pl.col("spend_30d").is_not_null())
        among = store.drift(saved, buying)
        say(
            f"among the {buying.height:,} customers who bought in the last 30 days: "
            f"{', '.join(among.drifted_features) or 'none'} drifted"
        )
        OUT.mkdir(exist_ok=True)
        (OUT / "drift.html").write_text(report.to_html())
        say(
            f"wrote {_display(OUT / 'drift.html')} ({report.id}): each feature's "
            f"histograms, train against batch"
        )
        say("")
        skew = store.skew(batch)
        differing = [f for f in skew.features if f.differing]
        say(
            f"skew: the {len(skew.features)} served features of the {batch.rows:,} predictions, "
            f"recomputed point-in-time as of {SCORE_AS_OF:%Y-%m-%d}:"
        )
        if not differing:
            say("      0 values differ: serving and training read the same offline files")
        for f in differing:
            say(
                f"  {f.column}: {f.differing:,} rows differ ({f.share:.1%}), largest difference "
                f"{f.max_difference}"
            )


def _why(reason: str) -> str:
    """A drift reason or a threshold's name in short: ``psi``, ``js``, ``nulls``, ..."""
    name = reason.split(" ")[0]
    short = {"jensen_shannon": "js", "null": "nulls", "null_rate_change": "nulls"}
    return short.get(name, "one side only" if name == "values" else name)


def labels_and_performance(
    store: fs.FeatureStore, version: fs.ModelVersion, batch: fs.PredictionBatch
) -> None:
    """A month later the outcomes are known: log them against the predictions (matched by
    customer and time) and show the model's performance on the batch."""
    with step("12. labels arrive: performance") as say:
        truth = data.outcomes(SCORE_AS_OF)  # the customers on the 1st; who left by the 31st
        logged = store.log_labels(
            truth, model="churn", label_column="churned", timestamp_column="event_timestamp"
        )
        to = (
            [batch.id]
            if logged.batches == (batch.batch_id,)
            else [f"prediction_batch:{b}" for b in logged.batches]
        )
        say(
            f"logged {logged.rows:,} labels as {logged.id} "
            f"({truth['churned'].mean():.1%} churned in January)"
        )
        say(f"matched by customer_id and time to {', '.join(to)}")
        say(
            f"the other {batch.rows - logged.rows:,} customers scored had left before "
            f"{SCORE_AS_OF:%Y-%m-%d}: no label"
        )
        say("")
        perf = store.performance("churn", every="1mo", versions=[version.version])
        names = list(perf.metrics)
        rows = []
        for r in perf.frame.iter_rows(named=True):
            values = [None if r[n] is None else f"{r[n]:.3f}" for n in names]
            registered = r.get("registered_auc")
            rows.append(
                [
                    version.id,
                    f"{r['bucket']:%Y-%m}",
                    r["rows"],
                    *values,
                    None if registered is None else f"{registered:.3f}",
                ]
            )
        for line in table(rows, ["model", "month", "labelled", *names, "registered auc"]):
            say(line)
        for note in perf.frame["notes"].drop_nulls():
            say(f"note: {note}")


# -- entry point ------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="featstore churn example, end to end")
    parser.add_argument(
        "--store",
        type=Path,
        default=DEFAULT_STORE,
        help=f"store directory (default: {_display(DEFAULT_STORE)})",
    )
    parser.add_argument(
        "--fresh", action="store_true", help="delete the store first and start over"
    )
    parser.add_argument(
        "--engine",
        choices=["duckdb", "spark"],
        default="duckdb",
        help="the query engine (default: duckdb; spark needs featstore[spark] and Java)",
    )
    return parser.parse_args(argv)


def _n(count: int, noun: str) -> str:
    return f"{count:,} {noun}" + ("" if count == 1 else "es" if noun.endswith("ch") else "s")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    store_path = args.store.absolute()  # resolved before the chdir below
    _sklearn()  # fail early, with the install command, if scikit-learn is missing
    started = perf_counter()
    print(f"featstore {fs.__version__}: churn example")
    os.chdir(HERE)  # the sources' paths are relative to this folder (see features.py)

    labels = load_data()
    store = open_store(store_path, fresh=args.fresh, engine=args.engine)
    try:
        materialize(store)
        training = training_set(store, labels)
        point_in_time_check(store, labels, training)
        model, auc = train(training)
        version, saved, test_set = register(store, labels, training, model, auc)
        evaluate_and_promote(store, version, test_set, model)
        scored, latest = score(store, model)
        batch = lineage(store, version, scored, latest)
        drift_and_skew(store, saved, batch)
        labels_and_performance(store, version, batch)
    finally:
        store.close()
    print(f"\ndone in {perf_counter() - started:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
