"""The engine seam: only featstore/engine/duckdb.py touches DuckDB, DuckDB's failures come
out as featstore errors, source kinds dispatch in one place, and a SQL source is
described (not run) at apply and run once per materialization job."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pytest

import featstore as fs
import featstore.compute as compute
from featstore.compute import InputFile, SourceKind, source_inputs, source_kind
from featstore.engine import BucketWrite, Engine, TimeRange, as_engine
from featstore.engine.duckdb import DuckDBEngine, source_range_sql
from featstore.errors import EngineError, EngineInputError
from featstore.pit import PitQuery, ViewJoin, winner_query

PACKAGE = Path(fs.__file__).resolve().parent
ENGINE_MODULE = PACKAGE / "engine" / "duckdb.py"
D = datetime


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_only_the_duckdb_engine_imports_duckdb() -> None:
    """``grep -rl "import duckdb" featstore/`` lists featstore/engine/duckdb.py alone."""
    found = [p for p in _modules() if "import duckdb" in p.read_text(encoding="utf-8")]
    assert found == [ENGINE_MODULE]


def test_no_module_outside_the_engine_names_duckdb() -> None:
    """No import of DuckDB in any form, and no ``duckdb.<anything>`` (catching
    ``duckdb.Error`` and the like) outside the engine."""
    offenders = []
    for path in _modules():
        if path == ENGINE_MODULE:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import) and any(
                a.name.split(".")[0] == "duckdb" for a in node.names
            ):
                offenders.append(f"{path}:{node.lineno}: import")
            elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "duckdb":
                offenders.append(f"{path}:{node.lineno}: from-import")
            elif isinstance(node, ast.Name) and node.id == "duckdb":
                offenders.append(f"{path}:{node.lineno}: name")
    assert offenders == []


def test_the_duckdb_engine_is_an_engine(tmp_path: Path) -> None:
    engine = DuckDBEngine(memory_limit="256MB", threads=1, temp_directory=tmp_path)
    try:
        assert isinstance(engine, Engine)
        limit, threads, spill, zone = engine.connection.sql(
            "SELECT current_setting('memory_limit'), current_setting('threads'), "
            "current_setting('temp_directory'), current_setting('TimeZone')"
        ).fetchall()[0]
        assert (limit, threads, spill, zone) == ("244.1 MiB", 1, str(tmp_path), "UTC")
    finally:
        engine.close()
    with pytest.raises(EngineError, match="closed"):
        _ = engine.connection


def test_the_store_creates_its_engine_lazily_and_closes_it(tmp_path: Path) -> None:
    store = fs.FeatureStore(tmp_path / "store", progress=False, threads=2)
    assert store._engine is None
    engine = store.engine
    assert isinstance(engine, DuckDBEngine)
    assert store.engine is engine
    assert store.con is engine.connection
    store.close()
    assert store._engine is None


def test_a_bad_memory_limit_is_a_config_error() -> None:
    with pytest.raises(fs.ConfigError, match="not a size DuckDB understands"):
        DuckDBEngine.check_memory_limit("lots")
    with pytest.raises(fs.ConfigError, match="not a size DuckDB understands"):
        fs.FeatureStore("/nonexistent/never-created", memory_limit="lots")


def test_a_borrowed_connection_is_left_open() -> None:
    engine = DuckDBEngine()
    borrowed = as_engine(engine.connection)
    assert isinstance(borrowed, DuckDBEngine)
    assert borrowed is not engine
    borrowed.close()
    assert engine.connection.sql("SELECT 1").fetchall() == [(1,)]
    engine.close()
    with pytest.raises(TypeError, match="expected a featstore Engine"):
        as_engine(object())


def test_duckdb_errors_come_out_as_featstore_errors(tmp_path: Path) -> None:
    engine = DuckDBEngine()
    try:
        with pytest.raises(EngineError, match="nope") as info:
            engine.scan_query("SELECT * FROM nope")
        assert "duckdb" in type(info.value.__cause__).__module__
        bad = tmp_path / "bad.parquet"
        bad.write_bytes(b"not parquet at all")
        query = PitQuery(
            (ViewJoin(files=(str(bad),), keys=("k",), features=(("x", "x"),)),),
        )
        entity = pa.table(
            {
                "__fs_row": pa.array([0], pa.uint32()),
                "k": pa.array([1], pa.int64()),
                "__fs_ts": pa.array([D(2024, 1, 1)], pa.timestamp("us")),
            }
        )
        with pytest.raises(EngineInputError):
            engine.point_in_time(query, entity)
        bucket = BucketWrite(
            keys=("k",),
            features=("x",),
            old_files=(str(bad),),
            start=D(2024, 1, 1),
            end=D(2024, 2, 1),
            target=str(tmp_path / "out.parquet"),
        )
        rows = pl.DataFrame(
            {"k": [1], "__fs_ts": [D(2024, 1, 2)], "__fs_created": [None], "x": [1.0]},
            schema_overrides={"__fs_created": pl.Datetime("us")},
        )
        with pytest.raises(EngineInputError):
            engine.write_bucket(rows, bucket)
        assert not (tmp_path / "out.parquet").exists()
    finally:
        engine.close()


def test_write_bucket_ranks_merges_and_reports(tmp_path: Path) -> None:
    engine = DuckDBEngine()
    old = tmp_path / "old.parquet"
    pl.DataFrame(
        {
            "k": [1, 1, 2],
            "__fs_ts": [D(2024, 1, 1), D(2024, 1, 15), D(2024, 1, 20)],
            "__fs_created": [None, None, None],
            "x": [1.0, 2.0, 3.0],
        },
        schema_overrides={"__fs_created": pl.Datetime("us")},
    ).write_parquet(old)
    rows = pl.DataFrame(
        {
            "k": [1, 1],
            "__fs_ts": [D(2024, 1, 15), D(2024, 1, 15)],
            "__fs_created": [D(2024, 1, 16), D(2024, 1, 17)],
            "x": [5.0, 4.0],
        }
    )
    target = tmp_path / "new.parquet"
    stats = engine.write_bucket(
        rows,
        BucketWrite(("k",), ("x",), (str(old),), D(2024, 1, 10), D(2024, 1, 18), str(target)),
    )
    engine.close()
    assert (stats.rows, stats.min_ts, stats.max_ts) == (4, D(2024, 1, 1), D(2024, 1, 20))
    got = pl.read_parquet(target)
    # the old row of Jan 15 lies inside the evaluated range: replaced by the new rows
    assert got.select("k", "x", "__fs_rank").rows() == [
        (1, 1.0, 1),
        (1, 4.0, 1),  # latest created wins
        (1, 5.0, 2),
        (2, 3.0, 1),
    ]


def test_explain_runs_the_retrieval_plan(tmp_path: Path) -> None:
    """explain's lookup is a point-in-time plan (winner_query): same SQL builder."""
    path = tmp_path / "rows.parquet"
    pl.DataFrame(
        {
            "k": [1, 1],
            "__fs_ts": [D(2024, 1, 1), D(2024, 1, 3)],
            "__fs_created": [D(2024, 1, 1), D(2024, 1, 5)],
            "__fs_rank": [1, 1],
            "x": [1.0, 2.0],
        }
    ).write_parquet(path)
    join = ViewJoin(files=(str(path),), keys=("k",), features=(("x", "x"),))
    entity = pa.table(
        {
            "__fs_row": pa.array([0], pa.uint32()),
            "k": pa.array([1], pa.int64()),
            "__fs_ts": pa.array([D(2024, 1, 4)], pa.timestamp("us")),
        }
    )
    engine = DuckDBEngine()
    try:
        plain = engine.explain(winner_query(join, D(2024, 1, 4), bitemporal=False), entity)
        late = engine.explain(winner_query(join, D(2024, 1, 4), bitemporal=True), entity)
        with pytest.raises(EngineError, match="detail"):
            engine.explain(PitQuery((join,)), entity)
    finally:
        engine.close()
    assert plain.column("x").to_pylist() == [2.0]
    assert plain.column("__fs_v0_file").to_pylist() == [str(path)]
    assert late.column("x").to_pylist() == [1.0]  # created on Jan 5: not known on Jan 4


def test_source_range_sql_pushes_the_range_into_the_query() -> None:
    sql = source_range_sql("SELECT 1 AS ts", TimeRange('t"s', D(2024, 1, 1), D(2024, 2, 1)))
    assert sql == (
        'SELECT * FROM (SELECT 1 AS ts) AS q WHERE "t""s" >= \'2024-01-01 00:00:00\' '
        'AND "t""s" < \'2024-02-01 00:00:00\''
    )


# -- source kinds: one place -------------------------------------------------------------


def test_every_source_class_has_its_kind() -> None:
    sources = [
        fs.ParquetSource("p", path="x.parquet", timestamp_column="ts"),
        fs.CsvSource("c", path="x.csv", timestamp_column="ts"),
        fs.DataFrameSource("d", data=pl.DataFrame({"ts": [D(2024, 1, 1)]}), timestamp_column="ts"),
        fs.SqlSource("s", query="SELECT 1", timestamp_column="ts"),
    ]
    kinds = [type(source_kind(s)) for s in sources]
    assert len(set(kinds)) == 4
    assert [source_kind(s).reads_once for s in sources] == [False, False, False, True]
    with pytest.raises(fs.DefinitionError, match="unsupported kind Source"):
        source_kind(fs.Source("raw", timestamp_column="ts"))


@dataclass(frozen=True, slots=True)
class _RangeSource(fs.Source):
    """A test kind: ``days`` daily rows of one customer, generated in memory."""

    days: int = 10
    kind = "test_range"

    def _identity(self) -> dict[str, Any]:
        return {"days": self.days}


class _RangeKind(SourceKind[_RangeSource]):
    def scan(self, source: _RangeSource, engine: Engine) -> pl.LazyFrame:
        ts = [D(2024, 1, 1) + timedelta(days=d) for d in range(source.days)]
        return pl.LazyFrame(
            {"cid": [1] * source.days, "ts": ts, "x": [float(d) for d in range(source.days)]}
        )

    def inputs(self, source: _RangeSource) -> list[InputFile]:
        return [InputFile(f"range:{source.name}", None, None, source.days, None)]


def test_a_new_source_kind_is_one_registration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(compute._KINDS, _RangeSource, _RangeKind())
    src = _RangeSource("gen", timestamp_column="ts", days=40)
    ent = fs.Entity("c", join_keys=["cid"])
    view = fs.FeatureView("v", entity=ent, source=src, features=["x"])
    with fs.FeatureStore(tmp_path / "store", progress=False) as store:
        store.apply([ent, view])
        (run,) = store.materialize(D(2024, 1, 1), D(2024, 3, 1))
        assert [i.path for i in run.inputs] == ["range:gen"]
        out = store.get_historical_features(
            pl.DataFrame({"cid": [1], "event_timestamp": [D(2024, 1, 5, 12)]}), ["v:x"]
        ).frame
    assert out["x"].to_list() == [4.0]
    assert source_inputs(src)[0].rows == 40


# -- a SQL source: described at apply, run once per job ------------------------------------


def test_a_sql_source_runs_once_per_job_even_over_many_months_and_repairs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[TimeRange | None] = []
    described: list[str] = []
    scan, describe = DuckDBEngine.scan_query, DuckDBEngine.query_schema

    def counting_scan(self: DuckDBEngine, query: str, *, where: TimeRange | None = None) -> Any:
        calls.append(where)
        return scan(self, query, where=where)

    def counting_describe(self: DuckDBEngine, query: str) -> pl.Schema:
        described.append(query)
        return describe(self, query)

    monkeypatch.setattr(DuckDBEngine, "scan_query", counting_scan)
    monkeypatch.setattr(DuckDBEngine, "query_schema", counting_describe)
    query = (
        "SELECT i % 3 AS cid, TIMESTAMP '2022-01-01' + to_days(CAST(i AS INTEGER)) AS ts, "
        "i * 1.0 AS x FROM range(1000) t(i)"
    )
    ent = fs.Entity("e", join_keys=["cid"])
    src = fs.SqlSource("src", query=query, timestamp_column="ts")
    view = fs.FeatureView("v", entity=ent, source=src, features=["x"])
    with fs.FeatureStore(tmp_path / "store", progress=False) as store:
        store.apply([ent, view])
        assert calls == []
        assert len(described) == 1
        store.materialize(D(2022, 1, 1), D(2024, 9, 1))  # 32 months: chunked by row counts
        assert len(calls) == 1
        # damage one month: the next run repairs it whole, reading the source once again
        month = next((store.path / "offline").rglob("2023-03/*.parquet"))
        month.write_bytes(b"damaged")
        calls.clear()
        store.materialize(D(2023, 3, 10), D(2023, 3, 20))
        assert len(calls) == 1
        where = calls[0]
        assert where is not None
        assert (where.start, where.end) == (D(2023, 3, 1), D(2023, 4, 1))
        out = store.get_historical_features(
            pl.DataFrame({"cid": [0], "event_timestamp": [D(2023, 3, 5, 12)]}), ["v:x"]
        ).frame
    # day 428 after 2022-01-01 is 2023-03-05 (i = 428 is not a multiple of 3: 426 is)
    assert out["x"].to_list() == [426.0]
