"""A small, fully known store for the lineage, training-set, model and prediction tests.

:func:`build_world` writes raw data (two Parquet files of transactions and one CSV of
profiles), then does only what a user does: ``apply``, ``materialize``,
``get_historical_features`` + ``save_training_set``, ``register_model``,
``get_latest_features`` + ``log_predictions`` (and one batch with a timestamp column).
Every lineage node must come from those calls. The raw rows are known here, so
:func:`expected_value` gives the feature value any as-of time must see.

Also: a subprocess runner (queries "from a new process"), the OpenLineage RunEvent
schema with a format checker that really checks ``date-time``, ``uri`` and ``uuid``, and
graph comparison helpers.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import networkx as nx
import polars as pl
import pytest
from helpers import run_python
from jsonschema import Draft202012Validator, FormatChecker

import featstore as fs

__all__ = [
    "MAT_END",
    "MAT_START",
    "PROFILES",
    "TXNS",
    "World",
    "build_world",
    "edge_set",
    "expected_value",
    "format_checker",
    "node_map",
    "openlineage_validator",
    "run_json",
    "sha256_of",
    "world_fixture",
]

TESTS = Path(__file__).resolve().parent
MAT_START = datetime(2024, 1, 1)
MAT_END = datetime(2024, 4, 1)

# (customer_id, ts, amount): two raw Parquet files; ts unique per customer
TXNS: dict[str, list[tuple[int, datetime, int]]] = {
    "part-0.parquet": [
        (1, datetime(2024, 1, 5), 10),
        (2, datetime(2024, 1, 10), 20),
        (3, datetime(2024, 1, 12), 5),
        (1, datetime(2024, 2, 3), 30),
        (3, datetime(2024, 2, 9), 7),
    ],
    "part-1.parquet": [
        (2, datetime(2024, 2, 20), 40),
        (1, datetime(2024, 3, 1), 50),
        (3, datetime(2024, 3, 2), 9),
        (2, datetime(2024, 3, 20), 60),
    ],
}
# (customer_id, ts, age): one raw CSV file
PROFILES: list[tuple[int, datetime, int]] = [
    (1, datetime(2024, 1, 1), 30),
    (2, datetime(2024, 1, 2), 40),
    (3, datetime(2024, 1, 3), 50),
    (1, datetime(2024, 2, 15), 31),
    (3, datetime(2024, 3, 5), 51),
]

# the training entity rows: (customer_id, event_timestamp, label)
ENTITY_ROWS: list[tuple[int, datetime, int]] = [
    (1, datetime(2024, 1, 20), 0),
    (2, datetime(2024, 2, 25), 1),
    (1, datetime(2024, 3, 10), 0),
    (2, datetime(2024, 1, 3), 1),  # before customer 2's first transaction: amount is null
    (3, datetime(2024, 3, 3), 0),
]
LATEST_AS_OF = datetime(2024, 3, 15)
# rows of the batch logged with a timestamp column (no features=)
TS_BATCH_ROWS: list[tuple[int, datetime, float]] = [
    (1, datetime(2024, 1, 20), 0.1),
    (2, datetime(2024, 1, 3), 0.2),
    (3, datetime(2024, 3, 3), 0.3),
    (1, datetime(2024, 3, 1), 0.4),  # exactly at an event time: that value counts
]


def all_txns() -> list[tuple[int, datetime, int]]:
    return [row for rows in TXNS.values() for row in rows]


def expected_value(
    rows: list[tuple[int, datetime, Any]], customer: int, as_of: datetime
) -> tuple[Any, datetime | None]:
    """Brute force: the value (and its event time) of ``customer``'s latest row at or
    before ``as_of``; ``(None, None)`` if there is none."""
    seen = [(ts, value) for c, ts, value in rows if c == customer and ts <= as_of]
    if not seen:
        return None, None
    ts, value = max(seen)
    return value, ts


def sha256_of(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@dataclass
class World:
    root: Path
    store: fs.FeatureStore
    raw_files: dict[str, Path]  # source name -> file or folder
    txn_files: list[Path]
    profile_file: Path
    customer: fs.Entity
    txn_source: fs.ParquetSource
    profile_source: fs.CsvSource
    spend: fs.FeatureView
    profile: fs.FeatureView
    service: fs.FeatureService
    runs: dict[str, fs.MaterializationRun]  # view name -> run
    entity: pl.DataFrame
    result: fs.RetrievalResult
    training_set: Any
    artifact: Path
    model: Any
    latest: fs.RetrievalResult
    batch: Any  # logged with features=latest
    ts_batch: Any  # logged with a timestamp column
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def store_path(self) -> Path:
        return self.store.path

    def file_node(self, path: Path) -> str:
        return f"file:{path}@{sha256_of(path)[:12]}"


def world_fixture(name: str) -> Any:
    """A module-scoped ``world`` fixture: one :func:`build_world` shared by a module's
    tests (which must not change what other tests of the module look at). In a module
    marked ``helpers.BOTH_CATALOGS``, one world per catalog backend."""

    @pytest.fixture(scope="module")
    def world(
        tmp_path_factory: pytest.TempPathFactory, module_catalog: str | None
    ) -> Iterator[World]:
        w = build_world(tmp_path_factory.mktemp(name), catalog=module_catalog)
        yield w
        w.store.close()

    return world


def write_raw(root: Path) -> tuple[list[Path], Path]:
    txn_dir = root / "raw" / "txns"
    txn_dir.mkdir(parents=True, exist_ok=True)
    txn_files = []
    for name, rows in TXNS.items():
        path = txn_dir / name
        pl.DataFrame(
            rows,
            schema={"customer_id": pl.Int64, "ts": pl.Datetime("us"), "amount": pl.Int64},
            orient="row",
        ).write_parquet(path)
        txn_files.append(path)
    profile_file = root / "raw" / "profiles.csv"
    lines = ["customer_id,ts,age"] + [f"{c},{ts.isoformat()},{a}" for c, ts, a in PROFILES]
    profile_file.write_text("\n".join(lines) + "\n")
    return txn_files, profile_file


def definitions(root: Path) -> dict[str, Any]:
    customer = fs.Entity("customer", join_keys=["customer_id"])
    txn_source = fs.ParquetSource("txns", path=root / "raw" / "txns", timestamp_column="ts")
    profile_source = fs.CsvSource(
        "profiles", path=root / "raw" / "profiles.csv", timestamp_column="ts"
    )
    spend = fs.FeatureView("spend", entity=customer, source=txn_source, features=["amount"])
    profile = fs.FeatureView("profile", entity=customer, source=profile_source, features=["age"])
    service = fs.FeatureService("churn_svc", features=[spend, profile])
    return {
        "customer": customer,
        "txn_source": txn_source,
        "profile_source": profile_source,
        "spend": spend,
        "profile": profile,
        "service": service,
    }


def entity_frame() -> pl.DataFrame:
    return pl.DataFrame(
        ENTITY_ROWS,
        schema={"customer_id": pl.Int64, "event_timestamp": pl.Datetime("us"), "label": pl.Int64},
        orient="row",
    )


def build_world(root: Path, *, model_name: str = "churn", catalog: str | None = None) -> World:
    """The store described in the module docstring, at ``root / "store"``, its catalog
    where ``catalog`` says (default: ``$FEATSTORE_CATALOG``, else SQLite)."""
    root.mkdir(parents=True, exist_ok=True)
    txn_files, profile_file = write_raw(root)
    d = definitions(root)
    store = fs.FeatureStore(root / "store", progress=False, threads=1, catalog=catalog)
    store.apply(
        [
            d["customer"],
            d["txn_source"],
            d["profile_source"],
            d["spend"],
            d["profile"],
            d["service"],
        ]
    )
    runs = {run.view: run for run in store.materialize(MAT_START, MAT_END)}
    entity = entity_frame()
    result = store.get_historical_features(entity, d["service"])
    training_set = store.save_training_set(result, "churn_train")
    artifact = root / "model.bin"
    artifact.write_bytes(b"a trained model")
    model = store.register_model(
        model_name,
        training_set,
        artifact=artifact,
        params={"depth": 3, "lr": 0.1},
        metrics={"auc": 0.81, "logloss": 0.4},
        tags={"team": "growth", "stage": "dev"},
    )
    latest = store.get_latest_features({"customer_id": [1, 2, 3]}, d["service"], as_of=LATEST_AS_OF)
    preds = latest.frame.select("customer_id").with_columns(
        pl.Series("score", [0.9, 0.1, 0.5], dtype=pl.Float64)
    )
    batch = store.log_predictions(model, preds, features=latest)
    ts_frame = pl.DataFrame(
        TS_BATCH_ROWS,
        schema={"customer_id": pl.Int64, "scored_at": pl.Datetime("us"), "score": pl.Float64},
        orient="row",
    )
    ts_batch = store.log_predictions(model, ts_frame, timestamp_column="scored_at")
    extra = monitor_world(store, training_set, model, batch)
    return World(
        root=root,
        store=store,
        raw_files={"txns": root / "raw" / "txns", "profiles": profile_file},
        txn_files=txn_files,
        profile_file=profile_file,
        customer=d["customer"],
        txn_source=d["txn_source"],
        profile_source=d["profile_source"],
        spend=d["spend"],
        profile=d["profile"],
        service=d["service"],
        runs=runs,
        entity=entity,
        result=result,
        training_set=training_set,
        artifact=artifact,
        model=model,
        latest=latest,
        batch=batch,
        ts_batch=ts_batch,
        extra=extra,
    )


def monitor_world(
    store: fs.FeatureStore, training_set: Any, model: Any, batch: Any
) -> dict[str, Any]:
    """The monitoring operations, each once: a drift check between the training set and
    the batch, the batch's skew, its labels, and an evaluation of the model on the
    training set."""
    drift = store.drift(training_set, batch)
    skew = store.skew(batch)
    labels = store.log_labels(
        batch.to_polars()
        .select("prediction_id")
        .with_columns(pl.Series("label", [(i + 1) % 2 for i in range(batch.rows)]))
    )
    evaluation = store.evaluate(
        model,
        training_set,
        predictions=[(i * 7 % 10) / 10 for i in range(training_set.rows)],
        label_column="label",
    )
    return {"drift": drift, "skew": skew, "labels": labels, "evaluation": evaluation}


# -- subprocesses ------------------------------------------------------------------------


def run_json(code: str, **kwargs: Any) -> Any:
    """Run ``code`` in a new process; it must print one JSON document on its last line."""
    out = run_python(code, **kwargs)
    return json.loads(out.strip().splitlines()[-1])


# -- graphs --------------------------------------------------------------------------------


def node_map(graph: nx.MultiDiGraph) -> dict[str, dict[str, Any]]:
    return {n: dict(d) for n, d in graph.nodes(data=True)}


def edge_set(graph: nx.MultiDiGraph) -> set[tuple[str, str, str]]:
    return {(s, t, d["kind"]) for s, t, d in graph.edges(data=True)}


# -- OpenLineage ---------------------------------------------------------------------------

_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def format_checker() -> FormatChecker:
    """jsonschema's checker plus strict ``date-time`` (RFC 3339) and ``uri`` (RFC 3986,
    absolute) checks, which jsonschema only does with optional extra packages."""
    checker = FormatChecker()

    @checker.checks("date-time", raises=ValueError)
    def _date_time(value: object) -> bool:
        if not isinstance(value, str):
            return True
        if not _DATE_TIME.match(value):
            return False
        datetime.fromisoformat(value.replace("z", "Z").replace("t", "T"))
        return True

    @checker.checks("uri", raises=ValueError)
    def _uri(value: object) -> bool:
        if not isinstance(value, str):
            return True
        parts = urlsplit(value)
        return bool(re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", parts.scheme)) and not re.search(
            r"[\s<>\"{}|\\^`]", value
        )

    @checker.checks("uuid", raises=ValueError)
    def _uuid(value: object) -> bool:
        if not isinstance(value, str):
            return True
        return str(uuid.UUID(value)) == value.lower()

    return checker


def openlineage_validator() -> Draft202012Validator:
    schema = json.loads((TESTS / "data" / "openlineage_runevent.schema.json").read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=format_checker())


def many_files_store(root: Path, files: int) -> Path:
    """A store at ``root / "store"`` whose one source reads ``files`` daily Parquet files
    (two rows each), materialized over January 2024: one run reads them all, so a
    lineage view of it has many siblings of one kind. Returns the store's path."""
    raw = root / "raw"
    raw.mkdir(parents=True)
    start = datetime(2024, 1, 1)
    for day in range(files):
        pl.DataFrame(
            {
                "customer_id": [1, 2],
                "ts": [start + timedelta(days=day, hours=h) for h in (1, 2)],
                "amount": [day, day + 1],
            }
        ).write_parquet(raw / f"day-{day:02d}.parquet")
    customer = fs.Entity("customer", join_keys=["customer_id"])
    txns = fs.ParquetSource("txns", path=raw, timestamp_column="ts")
    view = fs.FeatureView("spend", entity=customer, source=txns, features=["amount"])
    with fs.FeatureStore(root / "store", progress=False, threads=1) as store:
        store.apply([customer, txns, view])
        store.materialize(start, start + timedelta(days=31))
    return root / "store"
