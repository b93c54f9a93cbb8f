"""Feature references resolve through one function, in a number of catalog queries that
does not grow with the number of features or views requested."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import featstore as fs
from featstore import refs, retrieval

N_VIEWS = 12
N_FEATURES = 40


def _store(path: Path) -> fs.FeatureStore:
    entity = fs.Entity("customer", join_keys=["customer_id"])
    data = pl.DataFrame(
        {
            "customer_id": [1, 2],
            "ts": [datetime(2024, 1, 1), datetime(2024, 1, 2)],
            **{f"f{i}": [float(i), float(i + 1)] for i in range(N_FEATURES)},
        }
    )
    objects: list[Any] = [entity]
    for v in range(N_VIEWS):
        source = fs.DataFrameSource(f"src{v}", data=data, timestamp_column="ts")
        objects.append(
            fs.FeatureView(
                f"v{v}",
                entity=entity,
                source=source,
                features=[f"f{i}" for i in range(N_FEATURES)],
            )
        )
    store = fs.FeatureStore(path, progress=False)
    store.apply(objects)
    return store


@contextmanager
def _counted(store: fs.FeatureStore) -> Iterator[list[str]]:
    """Every catalog query (SELECT) run in the block, as SQLite saw it."""
    seen: list[str] = []
    conn = store.catalog._conn  # type: ignore[attr-defined]
    conn.set_trace_callback(
        lambda sql: (
            seen.append(sql) if sql.lstrip().upper().startswith(("SELECT", "WITH")) else None
        )
    )
    try:
        yield seen
    finally:
        conn.set_trace_callback(None)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[fs.FeatureStore]:
    with _store(tmp_path / "store") as s:
        yield s


def _queries(store: fs.FeatureStore, features: list[object]) -> int:
    with _counted(store) as seen:
        found, _ = retrieval._requested(store, features)
    assert found, "resolution found nothing"
    return len(seen)


def test_queries_do_not_grow_with_features_or_views(store: fs.FeatureStore) -> None:
    one = _queries(store, ["v0:f0"])
    many = _queries(store, [f"v{v}:f{i}" for v in range(N_VIEWS) for i in range(N_FEATURES)])
    star = _queries(store, [f"v{v}:*" for v in range(N_VIEWS)])
    version = store.get_feature_view("v3")["version"]
    pinned = _queries(
        store, [f"v{v}@{version}:f1" if v == 3 else f"v{v}:f1" for v in range(N_VIEWS)]
    )
    assert one == many == star, (one, many, star)
    # pinned versions add one query, whatever their number
    assert pinned == one + 1, (one, pinned)
    assert pinned <= 3


def test_resolution_result_matches_one_by_one_lookup(store: fs.FeatureStore) -> None:
    """The prefetched path gives exactly what per-view lookups give."""
    asked = [f"v{v}:f{(v * 7) % N_FEATURES}" for v in range(N_VIEWS)] + ["v2:*", "v0:f3"]
    defs = store.definitions
    fast = refs.resolve_refs(asked, defs.view_record, defs.view_names, defs.view_records)
    slow = refs.resolve_refs(asked, defs.view_record, defs.view_names)
    assert fast == slow
    assert [r.view for r in fast] == [f"v{v}" for v in range(N_VIEWS)]
    assert fast[2].features[-1] == f"f{N_FEATURES - 1}"
    assert fast[0].features == ("f0", "f3")


def test_unknown_names_still_raise_with_a_suggestion(store: fs.FeatureStore) -> None:
    with pytest.raises(fs.NotFoundError, match=r"unknown feature view 'v99'.*"):
        retrieval._requested(store, ["v1:f1", "v99:f1"])
    with pytest.raises(fs.NotFoundError, match=r"has no feature 'nope'"):
        retrieval._requested(store, ["v1:nope"])
    with pytest.raises(fs.NotFoundError, match=r"its versions are"):
        retrieval._requested(store, ["v1@0000:f1"])


def test_service_and_cli_references_take_the_same_path(store: fs.FeatureStore) -> None:
    service = fs.FeatureService("svc", features=[f"v{v}:f2" for v in range(N_VIEWS)])
    store.apply([service])
    with _counted(store) as seen:
        found, spec = retrieval._requested(store, ["service:svc"])
    assert spec is not None
    assert [r.view for r in found] == [f"v{v}" for v in range(N_VIEWS)]
    assert len(seen) <= 4  # the service record, then the same prefetch as any request
