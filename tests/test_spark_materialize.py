"""Materialization on the Spark engine: a view's Polars transformation evaluated in Spark's
Python workers (one row at a time, or per key with ``per_key=True``) stores the same rows
as the DuckDB engine's evaluation in this process, and its failure paths."""

from __future__ import annotations

import itertools
import os
import random
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import featstore as fs

pytestmark = pytest.mark.filterwarnings("ignore::featstore.CoverageWarning")

DAY, HOUR = timedelta(days=1), timedelta(hours=1)
START, END = datetime(2024, 1, 1), datetime(2024, 4, 1)


def write_source(directory: Path, rng: random.Random, zone: str | None, n: int = 900) -> Path:
    """Random rows in three Parquet files: keys with nulls, whole-hour instants (many ties
    within a key), nulls in the values, an unsigned column; ``zone`` for the timestamps."""
    directory.mkdir(parents=True)
    rows = pl.DataFrame(
        {
            "cid": [rng.choice([*range(25), None]) for _ in range(n)],
            "ts": [START - 10 * DAY + rng.randint(0, 24 * 100) * HOUR for _ in range(n)],
            "amount": [rng.choice([None, round(rng.uniform(-50, 50), 3)]) for _ in range(n)],
            "n": pl.Series([rng.randint(0, 9) for _ in range(n)], dtype=pl.UInt32),
            "tag": [rng.choice(["a", "b", None]) for _ in range(n)],
        }
    ).with_columns(created=pl.col("ts") + pl.duration(hours=pl.col("n")))
    if zone is not None:
        rows = rows.with_columns(
            pl.col("ts", "created").dt.replace_time_zone("UTC").dt.convert_time_zone(zone)
        )
    for i, part in enumerate(rows.iter_slices(n // 3)):
        part.write_parquet(directory / f"part {i}.parquet")  # a space: URIs are encoded
    return directory


def derived(frame: pl.LazyFrame) -> pl.LazyFrame:
    """Row by row: derived columns, a row filter, the hour in the source's zone."""
    return frame.filter(pl.col("n") != 3).with_columns(
        double=pl.col("amount") * 2, hour=pl.col("ts").dt.hour(), small=pl.col("n") < 5
    )


def running(frame: pl.LazyFrame) -> pl.LazyFrame:
    """Per key, in source order, within the declared lookback (7 days): a 7-day rolling
    sum, and per key and day a running count, the previous row's value and the distinct
    tags so far (the running count and the previous value depend on the order of rows
    that tie on an instant)."""
    day = pl.col("ts").dt.truncate("1d")
    return frame.with_columns(
        amount_7d=pl.col("amount").fill_null(0).rolling_sum_by("ts", "7d").over("cid"),
        seen=pl.col("amount").cum_count().over("cid", day),
        previous=pl.col("amount").shift(1).over("cid", day),
        tags=pl.col("tag").n_unique().over("cid", day),
    )


def ranked(frame: pl.LazyFrame) -> pl.LazyFrame:
    """Across keys: each row's rank among all rows (not per key: runs in the driver)."""
    return frame.with_columns(overall=pl.col("amount").rank("ordinal"))


def definitions(source_dir: Path) -> list[Any]:
    customer = fs.Entity("customer", join_keys=["cid"])
    source = fs.ParquetSource(
        "txns", path=str(source_dir), timestamp_column="ts", created_timestamp_column="created"
    )
    views = [
        fs.FeatureView("plain", entity=customer, source=source, features=["amount", "n", "tag"]),
        fs.FeatureView("derived", entity=customer, source=source, transform=derived),
        fs.FeatureView(
            "running",
            entity=customer,
            source=source,
            transform=running,
            lookback=7 * DAY,
            per_key=True,
            features=["amount_7d", "seen", "previous", "tags"],
        ),
        fs.FeatureView(
            "ranked",
            entity=customer,
            source=source,
            transform=ranked,
            lookback=timedelta(0),
            features=["overall"],
        ),
        fs.FeatureView(
            "windows",
            entity=customer,
            source=source,
            transform=derived,
            aggregations=[
                fs.Aggregation("double", "sum", window=7 * DAY),
                fs.Aggregation("hour", "max", window=DAY),
                fs.Aggregation("amount", "count", window=30 * DAY),
            ],
        ),
    ]
    return [customer, source, *views]


def stored(store: fs.FeatureStore, views: list[Any]) -> dict[str, pl.DataFrame]:
    """Each view's active files, month by month, as read back."""
    out = {}
    for view in views:
        rows = sorted(
            store.catalog.active_files(view.name, view.version), key=lambda r: r["bucket"]
        )
        out[view.name] = pl.concat(
            [pl.read_parquet(store.offline.absolute(r["path"])) for r in rows]
        )
    return out


@pytest.mark.parametrize(("seed", "zone"), [(1, None), (2, "Europe/Berlin"), (3, "UTC")])
def test_spark_stores_the_same_rows_as_duckdb(
    tmp_path: Path, spark_engine: fs.Engine, seed: int, zone: str | None
) -> None:
    source = write_source(tmp_path / "src", random.Random(seed), zone)
    defs = definitions(source)
    entity = pl.DataFrame(
        {
            "cid": [i % 27 for i in range(400)],
            "event_timestamp": [START + (i * 5 + 3) * HOUR for i in range(400)],
        }
    )
    refs = [
        "plain:amount",
        "derived:double",
        "derived:hour",
        "running:amount_7d",
        "running:seen",
        "running:previous",
        "running:tags",
        "ranked:overall",
        "windows:double_sum_7d",
        "windows:hour_max_1d",
        "windows:amount_count_30d",
    ]
    frames, files = [], []
    for name, engine in (("duck", None), ("spark", spark_engine)):
        with fs.FeatureStore(tmp_path / name, progress=False, engine=engine) as store:
            store.apply(defs)
            store.materialize(START, datetime(2024, 2, 10, 5))  # two runs: incremental
            store.materialize(datetime(2024, 2, 10, 5), END)
            frames.append(store.get_historical_features(entity, refs).frame)
            files.append(stored(store, [d for d in defs if isinstance(d, fs.FeatureView)]))
    assert frames[1].equals(frames[0])
    for column in ("amount_7d", "seen", "previous", "overall", "double_sum_7d"):
        assert frames[0][column].drop_nulls().n_unique() >= 3, column  # values, not nulls
    for view, rows in files[0].items():
        assert rows.height > 100
        assert files[1][view].equals(rows), view


def test_spark_merges_reruns_and_repairs_months_as_duckdb_does(
    tmp_path: Path, spark_engine: fs.Engine
) -> None:
    """A re-run of part of a month merges the month's other rows; a damaged file is
    re-evaluated whole; months past the data are skipped: the same files on both."""
    source = write_source(tmp_path / "src", random.Random(7), "Europe/Berlin")
    defs = definitions(source)
    views = [d for d in defs if isinstance(d, fs.FeatureView)]
    files = []
    for name, engine in (("duck", None), ("spark", spark_engine)):
        with fs.FeatureStore(tmp_path / name, progress=False, engine=engine) as store:
            store.apply(defs)
            store.materialize(START, datetime(2024, 6, 1))  # April and May: no rows
            store.materialize(datetime(2024, 2, 3, 7), datetime(2024, 2, 4))  # merge
            january = [
                r
                for r in store.catalog.active_files("running", views[2].version)
                if r["bucket"] == "2024-01"
            ]
            store.offline.absolute(january[0]["path"]).unlink()  # damaged
            store.materialize(datetime(2024, 1, 10), datetime(2024, 1, 11))  # repairs it
            files.append(stored(store, views))
            months = {r["bucket"] for r in store.catalog.active_files("plain", views[0].version)}
            assert months == {"2024-01", "2024-02", "2024-03"}
    for view, rows in files[0].items():
        assert files[1][view].equals(rows), view


def test_where_each_view_is_evaluated(tmp_path: Path, spark_engine: Any) -> None:
    source = write_source(tmp_path / "src", random.Random(4), None, n=30)
    views = {v.name: v for v in definitions(source) if isinstance(v, fs.FeatureView)}
    plans = {name: spark_engine.transform_plan(v)[0] for name, v in views.items()}
    assert plans == {
        "plain": "rows",
        "derived": "rows",
        "running": "keys",
        "ranked": "driver",
        "windows": "rows",
    }
    assert "per_key=True" in spark_engine.transform_plan(views["ranked"])[1]
    frame = fs.DataFrameSource("mem", data=pl.read_parquet(source), timestamp_column="ts")
    in_memory = fs.FeatureView(
        "mem", entity=fs.Entity("c", join_keys=["cid"]), source=frame, features=["amount"]
    )
    assert spark_engine.transform_plan(in_memory) == (
        "driver",
        "its source is a dataframe source, not Parquet files",
    )


def test_a_per_key_transform_that_changes_its_key_fails_and_writes_nothing(
    tmp_path: Path, spark_engine: fs.Engine
) -> None:
    source = write_source(tmp_path / "src", random.Random(5), None, n=60)
    customer = fs.Entity("customer", join_keys=["cid"])
    txns = fs.ParquetSource("txns", path=str(source), timestamp_column="ts")

    def rekeyed(frame: pl.LazyFrame) -> pl.LazyFrame:
        return frame.with_columns(
            cid=pl.col("cid") % 4, seen=pl.col("amount").cum_count().over("cid")
        )

    view = fs.FeatureView(
        "rekeyed",
        entity=customer,
        source=txns,
        transform=rekeyed,
        lookback=DAY,
        per_key=True,
        features=["seen"],
    )
    with fs.FeatureStore(tmp_path / "s", progress=False, engine=spark_engine) as store:
        store.apply([customer, txns, view])
        with pytest.raises(
            fs.MaterializationError,
            match=r"per_key=True, but its transform changed the key columns \['cid'\]",
        ):
            store.materialize(START, END)
        assert store.runs() == []
    assert not list((tmp_path / "s").glob("offline/**/*.parquet"))


def test_a_transform_failing_in_a_spark_task_is_a_materialization_error(
    tmp_path: Path, spark_engine: fs.Engine
) -> None:
    source = write_source(tmp_path / "src", random.Random(6), None, n=60)
    customer = fs.Entity("customer", join_keys=["cid"])
    txns = fs.ParquetSource("txns", path=str(source), timestamp_column="ts")

    def strict(frame: pl.LazyFrame) -> pl.LazyFrame:
        return frame.with_columns(checked=pl.col("tag").str.to_integer())  # "a" is no integer

    view = fs.FeatureView("strict", entity=customer, source=txns, transform=strict)
    errors = []
    for engine in (None, spark_engine):
        with fs.FeatureStore(tmp_path / f"s{len(errors)}", progress=False, engine=engine) as s:
            s.apply([customer, txns, view])
            with pytest.raises(fs.MaterializationError, match="'strict': evaluating its rows") as e:
                s.materialize(START, END)
            errors.append(str(e.value))
    assert "ComputeError: strict integer parsing failed" in errors[0]
    assert "ComputeError: strict integer parsing failed" in errors[1]
    assert not list(tmp_path.glob("s*/offline/**/*.parquet"))


def test_per_key_must_be_a_bool(tmp_path: Path) -> None:
    customer = fs.Entity("customer", join_keys=["cid"])
    txns = fs.ParquetSource("txns", path=str(tmp_path), timestamp_column="ts")
    with pytest.raises(fs.DefinitionError, match="per_key must be True or False; found 'yes'"):
        fs.FeatureView("v", entity=customer, source=txns, features=["a"], per_key="yes")  # type: ignore[arg-type]


@st.composite
def source_rows(draw: st.DrawFn) -> tuple[list[pl.DataFrame], datetime]:
    """Random source rows in one to three files (few keys, instants on a coarse grid so
    rows tie within a key, nulls in keys and values), and where the range splits into two
    runs."""
    n = draw(st.integers(1, 60))
    rows = pl.DataFrame(
        {
            "cid": draw(st.lists(st.one_of(st.none(), st.integers(0, 4)), min_size=n, max_size=n)),
            "ts": [
                START - 3 * DAY + h * 6 * HOUR
                for h in draw(st.lists(st.integers(0, 4 * 70), min_size=n, max_size=n))
            ],
            "amount": draw(
                st.lists(
                    st.one_of(st.none(), st.floats(-1e6, 1e6, allow_nan=False)),
                    min_size=n,
                    max_size=n,
                )
            ),
            "n": draw(st.lists(st.integers(0, 6), min_size=n, max_size=n)),
            "tag": draw(st.lists(st.sampled_from(["a", "b", None]), min_size=n, max_size=n)),
        },
        schema={
            "cid": pl.Int64,
            "ts": pl.Datetime("us"),
            "amount": pl.Float64,
            "n": pl.UInt32,
            "tag": pl.String,
        },
    )
    cuts = sorted(draw(st.lists(st.integers(0, n), max_size=2)))
    bounds = [0, *cuts, n]
    files = [rows[a:b] for a, b in itertools.pairwise(bounds) if b > a]
    split = START + draw(st.integers(1, 60)) * DAY + draw(st.integers(0, 23)) * HOUR
    return files, split


# FEATSTORE_SPARK_MATERIALIZE_EXAMPLES sets the count (each runs Spark jobs, a few seconds)
@settings(
    max_examples=int(os.environ.get("FEATSTORE_SPARK_MATERIALIZE_EXAMPLES", "8")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(case=source_rows())
def test_spark_stores_the_same_rows_as_duckdb_on_random_sources(
    case: tuple[list[pl.DataFrame], datetime], spark_engine: fs.Engine
) -> None:
    files, split = case
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "src").mkdir()
        for i, part in enumerate(files):
            part.write_parquet(root / "src" / f"{i}.parquet")
        customer = fs.Entity("customer", join_keys=["cid"])
        source = fs.ParquetSource("txns", path=str(root / "src"), timestamp_column="ts")
        views = [
            fs.FeatureView("derived", entity=customer, source=source, transform=derived),
            fs.FeatureView(
                "running",
                entity=customer,
                source=source,
                transform=running,
                lookback=7 * DAY,
                per_key=True,
                features=["amount_7d", "seen", "previous"],
            ),
        ]
        stored_by_engine = []
        for name, engine in (("duck", None), ("spark", spark_engine)):
            with fs.FeatureStore(root / name, progress=False, engine=engine) as store:
                store.apply([customer, source, *views])
                store.materialize(START, split)
                store.materialize(split, END)
                stored_by_engine.append({v.name: stored_or_none(store, v) for v in views})
        duck, spark = stored_by_engine
        for view in duck:
            if duck[view] is None:
                assert spark[view] is None, view
            else:
                assert spark[view] is not None, view
                assert spark[view].equals(duck[view]), view


def stored_or_none(store: fs.FeatureStore, view: fs.FeatureView) -> pl.DataFrame | None:
    """A view's active files as read back, or None if it has none."""
    rows = sorted(store.catalog.active_files(view.name, view.version), key=lambda r: r["bucket"])
    if not rows:
        return None
    return pl.concat([pl.read_parquet(store.offline.absolute(r["path"])) for r in rows])
