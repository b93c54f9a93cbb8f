"""Bad inputs, table-driven: every case raises featstore's exception of the right type,
with a message that names the object (view, source, entity, column, path) and says how to
fix it, and leaves the store exactly as it was (catalog rows and files alike).

Each case runs on its own copy of one pristine store (materialized rows, a saved training
set, a registered model with an alias, a prediction batch), so it starts from a known
state whatever the other cases did.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import featstore as fs

START = datetime(2024, 1, 1)
END = datetime(2024, 4, 1)


# -- the pristine store ------------------------------------------------------------------


def _events() -> pl.DataFrame:
    """Three customers, one transaction every few days through Q1 2024."""
    rows = []
    for i in range(60):
        rows.append(
            {
                "customer_id": i % 3,
                "ts": START + timedelta(days=i * 1.5, hours=i % 5),
                "amount": 10 + i,
                "fee": 0.5 * i,
            }
        )
    return pl.DataFrame(
        rows,
        schema={
            "customer_id": pl.Int64,
            "ts": pl.Datetime("us"),
            "amount": pl.Int64,
            "fee": pl.Float64,
        },
    )


def _double(lf: pl.LazyFrame) -> pl.LazyFrame:
    return lf.with_columns((pl.col("amount") * 2).alias("double_amount")).select(
        "customer_id", "ts", "double_amount"
    )


@dataclass
class Defs:
    """The definitions of the pristine store (re-applied in every case's process)."""

    customer: fs.Entity
    tx: fs.ParquetSource
    amounts: fs.FeatureView
    amounts_b: fs.FeatureView  # same feature name 'amount' as amounts
    spend_old: fs.FeatureView  # an older version of 'spend' (kept in the catalog)
    spend: fs.FeatureView  # the current version
    svc: fs.FeatureService

    def current(self) -> list[Any]:
        return [self.customer, self.tx, self.amounts, self.amounts_b, self.spend, self.svc]


def _defs(data: Path) -> Defs:
    customer = fs.Entity("customer", join_keys=["customer_id"])
    tx = fs.ParquetSource("tx", path=data / "tx.parquet", timestamp_column="ts")
    amounts = fs.FeatureView("amounts", entity=customer, source=tx, features=["amount", "fee"])
    amounts_b = fs.FeatureView("amounts_b", entity=customer, source=tx, features=["amount"])
    spend_old = fs.FeatureView(
        "spend", entity=customer, source=tx, transform=_double, ttl=timedelta(days=30)
    )
    spend = fs.FeatureView(
        "spend", entity=customer, source=tx, transform=_double, ttl=timedelta(days=90)
    )
    svc = fs.FeatureService("svc", features=["amounts:amount", "spend:double_amount"])
    return Defs(customer, tx, amounts, amounts_b, spend_old, spend, svc)


def _entity_rows(**overrides: Any) -> pl.DataFrame:
    frame = pl.DataFrame(
        {
            "customer_id": [0, 1, 2, 1],
            "event_timestamp": [
                datetime(2024, 2, 1),
                datetime(2024, 2, 15),
                datetime(2024, 3, 1),
                datetime(2024, 3, 20),
            ],
            "label": [0, 1, 0, 1],
        }
    )
    return frame.with_columns(**overrides) if overrides else frame


@dataclass
class Pristine:
    root: Path
    data: Path
    store_dir: Path
    defs: Defs
    model: str
    training_set: str
    batch: str


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Pristine:
    root = tmp_path_factory.mktemp("pristine")
    data = root / "data"
    data.mkdir()
    _events().write_parquet(data / "tx.parquet")
    defs = _defs(data)
    store_dir = root / "store"
    with fs.FeatureStore(store_dir, progress=False, threads=1) as store:
        store.apply([defs.customer, defs.tx, defs.spend_old])
        store.apply(defs.current())
        store.materialize(START, END)
        result = store.get_historical_features(_entity_rows(), "service:svc")
        ts = store.save_training_set(result, "churn_train")
        mv = store.register_model("churn", ts, params={"depth": 3}, metrics={"auc": 0.8})
        store.set_alias("churn", "production", mv.version)
        batch = store.log_predictions(
            mv,
            pl.DataFrame({"customer_id": [0, 1], "score": [0.1, 0.9]}),
            as_of=datetime(2024, 3, 2),
        )
    return Pristine(root, data, store_dir, defs, "churn", ts.id, batch.id)


# -- snapshots ---------------------------------------------------------------------------


def catalog_hash(store_dir: Path) -> str:
    """A content hash of every catalog table's rows (and the schema)."""
    digest = hashlib.sha256()
    uri = f"file:{store_dir / 'catalog.db'}?mode=ro"
    with closing(sqlite3.connect(uri, uri=True)) as con:
        tables = con.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'table' ORDER BY name"
        ).fetchall()
        for name, sql in tables:
            digest.update(f"{name}\0{sql}\0".encode())
            quoted = '"' + name.replace('"', '""') + '"'
            rows = sorted(repr(r) for r in con.execute(f"SELECT * FROM {quoted}"))
            for row in rows:
                digest.update(row.encode())
                digest.update(b"\0")
    return digest.hexdigest()


def file_listing(store_dir: Path) -> set[tuple[str, int, int]]:
    """(relative path, size, mtime) of every file under the store directory except the
    catalog database, locks/ and tmp/ (directories appear with size -1)."""
    out: set[tuple[str, int, int]] = set()
    for dirpath, dirnames, filenames in os.walk(store_dir):
        rel_dir = Path(dirpath).relative_to(store_dir)
        if rel_dir == Path("."):
            dirnames[:] = [d for d in dirnames if d not in ("locks", "tmp")]
        for d in dirnames:
            out.add(((rel_dir / d).as_posix(), -1, 0))
        for f in filenames:
            rel = (rel_dir / f).as_posix()
            if rel.startswith("catalog.db"):
                continue
            st = os.stat(Path(dirpath) / f)
            out.add((rel, st.st_size, st.st_mtime_ns))
    return out


def snapshot(store_dir: Path) -> tuple[str, set[tuple[str, int, int]]]:
    return catalog_hash(store_dir), file_listing(store_dir)


# -- per-case context --------------------------------------------------------------------


@dataclass
class Ctx:
    path: Path  # this case's copy of the store
    tmp: Path  # a scratch directory outside the store
    data: Path  # the pristine raw data (read-only)
    store: fs.FeatureStore
    d: Defs
    p: Pristine
    opened: list[fs.FeatureStore] = field(default_factory=list)

    def view(self, name: str = "other", **kwargs: Any) -> fs.FeatureView:
        """A valid view over the registered entity and source unless kwargs say otherwise."""
        args: dict[str, Any] = {"entity": self.d.customer, "source": self.d.tx}
        if "transform" not in kwargs and "features" not in kwargs:
            args["features"] = ["amount"]
        return fs.FeatureView(name, **{**args, **kwargs})

    def frame_source(self, frame: pl.DataFrame, name: str = "frame_src", **kw: Any) -> fs.Source:
        return fs.DataFrameSource(name, data=frame, **{"timestamp_column": "ts", **kw})

    def events(self) -> pl.DataFrame:
        return pl.read_parquet(self.data / "tx.parquet")

    def reopen(self) -> fs.FeatureStore:
        """A second FeatureStore object on the same directory (as a new process would)."""
        other = fs.FeatureStore(self.path, progress=False, threads=1)
        self.opened.append(other)
        return other

    def hist(self, features: Any, entity: pl.DataFrame | None = None, **kw: Any) -> Any:
        return self.store.get_historical_features(
            _entity_rows() if entity is None else entity, features, **kw
        )

    def model(self) -> Any:
        return self.store.get_model(self.p.model)


Setup = Callable[[Ctx], object]
Act = Callable[[Ctx], object]


@dataclass(frozen=True)
class Case:
    id: str
    act: Act
    exc: type[Exception]
    match: str
    setup: Setup | None = None


def _all(*patterns: str) -> str:
    """A regex requiring every pattern, in order, anywhere in the message."""
    return "(?s)" + ".*".join(patterns)


# -- transformations used by the cases ---------------------------------------------------


def _t_raises(lf: pl.LazyFrame) -> pl.LazyFrame:
    raise KeyError("lookup table not loaded")


def _t_returns_dict(lf: pl.LazyFrame) -> Any:
    return {"amount": [1]}


def _t_drops_key(lf: pl.LazyFrame) -> pl.LazyFrame:
    return lf.drop("customer_id")


def _t_drops_ts(lf: pl.LazyFrame) -> pl.LazyFrame:
    return lf.select("customer_id", "amount")


def _t_float_x(lf: pl.LazyFrame) -> pl.LazyFrame:
    return lf.select("customer_id", "ts", (pl.col("amount") / 3).alias("x"))


def _t_float_key(lf: pl.LazyFrame) -> pl.LazyFrame:
    return lf.with_columns(pl.col("customer_id").cast(pl.Float64))


def _boom_if_rows(s: pl.Series) -> pl.Series:
    if len(s):
        raise RuntimeError("scoring service unreachable")
    return s


def _t_fails_on_data(lf: pl.LazyFrame) -> pl.LazyFrame:
    """Runs fine on the empty frame apply checks, raises on real rows."""
    return lf.select(
        "customer_id",
        "ts",
        pl.col("amount").map_batches(_boom_if_rows, return_dtype=pl.Int64).alias("risky"),
    )


# -- setups ------------------------------------------------------------------------------


def _apply_risky(c: Ctx) -> None:
    # map_batches sees whole batches: its row-wise use is declared with lookback=0
    c.store.apply([c.view("risky", transform=_t_fails_on_data, lookback=timedelta(0))])


def _corrupt_active_file(c: Ctx) -> None:
    """Truncate the active file of 'amounts' for February (snapshot is taken after)."""
    version = c.store.get_feature_view("amounts")["version"]
    (rel,) = [
        f["path"]
        for f in c.store.catalog.active_files("amounts", version)
        if f["bucket"] == "2024-02"
    ]
    target = c.path / rel
    size = target.stat().st_size
    with open(target, "r+b") as handle:
        handle.truncate(size // 2)


def _newer_config(c: Ctx) -> None:
    (c.path / "featstore.json").write_text(json.dumps({"format_version": 99, "created_by": "9.9"}))


def _corrupt_config(c: Ctx) -> None:
    (c.path / "featstore.json").write_text('{"format_version": ')


def _newer_catalog(c: Ctx) -> None:
    c.store.close()
    with closing(sqlite3.connect(c.path / "catalog.db")) as con:
        con.execute("UPDATE meta SET value = '7' WHERE key = 'format_version'")
        con.commit()


def _write_bad_csv(c: Ctx) -> None:
    (c.tmp / "tx.csv").write_text("customer_id,when,amount\n1,2024-01-02T00:00:00,3\n")


# -- the cases ---------------------------------------------------------------------------

EV = _entity_rows

CASES: list[Case] = [
    # ---- source frames: timestamp and key columns
    Case(
        "source-timestamp-column-missing",
        lambda c: c.store.apply(
            [
                c.view(
                    source=fs.ParquetSource(
                        "tx_when", path=c.data / "tx.parquet", timestamp_column="event_time"
                    )
                )
            ]
        ),
        fs.SchemaError,
        _all(
            r"source 'tx_when' has no column 'event_time'",
            r"found \[.*'ts'",
            r"Fix timestamp_column",
        ),
    ),
    Case(
        "source-timestamp-column-misnamed-case",
        lambda c: c.store.apply(
            [
                c.view(
                    source=fs.ParquetSource(
                        "tx_upper", path=c.data / "tx.parquet", timestamp_column="TS"
                    )
                )
            ]
        ),
        fs.SchemaError,
        _all(r"source 'tx_upper' has no column 'TS'", r"Fix timestamp_column"),
    ),
    Case(
        "source-created-timestamp-missing",
        lambda c: c.store.apply(
            [
                c.view(
                    source=fs.ParquetSource(
                        "tx_created",
                        path=c.data / "tx.parquet",
                        timestamp_column="ts",
                        created_timestamp_column="written_at",
                    )
                )
            ]
        ),
        fs.SchemaError,
        _all(
            r"source 'tx_created' has no column 'written_at'",
            r"Fix timestamp_column / created_timestamp_column",
        ),
    ),
    Case(
        "source-lacks-join-key",
        lambda c: c.store.apply(
            [c.view(source=c.frame_source(c.events().rename({"customer_id": "cust"})))]
        ),
        fs.DefinitionError,
        _all(
            r"feature view 'other'",
            r"join key 'customer_id' of entity 'customer'",
            r"found columns \['cust'",
            r"(add|rename|fix)",
        ),
    ),
    Case(
        "source-timestamp-is-string",
        lambda c: c.store.apply(
            [c.view(source=c.frame_source(c.events().with_columns(pl.col("ts").dt.to_string())))]
        ),
        fs.SchemaError,
        _all(
            r"source 'frame_src'",
            r"timestamp column 'ts' must be a Datetime or Date",
            r"found String",
            r"parse it first",
        ),
    ),
    Case(
        "csv-timestamp-misnamed",
        lambda c: c.store.apply(
            [c.view(source=fs.CsvSource("csv_tx", path=c.tmp / "tx.csv", timestamp_column="ts"))]
        ),
        fs.SchemaError,
        _all(r"source 'csv_tx' has no column 'ts'", r"'when'", r"Fix timestamp_column"),
        setup=_write_bad_csv,
    ),
    Case(
        "source-float-join-key",
        lambda c: c.store.apply(
            [
                c.view(
                    source=c.frame_source(
                        c.events().with_columns(pl.col("customer_id").cast(pl.Float64))
                    )
                )
            ]
        ),
        fs.SchemaError,
        _all(
            r"feature view 'other'",
            r"join key 'customer_id' is Float64",
            r"Cast it, e\.g\. pl\.col\('customer_id'\)\.cast\(pl\.Int64\)",
        ),
    ),
    Case(
        "transform-makes-float-join-key",
        lambda c: c.store.apply([c.view(transform=_t_float_key)]),
        fs.SchemaError,
        _all(r"feature view 'other'", r"join key 'customer_id' is Float64", r"Cast it"),
    ),
    Case(
        "created-timestamp-equals-timestamp",
        lambda c: fs.ParquetSource(
            "tx2", path=c.data / "tx.parquet", timestamp_column="ts", created_timestamp_column="ts"
        ),
        fs.DefinitionError,
        _all(
            r"source 'tx2'",
            r"created_timestamp_column and timestamp_column are both 'ts'",
            r"leave created_timestamp_column unset",
        ),
    ),
    Case(
        "source-path-does-not-exist",
        lambda c: c.store.apply(
            [
                c.view(
                    source=fs.ParquetSource(
                        "gone", path=c.tmp / "nowhere.parquet", timestamp_column="ts"
                    )
                )
            ]
        ),
        fs.NotFoundError,
        _all(r"source 'gone': path '.*nowhere\.parquet' matches no file", r"check the path"),
    ),
    Case(
        "source-glob-matches-nothing",
        lambda c: c.store.apply(
            [
                c.view(
                    source=fs.ParquetSource(
                        "globbed", path=c.tmp / "year=*" / "*.parquet", timestamp_column="ts"
                    )
                )
            ]
        ),
        fs.NotFoundError,
        _all(r"source 'globbed': path '.*year=\*/\*\.parquet' matches no file", r"check the path"),
    ),
    # ---- feature views: transformations
    Case(
        "transform-raises",
        lambda c: c.store.apply([c.view(transform=_t_raises)]),
        fs.DefinitionError,
        _all(
            r"feature view 'other': its transform raised KeyError",
            r"must also run on an empty frame",
        ),
    ),
    Case(
        "transform-returns-non-lazyframe",
        lambda c: c.store.apply([c.view(transform=_t_returns_dict)]),
        fs.DefinitionError,
        _all(r"feature view 'other'", r"transform must return a polars LazyFrame", r"found dict"),
    ),
    Case(
        "transform-drops-join-key",
        lambda c: c.store.apply([c.view(transform=_t_drops_key)]),
        fs.DefinitionError,
        _all(
            r"feature view 'other': its transform dropped join key 'customer_id' "
            r"of entity 'customer'",
            r"keep it in",
        ),
    ),
    Case(
        "transform-drops-timestamp",
        lambda c: c.store.apply([c.view(transform=_t_drops_ts)]),
        fs.DefinitionError,
        _all(r"feature view 'other': its transform dropped timestamp column 'ts'", r"keep it in"),
    ),
    Case(
        "transform-changes-declared-schema",
        lambda c: c.store.apply([c.view(transform=_t_float_x, schema={"x": pl.Int64})]),
        fs.SchemaError,
        _all(
            r"feature view 'other': feature 'x' is Float64, declared Int64",
            r"cast it in the transform or fix the declared schema",
        ),
    ),
    Case(
        "transform-fails-only-on-real-data",
        lambda c: c.store.materialize(START, END, views=["risky"]),
        fs.MaterializationError,
        _all(r"feature view 'risky'", r"scoring service unreachable", r"fix the transform"),
        setup=_apply_risky,
    ),
    Case(
        "transform-not-callable",
        lambda c: c.view(transform="lambda lf: lf"),
        fs.DefinitionError,
        _all(r"feature view 'other'", r"transform must be a function LazyFrame -> LazyFrame"),
    ),
    Case(
        "features-empty",
        lambda c: c.view(features=[]),
        fs.DefinitionError,
        _all(r"feature view 'other'", r"features is empty; list at least one column"),
    ),
    Case(
        "features-include-join-key",
        lambda c: c.view(features=["customer_id", "amount"]),
        fs.DefinitionError,
        _all(
            r"feature view 'other'",
            r"\['customer_id'\] are join keys or timestamps",
            r"remove them from features",
        ),
    ),
    Case(
        "feature-not-in-source",
        lambda c: c.store.apply([c.view(features=["amount", "tip"])]),
        fs.SchemaError,
        _all(
            r"feature view 'other': feature 'tip' is not a column of source 'tx'",
            r"found \['amount', 'fee'\]",
            r"list only existing columns in features",
        ),
    ),
    # ---- TTL and lookback
    Case(
        "ttl-zero",
        lambda c: c.view(ttl=timedelta(0)),
        fs.DefinitionError,
        _all(r"feature view 'other': ttl must be positive; found 0:00:00", r"Omit ttl"),
    ),
    Case(
        "ttl-negative",
        lambda c: c.view(ttl=timedelta(days=-3)),
        fs.DefinitionError,
        _all(r"feature view 'other': ttl must be positive; found -3 days", r"Omit ttl"),
    ),
    Case(
        "ttl-not-a-timedelta",
        lambda c: c.view(ttl="90d"),
        fs.DefinitionError,
        _all(
            r"feature view 'other': ttl must be a datetime\.timedelta; found '90d'",
            r"timedelta\(days=",
        ),
    ),
    Case(
        "lookback-negative",
        lambda c: c.view(lookback=timedelta(hours=-1)),
        fs.DefinitionError,
        _all(
            r"feature view 'other': lookback must not be negative; found -1 day",
            r"(omit|timedelta\(0\))",
        ),
    ),
    # ---- apply: entities, duplicates
    Case(
        "entity-without-join-keys",
        lambda c: fs.Entity("shop", join_keys=[]),
        fs.DefinitionError,
        _all(r"entity 'shop' needs at least one join key"),
    ),
    Case(
        "entity-duplicate-join-keys",
        lambda c: fs.Entity("shop", join_keys=["shop_id", "shop_id"]),
        fs.DefinitionError,
        _all(
            r"entity 'shop' join_keys has duplicates: \['shop_id', 'shop_id'\]",
            r"list each (column|key) once",
        ),
    ),
    Case(
        "sql-source-query-fails",
        lambda c: c.store.apply(
            [
                c.view(
                    source=fs.SqlSource(
                        "q", query="SELECT * FROM no_such_table", timestamp_column="ts"
                    )
                )
            ]
        ),
        fs.DefinitionError,
        _all(r"source 'q': its SQL query failed: .*no_such_table", r"fix the query"),
    ),
    Case(
        "apply-unknown-entity",
        lambda c: c.store.apply([c.view(entity=fs.Entity("shop", join_keys=["shop_id"]))]),
        fs.DefinitionError,
        _all(
            r"feature view 'other' uses entity 'shop', which is not registered",
            r"apply it together with the view",
        ),
    ),
    Case(
        "apply-duplicate-entity-names",
        lambda c: c.store.apply(
            [fs.Entity("shop", join_keys=["a"]), fs.Entity("shop", join_keys=["b"])]
        ),
        fs.DefinitionError,
        _all(r"named 'shop'", r"rename one"),
    ),
    Case(
        "apply-duplicate-view-names",
        lambda c: c.store.apply([c.view("dup"), c.view("dup", ttl=timedelta(days=1))]),
        fs.DefinitionError,
        _all(r"two different FeatureViews are named 'dup'", r"rename one"),
    ),
    Case(
        "apply-two-sources-one-name",
        lambda c: c.store.apply(
            [c.view("a"), c.view("b", source=c.frame_source(c.events(), name="tx"))]
        ),
        fs.DefinitionError,
        _all(r"feature view 'b' uses source 'tx'", r"different source of that name", r"rename"),
    ),
    Case(
        "apply-service-unknown-view",
        lambda c: c.store.apply([fs.FeatureService("svc2", features=["amonts:amount"])]),
        fs.DefinitionError,
        _all(
            r"feature service 'svc2'", r"unknown feature view 'amonts'", r"did you mean 'amounts'\?"
        ),
    ),
    # ---- materialize: ranges, views
    Case(
        "materialize-start-after-end",
        lambda c: c.store.materialize(END, START),
        fs.MaterializationError,
        _all(
            r"start 2024-04-01 00:00:00 is not before end 2024-01-01 00:00:00",
            r"swap them or widen the range",
        ),
    ),
    Case(
        "materialize-start-equals-end",
        lambda c: c.store.materialize("2024-02-01T00:00:00Z", datetime(2024, 2, 1)),
        fs.MaterializationError,
        _all(
            r"start 2024-02-01 00:00:00 is not before end 2024-02-01 00:00:00", r"widen the range"
        ),
    ),
    Case(
        "materialize-unparseable-start",
        lambda c: c.store.materialize("2024-13-45T99:00", END),
        fs.PointInTimeError,
        _all(
            r"start '2024-13-45T99:00' is not an ISO 8601 timestamp",
            r"use e\.g\. '2024-01-31T00:00:00Z'",
        ),
    ),
    Case(
        "materialize-start-not-a-time",
        lambda c: c.store.materialize(20240101, END),
        fs.PointInTimeError,
        _all(r"start must be a datetime, date or ISO string; found int"),
    ),
    Case(
        "materialize-view-not-applied-in-this-process",
        lambda c: c.reopen().materialize(START, END, views=["amounts"]),
        fs.MaterializationError,
        _all(
            r"feature view 'amounts' is registered",
            r"call store\.apply\(\[\.\.\.\]\) with it in this process first",
        ),
    ),
    Case(
        "materialize-all-on-new-store-object",
        lambda c: c.reopen().materialize(START, END),
        fs.MaterializationError,
        _all(
            r"feature view '(amounts|amounts_b|spend)' is registered",
            r"call store\.apply\(\[\.\.\.\]\)",
        ),
    ),
    Case(
        "materialize-unknown-view",
        lambda c: c.store.materialize(START, END, views=["amount"]),
        fs.NotFoundError,
        _all(r"unknown feature view 'amount'", r"did you mean 'amounts'\?"),
    ),
    # ---- entity frames
    Case(
        "entity-frame-missing-key",
        lambda c: c.hist(["amounts:amount"], EV().drop("customer_id")),
        fs.PointInTimeError,
        _all(
            r"entity frame lacks join key 'customer_id'",
            r"add the column",
            r"requested views: \['amounts'\]",
        ),
    ),
    Case(
        "entity-frame-misnamed-key",
        lambda c: c.hist(["amounts:amount"], EV().rename({"customer_id": "customerId"})),
        fs.PointInTimeError,
        _all(r"entity frame lacks join key 'customer_id'", r"'customerId'", r"(add|rename)"),
    ),
    Case(
        "entity-frame-no-timestamp",
        lambda c: c.hist(["amounts:amount"], EV().drop("event_timestamp")),
        fs.PointInTimeError,
        _all(
            r"entity frame: cannot tell which column is the timestamp",
            r"name it event_timestamp or pass timestamp_column=",
        ),
    ),
    Case(
        "entity-frame-misnamed-timestamp",
        lambda c: c.hist(["amounts:amount"], timestamp_column="ts"),
        fs.PointInTimeError,
        _all(
            r"entity frame has no timestamp column 'ts'", r"'event_timestamp'", r"timestamp_column="
        ),
    ),
    Case(
        "entity-frame-path-missing",
        lambda c: c.store.get_historical_features(c.tmp / "entities.parquet", ["amounts:amount"]),
        fs.PointInTimeError,
        _all(r"entity frame path '.*entities\.parquet' is not a file", r"check the path"),
    ),
    Case(
        "entity-frame-string-timestamps",
        lambda c: c.hist(
            ["amounts:amount"], EV(event_timestamp=pl.col("event_timestamp").dt.to_string())
        ),
        fs.SchemaError,
        _all(
            r"entity frame",
            r"timestamp column 'event_timestamp' must be a Datetime or Date",
            r"parse it first",
        ),
    ),
    Case(
        "entity-frame-null-timestamp",
        lambda c: c.hist(
            ["amounts:amount"],
            EV(
                event_timestamp=pl.when(pl.col("label") == 1)
                .then(None)
                .otherwise("event_timestamp")
            ),
        ),
        fs.PointInTimeError,
        _all(
            r"entity frame: timestamp column 'event_timestamp' has 2 null value\(s\), "
            r"first at row 1",
            r"drop or fill them",
        ),
    ),
    Case(
        "entity-frame-float-key",
        lambda c: c.hist(["amounts:amount"], EV(customer_id=pl.col("customer_id") + 0.0)),
        fs.SchemaError,
        _all(
            r"join key 'customer_id' is Float64 but the feature rows store it as Int64",
            r"pl\.col\('customer_id'\)\.cast\(pl\.Int64\)",
        ),
    ),
    Case(
        "entity-frame-string-key",
        lambda c: c.hist(["amounts:amount"], EV(customer_id=pl.col("customer_id").cast(pl.String))),
        fs.SchemaError,
        _all(
            r"join key 'customer_id' is String but the feature rows store it as Int64",
            r"cast it with pl\.col\('customer_id'\)\.cast\(pl\.Int64\)",
        ),
    ),
    Case(
        "latest-features-string-key",
        lambda c: c.store.get_latest_features({"customer_id": ["0", "1"]}, ["amounts:amount"]),
        fs.SchemaError,
        _all(r"join key 'customer_id' is String", r"\.cast\(pl\.Int64\)"),
    ),
    Case(
        "latest-features-unparseable-as-of",
        lambda c: c.store.get_latest_features(
            {"customer_id": [0]}, ["amounts:amount"], as_of="2024-02-30"
        ),
        fs.PointInTimeError,
        _all(r"as_of '2024-02-30' is not an ISO 8601 timestamp", r"use e\.g\."),
    ),
    Case(
        "entity-column-clashes-with-feature",
        lambda c: c.hist(["amounts:amount"], EV(amount=pl.lit(1))),
        fs.PointInTimeError,
        _all(
            r"output column 'amount' would come from both the entity frame and "
            r"feature amounts:amount",
            r"pass full_feature_names=True or rename one",
        ),
    ),
    Case(
        "two-views-same-feature-name",
        lambda c: c.hist(["amounts:amount", "amounts_b:amount"]),
        fs.PointInTimeError,
        _all(
            r"output column 'amount' would come from both feature amounts:amount and "
            r"feature amounts_b:amount",
            r"pass full_feature_names=True",
        ),
    ),
    # ---- feature references
    Case(
        "no-features-requested",
        lambda c: c.hist([]),
        fs.PointInTimeError,
        _all(r"no features requested", r"pass feature references or a service"),
    ),
    Case(
        "unknown-feature-did-you-mean",
        lambda c: c.hist(["amounts:amout"]),
        fs.NotFoundError,
        _all(r"feature view 'amounts' has no feature 'amout'", r"did you mean 'amount'\?"),
    ),
    Case(
        "unknown-view-did-you-mean",
        lambda c: c.hist(["spnd:double_amount"]),
        fs.NotFoundError,
        _all(
            r"unknown feature view 'spnd' in reference 'spnd:double_amount'",
            r"did you mean 'spend'\?",
        ),
    ),
    Case(
        "unknown-feature-service",
        lambda c: c.hist("service:svcc"),
        fs.NotFoundError,
        _all(r"unknown feature service 'svcc'", r"did you mean 'svc'\?"),
    ),
    Case(
        "malformed-reference-without-view",
        lambda c: c.hist(["amount"]),
        fs.DefinitionError,
        _all(r"feature reference 'amount' is not 'view:feature'", r"'view:\*' for all"),
    ),
    Case(
        "view-requested-at-two-versions",
        lambda c: c.hist(
            [
                f"spend@{c.d.spend_old.version}:double_amount",
                f"spend@{c.d.spend.version}:double_amount",
            ]
        ),
        fs.PointInTimeError,
        _all(
            r"feature view 'spend' requested at two versions",
            r"\(\w+ and \w+\)",
            r"request one version per view",
        ),
    ),
    Case(
        "unknown-view-version",
        lambda c: c.hist(["spend@0123abcd:double_amount"]),
        fs.NotFoundError,
        _all(
            r"unknown feature view 'spend' at version '0123abcd'",
            r"its versions are \['\w+', '\w+'\]",
            r"use one of them",
        ),
    ),
    # ---- offline store files
    Case(
        "corrupt-offline-parquet",
        lambda c: c.hist(["amounts:amount"]),
        fs.StorageError,
        _all(
            r"offline/amounts/\w+/2024-02/part-\w+\.parquet",
            r"was changed after featstore wrote it",
            r"re-materialize that month",
        ),
        setup=_corrupt_active_file,
    ),
    # ---- store directories
    Case(
        "store-config-newer-format",
        lambda c: c.reopen(),
        fs.ConfigError,
        _all(r"store '.*' was written by featstore 9\.9 \(format 99\)", r"upgrade featstore"),
        setup=_newer_config,
    ),
    Case(
        "store-config-corrupt",
        lambda c: c.reopen(),
        fs.ConfigError,
        _all(
            r"store '.*': featstore\.json is not a featstore config",
            r"is this the right directory\?",
        ),
        setup=_corrupt_config,
    ),
    Case(
        "catalog-meta-newer-format",
        lambda c: c.reopen(),
        fs.ConfigError,
        _all(r"store catalog '.*catalog\.db' has format version 7", r"upgrade featstore"),
        setup=_newer_catalog,
    ),
    Case(
        "open-missing-store-without-create",
        lambda c: fs.FeatureStore(c.tmp / "no_store_here", create=False),
        fs.ConfigError,
        _all(r"no feature store at '.*no_store_here'", r"create one with FeatureStore\(path\)"),
    ),
    # ---- models, aliases, predictions
    Case(
        "log-predictions-missing-entity-key",
        lambda c: c.store.log_predictions(
            c.model(), pl.DataFrame({"score": [0.5]}), as_of=datetime(2024, 3, 1)
        ),
        fs.PointInTimeError,
        _all(
            r"log_predictions: the frame lacks entity key 'customer_id'",
            r"model:churn@1",
            r"include the keys next to the predictions",
        ),
    ),
    Case(
        "log-predictions-prediction-id-column",
        lambda c: c.store.log_predictions(
            c.model(),
            pl.DataFrame({"customer_id": [1], "prediction_id": ["p1"], "score": [0.5]}),
            as_of=datetime(2024, 3, 1),
        ),
        fs.PointInTimeError,
        _all(r"log_predictions: the frame already has column 'prediction_id'", r"rename it"),
    ),
    Case(
        "log-predictions-malformed-model-ref",
        lambda c: c.store.log_predictions(
            "model:churn@latest",
            pl.DataFrame({"customer_id": [1], "score": [0.5]}),
            as_of=datetime(2024, 3, 1),
        ),
        fs.NotFoundError,
        _all(r"'model:churn@latest'", r"model:churn@1|model:<name>@<version>"),
    ),
    Case(
        "log-predictions-unparseable-as-of",
        lambda c: c.store.log_predictions(
            c.model(), pl.DataFrame({"customer_id": [1], "score": [0.5]}), as_of="soon"
        ),
        fs.PointInTimeError,
        _all(r"as_of 'soon' is not an ISO 8601 timestamp", r"use e\.g\."),
    ),
    Case(
        "register-model-non-numeric-metric",
        lambda c: c.store.register_model("churn", c.p.training_set, metrics={"auc": "high"}),
        fs.DefinitionError,
        _all(r"model 'churn': metric 'auc' must be a number; found 'high'"),
    ),
    Case(
        "register-model-from-retrieval-non-numeric-metric",
        lambda c: c.store.register_model("churn", c.hist("service:svc"), metrics={"auc": [0.8]}),
        fs.DefinitionError,
        _all(r"model 'churn': metric 'auc' must be a number; found \[0\.8\]"),
    ),
    Case(
        "register-model-unknown-training-set",
        lambda c: c.store.register_model("churn", "churn_trian"),
        fs.NotFoundError,
        _all(r"unknown training set 'churn_trian'", r"did you mean 'churn_train'\?"),
    ),
    Case(
        "set-alias-to-missing-version",
        lambda c: c.store.set_alias("churn", "production", 9),
        fs.NotFoundError,
        _all(r"^model 'churn' has no version 9", r"its versions are \[1(, \d+)*\]"),
    ),
    Case(
        "set-alias-unknown-model",
        lambda c: c.store.set_alias("chrun", "production", 1),
        fs.NotFoundError,
        _all(r"unknown model 'chrun'", r"did you mean 'churn'\?"),
    ),
    Case(
        "rollback-alias-never-set",
        lambda c: c.store.rollback("churn", "staging"),
        fs.NotFoundError,
        _all(r"cannot roll back alias 'staging' of model 'churn': it was never set", r"set_alias"),
    ),
    Case(
        "rollback-alias-without-history",
        lambda c: c.store.rollback("churn", "production"),
        fs.NotFoundError,
        _all(
            r"cannot roll back alias 'production' of model 'churn': it has no earlier "
            r"version than 1",
            r"set_alias",
        ),
    ),
]


def test_enough_cases() -> None:
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids)), "case ids must be unique"
    assert len(CASES) >= 45


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, pristine: Pristine, tmp_path: Path) -> None:
    path = tmp_path / "store"
    shutil.copytree(pristine.store_dir, path)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    store = fs.FeatureStore(path, progress=False, threads=1)
    c = Ctx(path, scratch, pristine.data, store, pristine.defs, pristine)
    try:
        store.apply(pristine.defs.current())  # views are code: make them runnable here
        if case.setup is not None:
            case.setup(c)
        before = snapshot(path)
        with pytest.raises(case.exc, match=case.match):
            case.act(c)
        after = snapshot(path)
    finally:
        for other in c.opened:
            other.close()
        store.close()
    assert after[1] == before[1], "files under the store changed: " + repr(
        sorted(after[1] ^ before[1])
    )
    assert after[0] == before[0], "the catalog changed"


def test_snapshot_sees_changes(pristine: Pristine, tmp_path: Path) -> None:
    """The no-change check above is not vacuous: a successful operation changes it."""
    path = tmp_path / "store"
    shutil.copytree(pristine.store_dir, path)
    before = snapshot(path)
    with fs.FeatureStore(path, progress=False, threads=1) as store:
        store.apply(pristine.defs.current())
        applied = snapshot(path)
        assert applied[0] != before[0]  # applied_at of the current definitions
        store.materialize(datetime(2024, 2, 1), datetime(2024, 2, 10), views=["amounts"])
        after = snapshot(path)
    assert after[0] != applied[0]
    assert after[1] != applied[1]
