"""Retrieved features keep the dtypes their view produces, whether or not a row matched."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import polars as pl
import pytest

import featstore as fs
from featstore.dtypes import decode_schema, encode_schema

# legitimately all-null cases are compared with the oracle here; coverage warnings are
# tested in test_hardening_retrieval.py
pytestmark = pytest.mark.filterwarnings("ignore::featstore.CoverageWarning")

SCHEMA = {
    "when": pl.Datetime("us", "America/New_York"),
    "price": pl.Decimal(10, 2),
    "tags": pl.List(pl.String),
    "point": pl.Struct({"x": pl.Int32, "y": pl.Float64}),
    "color": pl.Categorical(),
    "flag": pl.Boolean(),
    "small": pl.Int16(),
}


def test_schema_round_trips_through_catalog_text() -> None:
    decoded = decode_schema(encode_schema(dict(SCHEMA)))
    assert list(decoded) == list(SCHEMA)
    for name, dtype in SCHEMA.items():
        assert decoded[name] == dtype, name


@pytest.fixture
def store(tmp_path):  # type: ignore[no-untyped-def]
    rows = pl.DataFrame(
        {
            "k": [1, 2],
            "ts": [datetime(2024, 1, 10), datetime(2024, 1, 12)],
            "when": [datetime(2024, 1, 9, 15), datetime(2024, 1, 11, 3)],
            "price": [Decimal("1.50"), Decimal("2.25")],
            "tags": [["a", "b"], []],
            "point": [{"x": 1, "y": 0.5}, {"x": 2, "y": 1.5}],
            "color": ["red", "blue"],
            "flag": [True, False],
            "small": [3, 4],
        },
        schema={"k": pl.Int64, "ts": pl.Datetime("us"), **SCHEMA},
    )
    e = fs.Entity("e", join_keys=["k"])
    src = fs.DataFrameSource("src", data=rows, timestamp_column="ts")
    view = fs.FeatureView("v", entity=e, source=src, features=list(SCHEMA))
    s = fs.FeatureStore(tmp_path / "store", progress=False)
    s.apply([e, src, view])
    s.materialize(datetime(2024, 1, 1), datetime(2024, 2, 1))
    yield s
    s.close()


@pytest.mark.parametrize(
    "moment",
    [datetime(2023, 6, 1), datetime(2024, 1, 20)],
    ids=["before-any-data", "after-the-data"],
)
def test_dtypes_do_not_depend_on_matches(store: fs.FeatureStore, moment: datetime) -> None:
    entity = pl.DataFrame({"k": [1, 2, 3], "event_timestamp": [moment] * 3})
    out = store.get_historical_features(entity, features=["v:*"]).to_polars()
    for name, dtype in SCHEMA.items():
        assert out.schema[name] == dtype, name


def test_values_survive_the_round_trip(store: fs.FeatureStore) -> None:
    entity = pl.DataFrame({"k": [1, 2], "event_timestamp": [datetime(2024, 1, 20)] * 2})
    out = store.get_historical_features(entity, features=["v:*"]).to_polars()
    # the source's naive values were read as UTC instants
    assert out["when"].dt.convert_time_zone("UTC").dt.hour().to_list() == [15, 3]
    assert out["price"].to_list() == [Decimal("1.50"), Decimal("2.25")]
    assert out["tags"].to_list() == [["a", "b"], []]
    assert out["point"].to_list() == [{"x": 1, "y": 0.5}, {"x": 2, "y": 1.5}]
    assert out["color"].cast(pl.String).to_list() == ["red", "blue"]
    assert out.columns[2:] == list(SCHEMA)  # the view's own feature order
