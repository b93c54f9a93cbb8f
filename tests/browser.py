"""Headless Chromium for the UI tests: the machine's own browser (Debian's ``chromium``),
driven by Playwright's Python package, with no browser download. Tests skip, saying why,
when either is missing.

``FEATSTORE_CHROMIUM`` names another Chromium binary; with ``FEATSTORE_REQUIRE_BROWSER``
set, a missing browser fails the tests instead of skipping them (CI sets it).
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str | None:
    given = os.environ.get("FEATSTORE_CHROMIUM")
    if given:
        return given
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def _missing(reason: str) -> None:
    """Skip with the reason; fail where FEATSTORE_REQUIRE_BROWSER is set (CI, which
    installs the browser, so that the tests cannot quietly stop running there)."""
    if os.environ.get("FEATSTORE_REQUIRE_BROWSER"):
        pytest.fail(f"FEATSTORE_REQUIRE_BROWSER is set but {reason}")
    pytest.skip(reason)


def require_browser() -> tuple[Any, str]:
    """Playwright's sync API and the Chromium binary, or a skip with the reason."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("browser tests need Playwright's Python package: pip install playwright")
    path = chromium_path()
    if path is None:
        _missing(
            "browser tests need Chromium on PATH (Debian: apt-get install chromium) or "
            "FEATSTORE_CHROMIUM naming one"
        )
    assert path is not None
    return sync_playwright, path


@contextmanager
def launched_browser() -> Iterator[Any]:
    sync_playwright, path = require_browser()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


class Page:
    """A page that records console errors and page errors, which tests assert empty."""

    def __init__(self, browser: Any) -> None:
        self.context = browser.new_context(viewport={"width": 1400, "height": 900})
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on(
            "console",
            lambda m: (
                self.errors.append(f"console {m.type}: {m.text}")
                if m.type in ("error", "warning")
                else None
            ),
        )
        self.page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        self.page.on("requestfailed", lambda r: self.errors.append(f"request failed: {r.url}"))

    def close(self) -> None:
        self.context.close()


@contextmanager
def serving(store_path: Path) -> Iterator[Any]:
    """``featstore ui``'s server on a free loopback port, in a thread."""
    from featstore.ui.server import serve

    server = serve(store_path, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
