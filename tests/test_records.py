"""Typed records (featstore.records): every body a real store writes decodes to a record
and encodes back identically, byte for byte; ``to_json`` validates against its JSON
Schema; a damaged body is a CatalogError naming the record and the key; Hypothesis
round trips for runs, model versions and manifests."""

from __future__ import annotations

import copy
import dataclasses
import functools
import json
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lineage_helpers import monitor_world
from referencing import Registry, Resource

import featstore as fs
from featstore import records
from featstore.dtypes import encode_schema
from featstore.records import (
    AliasEvent,
    CodeVersion,
    DefinitionVersion,
    EntityRecord,
    FrozenMap,
    ManifestFile,
    ModelSummary,
    ModelVersion,
    Node,
    OfflineFile,
    PredictionBatch,
    Record,
    RetrievedFeatures,
    Run,
    RunInput,
    ServiceRecord,
    ServiceRef,
    SourceRecord,
    TrainingSet,
    TrainingSetCheck,
    TrainingSetManifest,
    ViewRecord,
    ViewSelection,
    definition_from_json,
)
from featstore.timeutil import iso

SCHEMAS = Path(__file__).resolve().parents[1] / "schemas"

RICH = {
    "when": pl.Datetime("us", "America/New_York"),
    "price": pl.Decimal(10, 2),
    "labels": pl.List(pl.String),
    "point": pl.Struct({"x": pl.Int32, "y": pl.Float64}),
    "color": pl.Enum(["red", "blue"]),
    "flag": pl.Boolean(),
    "small": pl.Int16(),
}
KEY_DTYPES = {"Int64": pl.Int64(), "String": pl.String()}


# -- a small store with one of everything ------------------------------------------------


@dataclass
class World:
    store: fs.FeatureStore
    runs: list[fs.MaterializationRun]
    results: list[fs.RetrievalResult]
    batches: list[Any]  # what log_predictions returned

    @property
    def db(self) -> Path:
        return self.store.path / "catalog.db"

    def rows(self, sql: str) -> list[dict[str, Any]]:
        with closing(sqlite3.connect(self.db)) as con:
            con.row_factory = sqlite3.Row
            return [dict(r) for r in con.execute(sql)]

    def bodies(self, sql: str) -> list[str]:
        return [next(iter(r.values())) for r in self.rows(sql)]


def _build(root: Path) -> World:
    days = [datetime(2024, 1, 1) + timedelta(days=5 * i, hours=i) for i in range(24)]
    pl.DataFrame(
        {
            "customer_id": [i % 3 for i in range(24)],
            "ts": days,
            "created": [d + timedelta(hours=1) for d in days],
            "amount": [float(i) for i in range(24)],
        }
    ).write_parquet(root / "tx.parquet")
    pl.DataFrame(
        {
            "customer_id": [0, 1, 2],
            "ts": [datetime(2024, 1, 2), datetime(2024, 1, 3), datetime(2024, 1, 4)],
            "segment": ["a", "b", "c"],
        }
    ).write_csv(root / "profiles.csv")
    rich_rows = pl.DataFrame(
        {
            "customer_id": [0, 1, 2],
            "ts": [datetime(2024, 1, 10), datetime(2024, 1, 12), datetime(2024, 1, 14)],
            "when": [datetime(2024, 1, 9, 15), datetime(2024, 1, 11, 3), datetime(2024, 1, 12)],
            "price": [Decimal("1.50"), Decimal("2.25"), Decimal("0.10")],
            "labels": [["a", "b"], [], ["c"]],
            "point": [{"x": 1, "y": 0.5}, {"x": 2, "y": 1.5}, {"x": 3, "y": 2.5}],
            "color": ["red", "blue", "red"],
            "flag": [True, False, True],
            "small": [3, 4, 5],
        },
        schema={"customer_id": pl.Int64, "ts": pl.Datetime("us"), **RICH},
    )

    customer = fs.Entity("customer", join_keys=["customer_id"], description="a paying customer")
    tx = fs.ParquetSource(
        "tx",
        path=root / "tx.parquet",
        timestamp_column="ts",
        created_timestamp_column="created",
        description="raw transactions",
    )
    profiles = fs.CsvSource("profiles", path=root / "profiles.csv", timestamp_column="ts")
    rich_src = fs.DataFrameSource("rich_src", data=rich_rows, timestamp_column="ts")
    tx_sql = fs.SqlSource(
        "tx_sql",
        query=f"SELECT customer_id, ts, amount FROM read_parquet('{root / 'tx.parquet'}')",
        timestamp_column="ts",
    )

    def amounts_view(ttl_days: int) -> fs.FeatureView:
        return fs.FeatureView(
            "amounts",
            entity=customer,
            source=tx,
            features=["amount"],
            ttl=timedelta(days=ttl_days),
            description="the latest transaction amount",
            owner="growth",
            tags={"tier": "gold"},
        )

    amounts = amounts_view(40)

    @fs.feature_view(entity=customer, source=tx)
    def doubled(df: pl.LazyFrame) -> pl.LazyFrame:
        """Twice the amount."""
        return df.with_columns((pl.col("amount") * 2).alias("amount_x2")).drop("amount")

    @fs.feature_view(entity=customer, source=tx, lookback=timedelta(days=30))
    def spend_30d(df: pl.LazyFrame) -> pl.LazyFrame:
        return (
            df.sort("customer_id", "ts")
            .rolling("ts", period="30d", group_by="customer_id")
            .agg(pl.col("amount").sum().alias("spend"), pl.len().alias("n"))
        )

    profile = fs.FeatureView("profile", entity=customer, source=profiles, features=["segment"])
    rich = fs.FeatureView("rich", entity=customer, source=rich_src, features=list(RICH))
    sql_amounts = fs.FeatureView("sql_amounts", entity=customer, source=tx_sql, features=["amount"])
    scoring = fs.FeatureService(
        "scoring",
        features=[amounts, "doubled:amount_x2", rich[["color", "price"]]],
        description="what the churn model reads",
        owner="ml",
        tags={"stage": "dev"},
    )

    store = fs.FeatureStore(root / "store", progress=False)
    try:
        store.apply(
            [customer, tx, amounts, doubled, spend_30d, profile, rich, sql_amounts, scoring]
        )
        runs = store.materialize(datetime(2024, 1, 1), datetime(2024, 5, 1))
        # February again: its first files are superseded
        runs += store.materialize(datetime(2024, 2, 1), datetime(2024, 3, 1), views=["amounts"])
        amounts_v2 = amounts_view(60)  # a second version of the view
        store.apply([amounts_v2])
        runs += store.materialize(datetime(2024, 1, 1), datetime(2024, 5, 1), views=[amounts_v2])

        labels = pl.DataFrame(
            {
                "customer_id": [0, 1, 2, 0],
                "event_timestamp": [
                    datetime(2024, 2, 2),
                    datetime(2024, 3, 3),
                    datetime(2024, 4, 4),
                    datetime(2024, 4, 20),
                ],
                "label": [0, 1, 0, 1],
            }
        )
        hist = store.get_historical_features(labels, features=scoring)
        wide = store.get_historical_features(
            labels,
            features=["amounts:amount", "spend_30d:*", "profile:segment", "sql_amounts:amount"],
            full_feature_names=True,
            include_event_timestamps=True,
        )
        bitemporal = store.get_historical_features(
            labels, features=["amounts:amount"], bitemporal=True
        )
        latest = store.get_latest_features(
            {"customer_id": [0, 1, 2]}, features=scoring, as_of=datetime(2024, 4, 1)
        )
        churn_train = store.save_training_set(hist, "churn_train")
        store.save_training_set(latest, "latest_set")
        store.save_training_set(bitemporal, "bitemporal_set")

        artifact = root / "model.bin"
        artifact.write_bytes(b"weights")
        m1 = store.register_model(
            "churn",
            churn_train,
            artifact=artifact,
            params={"depth": 3, "layers": [8, 4], "opt": {"lr": 0.1, "name": "adam"}},
            metrics={"auc": 0.81, "trees": 30},
            tags={"team": "growth"},
        )
        m2 = store.register_model("churn", None, artifact="s3://bucket/model.pkl")
        store.register_model("wide", wide)  # saves the retrieval as wide_training
        store.set_alias("churn", "production", 1)
        store.set_alias("churn", "production", 2)
        store.rollback("churn", "production")
        store.set_alias("churn", "staging", 2)

        batches = [
            store.log_predictions(
                m1, latest.to_polars().with_columns(pl.lit(0.3).alias("p")), features=latest
            ),
            store.log_predictions(
                m1, labels.with_columns(p=pl.lit(0.5)), features=hist, as_of=datetime(2024, 4, 30)
            ),
            store.log_predictions(m2, labels.with_columns(p=pl.lit(0.7))),
        ]
        monitor_world(store, churn_train, m1, batches[0])  # every node kind is recorded
    except BaseException:
        store.close()
        raise
    return World(store, runs, [hist, wide, bitemporal, latest], batches)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    w = _build(tmp_path_factory.mktemp("records"))
    yield w
    w.store.close()


# -- JSON Schemas ------------------------------------------------------------------------


@functools.cache
def _registry() -> Registry:
    resources = []
    for path in SCHEMAS.glob("*.schema.json"):
        doc = json.loads(path.read_text())
        resource = Resource.from_contents(doc)
        resources += [(path.name, resource), (doc["$id"], resource)]
    return Registry().with_resources(resources)


@functools.cache
def _validator(name: str, pointer: str = "") -> jsonschema.Draft202012Validator:
    base = json.loads((SCHEMAS / name).read_text())
    jsonschema.Draft202012Validator.check_schema(base)
    schema = {"$ref": base["$id"] + ("#" + pointer if pointer else "")} if pointer else base
    return jsonschema.Draft202012Validator(schema, registry=_registry())


# -- every stored body decodes and encodes back identically ----------------------------


def _check_codec(record: Any, stored: dict[str, Any], text: str | None = None) -> None:
    """The record encodes back to what was stored (as a dict and, if given, as text),
    decodes from its own encoding to an equal record, and is hashable."""
    assert record.to_json() == stored
    if text is not None:
        assert record.dumps() == text
        assert type(record).loads(text) == record
    assert type(record).from_json(record.to_json()) == record
    assert type(record).loads(record.dumps()) == record
    hash(record)


def test_the_store_holds_one_of_everything(world: World) -> None:
    kinds = {
        r["kind"]: r["n"]
        for r in world.rows("SELECT kind, count(*) AS n FROM definitions GROUP BY kind")
    }
    assert kinds == {"entity": 1, "source": 4, "feature_view": 7, "feature_service": 1}
    sources = {
        SourceRecord.loads(b).source_kind
        for b in world.bodies("SELECT body FROM definitions WHERE kind = 'source'")
    }
    assert sources == {"parquet", "csv", "dataframe", "sql"}
    files = [OfflineFile.from_json(r) for r in world.rows("SELECT * FROM files")]
    assert {f.active for f in files} == {True, False}
    manifests = [
        TrainingSetManifest.loads(b) for b in world.bodies("SELECT manifest FROM training_sets")
    ]
    assert {m.mode for m in manifests} == {"historical", "latest"}
    assert {m.bitemporal for m in manifests} == {True, False}
    assert {m.feature_service is None for m in manifests} == {True, False}


@pytest.mark.parametrize("kind", ["entity", "source", "feature_view", "feature_service"])
def test_definition_bodies_round_trip(world: World, kind: str) -> None:
    rows = world.rows(f"SELECT name, version, body FROM definitions WHERE kind = '{kind}'")
    assert rows
    validator = _validator("definition.schema.json")
    cls = {
        "entity": EntityRecord,
        "source": SourceRecord,
        "feature_view": ViewRecord,
        "feature_service": ServiceRecord,
    }[kind]
    for row in rows:
        stored = json.loads(row["body"])
        record = definition_from_json(stored)
        assert type(record) is cls
        assert (record.name, record.version) == (row["name"], row["version"])
        _check_codec(record, stored, row["body"])
        validator.validate(record.to_json())


def test_the_api_returns_definition_records(world: World) -> None:
    kinds = {
        "entity": EntityRecord,
        "source": SourceRecord,
        "feature_view": ViewRecord,
        "feature_service": ServiceRecord,
    }
    for kind, cls in kinds.items():
        listed = world.store.list_definitions(kind)
        assert listed
        for record in listed:
            assert type(record) is cls
            assert definition_from_json(record.to_json()) == record
            stored = world.bodies(
                f"SELECT body FROM definitions WHERE kind = '{kind}' AND name = '{record.name}' "
                f"AND version = '{record.version}'"
            )
            assert record.dumps() == stored[0]
            assert dict(record) == json.loads(stored[0])  # the dict view: the stored body
    assert world.store.list_feature_views() == world.store.list_definitions("feature_view")
    view = world.store.get_feature_view("amounts")
    assert type(view) is ViewRecord
    assert view.ttl == timedelta(days=60)  # the current version
    assert view.id == f"view:amounts@{view.version}"
    first = world.store.versions("feature_view", "amounts")[0].version
    assert world.store.get_feature_view("amounts", first).ttl == timedelta(days=40)
    service = world.store.get_feature_service("scoring")
    assert type(service) is ServiceRecord
    assert all(type(i) is ViewSelection for i in service.features)


def test_versions_are_records_with_when_they_were_registered(world: World) -> None:
    rows = world.rows(
        "SELECT version, body, created_at FROM definitions WHERE kind = 'feature_view' AND "
        "name = 'amounts' ORDER BY created_at, version"
    )
    versions = world.store.versions("feature_view", "amounts")
    assert len(versions) == len(rows) == 2
    for v, row in zip(versions, rows, strict=True):
        assert type(v) is DefinitionVersion
        assert type(v.definition) is ViewRecord
        assert (v.kind, v.name, v.version) == ("feature_view", "amounts", row["version"])
        assert v.definition == ViewRecord.loads(row["body"])
        assert v.registered_at == row["created_at"]
        # the dict view: every key of the record, and registered_at
        assert dict(v) == {**json.loads(row["body"]), "registered_at": row["created_at"]}
        assert DefinitionVersion.from_json(v.to_json()) == v
        assert DefinitionVersion.loads(v.dumps()) == v
        hash(v)
    (entity,) = world.store.versions("entity", "customer")
    assert type(entity.definition) is EntityRecord
    with pytest.raises(fs.CatalogError, match=r"it lacks key 'registered_at'"):
        DefinitionVersion.from_json(versions[0].definition.to_json())
    with pytest.raises(fs.CatalogError, match=r"feature view 'amounts' is damaged: it lacks"):
        DefinitionVersion.from_json(
            {k: v for k, v in versions[0].to_json().items() if k != "features"}
        )


def test_versions_recomputed_from_records(world: World) -> None:
    (entity,) = [
        EntityRecord.loads(b)
        for b in world.bodies("SELECT body FROM definitions WHERE kind = 'entity'")
    ]
    assert (
        entity.computed_version()
        == entity.version
        == fs.Entity("customer", join_keys=["customer_id"]).version
    )
    (service,) = [
        ServiceRecord.loads(b)
        for b in world.bodies("SELECT body FROM definitions WHERE kind = 'feature_service'")
    ]
    assert service.computed_version() == service.version
    assert service.spec is not None
    assert len(service.refs) == 4


def test_view_records_hold_exact_dtypes(world: World) -> None:
    """``features`` (names) and ``arrow_schema`` (exact) are two encodings of the same
    dtypes; ViewRecord.create makes both from Polars dtypes and reproduces every body."""
    for text in world.bodies("SELECT body FROM definitions WHERE kind = 'feature_view'"):
        stored = json.loads(text)
        view = ViewRecord.from_json(stored)
        schema = view.schema
        assert isinstance(schema, pl.Schema)
        assert tuple(schema) == view.feature_order == view.feature_names
        assert {f: records.dtype_name(d) for f, d in schema.items()} == dict(view.features)
        again = ViewRecord.create(
            name=view.name,
            version=view.version,
            entity=view.entity,
            join_keys=view.join_keys,
            key_dtypes={k: KEY_DTYPES[n] for k, n in view.key_dtypes.items()},
            source=view.source,
            source_version=view.source_version,
            timestamp_column=view.timestamp_column,
            created_timestamp_column=view.created_timestamp_column,
            features=schema,
            has_created=bool(view.has_created),
            ttl_us=view.ttl_us,
            lookback_us=view.lookback_us,
            selection=view.selection,
            transform_source=view.transform_source,
            description=view.description,
            owner=view.owner,
            tags=view.tags,
        )
        assert again == view
        assert again.dumps() == text
    rich = world.store.get_feature_view("rich")
    assert dict(rich.schema) == RICH
    assert list(rich.schema) == list(RICH)  # output order, though the JSON is sorted
    assert list(rich.features) == sorted(RICH)
    spend = world.store.get_feature_view("spend_30d")
    assert spend.lookback == timedelta(days=30)
    assert spend.has_created is False
    assert spend.transform_source is not None
    assert "rolling" in spend.transform_source


def test_runs_round_trip_and_match_their_columns(world: World) -> None:
    rows = world.rows("SELECT * FROM runs")
    assert len(rows) == len(world.runs)
    validator = _validator("run.schema.json")
    inputs = world.rows("SELECT * FROM run_inputs")
    for row in rows:
        run = Run.loads(row["body"])
        _check_codec(run, json.loads(row["body"]), row["body"])
        validator.validate(run.to_json())
        assert run.id == f"run:{row['run_id']}"
        columns = (
            row["view"],
            row["view_version"],
            row["start_ts"],
            row["end_ts"],
            row["rows"],
            row["started_at"],
            row["finished_at"],
        )
        assert columns == (
            run.view,
            run.view_version,
            iso(run.start),
            iso(run.end),
            run.rows,
            iso(run.started_at),
            iso(run.finished_at),
        )
        stored_inputs = {
            RunInput.from_json({k: v for k, v in r.items() if k != "run_id"})
            for r in inputs
            if r["run_id"] == run.run_id
        }
        assert stored_inputs == set(run.inputs)
    kinds = {i.path.split(":")[0] for row in rows for i in Run.loads(row["body"]).inputs}
    assert {"memory", "sql"} <= kinds  # dataframe and SQL sources, besides files


def test_run_records_are_what_materialize_returned(world: World) -> None:
    stored = {
        r["run_id"]: Run.loads(r["body"]) for r in world.rows("SELECT run_id, body FROM runs")
    }
    assert fs.MaterializationRun is Run  # one class for a run
    for mr in world.runs:
        assert type(mr) is Run
        assert all(type(i) is RunInput for i in mr.inputs)
        assert mr == stored[mr.run_id]
        rebuilt = Run(
            run_id=mr.run_id,
            view=mr.view,
            view_version=mr.view_version,
            start=mr.start,
            end=mr.end,
            rows=mr.rows,
            files=mr.files,
            inputs=tuple(RunInput(i.path, i.size, i.mtime_ns, i.rows, i.sha256) for i in mr.inputs),
            started_at=mr.started_at,
            finished_at=mr.finished_at,
        )
        assert rebuilt == mr
        assert rebuilt.id == mr.id == f"run:{mr.run_id}"
    api = world.store.runs()
    assert all(type(r) is Run for r in api)
    assert set(api) == set(stored.values())
    assert [r.run_id for r in world.store.runs("profile")] == [
        r["run_id"]
        for r in world.rows(
            "SELECT run_id FROM runs WHERE view = 'profile' ORDER BY finished_at DESC, run_id"
        )
    ]
    # the dict view is the stored body, as runs() returned it before records
    bodies = {json.loads(b)["run_id"]: json.loads(b) for b in world.bodies("SELECT body FROM runs")}
    assert all(dict(r) == bodies[r.run_id] for r in api)
    assert api[0]["start"] == iso(api[0].start)


def test_offline_file_rows_round_trip(world: World) -> None:
    columns = ", ".join(OfflineFile.COLUMNS)
    validator = _validator("offline_file.schema.json")
    rows = world.rows(f"SELECT {columns} FROM files")
    with closing(sqlite3.connect(world.db)) as con:
        tuples = con.execute(f"SELECT {columns} FROM files").fetchall()
    for row, raw in zip(rows, tuples, strict=True):
        record = OfflineFile.from_json(row)
        assert record.to_json() == row  # active: True == 1
        assert record.to_row() == raw
        assert type(record.to_json()["active"]) is bool
        assert OfflineFile.from_json(record.to_json()) == record
        assert OfflineFile.loads(record.dumps()) == record
        validator.validate(record.to_json())
        if not record.active:
            assert record.superseded_at is not None


def test_rows_decode_straight_from_sqlite(world: World) -> None:
    with closing(sqlite3.connect(world.db)) as con:
        con.row_factory = sqlite3.Row
        files = [OfflineFile.from_row(r) for r in con.execute("SELECT * FROM files")]
        events = [
            AliasEvent.from_row(r)
            for r in con.execute("SELECT seq, action, version, at FROM alias_events")
        ]
        sets = [
            TrainingSet.from_row(r, root=world.store.path)
            for r in con.execute("SELECT * FROM training_sets")
        ]
        nodes = [Node.from_row(r) for r in con.execute("SELECT * FROM nodes")]
    assert len(files) > len(world.runs)
    assert [e.action for e in events] == ["set", "set", "rollback", "set"]
    assert all(ts.path.is_file() for ts in sets)
    assert len(nodes) == len(set(nodes))


def test_training_sets_round_trip(world: World) -> None:
    rows = world.rows("SELECT * FROM training_sets")
    assert {r["name"] for r in rows} == {
        "churn_train",
        "latest_set",
        "bitemporal_set",
        "wide_training",
    }
    manifest_schema = _validator("training_set_manifest.schema.json")
    row_schema = _validator("training_set.schema.json")
    for row in rows:
        manifest = TrainingSetManifest.loads(row["manifest"])
        _check_codec(manifest, json.loads(row["manifest"]), row["manifest"])
        manifest_schema.validate(manifest.to_json())
        assert manifest.computed_content_id() == manifest.content_id
        ts = TrainingSet.from_row(row, root=world.store.path)
        assert ts.to_json() == {**row, "manifest": json.loads(row["manifest"])}
        assert TrainingSet.from_json(ts.to_json()) == ts
        assert TrainingSet.loads(ts.dumps(), root=ts.root).path == ts.path
        row_schema.validate(ts.to_json())
        # the store returns this very record
        api = world.store.get_training_set(ts.id)
        assert type(api) is TrainingSet
        assert api == ts
        assert api.path == ts.path == world.store.path / row["path"]
        assert api.manifest == json.loads(row["manifest"])  # equal to its JSON document
        assert api.manifest["files"] == json.loads(row["manifest"])["files"]  # the dict view
        assert ts.to_polars().equals(api.to_polars())
    assert set(world.store.list_training_sets()) == {
        TrainingSet.from_row(r, root=world.store.path) for r in rows
    }


def test_retrieval_manifests_the_api_returns_decode(world: World) -> None:
    validator = _validator("training_set_manifest.schema.json")
    for result in world.results:
        manifest = TrainingSetManifest.from_json(result.manifest)
        _check_codec(manifest, result.manifest)
        validator.validate(manifest.to_json())
        assert manifest.computed_content_id() == result.content_id
        assert manifest.columns == tuple(c for c in result.frame.columns if c in manifest.columns)
    latest = TrainingSetManifest.from_json(world.results[-1].manifest)
    assert latest.as_of == "2024-04-01T00:00:00.000000"
    assert latest.feature_service is not None
    assert latest.feature_service.name == "scoring"


def test_model_versions_round_trip(world: World) -> None:
    validator = _validator("model_version.schema.json")
    rows = world.rows("SELECT * FROM model_versions")
    assert len(rows) == 3
    for row in rows:
        model = ModelVersion.loads(row["body"])
        _check_codec(model, json.loads(row["body"]), row["body"])
        validator.validate(model.to_json())
        assert (model.name, model.version, model.training_set, model.created_at) == (
            row["name"],
            row["version"],
            row["training_set"],
            row["created_at"],
        )
        # the store returns this very record; to_record / from_record are the codec
        api = world.store.get_model(model.name, model.version)
        assert type(api) is ModelVersion
        assert api == model
        assert ModelVersion.from_record(api.to_record()) == model
        assert model.to_record() == model.to_json() == json.loads(row["body"])
        # JSON arrays inside params are tuples in the record (hashable), equal to lists
        assert model.params == json.loads(row["body"])["params"]
        assert model.code_version == json.loads(row["body"])["code_version"]
        assert list(model.features) == json.loads(row["body"])["features"]
    churn = ModelVersion.loads(
        world.rows("SELECT body FROM model_versions WHERE name = 'churn' AND version = 1")[0][
            "body"
        ]
    )
    assert churn.params["opt"] == {"lr": 0.1, "name": "adam"}
    assert churn.params["layers"] == (8, 4)
    assert churn.metrics == {"auc": 0.81, "trees": 30}
    assert type(churn.metrics["trees"]) is int
    assert churn.feature_service is not None
    assert churn.feature_service.name == "scoring"
    assert churn.artifact_sha256 is not None
    assert isinstance(churn.code_version, CodeVersion)


def test_prediction_batches_round_trip(world: World) -> None:
    validator = _validator("prediction_batch.schema.json")
    rows = world.rows("SELECT * FROM prediction_batches")
    assert len(rows) == len(world.batches)
    logged = {b.batch_id: b for b in world.batches}
    for row in rows:
        batch = PredictionBatch.loads(row["body"], root=world.store.path)
        _check_codec(batch, json.loads(row["body"]), row["body"])
        validator.validate(batch.to_json())
        assert (
            batch.model,
            batch.model_version,
            batch.relative_path,
            batch.rows,
            batch.created_at,
        ) == (
            row["model"],
            row["model_version"],
            row["path"],
            row["rows"],
            row["created_at"],
        )
        api = logged[batch.batch_id]  # what log_predictions returned: the same record
        assert type(api) is PredictionBatch
        assert api == batch
        assert batch.path == api.path == world.store.path / row["path"]
        assert batch.to_polars().equals(api.to_polars())
        assert list(batch.columns) == batch.to_polars().columns
        got = world.store.get_prediction_batch(batch.id)
        assert type(got) is PredictionBatch
        assert got == batch
        assert got.path == batch.path
        # the dict view is the stored body, as get_prediction_batch returned it before
        assert dict(got) == json.loads(row["body"])
        assert sorted(got.keys()) == sorted(json.loads(row["body"]))
    modes = {
        None if b.retrieval is None else b.retrieval.mode
        for b in (PredictionBatch.loads(r["body"]) for r in rows)
    }
    assert modes == {None, "latest", "historical"}


def test_alias_events_replay_to_the_current_aliases(world: World) -> None:
    validator = _validator("alias_event.schema.json")
    stacks: dict[str, list[int]] = {}
    for row in world.rows(
        "SELECT seq, alias, action, version, at FROM alias_events WHERE name = 'churn' ORDER BY seq"
    ):
        event = AliasEvent.from_json({k: v for k, v in row.items() if k != "alias"})
        assert event.to_json() == {k: v for k, v in row.items() if k != "alias"}
        assert AliasEvent.loads(event.dumps()) == event
        validator.validate(event.to_json())
        stack = stacks.setdefault(row["alias"], [])
        if event.action == "set":
            stack.append(event.version)
        else:
            stack.pop()
            assert stack[-1] == event.version  # a rollback names the version it moved back to
    assert {a: s[-1] for a, s in stacks.items()} == world.store.aliases("churn")


def test_lineage_nodes_round_trip(world: World) -> None:
    validator = _validator("lineage_node_link.schema.json", "/properties/nodes/items")
    rows = world.rows("SELECT * FROM nodes")
    kinds = set()
    for row in rows:
        node = Node.from_row(row)
        assert node.attrs_json() == row["attrs"]
        assert node.to_json() == {
            **{k: row[k] for k in ("id", "kind", "name", "created_at")},
            "attrs": json.loads(row["attrs"]),
        }
        assert Node.from_json(node.to_json()) == node
        assert Node.loads(node.dumps()) == node
        assert node.attrs == json.loads(row["attrs"])
        hash(node)
        validator.validate(node.to_json())
        kinds.add(node.kind)
    assert kinds == set(records.NODE_KINDS)


def test_node_kinds_are_the_lineage_modules() -> None:
    from featstore import lineage

    assert tuple(lineage.NODE_KINDS) == records.NODE_KINDS
    assert lineage.Node is Node  # one class for a lineage node


def test_lineage_queries_return_nodes(world: World) -> None:
    view = world.store.get_feature_view("amounts")
    node = world.store.lineage.node(view.id)
    assert type(node) is Node
    assert node == Node.from_row(
        world.rows(f"SELECT id, kind, name, created_at, attrs FROM nodes WHERE id = '{view.id}'")[0]
    )
    assert all(type(n) is Node for n in world.store.lineage.upstream(view.id))
    # the constructor checks nothing: it builds every node of a whole lineage
    cheap = Node("x", "widget", "x", "then", '{"a": [1]}')
    assert cheap.attrs == {"a": [1]}
    assert cheap.attrs_json() == '{"a": [1]}'
    with pytest.raises(fs.CatalogError, match=r"lineage node 'x' is damaged: its 'kind'"):
        Node.from_json(cheap.to_json())


def test_records_are_frozen_and_hashable(world: World) -> None:
    view = world.store.get_feature_view("rich")
    run = Run.loads(world.bodies("SELECT body FROM runs")[0])
    with pytest.raises(dataclasses.FrozenInstanceError):
        run.rows = 0  # type: ignore[misc]
    with pytest.raises(TypeError):
        view.features["x"] = "Int64"  # type: ignore[index]
    assert isinstance(view.join_keys, tuple)
    assert isinstance(run.inputs, tuple)
    assert len({view, run, view, run}) == 2
    # lists given to a constructor are kept as tuples
    made = RunInput(path="p", size=None, mtime_ns=None, rows=None, sha256=None)
    made_run = dataclasses.replace(run, files=list(run.files), inputs=[made])  # type: ignore[arg-type]
    assert made_run.files == run.files
    assert made_run.inputs == (made,)
    hash(made_run)


def test_frozen_map() -> None:
    m = FrozenMap({"b": 1, "a": [1, {"c": 2}]})
    assert m == {"a": [1, {"c": 2}], "b": 1}
    assert records.freeze_json({"b": 1, "a": [1, {"c": 2}]}) == FrozenMap(
        {"a": (1, FrozenMap({"c": 2})), "b": 1}
    )
    assert hash(records.freeze_json({"x": [1, {"y": None}]})) == hash(
        records.freeze_json({"x": [1, {"y": None}]})
    )
    assert records.thaw_json(records.freeze_json({"x": [1, {"y": None}]})) == {
        "x": [1, {"y": None}]
    }
    assert list(m) == ["b", "a"]
    assert len(m) == 2
    assert "a" in m
    assert m.get("z") is None
    assert m != {"b": 1}
    assert m != [("b", 1)]


# -- the dict view: records read like the dicts the API returned before ---------------------


def test_the_dict_view_reads_the_json_document(world: World) -> None:
    view = world.store.get_feature_view("amounts")
    stored = json.loads(view.dumps())
    assert view["version"] == view.version
    assert view["join_keys"] == ["customer_id"]  # plain JSON: a list, not the tuple
    assert view.get("has_created") is True
    assert view.get("colour") is None
    assert view.get("colour", "red") == "red"
    assert "features" in view
    assert "colour" not in view
    assert list(view) == list(view.keys()) == list(stored)
    assert len(view) == len(stored)
    assert dict(view) == {**view} == dict(view.items()) == stored
    assert view.values() == list(stored.values())
    assert view == stored  # equal to its JSON document, in either order
    assert stored == view
    assert view != {**stored, "owner": "someone else"}
    with pytest.raises(KeyError):
        view["colour"]
    # read-only, and every read is a fresh copy: changing it changes nothing
    with pytest.raises(TypeError):
        view["owner"] = "me"  # type: ignore[index]
    view["features"]["ghost"] = "Int64"
    view["join_keys"].append("ghost")
    assert view["features"] == stored["features"]
    assert view["join_keys"] == ["customer_id"]
    assert view.to_json() == stored
    # still frozen, hashable, and equal to a copy of itself
    hash(view)
    assert view == copy.copy(view) == copy.deepcopy(view)
    assert hash(copy.deepcopy(view)) == hash(view)
    assert copy.deepcopy(view)["version"] == view.version  # the view is not copied along
    # nested records read the same way
    ts = world.store.get_training_set("churn_train")
    assert ts.manifest["feature_service"]["name"] == "scoring"
    assert ts.manifest.feature_service is not None
    assert ts.manifest.feature_service["name"] == "scoring"
    assert ts["path"] == ts.relative_path
    assert bool(ts)


def test_every_record_has_the_dict_view() -> None:
    for name in records.__all__:
        cls = getattr(records, name)
        if isinstance(cls, type) and issubclass(cls, Record) and cls is not Record:
            assert dataclasses.is_dataclass(cls), name
            assert cls.__eq__ is Record.__eq__, name  # field by field, or to its JSON
            assert cls.__hash__ is Record.__hash__, name
            for method in ("__getitem__", "get", "keys", "__contains__", "__iter__"):
                assert getattr(cls, method) is getattr(Record, method), (name, method)


def test_models_aliases_and_checks_are_records(world: World) -> None:
    listed = world.store.list_models()
    assert all(type(m) is ModelSummary for m in listed)
    churn = next(m for m in listed if m.name == "churn")
    assert (churn.latest_version, churn.versions) == (2, 2)
    assert churn.aliases == {"production": 1, "staging": 2}
    # the dict view is the dict list_models returned before
    assert dict(churn) == {
        "name": "churn",
        "latest_version": 2,
        "versions": 2,
        "aliases": {"production": 1, "staging": 2},
    }
    assert churn["aliases"]["production"] == 1
    assert ModelSummary.loads(churn.dumps()) == churn
    hash(churn)

    history = world.store.alias_history("churn", "production")
    assert all(type(e) is AliasEvent for e in history)
    assert [(e.action, e.version) for e in history] == [("set", 1), ("set", 2), ("rollback", 1)]
    assert [(e["action"], e["version"]) for e in history] == [
        ("set", 1),
        ("set", 2),
        ("rollback", 1),
    ]
    assert [e.at for e in history] == sorted(e.at for e in history)
    assert history == [
        AliasEvent.from_row(r)
        for r in world.rows(
            "SELECT seq, action, version, at FROM alias_events "
            "WHERE name = 'churn' AND alias = 'production' ORDER BY seq"
        )
    ]

    check = world.store.verify_training_set("churn_train")
    assert type(check) is TrainingSetCheck
    assert check.ok
    # the dict view is the dict verify_training_set returned before
    assert dict(check) == {
        "missing_files": [],
        "changed_files": [],
        "changed_sources": [],
        "missing_sources": [],
    }
    assert check["missing_files"] == []
    assert TrainingSetCheck.from_json(check.to_json()) == check
    gone = dataclasses.replace(check, missing_sources=("/data/raw.parquet",))
    assert not gone.ok
    assert gone["missing_sources"] == ["/data/raw.parquet"]


def test_the_package_exports_every_record_the_api_returns() -> None:
    returned = {
        EntityRecord,
        SourceRecord,
        ViewRecord,
        ServiceRecord,
        ViewSelection,
        DefinitionVersion,
        Run,
        RunInput,
        TrainingSet,
        TrainingSetManifest,
        TrainingSetCheck,
        RetrievedFeatures,
        ManifestFile,
        ServiceRef,
        ModelVersion,
        ModelSummary,
        CodeVersion,
        AliasEvent,
        PredictionBatch,
        Node,
        FrozenMap,
        Record,
    }
    for cls in returned:
        assert getattr(fs, cls.__name__) is cls, cls.__name__
        assert cls.__name__ in fs.__all__
    from featstore import errors

    for name in errors.__all__:
        if name != "did_you_mean":
            assert getattr(fs, name) is getattr(errors, name), name
            assert name in fs.__all__, name
    # the registry's names are the records, not classes of their own
    from featstore import registry

    assert registry.TrainingSet is TrainingSet
    assert registry.ModelVersion is ModelVersion
    assert registry.PredictionBatch is PredictionBatch
    from featstore import compute

    assert compute.InputFile is RunInput  # what a source kind's inputs returns


# -- bodies written by earlier releases ---------------------------------------------------


def test_bodies_without_later_keys_round_trip(world: World) -> None:
    """Keys featstore added later are optional: absent stays absent on the way out."""
    rich = world.store.get_feature_view("rich").to_json()
    old = {
        k: v for k, v in rich.items() if k not in ("arrow_schema", "feature_names", "has_created")
    }
    view = ViewRecord.from_json(old)
    assert view.to_json() == old
    assert (view.arrow_schema, view.feature_names, view.has_created) == (None, None, None)
    # without the Arrow schema, only dtypes whose name is exact are known
    assert dict(view.schema) == {"flag": pl.Boolean(), "small": pl.Int16()}
    assert view.feature_order == tuple(sorted(RICH))

    service = world.store.get_feature_service("scoring").to_json()
    old_service = {k: v for k, v in service.items() if k != "spec"}
    assert ServiceRecord.from_json(old_service).to_json() == old_service

    manifest = {k: v for k, v in world.results[0].manifest.items() if k != "result_hash"}
    assert TrainingSetManifest.from_json(manifest).to_json() == manifest

    batch = json.loads(world.bodies("SELECT body FROM prediction_batches")[0])
    del batch["content_hash"]
    assert PredictionBatch.from_json(batch).to_json() == batch
    assert PredictionBatch.from_json(batch).content_hash is None


# -- damaged bodies ------------------------------------------------------------------------


def _samples(world: World) -> dict[str, tuple[Callable[[Any], Any], dict[str, Any]]]:
    def one(sql: str) -> dict[str, Any]:
        body: dict[str, Any] = json.loads(world.bodies(sql)[0])
        return body

    latest_batch = 'SELECT body FROM prediction_batches WHERE body LIKE \'%"mode": "latest"%\''
    file_run = (
        "SELECT body FROM runs WHERE body LIKE '%\"size\": %' AND body NOT LIKE '%\"size\": null%'"
    )
    return {
        "view": (ViewRecord.from_json, world.store.get_feature_view("amounts").to_json()),
        "entity": (EntityRecord.from_json, world.store.list_definitions("entity")[0].to_json()),
        "source": (
            SourceRecord.from_json,
            next(d.to_json() for d in world.store.list_definitions("source") if d.name == "tx"),
        ),
        "service": (
            ServiceRecord.from_json,
            world.store.get_feature_service("scoring").to_json(),
        ),
        "run": (Run.from_json, one(file_run)),
        "model": (
            ModelVersion.from_json,
            one("SELECT body FROM model_versions WHERE version = 1 AND name = 'churn'"),
        ),
        "batch": (PredictionBatch.from_json, one(latest_batch)),
        "manifest": (TrainingSetManifest.from_json, one("SELECT manifest FROM training_sets")),
        "file": (OfflineFile.from_json, world.rows("SELECT * FROM files")[0]),
        "alias": (
            AliasEvent.from_json,
            world.rows("SELECT seq, action, version, at FROM alias_events")[0],
        ),
        "node": (
            Node.from_row,
            world.rows(
                "SELECT id, kind, name, created_at, attrs FROM nodes WHERE kind = 'feature_view'"
            )[0],
        ),
        "training_set": (TrainingSet.from_row, world.rows("SELECT * FROM training_sets")[0]),
    }


DAMAGES: list[tuple[str, Callable[[dict[str, Any]], Any], str]] = [
    (
        "view",
        lambda b: b.pop("features"),
        r"feature view 'amounts' is damaged: it lacks key 'features'",
    ),
    (
        "view",
        lambda b: b.update(colour="red"),
        r"feature view 'amounts' is damaged: it has unknown key 'colour'",
    ),
    (
        "view",
        lambda b: b.update(ttl_us="40d"),
        r"its 'ttl_us' is string '40d', expected an integer or null",
    ),
    (
        "view",
        lambda b: b.update(has_created=None),
        r"its 'has_created' is null, expected true or false",
    ),
    (
        "view",
        lambda b: b["feature_names"].append("ghost"),
        r"its feature_names \['amount', 'ghost'\] are not",
    ),
    (
        "view",
        lambda b: b["key_dtypes"].update(ghost="Int64"),
        r"its key_dtypes name 'ghost', which is not a join key",
    ),
    (
        "view",
        lambda b: b.update(kind="entity"),
        r"its 'kind' is string 'entity', expected one of 'feature_view'",
    ),
    (
        "view",
        lambda b: b.update(tags={"tier": 1}),
        r"its 'tags' is object .*, expected an object of strings",
    ),
    (
        "entity",
        lambda b: b.update(join_keys="customer_id"),
        r"entity 'customer' is damaged: its 'join_keys' is string",
    ),
    (
        "source",
        lambda b: b.update(source_kind="kafka"),
        r"source 'tx' is damaged: its 'source_kind' is string 'kafka'",
    ),
    (
        "source",
        lambda b: b.update(query="SELECT 1"),
        r"source 'tx' is damaged: it has unknown key 'query'",
    ),
    ("source", lambda b: b.pop("path"), r"source 'tx' is damaged: it lacks key 'path'"),
    (
        "service",
        lambda b: b["features"][0].pop("version"),
        r"feature service 'scoring' is damaged: it lacks key 'features\[0\]\.version'",
    ),
    (
        "service",
        lambda b: b["features"].__setitem__(1, "doubled"),
        r"its 'features\[1\]' is string 'doubled', not a JSON object",
    ),
    (
        "run",
        lambda b: b["inputs"][0].update(size="big"),
        r"materialization run '[0-9a-f]{32}' is damaged: its 'inputs\[0\]\.size' is string 'big'",
    ),
    (
        "run",
        lambda b: b["inputs"][0].update(owner="me"),
        r"it has unknown key 'inputs\[0\]\.owner'",
    ),
    (
        "run",
        lambda b: b.update(start="2024-01-01"),
        r"its 'start' is string '2024-01-01', expected an instant",
    ),
    (
        "run",
        lambda b: b.update(start="2024-13-01T00:00:00.000000"),
        r"its 'start' is .*, expected a valid instant",
    ),
    ("run", lambda b: b.update(rows=True), r"its 'rows' is boolean True, expected an integer"),
    (
        "run",
        lambda b: b.update(files=["a", 1]),
        r"its 'files' is array .*, expected an array of strings",
    ),
    (
        "model",
        lambda b: b.update(version=True),
        r"model version 'churn' is damaged: its 'version' is boolean",
    ),
    (
        "model",
        lambda b: b["code_version"].pop("git_dirty"),
        r"model version 'churn@1' is damaged: it lacks key 'code_version\.git_dirty'",
    ),
    (
        "model",
        lambda b: b.update(code_version="abc"),
        r"its 'code_version' is string 'abc', not a JSON object",
    ),
    (
        "model",
        lambda b: b["metrics"].update(auc="high"),
        r"its 'metrics' is object .*, expected an object of numbers",
    ),
    ("model", lambda b: b.pop("artifact_sha256"), r"it lacks key 'artifact_sha256'"),
    (
        "batch",
        lambda b: b["retrieval"]["files"][0].pop("run_id"),
        r"prediction batch '[0-9a-f]{32}' is damaged: it lacks key 'retrieval\.files\[0\]\.run_id'",
    ),
    (
        "batch",
        lambda b: b.update(content_hash=None),
        r"its 'content_hash' is null, expected a string",
    ),
    ("batch", lambda b: b.pop("as_of"), r"it lacks key 'as_of'"),
    (
        "manifest",
        lambda b: b.update(mode="future"),
        r"training set manifest '[0-9a-f]{16}' is damaged: its 'mode' is string 'future'",
    ),
    (
        "manifest",
        lambda b: b.update(features={}),
        r"its 'features' is object \{\}, expected an array of objects",
    ),
    (
        "manifest",
        lambda b: b["files"][0].update(min_ts=None),
        r"its 'files\[0\]\.min_ts' is null, expected an instant",
    ),
    (
        "file",
        lambda b: b.update(active=2),
        r"offline file 'offline/.*' is damaged: its 'active' is integer 2, expected 0 or 1",
    ),
    (
        "file",
        lambda b: b.update(bucket="January"),
        r"its 'bucket' is string 'January', expected a month",
    ),
    ("file", lambda b: b.pop("sha256"), r"it lacks key 'sha256'"),
    (
        "alias",
        lambda b: b.update(action="undo"),
        r"alias event '1' is damaged: its 'action' is string 'undo'",
    ),
    (
        "node",
        lambda b: b.update(kind="source"),
        r"lineage node 'view:.*' is damaged: its id does not start with 'source:'",
    ),
    (
        "node",
        lambda b: b.update(attrs="{not json"),
        r"lineage node 'view:.*' is damaged \(not JSON",
    ),
    (
        "node",
        lambda b: b.update(kind="widget"),
        r"its 'kind' is string 'widget', expected one of 'source', ",
    ),
    (
        "training_set",
        lambda b: b.update(id="training_set:other@0"),
        r"training set 'training_set:other@0' is damaged: its id",
    ),
    (
        "training_set",
        lambda b: b.update(content_id="0" * 16, id=f"training_set:{b['name']}@{'0' * 16}"),
        r"its manifest has content id",
    ),
    ("training_set", lambda b: b.update(manifest="{"), r"training set .* is damaged \(not JSON"),
]


@pytest.mark.parametrize(
    ("sample", "damage", "match"), DAMAGES, ids=[f"{s}-{i}" for i, (s, _, _) in enumerate(DAMAGES)]
)
def test_damaged_bodies_are_catalog_errors(
    world: World, sample: str, damage: Callable[[dict[str, Any]], Any], match: str
) -> None:
    decode, body = _samples(world)[sample]
    decode(body)  # the sample itself is fine
    broken = copy.deepcopy(body)
    damage(broken)
    with pytest.raises(fs.CatalogError, match=match) as info:
        decode(broken)
    assert str(info.value).endswith("from a backup")


def test_text_that_is_not_a_record() -> None:
    with pytest.raises(
        fs.CatalogError, match=r"the catalog record of feature view is damaged \(not JSON"
    ):
        ViewRecord.loads('{"kind": ')
    with pytest.raises(
        fs.CatalogError,
        match=r"materialization run is damaged: it is array \[1\], not a JSON object",
    ):
        Run.from_json([1])
    with pytest.raises(
        fs.CatalogError, match=r"definition 'x' is damaged: its 'kind' is string 'table'"
    ):
        definition_from_json({"kind": "table", "name": "x"})
    with pytest.raises(fs.CatalogError, match=r"definition is damaged: it lacks key 'kind'"):
        definition_from_json({})


def test_a_damaged_arrow_schema_is_a_catalog_error_when_read(world: World) -> None:
    body = world.store.get_feature_view("rich").to_json()
    view = ViewRecord.from_json({**body, "arrow_schema": "not base64!"})
    with pytest.raises(fs.CatalogError, match=r"feature view 'rich' .* arrow_schema is not base64"):
        _ = view.schema
    other = encode_schema({"ghost": pl.Int64()})
    view = ViewRecord.from_json({**body, "arrow_schema": other})
    with pytest.raises(fs.CatalogError, match=r"arrow_schema holds features \['ghost'\]"):
        _ = view.schema


def test_a_record_path_never_leads_outside_the_store(world: World, tmp_path: Path) -> None:
    body = json.loads(world.bodies("SELECT body FROM prediction_batches")[0])
    batch = PredictionBatch.from_json(
        {**body, "path": "predictions/../../elsewhere.parquet"}, root=tmp_path / "store"
    )
    with pytest.raises(fs.StorageError, match="points outside the store"):
        _ = batch.path
    assert PredictionBatch.from_json(body).path == Path(body["path"])  # no root: as recorded


# -- Hypothesis round trips ------------------------------------------------------------------

_names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,20}", fullmatch=True)
_text = st.text(max_size=20)


def _hex(n: int) -> st.SearchStrategy[str]:
    return st.text("0123456789abcdef", min_size=n, max_size=n)


_moments = st.datetimes(
    min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59, 999999)
)
_instants = _moments.map(iso)
_counts = st.none() | st.integers(min_value=0, max_value=2**63 - 1)
_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | _text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
    max_leaves=12,
)

_run_inputs = st.builds(
    RunInput,
    path=st.text(min_size=1, max_size=30),
    size=_counts,
    mtime_ns=_counts,
    rows=_counts,
    sha256=st.none() | _hex(64),
)
_runs = st.builds(
    Run,
    run_id=_hex(32),
    view=_names,
    view_version=_hex(12),
    start=_moments,
    end=_moments,
    rows=st.integers(min_value=0, max_value=2**63 - 1),
    files=st.lists(_text.map(lambda s: "offline/" + s), max_size=4).map(tuple),
    inputs=st.lists(_run_inputs, max_size=4).map(tuple),
    started_at=_moments,
    finished_at=_moments,
)
_retrieved = st.builds(
    RetrievedFeatures,
    view=_names,
    version=_hex(12),
    features=st.lists(_text, max_size=3).map(tuple),
    columns=st.lists(_text, max_size=3).map(tuple),
)
_service_refs = st.none() | st.builds(ServiceRef, name=_names, version=_hex(12))
_models = st.builds(
    ModelVersion,
    name=_names,
    version=st.integers(min_value=1, max_value=2**63 - 1),
    training_set=st.none() | _text.map(lambda s: "training_set:" + s),
    artifact=st.none() | _text,
    artifact_sha256=st.none() | _hex(64),
    params=st.dictionaries(_text, _json, max_size=4),
    metrics=st.dictionaries(
        _text, st.integers() | st.floats(allow_nan=False, allow_infinity=False), max_size=4
    ),
    tags=st.dictionaries(_text, _text, max_size=3),
    code_version=st.builds(
        CodeVersion, git_commit=st.none() | _hex(40), git_dirty=st.none() | st.booleans()
    ),
    features=st.lists(_retrieved, max_size=3).map(tuple),
    feature_service=_service_refs,
    created_at=_instants,
)
_manifest_files = st.builds(
    ManifestFile,
    view=_names,
    version=_hex(12),
    path=_text.map(lambda s: "offline/" + s),
    rows=st.integers(min_value=0, max_value=2**40),
    min_ts=_instants,
    max_ts=_instants,
    run_id=_hex(32),
)
_manifests = st.builds(
    TrainingSetManifest,
    mode=st.sampled_from(["historical", "latest"]),
    bitemporal=st.booleans(),
    full_feature_names=st.booleans(),
    include_event_timestamps=st.booleans(),
    entity_hash=_hex(64),
    entity_rows=st.integers(min_value=0, max_value=2**40),
    timestamp_column=_text,
    features=st.lists(_retrieved, min_size=1, max_size=3).map(tuple),
    feature_service=_service_refs,
    files=st.lists(_manifest_files, max_size=3).map(tuple),
    content_id=_hex(16),
    result_hash=st.none() | _hex(64),
    as_of=st.none() | _instants,
)


def _round_trips(record: Any, schema: jsonschema.Draft202012Validator) -> None:
    cls = type(record)
    assert cls.from_json(record.to_json()) == record
    assert cls.loads(record.dumps()) == record
    assert cls.from_json(json.loads(json.dumps(record.to_json()))).to_json() == record.to_json()
    assert hash(cls.loads(record.dumps())) == hash(record)
    schema.validate(record.to_json())


@settings(max_examples=150, deadline=None)
@given(_runs)
def test_runs_round_trip(run: Run) -> None:
    _round_trips(run, _validator("run.schema.json"))


@settings(max_examples=150, deadline=None)
@given(_models)
def test_model_versions_round_trip_any_values(model: ModelVersion) -> None:
    _round_trips(model, _validator("model_version.schema.json"))


@settings(max_examples=100, deadline=None)
@given(_manifests)
def test_manifests_round_trip(manifest: TrainingSetManifest) -> None:
    _round_trips(manifest, _validator("training_set_manifest.schema.json"))


def test_runs_refuse_aware_datetimes() -> None:
    from datetime import UTC

    moment = datetime(2024, 1, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="naive UTC datetime"):
        Run(
            run_id="0" * 32,
            view="v",
            view_version="0" * 12,
            start=moment,
            end=moment,
            rows=0,
            files=(),
            inputs=(),
            started_at=moment,
            finished_at=moment,
        )
