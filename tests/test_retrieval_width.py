"""Retrieval at width: a thousand features come back right, in the requested order.

Retrieval runs a query with many feature columns as several queries over slices of the
features (``featstore.pit.split_query``; DuckDB's ASOF join and ORDER BY cost more per
column the wider the row), then puts their results side by side. These tests check a
1,000-feature retrieval against a direct computation (Polars ``join_asof`` over the raw
rows), and that splitting changes nothing: same frame, same manifest, same coverage as
one query. Timing is measured by benchmarks/retrieval_width.py, not here.
"""

from __future__ import annotations

import warnings
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

import featstore as fs
import featstore.pit as pit
from featstore.pit import PitQuery, ViewJoin, split_query

WIDE = 1_000
KEYS = 30
START = datetime(2024, 1, 1)
TTL = timedelta(days=10)


def _names(n: int, prefix: str = "f") -> list[str]:
    return [f"{prefix}{i:04d}" for i in range(n)]


def _raw(rng: np.random.Generator, rows: int, features: list[str]) -> pl.DataFrame:
    """Feature rows over two months, distinct ``(k, ts)``, some null values."""
    span = 55 * 86_400_000_000
    offs = rng.choice(span, rows, replace=False)
    data: dict[str, object] = {
        "k": rng.integers(0, KEYS, rows),
        "ts": np.datetime64(START, "us") + offs.astype("timedelta64[us]"),
    }
    data["created"] = data["ts"] + rng.integers(0, 5 * 86_400_000_000, rows).astype(  # type: ignore[operator]
        "timedelta64[us]"
    )
    values = rng.standard_normal((rows, len(features)))
    values[rng.random((rows, len(features))) < 0.02] = np.nan
    for j, name in enumerate(features):
        data[name] = values[:, j]
    return pl.DataFrame(data).with_columns(pl.col(features).fill_nan(None))


@pytest.fixture(scope="module")
def wide_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[fs.FeatureStore, dict]:
    rng = np.random.default_rng(7)
    wide_raw = _raw(rng, 150, _names(WIDE))
    small_raw = _raw(rng, 100, _names(3, "s"))
    e = fs.Entity("e", join_keys=["k"])
    wide_src = fs.DataFrameSource(
        "wide_src", data=wide_raw, timestamp_column="ts", created_timestamp_column="created"
    )
    small_src = fs.DataFrameSource(
        "small_src", data=small_raw, timestamp_column="ts", created_timestamp_column="created"
    )
    wide = fs.FeatureView("wide", entity=e, source=wide_src, features=_names(WIDE), ttl=TTL)
    small = fs.FeatureView("small", entity=e, source=small_src, features=_names(3, "s"))
    store = fs.FeatureStore(tmp_path_factory.mktemp("width") / "store", progress=False)
    store.apply([e, wide_src, small_src, wide, small])
    store.materialize(START, START + timedelta(days=62))
    n = 300
    entity = pl.DataFrame(
        {
            # a key with no feature rows too (KEYS), and timestamps before the first row
            "k": rng.integers(0, KEYS + 1, n),
            "event_timestamp": np.datetime64(START - timedelta(days=3), "us")
            + rng.integers(0, 65 * 86_400_000_000, n).astype("timedelta64[us]"),
            "label": rng.integers(0, 2, n),
        }
    )
    return store, {"entity": entity, "wide": wide_raw, "small": small_raw}


def _direct(
    entity: pl.DataFrame, raw: pl.DataFrame, features: list[str], ttl: timedelta | None
) -> pl.DataFrame:
    """The latest feature row at or before each entity timestamp (within the TTL)."""
    right = raw.select("k", pl.col("ts").alias("__ts"), *features).sort("__ts")
    joined = (
        entity.with_row_index("__i")
        .sort("event_timestamp")
        .join_asof(
            right,
            left_on="event_timestamp",
            right_on="__ts",
            by="k",
            strategy="backward",
            tolerance=ttl,
            check_sortedness=False,
        )
        .sort("__i")
    )
    return joined.select(features)


def test_a_thousand_features_match_a_direct_computation(
    wide_store: tuple[fs.FeatureStore, dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    import featstore.retrieval as retrieval

    store, data = wide_store
    entity = data["entity"]
    small, wide = _names(3, "s"), _names(WIDE)
    # request the small view first, and the wide one in a shuffled order, so that slices
    # cross view boundaries and the output order is the request order, not the stored one
    order = list(np.random.default_rng(1).permutation(wide))
    refs = [f"small:{f}" for f in small] + [f"wide:{f}" for f in order]
    queries: list[PitQuery] = []
    run = retrieval.run_query

    def capture(con: Any, query: PitQuery, table: Any) -> Any:
        queries.append(query)
        return run(con, query, table)

    monkeypatch.setattr(retrieval, "run_query", capture)
    with warnings.catch_warnings():
        warnings.simplefilter("error", fs.CoverageWarning)
        result = store.get_historical_features(entity, features=refs)
    assert len(split_query(queries[0])) == 11  # it ran as several queries
    out = result.to_polars()
    assert out.columns == [*entity.columns, *small, *order]
    expected = pl.concat(
        [
            entity,
            _direct(entity, data["small"], small, None),
            _direct(entity, data["wide"], order, TTL),
        ],
        how="horizontal",
    )
    assert_frame_equal(out, expected)
    wide_cov = next(c for c in result.coverage if c.view == "wide")
    matched = expected.filter(pl.any_horizontal(pl.col(wide).is_not_null())).height
    assert 0 < wide_cov.matched_rows == matched < entity.height


def test_splitting_a_wide_query_changes_nothing(
    wide_store: tuple[fs.FeatureStore, dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bitemporal, full names and event timestamps: split or not, the same result."""
    store, data = wide_store
    kw = {"bitemporal": True, "full_feature_names": True, "include_event_timestamps": True}

    def get(refs: list[str], max_columns: int) -> fs.RetrievalResult:
        monkeypatch.setattr(pit, "MAX_QUERY_COLUMNS", max_columns)
        return store.get_historical_features(data["entity"], features=refs, **kw)

    wide = [f"wide:{f}" for f in _names(WIDE)]
    for refs, limit in (
        ([*wide[:250], "small:*"], pit.MAX_QUERY_COLUMNS),
        ([*wide[:40], "small:*"], 7),
    ):
        split, whole = get(refs, limit), get(refs, 10**9)
        assert_frame_equal(split.to_polars(), whole.to_polars())
        assert split.manifest == whole.manifest
        assert split.coverage == whole.coverage


def test_split_query_slices_every_view_in_order() -> None:
    def view(n: int, name: str) -> ViewJoin:
        return ViewJoin(
            files=(f"/s/{name}.parquet",),
            keys=("k",),
            features=tuple((f"{name}{i}", f"{name}_{i}") for i in range(n)),
        )

    views = (view(3, "a"), view(250, "b"), view(0, "c"), view(5, "d"))
    q = PitQuery(views, min_entity_ts=START, max_entity_ts=START)
    assert split_query(q, 1_000) == [(q, (0, 1, 2, 3))]
    parts = split_query(q, 100)
    assert [sum(len(v.features) for v in p.views) for p, _ in parts] == [100, 100, 58]
    assert [n for _, index in parts for n in index] == [0, 1, 1, 1, 2, 3]
    for n, original in enumerate(views):
        pieces = [v for p, index in parts for v, i in zip(p.views, index, strict=True) if i == n]
        assert sum((v.features for v in pieces), ()) == original.features
        assert all(v.files == original.files and v.keys == original.keys for v in pieces)
    assert all(p.min_entity_ts == START and p.max_entity_ts == START for p, _ in parts)
    with pytest.raises(ValueError, match="at least 1"):
        split_query(q, 0)


def test_explain_reads_the_same_row_when_split(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Explain's detail query (winner's timestamps and file) splits the same way."""
    import duckdb
    import pyarrow as pa

    from featstore.retrieval import run_query

    raw = _raw(np.random.default_rng(3), 50, _names(12))
    path = tmp_path / "rows.parquet"
    raw.rename({"ts": "__fs_ts", "created": "__fs_created"}).with_columns(
        pl.lit(1).alias("__fs_rank")
    ).write_parquet(path)
    join = ViewJoin(
        files=(str(path),), keys=("k",), features=tuple((f, f) for f in _names(12)), ttl_us=None
    )
    entity = pa.table(
        {
            "__fs_row": pa.array(range(5), pa.uint32()),
            "k": pa.array([0, 1, 2, 3, KEYS], pa.int64()),
            "__fs_ts": pa.array([datetime(2024, 3, 1)] * 5, pa.timestamp("us")),
        }
    )
    query = PitQuery((join, join), detail=True)
    con = duckdb.connect()
    whole = run_query(con, query, entity)
    monkeypatch.setattr(pit, "MAX_QUERY_COLUMNS", 5)
    assert len(split_query(query)) == 5
    assert run_query(con, query, entity).equals(whole)
