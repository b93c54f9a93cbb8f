"""The PostgreSQL test infrastructure: ``catalog_url`` gives a working, empty database
per test (and None for SQLite)."""

from __future__ import annotations

import pgserver
import pytest


def test_catalog_url_is_a_working_empty_database(catalog_url: str | None) -> None:
    if catalog_url is None:
        assert catalog_url is None  # SQLite: the store makes its own catalog.db
        return
    psycopg = pytest.importorskip("psycopg")
    with psycopg.connect(catalog_url) as conn:
        tables = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchall()
        assert tables == []
        conn.execute("CREATE TABLE t (id integer PRIMARY KEY, name text NOT NULL)")
        conn.execute("INSERT INTO t (id, name) VALUES (%s, %s), (%s, %s)", (1, "a", 2, "b"))
        conn.commit()
    with psycopg.connect(catalog_url) as conn:
        assert conn.execute("SELECT id, name FROM t ORDER BY id").fetchall() == [(1, "a"), (2, "b")]


def test_each_test_gets_its_own_database(catalog_url: str | None) -> None:
    """Not the database of the test above (which created ``t``): a fresh one."""
    if catalog_url is None:
        return
    psycopg = pytest.importorskip("psycopg")
    with psycopg.connect(catalog_url) as conn:
        found = conn.execute("SELECT to_regclass('public.t') IS NULL").fetchone()
        assert found == (True,)
        name = conn.execute("SELECT current_database()").fetchone()
        assert name is not None
        assert str(name[0]).startswith("featstore_test_")


def test_without_url_or_binaries_the_reason_says_how_to_get_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(pgserver.ENV_VAR, raising=False)
    monkeypatch.setattr(pgserver, "_started", None)
    monkeypatch.setattr(pgserver, "find_bindir", lambda: None)
    with pytest.raises(
        pgserver.Unavailable,
        match=r"apt-get install postgresql.*FEATSTORE_TEST_POSTGRES=postgresql://",
    ):
        pgserver.server_url()


def test_a_configured_server_is_used_as_given(monkeypatch: pytest.MonkeyPatch) -> None:
    url = "postgresql://someone@db.example:6543/postgres?sslmode=require"
    monkeypatch.setenv(pgserver.ENV_VAR, url)
    assert pgserver.server_url() == url
    assert pgserver._with_database(url, "featstore_test_x") == (
        "postgresql://someone@db.example:6543/featstore_test_x?sslmode=require"
    )


def test_a_dropped_database_is_gone(postgres_server: str) -> None:
    psycopg = pytest.importorskip("psycopg")
    url = pgserver.fresh_database_url(postgres_server)
    held = psycopg.connect(url)  # an open connection does not stop the drop
    try:
        pgserver.drop_database(url, postgres_server)
    finally:
        held.close()
    with pytest.raises(psycopg.OperationalError, match="does not exist"):
        psycopg.connect(url).close()
