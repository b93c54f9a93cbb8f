"""Catalog URLs lose their passwords, and only their passwords, before they reach a
message or featstore.json."""

from __future__ import annotations

import pytest

from featstore.catalog import is_url, redact


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://ana:s3cret@db:5432/f", "postgresql://ana@db:5432/f"),
        ("postgres://ana:p%40ss@db/f", "postgres://ana@db/f"),
        ("postgresql://ana@db/f", "postgresql://ana@db/f"),
        ("postgresql://db/f", "postgresql://db/f"),
        (
            "postgresql://ana:pw@db/f?application_name=a@b",
            "postgresql://ana@db/f?application_name=a@b",
        ),
        (
            "postgresql://ana@db/f?password=pw&sslmode=require",
            "postgresql://ana@db/f?sslmode=require",
        ),
        (
            "postgresql://ana@db/f?sslmode=require&sslpassword=k",
            "postgresql://ana@db/f?sslmode=require",
        ),
        ("postgresql://ana@db/f?pass%77ord=pw", "postgresql://ana@db/f"),
        (
            "postgresql://ana@db/f?options=-c%20search_path%3Dx",
            "postgresql://ana@db/f?options=-c%20search_path%3Dx",
        ),
    ],
)
def test_redact_removes_the_password_and_keeps_the_rest(url: str, shown: str) -> None:
    assert redact(url) == shown
    assert "pw" not in redact(url).replace("password", "")
    assert redact(redact(url)) == redact(url)


def test_only_server_urls_are_urls() -> None:
    assert is_url("postgresql://db/f")
    assert is_url("postgres://db/f")
    assert not is_url("sqlite")
    assert not is_url("/tmp/catalog.db")
    assert redact("sqlite") == "sqlite"
