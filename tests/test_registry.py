"""The registry: what apply records, read back from other processes; feature services;
definition versions; JSON (never pickle) documents in the catalog."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from helpers import (
    BOTH_CATALOGS,
    END,
    START,
    last_json_line,
    make_events,
    rolling_spend,
    run_python,
)
from polars.testing import assert_frame_equal

import featstore as fs
from featstore.catalog.postgres import PostgresCatalog

pytestmark = BOTH_CATALOGS


@dataclass
class Registered:
    root: Path
    store: fs.FeatureStore
    customer: fs.Entity
    tx: fs.ParquetSource
    amounts: fs.FeatureView
    spending: fs.FeatureView
    service: fs.FeatureService
    entity_rows: pl.DataFrame

    @property
    def store_path(self) -> str:
        return str(self.store.path)


@pytest.fixture
def reg(tmp_path: Path) -> Iterator[Registered]:
    events = make_events(160, seed=21)
    events.write_parquet(tmp_path / "tx.parquet")
    customer = fs.Entity("customer", join_keys=["customer_id"], description="a paying customer")
    tx = fs.ParquetSource("tx", path=tmp_path / "tx.parquet", timestamp_column="ts")
    amounts = fs.FeatureView(
        "amounts", entity=customer, source=tx, features=["amount"], ttl=timedelta(days=20)
    )
    spending = fs.FeatureView(
        "spending",
        entity=customer,
        source=tx,
        transform=rolling_spend,
        lookback=timedelta(days=30),
        ttl=timedelta(days=90),
        owner="risk-team",
        tags={"tier": "gold"},
    )
    service = fs.FeatureService("churn_model", features=["amounts:amount", spending[["spend_30d"]]])
    store = fs.FeatureStore(tmp_path / "store", progress=False)
    store.apply([customer, tx, amounts, spending, service])
    store.materialize(START, END)
    entity_rows = pl.DataFrame(
        {
            "customer_id": [0, 1, 2, 3, 9, 1],
            "event_timestamp": [
                datetime(2024, 1, 20),
                datetime(2024, 2, 11, 8),
                datetime(2024, 3, 3),
                datetime(2024, 4, 30),
                datetime(2024, 3, 1),
                datetime(2023, 12, 1),
            ],
            "label": [1, 0, 1, 0, 1, 0],
        }
    )
    yield Registered(tmp_path, store, customer, tx, amounts, spending, service, entity_rows)
    store.close()


def _in_new_process(reg: Registered, body: str) -> object:
    """Run ``body`` with ``store`` opened on the registered store (no definitions
    imported, nothing applied); it must print one JSON line last."""
    code = (
        "import json\nimport featstore as fs\nimport polars as pl\n"
        f"store = fs.FeatureStore({reg.store_path!r}, progress=False)\n" + body
    )
    return last_json_line(run_python(code, cwd=reg.root))


# -- reading the registry from another process ----------------------------------------


def test_new_process_lists_definitions_with_versions(reg: Registered) -> None:
    got = _in_new_process(
        reg,
        """
listing = {k: [[r["name"], r["version"]] for r in store.list_definitions(k)]
           for k in ("entity", "source", "feature_view", "feature_service")}
print(json.dumps(listing))
""",
    )
    assert got == {
        "entity": [["customer", reg.customer.version]],
        "source": [["tx", reg.tx.version]],
        "feature_view": [["amounts", reg.amounts.version], ["spending", reg.spending.version]],
        "feature_service": [
            ["churn_model", reg.store.get_feature_service("churn_model")["version"]]
        ],
    }


def test_new_process_reads_a_view_record(reg: Registered) -> None:
    rec = _in_new_process(reg, 'print(json.dumps(dict(store.get_feature_view("spending"))))')
    assert isinstance(rec, dict)
    assert rec["name"] == "spending"
    assert rec["version"] == reg.spending.version
    assert rec["entity"] == "customer"
    assert rec["join_keys"] == ["customer_id"]
    assert rec["key_dtypes"] == {"customer_id": "Int64"}
    assert rec["source"] == "tx"
    assert rec["source_version"] == reg.tx.version
    assert rec["timestamp_column"] == "ts"
    assert rec["created_timestamp_column"] is None
    assert rec["features"] == {"spend_30d": "Int64", "txn_30d": "UInt32"}
    assert rec["ttl_us"] == 90 * 86_400 * 10**6
    assert rec["lookback_us"] == 30 * 86_400 * 10**6
    assert rec["owner"] == "risk-team"
    assert rec["tags"] == {"tier": "gold"}
    assert "def rolling_spend(" in rec["transform_source"]
    assert '.rolling("ts", period="30d", group_by="customer_id")' in rec["transform_source"]
    assert rec["description"] == ""

    plain = _in_new_process(reg, 'print(json.dumps(dict(store.get_feature_view("amounts"))))')
    assert isinstance(plain, dict)
    assert plain["features"] == {"amount": "Int64"}
    assert plain["selection"] == ["amount"]
    assert plain["transform_source"] is None
    assert plain["ttl_us"] == 20 * 86_400 * 10**6
    assert plain["lookback_us"] is None


def _as_utc(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` as a file featstore writes holds it: naive instants are UTC, written
    UTC-adjusted (docs/files.md)."""
    return frame.with_columns(
        pl.col(c).dt.replace_time_zone("UTC")
        for c, d in frame.schema.items()
        if isinstance(d, pl.Datetime) and d.time_zone is None
    )


def test_new_process_retrieves_without_applying(reg: Registered) -> None:
    here = reg.store.get_historical_features(
        reg.entity_rows, ["amounts:amount", "spending:spend_30d", "spending:txn_30d"]
    )
    assert here.frame["spend_30d"].null_count() == 2  # the unknown customer, the early row
    reg.entity_rows.write_parquet(reg.root / "entity.parquet")
    out = reg.root / "result.parquet"
    got = _in_new_process(
        reg,
        f"""
result = store.get_historical_features(
    {str(reg.root / "entity.parquet")!r},
    ["amounts:amount", "spending:spend_30d", "spending:txn_30d"],
)
result.to_parquet({str(out)!r})
latest = store.get_latest_features({{"customer_id": [0, 1]}}, ["spending:spend_30d"],
                                   as_of="2024-03-01")
print(json.dumps({{"content_id": result.content_id, "latest": latest.frame.to_dicts()}}))
""",
    )
    assert isinstance(got, dict)
    assert_frame_equal(pl.read_parquet(out), _as_utc(here.frame))
    assert got["content_id"] == here.content_id
    latest = reg.store.get_latest_features(
        {"customer_id": [0, 1]}, ["spending:spend_30d"], as_of="2024-03-01"
    )
    assert got["latest"] == latest.frame.to_dicts()


def test_new_process_materialize_without_apply_is_a_clear_error(reg: Registered) -> None:
    before = reg.store.runs()
    got = _in_new_process(
        reg,
        """
out = {}
lo, hi = "2024-01-01", "2024-02-01"
for label, call in [("all", lambda: store.materialize(lo, hi)),
                    ("one", lambda: store.materialize(lo, hi, views=["spending"])),
                    ("incremental", lambda: store.materialize_incremental("2024-06-01")),
                    ("typo", lambda: store.materialize(lo, hi, views=["spendin"]))]:
    try:
        call()
        out[label] = None
    except fs.FeatstoreError as exc:
        out[label] = [type(exc).__name__, str(exc)]
print(json.dumps(out))
""",
    )
    assert isinstance(got, dict)
    for label in ("all", "one", "incremental"):
        kind, message = got[label]
        assert kind == "MaterializationError"
        assert "is registered, but its definition is code" in message
        assert "call store.apply([...])" in message
    assert got["one"][1].startswith("feature view 'spending'")
    kind, message = got["typo"]
    assert kind == "NotFoundError"
    assert "did you mean 'spending'?" in message
    assert reg.store.runs() == before


def _definition_rows(store: fs.FeatureStore) -> int:
    """How many definition versions the catalog holds, of every kind and name."""
    kinds = ("entity", "source", "feature_view", "feature_service")
    return sum(
        len(store.catalog.definition_history(kind, name))
        for kind in kinds
        for name in store.catalog.current_names(kind)
    )


def test_apply_in_a_new_process_is_idempotent(reg: Registered) -> None:
    """Re-applying the same definitions (same code, another process) registers nothing
    new: the same versions, no new rows."""
    before = _definition_rows(reg.store)
    helpers_dir = str(Path(__file__).parent)
    got = _in_new_process(
        reg,
        f"""
import sys
from datetime import timedelta
sys.path.insert(0, {helpers_dir!r})
from helpers import rolling_spend
customer = fs.Entity("customer", join_keys=["customer_id"], description="a paying customer")
tx = fs.ParquetSource("tx", path={str(reg.tx.path)!r}, timestamp_column="ts")
spending = fs.FeatureView("spending", entity=customer, source=tx, transform=rolling_spend,
                          lookback=timedelta(days=30), ttl=timedelta(days=90),
                          owner="risk-team", tags={{"tier": "gold"}})
store.apply([customer, spending])
run, = store.materialize("2024-04-01", "2024-05-01", views=["spending"])
print(json.dumps({{"version": spending.version, "run_version": run.view_version}}))
""",
    )
    assert got == {"version": reg.spending.version, "run_version": reg.spending.version}
    assert _definition_rows(reg.store) == before
    assert len(reg.store.versions("feature_view", "spending")) == 1


# -- feature services ---------------------------------------------------------------------


def test_feature_service_resolves_every_reference_form(reg: Registered) -> None:
    service = fs.FeatureService(
        "scoring",
        features=["amounts:amount", reg.spending, reg.spending[["spend_30d", "txn_30d"]]],
        description="what the scoring model reads",
    )
    reg.store.apply([service])
    rec = reg.store.get_feature_service("scoring")
    assert rec["features"] == [
        {"view": "amounts", "version": reg.amounts.version, "features": ["amount"]},
        {"view": "spending", "version": reg.spending.version, "features": ["spend_30d", "txn_30d"]},
    ]
    assert rec["description"] == "what the scoring model reads"

    result = reg.store.get_historical_features(reg.entity_rows, service)
    assert result.frame.columns == [*reg.entity_rows.columns, "amount", "spend_30d", "txn_30d"]
    assert result.manifest["feature_service"] == {"name": "scoring", "version": rec["version"]}
    direct = reg.store.get_historical_features(
        reg.entity_rows, ["amounts:amount", "spending:spend_30d", "spending:txn_30d"]
    )
    assert_frame_equal(result.frame, direct.frame)

    narrow = reg.store.get_historical_features(
        reg.entity_rows, reg.service, full_feature_names=True
    )
    assert narrow.frame.columns == [
        *reg.entity_rows.columns,
        "amounts__amount",
        "spending__spend_30d",
    ]


def test_feature_service_record_drives_retrieval_in_a_new_process(reg: Registered) -> None:
    """Another process, without the definitions, retrieves a service by name
    (``"service:NAME"``) or from its record's pinned ``view@version:feature`` refs."""
    here = reg.store.get_historical_features(reg.entity_rows, reg.service)
    reg.entity_rows.write_parquet(reg.root / "entity.parquet")
    by_name, by_refs = reg.root / "by_name.parquet", reg.root / "by_refs.parquet"
    entity = str(reg.root / "entity.parquet")
    got = _in_new_process(
        reg,
        f"""
rec = store.get_feature_service("churn_model")
refs = [f"{{i['view']}}@{{i['version']}}:{{f}}" for i in rec["features"] for f in i["features"]]
store.get_historical_features({entity!r}, refs).to_parquet({str(by_refs)!r})
named = store.get_historical_features({entity!r}, "service:churn_model")
named.to_parquet({str(by_name)!r})
print(json.dumps(named.manifest["feature_service"]))
""",
    )
    assert_frame_equal(pl.read_parquet(by_refs), _as_utc(here.frame))
    assert_frame_equal(pl.read_parquet(by_name), _as_utc(here.frame))
    assert got == here.manifest["feature_service"]
    assert got == {
        "name": "churn_model",
        "version": reg.store.get_feature_service("churn_model")["version"],
    }


def test_feature_service_version_follows_its_views(reg: Registered) -> None:
    v1 = reg.store.get_feature_service("churn_model")["version"]
    longer = fs.FeatureView(
        "amounts", entity=reg.customer, source=reg.tx, features=["amount"], ttl=timedelta(days=40)
    )
    reg.store.apply(
        [
            longer,
            fs.FeatureService(
                "churn_model", features=["amounts:amount", reg.spending[["spend_30d"]]]
            ),
        ]
    )
    v2 = reg.store.get_feature_service("churn_model")["version"]
    assert v1 != v2
    assert [r["version"] for r in reg.store.versions("feature_service", "churn_model")] == [v1, v2]


# -- versions and documents -------------------------------------------------------------


def test_versions_lists_every_registered_version_oldest_first(reg: Registered) -> None:
    (only,) = reg.store.versions("feature_view", "amounts")
    assert only["version"] == reg.amounts.version
    assert only["registered_at"]
    v2 = fs.FeatureView(
        "amounts", entity=reg.customer, source=reg.tx, features=["amount"], ttl=timedelta(days=21)
    )
    v3 = fs.FeatureView("amounts", entity=reg.customer, source=reg.tx, features=["amount"])
    reg.store.apply([v2])
    reg.store.apply([v3])
    reg.store.apply([reg.amounts])  # back to v1: current again, not a new version
    listed = reg.store.versions("feature_view", "amounts")
    assert [r["version"] for r in listed] == [reg.amounts.version, v2.version, v3.version]
    assert [r["ttl_us"] for r in listed] == [20 * 86_400 * 10**6, 21 * 86_400 * 10**6, None]
    assert reg.store.get_feature_view("amounts")["version"] == reg.amounts.version
    assert [r["version"] for r in reg.store.versions("entity", "customer")] == [
        reg.customer.version
    ]
    assert [r["version"] for r in reg.store.versions("source", "tx")] == [reg.tx.version]
    assert reg.store.versions("feature_view", "nope") == []


_JSON_COLUMNS = {"body", "attrs", "manifest"}


def test_catalog_documents_are_json_not_pickle(reg: Registered) -> None:
    reg.store.get_historical_features(reg.entity_rows, reg.service)
    if isinstance(reg.store.catalog, PostgresCatalog):
        _postgres_documents_are_json(reg, reg.store.catalog.url)
        return
    db = reg.store.path / "catalog.db"
    checked: dict[str, int] = {}
    with closing(sqlite3.connect(db)) as con:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            columns = [r[1] for r in con.execute(f"PRAGMA table_info({table})")]
            for column in _JSON_COLUMNS & set(columns):
                rows = con.execute(f"SELECT typeof({column}), {column} FROM {table}").fetchall()
                for kind, value in rows:
                    assert kind == "text", f"{table}.{column} holds {kind}"
                    assert isinstance(json.loads(value), dict), f"{table}.{column}: {value[:80]}"
                checked[f"{table}.{column}"] = len(rows)
        blobs = con.execute(
            "SELECT count(*) FROM ("
            + " UNION ALL ".join(
                f"SELECT 1 FROM {t} WHERE "
                + " OR ".join(
                    f"typeof({c}) = 'blob'"
                    for c in [r[1] for r in con.execute(f"PRAGMA table_info({t})")]
                )
                for t in tables
            )
            + ")"
        ).fetchone()[0]
    assert blobs == 0, "no binary values anywhere in the catalog"
    for must in ("definitions.body", "runs.body", "nodes.attrs"):
        assert checked.get(must, 0) > 0, f"{must} was not exercised"
    assert b"\x80\x04\x95" not in db.read_bytes()  # the pickle protocol-4 frame header
    config = json.loads((reg.store.path / "featstore.json").read_text())
    assert config["format_version"] >= 1
    with closing(sqlite3.connect(db)) as con:
        kinds = {json.loads(b)["kind"] for (b,) in con.execute("SELECT body FROM definitions")}
    assert kinds == {"entity", "source", "feature_view", "feature_service"}


def _postgres_documents_are_json(reg: Registered, url: str) -> None:
    """The same checks in the PostgreSQL catalog: documents are TEXT holding JSON
    objects, no binary column or value anywhere, no pickle inside any text."""
    import psycopg

    checked: dict[str, int] = {}
    with psycopg.connect(url, autocommit=True) as con:
        columns: dict[str, dict[str, str]] = {}
        for table, column, data_type in con.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'public' ORDER BY table_name, ordinal_position"
        ):
            columns.setdefault(table, {})[column] = data_type
        binary = [f"{t}.{c}" for t, cs in columns.items() for c, d in cs.items() if d == "bytea"]
        assert binary == [], "no binary columns anywhere in the catalog"
        for table, types in columns.items():
            rows = con.execute(f'SELECT * FROM "{table}"').fetchall()
            names = list(types)
            for row in rows:
                for column, value in zip(names, row, strict=True):
                    assert not isinstance(value, bytes | bytearray | memoryview), (table, column)
                    if isinstance(value, str):
                        assert "\x80\x04\x95" not in value, f"{table}.{column} holds a pickle"
            for column in _JSON_COLUMNS & set(types):
                assert types[column] == "text", f"{table}.{column} is {types[column]}"
                values = [row[names.index(column)] for row in rows]
                for value in values:
                    assert isinstance(json.loads(value), dict), f"{table}.{column}: {value[:80]}"
                checked[f"{table}.{column}"] = len(values)
        kinds = {json.loads(b)["kind"] for (b,) in con.execute("SELECT body FROM definitions")}
    for must in ("definitions.body", "runs.body", "nodes.attrs"):
        assert checked.get(must, 0) > 0, f"{must} was not exercised"
    config = json.loads((reg.store.path / "featstore.json").read_text())
    assert config["format_version"] >= 1
    assert kinds == {"entity", "source", "feature_view", "feature_service"}
