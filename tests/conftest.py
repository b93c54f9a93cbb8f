"""Shared fixtures: a temporary store, and a builder that turns raw frames into a
materialized store (the same raw frames the oracle in ``tests/oracle.py`` reads)."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from oracle import View, to_us

import featstore as fs

__all__ = ["build_store", "feature_views"]

# PySpark's column functions (and Polars' notebook check) import IPython when it is
# installed, and IPython 8 imports jedi, which raises the recursion limit to 3000. Done
# first inside a Hypothesis test, that change fails the test with a HypothesisWarning; so
# import it here, once, before any test runs.
with contextlib.suppress(ImportError):
    import IPython  # noqa: F401

Range = tuple[datetime, datetime]


def _frame(view: View) -> pl.DataFrame:
    if isinstance(view.rows, pl.DataFrame):
        return view.rows
    return pl.DataFrame(list(view.rows))


def data_range(views: Sequence[View]) -> Range:
    """A materialization range ``[start of first month, last event + 1us)`` covering every
    raw row of ``views`` (January 2024 if there are none)."""
    stamps = [
        to_us(t) for v in views for t in _frame(v)[v.timestamp_column].to_list() if t is not None
    ]
    if not stamps:
        return datetime(2024, 1, 1), datetime(2024, 2, 1)
    lo = datetime(1970, 1, 1) + timedelta(microseconds=min(stamps))  # type: ignore[type-var]
    hi = datetime(1970, 1, 1) + timedelta(microseconds=max(stamps) + 1)  # type: ignore[type-var, operator]
    return datetime(lo.year, lo.month, 1), hi


def feature_views(
    views: Sequence[View], *, source: str = "dataframe", data_dir: Path | None = None
) -> list[Any]:
    """Entities, sources and FeatureViews (plain column selections) for oracle views.

    One Entity per distinct key tuple (named ``e_<key>_<key>``). ``source`` is
    ``"dataframe"`` (DataFrameSource) or ``"parquet"`` (each frame written to
    ``data_dir/<view>.parquet`` and read through a ParquetSource).
    """
    entities: dict[tuple[str, ...], fs.Entity] = {}
    out: list[Any] = []
    for view in views:
        keys = tuple(view.keys)
        if keys not in entities:
            entities[keys] = fs.Entity("e_" + "_".join(keys), join_keys=list(keys))
            out.append(entities[keys])
        frame = _frame(view)
        common = {
            "timestamp_column": view.timestamp_column,
            "created_timestamp_column": view.created_timestamp_column,
        }
        src: fs.Source
        if source == "dataframe":
            src = fs.DataFrameSource(f"{view.name}_src", data=frame, **common)
        elif source == "parquet":
            assert data_dir is not None, "a parquet source needs data_dir"
            path = data_dir / f"{view.name}.parquet"
            frame.write_parquet(path)
            src = fs.ParquetSource(f"{view.name}_src", path=path, **common)
        else:
            raise ValueError(f"unknown source kind {source!r}")
        out.append(
            fs.FeatureView(
                view.name,
                entity=entities[keys],
                source=src,
                features=list(view.features),
                ttl=view.ttl,
            )
        )
    return out


def build_store(
    path: Path,
    views: Sequence[View],
    *,
    source: str = "dataframe",
    ranges: Sequence[Range] | None = None,
    statistics: bool = True,
    engine: fs.Engine | None = None,
) -> fs.FeatureStore:
    """A store at ``path`` with ``views`` applied and materialized.

    ``ranges``: the materialization runs to make, in order (default: one run over
    :func:`data_range`); ``[]`` applies without materializing. ``statistics``: record
    column statistics (as stores do by default). ``engine``: the store's engine (None:
    DuckDB).
    """
    path.mkdir(parents=True, exist_ok=True)
    store = fs.FeatureStore(path / "store", progress=False, statistics=statistics, engine=engine)
    try:
        store.apply(feature_views(views, source=source, data_dir=path))
        for start, end in [data_range(views)] if ranges is None else ranges:
            store.materialize(start, end)
    except BaseException:
        store.close()
        raise
    return store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[fs.FeatureStore]:
    """An empty store in a temporary directory."""
    with fs.FeatureStore(tmp_path / "store", progress=False) as s:
        yield s


# -- engines ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def spark_engine() -> Iterator[fs.Engine]:
    """One Spark engine for the session (local mode, two cores, on 127.0.0.1, UI off,
    quiet logs); skips without PySpark or Java, unless FEATSTORE_REQUIRE_SPARK is set."""
    import os
    import shutil
    import sys

    required = bool(os.environ.get("FEATSTORE_REQUIRE_SPARK"))
    missing = None
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        missing = "no Java on this machine (the Spark engine needs Java 17)"
    else:
        try:
            import pyspark  # noqa: F401
        except ImportError:
            missing = "PySpark is not installed: pip install -e '.[spark]'"
    if missing:
        if required:
            pytest.fail(f"FEATSTORE_REQUIRE_SPARK is set but {missing}")
        pytest.skip(missing)
    from featstore.engine.spark import SparkEngine, local_session

    os.environ["PYSPARK_PYTHON"] = sys.executable
    spark = local_session(
        "local[2]",
        conf={
            "spark.sql.shuffle.partitions": "4",
            "spark.default.parallelism": "2",
            "spark.driver.memory": "2g",
            "spark.log.level": "ERROR",
        },
    )
    spark.sparkContext.setLogLevel("ERROR")
    engine = SparkEngine(spark)
    yield engine
    engine.close()
    spark.stop()


@pytest.fixture(scope="session", params=["duckdb", "spark"])
def store_engine(request: pytest.FixtureRequest) -> fs.Engine | None:
    """The engine a test's stores run on: None (DuckDB, the default) or the session's
    Spark engine. The point-in-time and window suites run on both."""
    if request.param == "duckdb":
        return None
    engine: fs.Engine = request.getfixturevalue("spark_engine")
    return engine


@pytest.fixture
def make_store(
    tmp_path: Path, store_engine: fs.Engine | None
) -> Iterator[Callable[..., fs.FeatureStore]]:
    """``make_store(views, source=..., ranges=...)``: :func:`build_store` in a fresh
    subdirectory of ``tmp_path`` each call, on ``store_engine``; every store is closed at
    teardown (closing one earlier, e.g. with ``with``, is fine)."""
    made: list[fs.FeatureStore] = []
    counter = itertools.count()

    def make(views: Sequence[View], **kwargs: Any) -> fs.FeatureStore:
        kwargs.setdefault("engine", store_engine)
        s = build_store(tmp_path / f"s{next(counter)}", views, **kwargs)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


# -- catalog backends ---------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The URL of a PostgreSQL server for the session (see ``tests/pgserver.py``):
    FEATSTORE_TEST_POSTGRES, else a throwaway local cluster stopped at the end; skips
    when there is neither."""
    import pgserver

    pytest.importorskip("psycopg", reason="pip install -e '.[test]' (psycopg[binary])")
    try:
        url = pgserver.server_url()
    except pgserver.Unavailable as exc:
        pytest.skip(str(exc))
    yield url
    pgserver.shutdown()


@pytest.fixture(params=["sqlite", "postgresql"], ids=["sqlite", "postgresql"])
def catalog_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """The catalog to test against: None (SQLite in the store directory) or the URL of
    a new empty PostgreSQL database, dropped after the test."""
    if request.param == "sqlite":
        yield None
        return
    import pgserver

    server: str = request.getfixturevalue("postgres_server")
    url = pgserver.fresh_database_url(server)
    yield url
    pgserver.drop_database(url, server)


# -- running a whole module on both catalog backends ---------------------------------------
#
# A module opts in with ``pytestmark = helpers.BOTH_CATALOGS``: each of its tests runs on
# SQLite and on PostgreSQL (ids ``[sqlite]``, ``[postgresql]``), grouped per backend so a
# module-scoped fixture (e.g. ``world_fixture``) builds one store per backend. Without the
# mark, ``catalog_backend`` is "sqlite" and nothing changes.


@pytest.fixture(scope="module")
def catalog_backend(request: pytest.FixtureRequest) -> str:
    """The catalog backend of this module's tests: "sqlite" (the default) or
    "postgresql" (parametrized by ``helpers.BOTH_CATALOGS``; skips without a server)."""
    backend: str = getattr(request, "param", "sqlite")
    if backend not in ("sqlite", "postgresql"):
        raise ValueError(f"unknown catalog backend {backend!r}")
    if backend == "postgresql":
        request.getfixturevalue("postgres_server")
    return backend


@pytest.fixture(scope="module")
def module_catalog(catalog_backend: str, request: pytest.FixtureRequest) -> Iterator[str | None]:
    """The ``catalog=`` for a store a module-scoped fixture builds: None (SQLite) or a
    fresh PostgreSQL database for this module and backend, dropped at its end."""
    if catalog_backend == "sqlite":
        yield None
        return
    import pgserver

    server: str = request.getfixturevalue("postgres_server")
    url = pgserver.fresh_database_url(server)
    yield url
    pgserver.drop_database(url, server)


def _holds_catalog(url: str) -> bool:
    import psycopg

    with psycopg.connect(url, autocommit=True, connect_timeout=30) as conn:
        row = conn.execute("SELECT to_regclass('public.meta') IS NOT NULL").fetchone()
        return bool(row and row[0])


class _DatabasePool:
    """Empty PostgreSQL databases for ``catalog_env``: one a test left empty (most tests
    create no store) serves the next test; the others are dropped."""

    def __init__(self, server: str) -> None:
        self.server = server
        self.spare: list[str] = []

    def take(self) -> str:
        import pgserver

        return self.spare.pop() if self.spare else pgserver.fresh_database_url(self.server)

    def give_back(self, url: str) -> None:
        import pgserver
        import psycopg

        with psycopg.connect(url, autocommit=True, connect_timeout=30) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'public'"
            ).fetchone()
        if row == (0,):
            self.spare.append(url)
        else:
            pgserver.drop_database(url, self.server)

    def close(self) -> None:
        import pgserver

        while self.spare:
            pgserver.drop_database(self.spare.pop(), self.server)


@pytest.fixture(scope="session")
def _database_pool(postgres_server: str) -> Iterator[_DatabasePool]:
    pool = _DatabasePool(postgres_server)
    yield pool
    pool.close()


@pytest.fixture
def catalog_env(
    catalog_backend: str, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Iterator[str | None]:
    """Stores this test creates without ``catalog=`` use the module's backend.

    SQLite: ``FEATSTORE_CATALOG`` is unset. PostgreSQL: it names an empty database, so a
    new store (in this process or in a subprocess, which inherits the environment) keeps
    its catalog there; a store opened later reads the URL from its featstore.json. Each
    new store gets a database of its own: once a store of this process took it, the
    variable moves on to another empty database, and a store of this process never
    takes one that already holds a catalog (one a subprocess created). Only two
    subprocesses each creating a new store would share one. After the test, the
    databases holding anything are dropped."""
    import featstore.config as fs_config

    if catalog_backend == "sqlite":
        monkeypatch.delenv(fs_config.CATALOG_ENV, raising=False)
        yield None
        return
    import featstore.store as fs_store

    pool: _DatabasePool = request.getfixturevalue("_database_pool")
    made: list[str] = []

    def fresh() -> None:
        made.append(pool.take())
        monkeypatch.setenv(fs_config.CATALOG_ENV, made[-1])

    fresh()
    real_spec = fs_config.catalog_spec

    def one_database_per_store(store: Path, found: Any, asked: str | None) -> str | None:
        if found is not None or asked is not None:
            return real_spec(store, found, asked)
        if _holds_catalog(made[-1]):  # taken, e.g. by a store a subprocess created
            fresh()
        spec = real_spec(store, found, asked)
        fresh()  # the next new store, here or in a subprocess, takes another one
        return spec

    # where a new store asks which catalog to use (featstore.store may import it by name)
    monkeypatch.setattr(fs_config, "catalog_spec", one_database_per_store)
    if getattr(fs_store, "catalog_spec", None) is real_spec:
        monkeypatch.setattr(fs_store, "catalog_spec", one_database_per_store)
    yield made[0]
    for url in made:
        pool.give_back(url)
