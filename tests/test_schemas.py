"""Every document featstore persists or exchanges validates against its JSON Schema."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import jsonschema
import polars as pl
import pytest
from referencing import Registry, Resource

import featstore as fs
from featstore.registration import DEFINITION_KINDS

SCHEMAS = Path(__file__).resolve().parents[1] / "schemas"


def _validator(name: str) -> jsonschema.Draft202012Validator:
    resources = []
    for path in SCHEMAS.glob("*.schema.json"):
        doc = json.loads(path.read_text())
        resources.append((path.name, Resource.from_contents(doc)))
    registry = Registry().with_resources(resources)
    schema = json.loads((SCHEMAS / name).read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(
        schema, registry=registry, format_checker=jsonschema.FormatChecker()
    )


@pytest.fixture(scope="module")
def populated(tmp_path_factory: pytest.TempPathFactory) -> fs.FeatureStore:
    root = tmp_path_factory.mktemp("schemas")
    data = pl.DataFrame(
        {
            "customer_id": [1, 1, 2, 2],
            "ts": [
                datetime(2024, 1, 1),
                datetime(2024, 2, 1),
                datetime(2024, 1, 5),
                datetime(2024, 3, 1),
            ],
            "created": [datetime(2024, 1, 2)] * 4,
            "amount": [1.0, 2.0, 3.0, 4.0],
        }
    )
    data.write_parquet(root / "tx.parquet")
    customer = fs.Entity("customer", join_keys=["customer_id"])
    tx = fs.ParquetSource(
        "tx", path=root / "tx.parquet", timestamp_column="ts", created_timestamp_column="created"
    )
    amounts = fs.FeatureView(
        "amounts", entity=customer, source=tx, features=["amount"], ttl=timedelta(days=40)
    )

    @fs.feature_view(entity=customer, source=tx)
    def doubled(df: pl.LazyFrame) -> pl.LazyFrame:
        return df.with_columns((pl.col("amount") * 2).alias("amount_x2")).drop("amount")

    service = fs.FeatureService("svc", features=[amounts, "doubled:amount_x2"])
    store = fs.FeatureStore(root / "store")
    store.apply([customer, tx, amounts, doubled, service])
    store.materialize(datetime(2024, 1, 1), datetime(2024, 4, 1))
    labels = pl.DataFrame({"customer_id": [1, 2], "event_timestamp": [datetime(2024, 2, 2)] * 2})
    ts = store.save_training_set(store.get_historical_features(labels, features=service), "train")
    model = store.register_model("m", ts, metrics={"auc": 0.7}, params={"depth": 3})
    latest = store.get_latest_features(
        {"customer_id": [1, 2]}, features=service, as_of=datetime(2024, 3, 2)
    )
    store.log_predictions(
        model, latest.to_polars().with_columns(pl.lit(0.3).alias("p")), features=latest
    )
    return store


def _definitions(store: fs.FeatureStore) -> list[str]:
    """Every applied version of every definition (each name has a current version)."""
    return [
        body
        for kind in DEFINITION_KINDS
        for name in store.catalog.current_names(kind)
        for body, _ in store.catalog.definition_history(kind, name)
    ]


# each kind of JSON document the catalog holds, as stored
DOCUMENTS: dict[str, Callable[[fs.FeatureStore], list[str]]] = {
    "definition": _definitions,
    "run": lambda s: s.catalog.run_bodies(),
    "training_set_manifest": lambda s: [t["manifest"] for t in s.catalog.training_sets()],
    "model_version": lambda s: s.catalog.model_version_bodies(),
    "prediction_batch": lambda s: [b["body"] for b in s.catalog.prediction_batches()],
}


def test_store_config_matches_schema(populated: fs.FeatureStore) -> None:
    doc = json.loads((populated.path / "featstore.json").read_text())
    _validator("store_config.schema.json").validate(doc)


@pytest.mark.parametrize(
    ("document", "minimum"),
    [
        ("definition", 5),
        ("run", 2),
        ("training_set_manifest", 1),
        ("model_version", 1),
        ("prediction_batch", 1),
    ],
)
def test_catalog_documents_match_schema(
    populated: fs.FeatureStore, document: str, minimum: int
) -> None:
    docs = [json.loads(text) for text in DOCUMENTS[document](populated)]
    assert len(docs) >= minimum
    validator = _validator(f"{document}.schema.json")
    for doc in docs:
        validator.validate(doc)


def test_node_link_export_matches_schema(populated: fs.FeatureStore) -> None:
    doc = json.loads(populated.lineage.export("json"))
    _validator("lineage_node_link.schema.json").validate(doc)
    kinds = {n["kind"] for n in doc["nodes"]}
    assert kinds == {
        "source",
        "source_file",
        "feature_view",
        "feature_service",
        "materialization_run",
        "training_set",
        "model_version",
        "prediction_batch",
    }


def test_schema_rejects_a_bad_definition() -> None:
    bad = {"kind": "entity", "name": "x'; drop", "version": "abc", "join_keys": []}
    with pytest.raises(jsonschema.ValidationError):
        _validator("definition.schema.json").validate(bad)
