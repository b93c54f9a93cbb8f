"""Hostile names.

Definition names (entities, sources, views, services, models, aliases, training sets)
become directory names and catalog keys: anything outside the safe alphabet is rejected
with a DefinitionError before anything is written. Column names are free-form: quotes,
semicolons, spaces, unicode and SQL keywords must flow through materialization,
retrieval and explain untouched. Sources outside the store are read, never written, and
no catalog path can point outside the store.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from helpers import catalog_snapshot

import featstore as fs
from featstore.offline import OfflineStore

# -- snapshots ---------------------------------------------------------------------------


def listing(root: Path, *, skip: Path | None = None) -> set[tuple[str, int, int]]:
    """(relative path, size, mtime) of every file and directory under ``root``, except
    under ``skip`` and the store's catalog database, locks/ and tmp/."""
    out: set[tuple[str, int, int]] = set()
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = [
            d
            for d in dirnames
            if here / d != skip and not (d in ("locks", "tmp") and (here / "catalog.db").exists())
        ]
        for d in dirnames:
            out.add(((here / d).relative_to(root).as_posix(), -1, 0))
        for f in filenames:
            if f.startswith("catalog.db"):
                continue
            st = os.stat(here / f)
            out.add(((here / f).relative_to(root).as_posix(), st.st_size, st.st_mtime_ns))
    return out


def snapshot(store: fs.FeatureStore) -> tuple[dict[str, list[Any]], set[tuple[str, int, int]]]:
    """Every catalog record (read through catalog methods) and every file of the store."""
    return catalog_snapshot(store), listing(store.path)


# -- rejected definition names -----------------------------------------------------------

HOSTILE_NAMES: dict[str, str] = {
    "single-quote": "it's",
    "double-quote": 'say"hi"',
    "semicolon": "a;b",
    "sql-injection": "x'; DROP TABLE nodes; --",
    "dot-dot": "..",
    "dot-dot-slash": "../escape",
    "inner-dot-dot": "a..b",
    "slash": "a/b",
    "absolute-path": "/etc/passwd",
    "backslash": "a\\b",
    "null-byte": "nul\x00byte",
    "space": "with space",
    "newline": "two\nlines",
    "long-300": "a" * 300,
    "unicode-cafe": "café",
    "unicode-cjk": "特徴",
    "leading-digit": "1st",
    "leading-dash": "-x",
    "trailing-dot": "x.",
    "empty": "",
    "not-a-string": 42,  # type: ignore[dict-item]
}


@dataclass
class NamesCtx:
    store: fs.FeatureStore
    customer: fs.Entity
    source: fs.DataFrameSource
    view: fs.FeatureView
    result: fs.RetrievalResult
    training_set: str
    model: str


@pytest.fixture(scope="module")
def names_ctx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NamesCtx]:
    root = tmp_path_factory.mktemp("names")
    frame = pl.DataFrame(
        {
            "customer_id": [1, 2, 1],
            "ts": [datetime(2024, 1, 2), datetime(2024, 1, 3), datetime(2024, 1, 9)],
            "amount": [5, 6, 7],
        }
    )
    customer = fs.Entity("customer", join_keys=["customer_id"])
    source = fs.DataFrameSource("tx", data=frame, timestamp_column="ts")
    view = fs.FeatureView("amounts", entity=customer, source=source, features=["amount"])
    with fs.FeatureStore(root / "store", progress=False, threads=1) as store:
        store.apply([customer, source, view])
        store.materialize(datetime(2024, 1, 1), datetime(2024, 2, 1))
        result = store.get_historical_features(
            pl.DataFrame({"customer_id": [1, 2], "event_timestamp": [datetime(2024, 1, 10)] * 2}),
            ["amounts:amount"],
        )
        ts = store.save_training_set(result, "train")
        mv = store.register_model("churn", ts)
        yield NamesCtx(store, customer, source, view, result, ts.id, mv.name)


def _entity(c: NamesCtx, name: Any) -> object:
    return fs.Entity(name, join_keys=["customer_id"])


def _parquet_source(c: NamesCtx, name: Any) -> object:
    return fs.ParquetSource(name, path="raw/*.parquet", timestamp_column="ts")


def _csv_source(c: NamesCtx, name: Any) -> object:
    return fs.CsvSource(name, path="raw.csv", timestamp_column="ts")


def _frame_source(c: NamesCtx, name: Any) -> object:
    return fs.DataFrameSource(name, data=c.source.data, timestamp_column="ts")


def _sql_source(c: NamesCtx, name: Any) -> object:
    return fs.SqlSource(name, query="SELECT 1 AS customer_id, now() AS ts", timestamp_column="ts")


def _view(c: NamesCtx, name: Any) -> object:
    return fs.FeatureView(name, entity=c.customer, source=c.source, features=["amount"])


def _service(c: NamesCtx, name: Any) -> object:
    return fs.FeatureService(name, features=["amounts:amount"])


def _model(c: NamesCtx, name: Any) -> object:
    return c.store.register_model(name, c.training_set, metrics={"auc": 0.5})


def _model_from_result(c: NamesCtx, name: Any) -> object:
    """Saves a training set named after the model first: the name must be checked before."""
    return c.store.register_model(name, c.result)


def _alias(c: NamesCtx, name: Any) -> object:
    return c.store.set_alias(c.model, name, 1)


def _training_set(c: NamesCtx, name: Any) -> object:
    return c.store.save_training_set(c.result, name)


KINDS: dict[str, tuple[Callable[[NamesCtx, Any], object], str]] = {
    "entity": (_entity, "entity"),
    "parquet-source": (_parquet_source, "source"),
    "csv-source": (_csv_source, "source"),
    "dataframe-source": (_frame_source, "source"),
    "sql-source": (_sql_source, "source"),
    "feature-view": (_view, "feature view"),
    "feature-service": (_service, "feature service"),
    "model": (_model, "model"),
    "model-from-retrieval": (_model_from_result, "model"),
    "alias": (_alias, "alias"),
    "training-set": (_training_set, "training set"),
}

NAME_CASES = [
    pytest.param(kind, name, id=f"{kind}-{label}")
    for kind in KINDS
    for label, name in HOSTILE_NAMES.items()
]


@pytest.mark.parametrize(("kind", "name"), NAME_CASES)
def test_hostile_definition_name_rejected(names_ctx: NamesCtx, kind: str, name: Any) -> None:
    make, what = KINDS[kind]
    before = snapshot(names_ctx.store)
    if isinstance(name, str):
        shown = name if len(name) <= 60 else name[:57] + "..."
        pattern = (
            rf"^{what} name {re.escape(repr(shown))} is not allowed: use letters, "
            rf"digits and underscores.*starting with a letter or underscore, "
            rf"at most 128 characters$"
        )
    else:
        pattern = rf"^{what} name must be a string; found int$"
    with pytest.raises(fs.DefinitionError, match=pattern):
        make(names_ctx, name)
    assert snapshot(names_ctx.store) == before, f"{kind} {name!r}: the store changed"


def test_safe_names_accepted(names_ctx: NamesCtx) -> None:
    """The rule is not 'reject everything': the documented alphabet passes."""
    for name in ("_private", "v2", "customer.stats", "churn-model", "a" * 128, "A_b.c-d"):
        fs.Entity(name, join_keys=["k"])
        _view(names_ctx, name)
    with pytest.raises(fs.DefinitionError):
        fs.Entity("a" * 129, join_keys=["k"])


# -- hostile column names ----------------------------------------------------------------

KEY = 'a"b'
KEY2 = "k'ey; --"
TS = "time stamp; 'ts'"
CREATED = "créé le"
X = "x'; DROP TABLE files; --"
U = "ünï code"
SEL = "select"
TOTAL = 'total"; DROP TABLE runs; --'
ENTITY_TS = "when?; DELETE FROM nodes"

# the kinds of catalog record the end-to-end test writes (it sets no alias)
EXPECTED_RECORDS = {
    "definitions",
    "current_definitions",
    "runs",
    "files",
    "run_inputs",
    "training_sets",
    "model_versions",
    "prediction_batches",
    "nodes",
    "edges",
}


def _raw() -> pl.DataFrame:
    d = datetime
    return pl.DataFrame(
        {
            KEY: [1, 1, 2, 1, 2],
            KEY2: ["p", "p", "q", "q", "q"],
            TS: [d(2024, 1, 5), d(2024, 1, 20), d(2024, 1, 10), d(2024, 1, 12), d(2024, 2, 3)],
            CREATED: [d(2024, 1, 6), d(2024, 1, 21), d(2024, 1, 11), d(2024, 1, 13), d(2024, 2, 4)],
            X: [10, 11, 20, 30, 21],
            U: [1.5, 2.5, 3.5, 4.5, 5.5],
            SEL: ["alpha", "beta", "gamma", "delta", "eps"],
        },
        schema={
            KEY: pl.Int64,
            KEY2: pl.String,
            TS: pl.Datetime("us"),
            CREATED: pl.Datetime("us"),
            X: pl.Int64,
            U: pl.Float64,
            SEL: pl.String,
        },
    )


def _totals(lf: pl.LazyFrame) -> pl.LazyFrame:
    return lf.select(KEY, KEY2, TS, (pl.col(X) * 10).alias(TOTAL))


def _entity_df() -> pl.DataFrame:
    d = datetime
    return pl.DataFrame(
        {
            KEY: [1, 1, 2, 2, 1, 3],
            KEY2: ["p", "p", "q", "q", "q", "p"],
            ENTITY_TS: [
                d(2024, 1, 15),
                d(2024, 1, 25),
                d(2024, 1, 9),
                d(2024, 2, 10),
                d(2024, 3, 1),
                d(2024, 1, 15),
            ],
            "label; --": [1, 0, 1, 0, 1, 0],
        },
        schema={
            KEY: pl.Int64,
            KEY2: pl.String,
            ENTITY_TS: pl.Datetime("us"),
            "label; --": pl.Int64,
        },
    )


def test_hostile_column_names_end_to_end(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    (outside / "sub").mkdir(parents=True)
    _raw().write_parquet(outside / "raw.parquet")
    _raw().write_parquet(outside / "raw2.parquet")
    store_dir = tmp_path / "store"

    keys = fs.Entity("pair", join_keys=[KEY, KEY2])
    src = fs.ParquetSource(
        "raw", path=outside / "raw.parquet", timestamp_column=TS, created_timestamp_column=CREATED
    )
    # the same kind of file reached through a '..' segment
    src_dotdot = fs.ParquetSource(
        "raw_dotdot", path=f"{outside}/sub/../raw2.parquet", timestamp_column=TS
    )
    plain = fs.FeatureView(
        "plain", entity=keys, source=src, features=[X, U, SEL], ttl=timedelta(days=30)
    )
    totals = fs.FeatureView(
        "totals", entity=keys, source=src_dotdot, transform=_totals, schema={TOTAL: pl.Int64}
    )

    before_outside = listing(tmp_path, skip=store_dir)
    with fs.FeatureStore(store_dir, progress=False, threads=1) as store:
        store.apply([keys, src, src_dotdot, plain, totals])
        runs = store.materialize(datetime(2024, 1, 1), datetime(2024, 3, 1))
        assert [r.rows for r in runs] == [5, 5]
        # re-materializing a range merges with the stored rows through the same SQL
        store.materialize(datetime(2024, 1, 15), datetime(2024, 2, 1), views=["plain"])

        hist = store.get_historical_features(
            _entity_df(), [plain, "totals:*"], timestamp_column=ENTITY_TS
        )
        expected = _entity_df().with_columns(
            pl.Series(X, [10, 11, None, 21, None, None], dtype=pl.Int64),
            pl.Series(U, [1.5, 2.5, None, 5.5, None, None], dtype=pl.Float64),
            pl.Series(SEL, ["alpha", "beta", None, "eps", None, None], dtype=pl.String),
            pl.Series(TOTAL, [100, 110, None, 210, 300, None], dtype=pl.Int64),
        )
        assert hist.frame.equals(expected), hist.frame

        full = store.get_historical_features(
            _entity_df(),
            ["plain:" + X],
            timestamp_column=ENTITY_TS,
            full_feature_names=True,
            include_event_timestamps=True,
            bitemporal=True,
        )
        assert full.frame.columns[-2:] == [f"plain__{X}", "plain__event_timestamp"]
        # bitemporal: the 2024-01-25 row sees the 2024-01-20 value, created on the 21st
        assert full.frame[f"plain__{X}"].to_list() == [10, 11, None, 21, None, None]

        latest = store.get_latest_features(
            {KEY: [1, 2, 1, 9], KEY2: ["p", "q", "q", "p"]},
            ["plain:*", "totals:" + TOTAL],
            as_of="2024-01-31T00:00:00+00:00",
        )
        assert latest.frame.to_dicts() == [
            {KEY: 1, KEY2: "p", X: 11, U: 2.5, SEL: "beta", TOTAL: 110},
            {KEY: 2, KEY2: "q", X: 20, U: 3.5, SEL: "gamma", TOTAL: 200},
            {KEY: 1, KEY2: "q", X: 30, U: 4.5, SEL: "delta", TOTAL: 300},
            {KEY: 9, KEY2: "p", X: None, U: None, SEL: None, TOTAL: None},
        ]

        ts = store.save_training_set(hist, "hostile_columns")
        assert ts.to_polars().equals(hist.frame)
        mv = store.register_model("hostile", ts, metrics={"auc": 1.0})
        preds = (
            _entity_df()
            .select(KEY, KEY2, ENTITY_TS)
            .with_columns(pl.Series("score; --", [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]))
        )
        batch = store.log_predictions(mv, preds, timestamp_column=ENTITY_TS, features=hist)
        explained = store.lineage.explain(batch.id, 1)
        values = {f["feature"]: (f["value"], f["event_timestamp"]) for f in explained["features"]}
        assert values == {
            X: (11, datetime(2024, 1, 20)),
            U: (2.5, datetime(2024, 1, 20)),
            SEL: ("beta", datetime(2024, 1, 20)),
            TOTAL: (110, datetime(2024, 1, 20)),
        }
        assert {f["run"] for f in explained["features"]} <= {
            f"run:{r['run_id']}" for r in store.runs()
        }
        assert {s["path"] for s in explained["source_files"]} == {
            str(outside / "raw.parquet"),
            str(outside / "raw2.parquet"),
        }

        rebuilt = store.rebuild_training_set(ts)
        assert rebuilt.frame.equals(hist.frame)

    # the catalog survived every hostile column name: it reopens (its format is intact),
    # every kind of record reads back (a dropped table would be a CatalogError) and none
    # that the test wrote is gone
    with fs.FeatureStore(store_dir, create=False, progress=False, threads=1) as store:
        state = catalog_snapshot(store)
    assert {kind for kind, records in state.items() if records} >= EXPECTED_RECORDS
    active = [f for f in state["files"] if dict(f)["active"]]
    assert len(active) >= 3
    assert len(state["nodes"]) > 0
    assert len(state["runs"]) == 3

    # sources outside the store were read, never written; nothing was created outside it
    assert listing(tmp_path, skip=store_dir) == before_outside
    # files the store wrote are all inside it, under its documented folders
    top = {p.name for p in store_dir.iterdir()}
    assert top <= {
        "featstore.json",
        "catalog.db",
        "catalog.db-wal",
        "catalog.db-shm",
        "offline",
        "active",
        "staging",
        "locks",
        "tmp",
        "training_sets",
        "predictions",
    }


def test_null_byte_column_name_is_refused(tmp_path: Path) -> None:
    """A null byte cannot be quoted into SQL: a DefinitionError, and nothing written."""
    bad = "nul\x00col"
    frame = pl.DataFrame({"k": [1], "ts": [datetime(2024, 1, 2)], bad: [1]})
    with fs.FeatureStore(tmp_path / "store", progress=False, threads=1) as store:
        ent = fs.Entity("e", join_keys=["k"])
        view = fs.FeatureView(
            "v",
            entity=ent,
            features=[bad],
            source=fs.DataFrameSource("s", data=frame, timestamp_column="ts"),
        )
        before = snapshot(store)
        with pytest.raises(fs.DefinitionError, match=r"column name .* contains a null byte"):
            store.apply([ent, view])
        after = snapshot(store)
    assert after == before


# -- paths in the catalog cannot escape the store ----------------------------------------


@pytest.mark.parametrize(
    "relative",
    [
        "../../etc/passwd",
        "/etc/passwd",
        "offline/../../outside.parquet",
        "offline/../..",
        "training_sets/../../../x",
    ],
)
def test_catalog_paths_cannot_escape(tmp_path: Path, relative: str) -> None:
    (tmp_path / "store").mkdir()  # FeatureStore creates the root; OfflineStore its folders
    offline = OfflineStore(tmp_path / "store")
    with pytest.raises(fs.StorageError, match="points outside the store"):
        offline.absolute(relative)


def test_catalog_path_escaping_through_symlink(tmp_path: Path) -> None:
    (tmp_path / "store").mkdir()
    offline = OfflineStore(tmp_path / "store")
    (tmp_path / "secret.parquet").write_bytes(b"x")
    (tmp_path / "store" / "offline" / "link.parquet").symlink_to(tmp_path / "secret.parquet")
    with pytest.raises(fs.StorageError, match="points outside the store"):
        offline.absolute("offline/link.parquet")
    assert (
        offline.absolute("offline/a/b.parquet")
        == (tmp_path / "store").resolve() / "offline/a/b.parquet"
    )


def test_tampered_files_row_is_not_read(names_ctx: NamesCtx, tmp_path: Path) -> None:
    """A catalog row whose path points outside the store is refused, not read."""
    copy = tmp_path / "store"
    shutil.copytree(names_ctx.store.path, copy)
    with closing(sqlite3.connect(copy / "catalog.db")) as con:
        con.execute("UPDATE files SET path = '../../../../etc/passwd' WHERE view = 'amounts'")
        con.commit()
    with (
        fs.FeatureStore(copy, progress=False, threads=1) as store,
        pytest.raises(fs.StorageError, match=re.escape("'../../../../etc/passwd' points outside")),
    ):
        store.get_historical_features(
            pl.DataFrame({"customer_id": [1], "event_timestamp": [datetime(2024, 1, 10)]}),
            ["amounts:amount"],
        )
