"""FeatureStore(path, read_only=True): every read works, nothing in the store changes,
every write is refused with a CatalogError, and a path without a store is an error."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import featstore as fs

# SQLite's shared-memory index and log: a reader creates them beside catalog.db when the
# directory allows, so that it reads consistently while writers run (docs/catalog.md)
_SQLITE_SIDE_FILES = {"catalog.db-shm", "catalog.db-wal"}


def _tree(root: Path) -> dict[str, tuple[int, int, int]]:
    """Every path under ``root`` with its kind, size and modification time (SQLite's side
    files aside; catalog.db itself is compared)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            if name in _SQLITE_SIDE_FILES and Path(dirpath) == root:
                continue
            path = Path(dirpath) / name
            st = path.lstat()
            out[str(path.relative_to(root))] = (st.st_mode, st.st_size, st.st_mtime_ns)
    return out


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A closed store with a view, a run, a training set, a model and a batch."""
    root = tmp_path_factory.mktemp("read_only") / "store"
    customer = fs.Entity("customer", join_keys=["customer_id"])
    data = pl.DataFrame(
        {
            "customer_id": [1, 2, 1],
            "ts": [datetime(2024, 1, 1), datetime(2024, 1, 2), datetime(2024, 1, 5)],
            "spend": [1.0, 2.0, 3.0],
        }
    )
    source = fs.DataFrameSource("txns", data=data, timestamp_column="ts")
    view = fs.FeatureView("spending", entity=customer, source=source, features=["spend"])
    labels = pl.DataFrame({"customer_id": [1, 2], "ts": [datetime(2024, 1, 6)] * 2})
    with fs.FeatureStore(root, progress=False) as store:
        store.apply([customer, view])
        store.materialize(datetime(2024, 1, 1), datetime(2024, 2, 1))
        result = store.get_historical_features(labels, ["spending:spend"])
        ts = store.save_training_set(result, "train")
        mv = store.register_model("churn", ts, metrics={"auc": 0.5})
        store.set_alias("churn", "prod", mv.version)
        store.log_predictions(mv, labels.with_columns(score=pl.lit(0.1)), features=result)
    return root


def test_reads_work_and_write_nothing(built: Path) -> None:
    before = _tree(built)
    labels = pl.DataFrame({"customer_id": [1, 2], "ts": [datetime(2024, 1, 6)] * 2})
    with fs.FeatureStore(built, read_only=True, progress=False) as store:
        assert store.read_only
        assert store.get_feature_view("spending")["name"] == "spending"
        frame = store.get_historical_features(labels, ["spending:spend"]).to_polars()
        assert frame["spend"].to_list() == [3.0, 2.0]
        latest = store.get_latest_features({"customer_id": [1]}, ["spending:spend"]).to_polars()
        assert latest["spend"].to_list() == [3.0]
        assert len(store.runs()) == 1
        ts = store.get_training_set("train")
        assert ts.to_polars().height == 2
        assert not any(store.verify_training_set(ts)[k] for k in ("missing_files", "changed_files"))
        assert store.get_model("churn", alias="prod").version == 1
        assert store.list_models()[0]["latest_version"] == 1
        node = f"view:spending@{store.get_feature_view('spending')['version']}"
        assert store.lineage.downstream(node)
        assert store.rebuild_training_set(ts).to_polars().equals(ts.to_polars())
    assert _tree(built) == before


# (materialize needs its views applied in this process, and apply is refused first)
WRITES: dict[str, Callable[[fs.FeatureStore], Any]] = {
    "apply": lambda s: s.apply([fs.Entity("other", join_keys=["k"])]),
    "save_training_set": lambda s: s.save_training_set(
        s.get_historical_features(
            pl.DataFrame({"customer_id": [1], "ts": [datetime(2024, 1, 6)]}), ["spending:spend"]
        ),
        "again",
    ),
    "register_model": lambda s: s.register_model("churn", "train"),
    "set_alias": lambda s: s.set_alias("churn", "staging", 1),
    "rollback": lambda s: s.rollback("churn", "prod"),
    "log_predictions": lambda s: s.log_predictions(
        s.get_model("churn"),
        pl.DataFrame({"customer_id": [1], "ts": [datetime(2024, 1, 6)], "score": [0.2]}),
    ),
    "gc": lambda s: s.gc(),
}


@pytest.mark.parametrize("write", sorted(WRITES))
def test_writes_are_refused_and_change_nothing(built: Path, write: str) -> None:
    before = _tree(built)
    with (
        fs.FeatureStore(built, read_only=True, progress=False) as store,
        pytest.raises(fs.CatalogError, match=r"read.only"),
    ):
        WRITES[write](store)
    assert _tree(built) == before


def test_no_store_is_an_error_and_nothing_is_created(tmp_path: Path) -> None:
    missing = tmp_path / "nothing" / "here"
    with pytest.raises(fs.ConfigError, match=r"no feature store at .*read_only=True opens"):
        fs.FeatureStore(missing, read_only=True)
    assert not (tmp_path / "nothing").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(fs.ConfigError, match=r"no feature store"):
        fs.FeatureStore(empty, read_only=True)
    assert list(empty.iterdir()) == []
