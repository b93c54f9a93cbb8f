"""Files featstore writes and frames it takes and returns, read by other engines
(pyarrow, DuckDB, Polars, pandas): docs/files.md."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.dataset as pa_dataset
import pyarrow.parquet as pq
import pytest
from polars.testing import assert_frame_equal

import featstore as fs
import featstore.materialize as fs_materialize
from featstore.dtypes import NAIVE_KEY, scan_frames
from featstore.retrieval import RetrievalResult, frame_bytes, frame_hash

START, END = datetime(2024, 1, 1), datetime(2024, 4, 1)


def _events() -> pl.DataFrame:
    """Three keys, one event every 61 hours from January to March: unique (key, time)."""
    n = 90
    return pl.DataFrame(
        {
            "k": [i % 3 for i in range(n)],
            "ts": [START + timedelta(hours=61 * i // 3, minutes=i) for i in range(n)],
            "amount": list(range(100, 100 + n)),
        },
        schema={"k": pl.Int64, "ts": pl.Datetime("us"), "amount": pl.Int64},
    ).with_columns(
        (pl.col("ts") + timedelta(minutes=5)).alias("created"),
        (pl.col("ts") - timedelta(days=1)).alias("seen"),  # a naive Datetime feature
    )


EVENTS = _events()
ENTITY = pl.DataFrame(
    {
        "k": [0, 1, 2, 0, 1, 2, 5],
        "event_timestamp": [
            datetime(2024, 1, 5),
            datetime(2024, 2, 1, 12),
            datetime(2024, 2, 20),
            datetime(2024, 3, 31),
            datetime(2024, 1, 1),
            datetime(2024, 3, 3, 3),
            datetime(2024, 2, 2),
        ],
        "label": [1, 0, 1, 1, 0, 0, 1],
    },
    schema={"k": pl.Int64, "event_timestamp": pl.Datetime("us"), "label": pl.Int64},
)


def _reference(entity: pl.DataFrame) -> pl.DataFrame:
    """The point-in-time answer from a plain Polars as-of join (keys and times unique)."""
    right = EVENTS.sort("ts").select(
        "k", pl.col("ts").alias("__t"), "amount", "seen", pl.col("ts").alias("v__event_timestamp")
    )
    left = entity.with_row_index("__i").with_columns(
        pl.col("event_timestamp").dt.replace_time_zone(None).alias("__t")
        if entity.schema["event_timestamp"] == pl.Datetime("us")
        else pl.col("event_timestamp")
        .dt.convert_time_zone("UTC")
        .dt.replace_time_zone(None)
        .alias("__t")
    )
    joined = left.sort("__t").join_asof(right, on="__t", by="k", strategy="backward")
    return joined.sort("__i").drop("__i", "__t")


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[fs.FeatureStore, str]]:
    entity = fs.Entity("e", join_keys=["k"])
    source = fs.DataFrameSource(
        "events", data=EVENTS, timestamp_column="ts", created_timestamp_column="created"
    )
    view = fs.FeatureView("v", entity=entity, source=source, features=["amount", "seen"])
    store = fs.FeatureStore(tmp_path / "store", progress=False, statistics=False)
    store.apply([entity, source, view])
    store.materialize(START, END)
    yield store, store.get_feature_view("v")["version"]
    store.close()


def _logical(path: Path, column: str) -> Any:
    schema = pq.ParquetFile(path).metadata.schema
    names = [schema.column(i).name for i in range(len(schema))]
    return schema.column(names.index(column)).logical_type


def _kv(path: Path) -> dict[str, str]:
    raw = pq.ParquetFile(path).metadata.metadata or {}
    return {k.decode(): v.decode() for k, v in raw.items() if k.startswith(b"featstore.")}


# -- 1, 2: UTC-adjusted timestamps and key-value metadata ------------------------------


def test_offline_files_hold_utc_instants_and_name_their_run(
    world: tuple[fs.FeatureStore, str],
) -> None:
    store, version = world
    files = store.catalog.active_files("v", version)
    assert [f["bucket"] for f in files] == ["2024-01", "2024-02", "2024-03"]
    run_ids = {f["run_id"] for f in files}
    assert len(run_ids) == 1
    for f in files:
        path = store.offline.absolute(f["path"])
        for column in ("__fs_ts", "__fs_created", "seen"):
            logical = _logical(path, column)
            assert logical.type == "TIMESTAMP", column
            assert json.loads(logical.to_json())["isAdjustedToUTC"] is True, column
        assert _kv(path) == {
            "featstore.version": fs.__version__,
            "featstore.view": "v",
            "featstore.view_version": version,
            "featstore.run_id": f["run_id"],
            "featstore.bucket": f["bucket"],
            NAIVE_KEY: json.dumps(["__fs_ts", "__fs_created", "seen"]),
        }
        # another reader sees the instants the source holds (naive source times are UTC)
        table = pq.read_table(path)
        assert table.schema.field("__fs_ts").type == pa.timestamp("us", tz="UTC")
        month = EVENTS.filter(pl.col("ts").dt.strftime("%Y-%m") == f["bucket"])
        got = pl.from_arrow(table.select(["k", "__fs_ts", "amount"]))
        assert isinstance(got, pl.DataFrame)
        want = month.select(
            "k", pl.col("ts").dt.replace_time_zone("UTC").alias("__fs_ts"), "amount"
        )
        assert_frame_equal(got.sort("__fs_ts"), want.sort("__fs_ts"))


def test_training_set_and_prediction_files_are_utc_with_metadata(
    world: tuple[fs.FeatureStore, str],
) -> None:
    store, version = world
    result = store.get_historical_features(ENTITY, ["v:amount", "v:seen"])
    saved = store.save_training_set(result, "train")
    path = saved.path
    for column in ("event_timestamp", "seen"):
        assert json.loads(_logical(path, column).to_json())["isAdjustedToUTC"] is True
    assert _kv(path) == {
        "featstore.version": fs.__version__,
        "featstore.training_set": "train",
        "featstore.content_id": result.content_id,
        "featstore.mode": "historical",
        "featstore.views": json.dumps([f"v@{version}"]),
        NAIVE_KEY: json.dumps(["event_timestamp", "seen"]),
    }
    raw = pl.read_parquet(path)
    assert raw["event_timestamp"].dtype == pl.Datetime("us", "UTC")
    assert raw["event_timestamp"].dt.replace_time_zone(None).equals(ENTITY["event_timestamp"])
    # featstore reads its frame back as it was saved, and rebuilds it byte for byte
    assert_frame_equal(saved.to_polars(), result.frame)
    rebuilt = store.rebuild_training_set(saved)
    assert_frame_equal(rebuilt.frame, result.frame)
    # saving the same retrieval again writes nothing new: the same content id and file
    assert store.save_training_set(result, "train").path == path

    model = store.register_model("m", saved)
    scored = result.frame.select("k", "event_timestamp", pl.lit(0.5).alias("score"))
    batch = store.log_predictions(model, scored, features=result)
    kv = _kv(batch.path)
    assert kv["featstore.model"] == "m"
    assert kv["featstore.model_version"] == str(model.version)
    assert kv["featstore.batch_id"] == batch.batch_id
    assert kv["featstore.content_id"] == result.content_id
    assert json.loads(_logical(batch.path, "as_of").to_json())["isAdjustedToUTC"] is True
    assert batch.to_polars()["as_of"].equals(ENTITY["event_timestamp"].alias("as_of"))


def test_to_parquet_writes_utc_instants(world: tuple[fs.FeatureStore, str], tmp_path: Path) -> None:
    store, _ = world
    result = store.get_historical_features(ENTITY, ["v:amount"])
    out = result.to_parquet(tmp_path / "out.parquet")
    assert json.loads(_logical(out, "event_timestamp").to_json())["isAdjustedToUTC"] is True
    assert _kv(out)["featstore.content_id"] == result.content_id
    counted = duckdb.sql(f"SELECT count(*) FROM read_parquet('{out}')").fetchall()[0]
    assert counted == (ENTITY.height,)


# -- event timestamps take the entity column's time zone --------------------------------


@pytest.mark.parametrize("zone", [None, "UTC", "Europe/Paris"])
def test_event_timestamps_have_the_entity_time_zone(
    world: tuple[fs.FeatureStore, str], zone: str | None
) -> None:
    store, _ = world
    entity = ENTITY
    if zone is not None:  # the same instants, zoned
        entity = ENTITY.with_columns(
            pl.col("event_timestamp").dt.replace_time_zone("UTC").dt.convert_time_zone(zone)
        )
    got = store.get_historical_features(
        entity, ["v:amount", "v:seen"], include_event_timestamps=True
    ).frame
    assert got["v__event_timestamp"].dtype == pl.Datetime("us", zone)
    assert got["seen"].dtype == pl.Datetime("us")  # a feature keeps its own dtype
    want = _reference(entity)
    if zone is not None:
        want = want.with_columns(
            pl.col("v__event_timestamp").dt.replace_time_zone("UTC").dt.convert_time_zone(zone)
        )
    assert_frame_equal(got, want.select(got.columns))


# -- 3: one glob, exactly the active rows ------------------------------------------------


def _count(glob: str) -> tuple[int, int]:
    found = duckdb.sql(f"SELECT count(*) FROM read_parquet('{glob}')").fetchall()[0]
    assert found is not None
    scanned = pl.scan_parquet(glob).select(pl.len()).collect().item()
    return int(found[0]), int(scanned)


def test_active_glob_never_double_counts_after_rematerializing(
    world: tuple[fs.FeatureStore, str],
) -> None:
    store, version = world
    glob = str(store.offline.active_glob("v", version))
    assert glob == str(store.path / "active" / "v" / version / "*.parquet")
    assert _count(glob) == (EVENTS.height, EVENTS.height)
    old = {f["bucket"]: f["path"] for f in store.catalog.active_files("v", version)}
    store.materialize(datetime(2024, 2, 10), datetime(2024, 3, 5))  # February and March again
    files = store.catalog.active_files("v", version)
    active_rows = sum(int(f["rows"]) for f in files)
    assert active_rows == EVENTS.height
    assert _count(glob) == (active_rows, active_rows)
    # superseded files stay where they were (time travel, rebuilds) but out of the glob
    for bucket in ("2024-02", "2024-03"):
        assert (store.path / old[bucket]).is_file()
        assert old[bucket] not in {f["path"] for f in files}
    everything = str(store.path / "offline" / "v" / version / "*" / "*.parquet")
    assert _count(everything)[0] > active_rows  # what a glob over offline/ would count
    # the glob holds the rows featstore serves
    via_glob = pl.read_parquet(glob).sort("k", "__fs_ts")
    via_catalog = scan_frames([store.offline.absolute(f["path"]) for f in files]).collect()
    assert via_glob.height == via_catalog.height
    assert via_glob["amount"].to_list() == via_catalog.sort("k", "__fs_ts")["amount"].to_list()
    # gc keeps it exact, and repairs a link that went missing
    folder = store.path / "active" / "v" / version
    (folder / "2024-01.parquet").unlink()
    left = folder / f".2024-02.parquet.{'ab' * 16}.tmp"  # a writer killed mid-update
    left.write_bytes(b"partial")
    (folder / "notes.txt").write_text("a user's file")
    assert _count(glob)[0] < active_rows
    store.gc()
    assert _count(glob) == (active_rows, active_rows)
    assert sorted(p.name for p in folder.iterdir()) == [
        "2024-01.parquet",
        "2024-02.parquet",
        "2024-03.parquet",
        "notes.txt",
    ]


# -- 4: the Arrow stream interface and pandas options -----------------------------------


def test_result_is_an_arrow_stream(world: tuple[fs.FeatureStore, str]) -> None:
    store, _ = world
    result = store.get_historical_features(ENTITY, ["v:amount", "v:seen"])
    assert pa.table(result).equals(result.frame.to_arrow())
    assert_frame_equal(pl.DataFrame(result), result.frame)
    found = duckdb.sql("SELECT count(*), sum(amount), sum(label) FROM result").fetchall()[0]
    reference = _reference(ENTITY)
    assert found == (ENTITY.height, reference["amount"].sum(), ENTITY["label"].sum())
    arrow_backed = result.to_pandas(types_mapper=pd.ArrowDtype)
    assert isinstance(arrow_backed["amount"].dtype, pd.ArrowDtype)
    assert arrow_backed["amount"].isna().sum() == reference["amount"].null_count()
    plain = result.to_pandas()
    assert plain["amount"].dtype == "float64"  # a null makes NumPy-backed ints floats
    assert plain["label"].tolist() == ENTITY["label"].to_list()


# -- 5: entity and keys frames from other engines -----------------------------------------


class _Stream:
    """Any object with the Arrow PyCapsule stream interface."""

    def __init__(self, table: pa.Table) -> None:
        self._table = table

    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object:
        return self._table.__arrow_c_stream__(requested_schema)


def test_entity_frames_from_other_engines(
    world: tuple[fs.FeatureStore, str], tmp_path: Path
) -> None:
    store, _ = world
    features = ["v:amount", "v:seen"]
    want = store.get_historical_features(ENTITY, features)
    assert_frame_equal(want.frame, _reference(ENTITY).drop("v__event_timestamp"))
    table = ENTITY.to_arrow()
    pq.write_table(table, tmp_path / "entity.parquet")
    con = duckdb.connect()
    con.register("entity_rows", table)
    inputs = {
        "duckdb relation": con.sql("SELECT * FROM entity_rows"),
        "record batch reader": pa.RecordBatchReader.from_batches(
            table.schema, table.to_batches(max_chunksize=2)
        ),
        "dataset": pa_dataset.dataset(tmp_path / "entity.parquet"),
        "arrow stream": _Stream(table),
    }
    for what, given in inputs.items():
        got = store.get_historical_features(given, features)
        assert got.frame.equals(want.frame), what
        assert got.content_id == want.content_id, what
    keys = pa.table({"k": [0, 1, 2]})
    as_of = datetime(2024, 2, 15)
    latest = store.get_latest_features(
        pa.RecordBatchReader.from_batches(keys.schema, keys.to_batches()), ["v:amount"], as_of=as_of
    )
    reference = _reference(
        pl.DataFrame({"k": [0, 1, 2], "event_timestamp": [as_of] * 3}).with_columns(
            pl.col("event_timestamp").cast(pl.Datetime("us"))
        )
    )
    assert latest.frame["amount"].to_list() == reference["amount"].to_list()
    con.close()


def test_an_unreadable_entity_input_names_its_type_and_what_is_accepted(
    world: tuple[fs.FeatureStore, str],
) -> None:
    store, _ = world
    with pytest.raises(fs.PointInTimeError, match=r"builtins\.object.*RecordBatchReader"):
        store.get_historical_features(object(), ["v:amount"])
    with pytest.raises(fs.PointInTimeError, match=r"builtins\.list.*__arrow_c_stream__"):
        store.get_latest_features([1, 2], ["v:amount"])


# -- old stores: naive files written before, mixed with new ones -------------------------


def test_files_written_naive_before_still_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entity = fs.Entity("e", join_keys=["k"])
    source = fs.DataFrameSource(
        "events", data=EVENTS, timestamp_column="ts", created_timestamp_column="created"
    )
    view = fs.FeatureView("v", entity=entity, source=source, features=["amount", "seen"])
    store = fs.FeatureStore(tmp_path / "store", progress=False, statistics=False)
    try:
        store.apply([entity, source, view])
        with monkeypatch.context() as patch:  # the format before: naive, no metadata list
            patch.setattr(fs_materialize, "naive_utc_columns", lambda schema: [])
            store.materialize(START, END)
        version = store.get_feature_view("v")["version"]
        old = store.catalog.active_files("v", version)
        assert all(
            json.loads(_logical(store.offline.absolute(f["path"]), "__fs_ts").to_json())[
                "isAdjustedToUTC"
            ]
            is False
            for f in old
        )
        store.materialize(datetime(2024, 2, 1), datetime(2024, 3, 1))  # February: new format
        got = store.get_historical_features(ENTITY, ["v:amount", "v:seen"])
        assert_frame_equal(got.frame, _reference(ENTITY).drop("v__event_timestamp"))
        stamps = store.get_historical_features(
            ENTITY, ["v:amount"], include_event_timestamps=True
        ).frame["v__event_timestamp"]
        assert stamps.equals(_reference(ENTITY)["v__event_timestamp"])
    finally:
        store.close()


def test_a_training_set_saved_with_naive_event_times_still_rebuilds(
    world: tuple[fs.FeatureStore, str],
) -> None:
    """Before event times took the entity column's zone they came back naive UTC."""
    store, _ = world
    entity = ENTITY.with_columns(pl.col("event_timestamp").dt.replace_time_zone("UTC"))
    new = store.get_historical_features(entity, ["v:amount"], include_event_timestamps=True)
    assert new.frame["v__event_timestamp"].dtype == pl.Datetime("us", "UTC")
    old_frame = new.frame.with_columns(pl.col("v__event_timestamp").dt.replace_time_zone(None))
    manifest = {**new.manifest, "result_hash": frame_hash(old_frame)}
    saved = store.save_training_set(RetrievalResult(old_frame, manifest), "before")
    rebuilt = store.rebuild_training_set(saved)
    assert frame_bytes(rebuilt.frame) == frame_bytes(old_frame)
