"""The local web UI's HTTP server: a read-only view of one store on the loopback
interface.

:func:`serve` opens the store read-only and returns a :class:`UIServer`; run it with
``server.serve_forever()`` (in a thread, if need be) and stop it with
``server.shutdown(); server.server_close()``. It answers GET only:

- ``/`` the app (``featstore/ui/static/index.html``), ``/static/<file>`` its files;
- ``/api/...`` JSON (:mod:`featstore.ui.pages`), errors as ``{"error": message,
  "type": error class}`` with a 4xx status: 404 for an unknown object, 400 for a bad
  parameter;
- ``/api/lineage/<op>?<params>`` the lineage explorer's calls, handed to
  :func:`featstore.ui.graph.lineage_api`.

A store's catalog connection and query engine serve one thread at a time (see
:class:`~featstore.FeatureStore`), so API calls are serialised with a lock; static files
are not.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import socketserver
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from featstore.errors import ConfigError, FeatstoreError, LineageError, NotFoundError
from featstore.store import FeatureStore
from featstore.ui import graph, pages

__all__ = ["LOOPBACK_HOSTS", "STATIC_FILES", "UIServer", "serve"]

log = logging.getLogger("featstore.ui")

LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")
"""The only hosts :func:`serve` binds to."""

STATIC_FILES: dict[str, str] = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
    "explorer.js": "text/javascript; charset=utf-8",
    "explorer.css": "text/css; charset=utf-8",
}
"""The files under ``/static/`` and their content types; no other name is served."""

CSP = "default-src 'self'; style-src 'self' 'unsafe-inline'"
_SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
_JSON = "application/json; charset=utf-8"

Params = dict[str, str]
Page = Callable[[FeatureStore, list[str], Params], dict[str, Any]]


def _one(segments: list[str]) -> str:
    return segments[0]


# /api/<first segment> -> how many more segments -> the page
_ROUTES: dict[tuple[str, int], Page] = {
    ("summary", 0): lambda s, _seg, _p: pages.summary(s),
    ("views", 0): lambda s, _seg, _p: pages.views(s),
    ("views", 1): lambda s, seg, _p: pages.view(s, _one(seg)),
    ("runs", 0): lambda s, _seg, _p: pages.runs(s),
    ("runs", 1): lambda s, seg, _p: pages.run(s, _one(seg)),
    ("training-sets", 0): lambda s, _seg, _p: pages.training_sets(s),
    ("training-sets", 1): lambda s, seg, _p: pages.training_set(s, _one(seg)),
    ("models", 0): lambda s, _seg, _p: pages.models(s),
    ("models", 1): lambda s, seg, _p: pages.model(s, _one(seg)),
    ("batches", 0): lambda s, _seg, _p: pages.batches(s),
}
_ENDPOINTS = (
    "/api/summary, /api/views, /api/views/<name>, /api/views/<name>/diff?a=&b=, /api/runs, "
    "/api/runs/<id>, /api/training-sets, /api/training-sets/<id>, /api/models, "
    "/api/models/<name>, /api/batches, /api/lineage/<op>"
)


class _Refused(Exception):
    """A request answered with an error status (and a JSON body under /api/)."""

    def __init__(self, status: HTTPStatus, message: str, kind: str) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind


class UIServer(ThreadingHTTPServer):
    """The UI's HTTP server over one read-only store; ``url`` is where it listens.

    ``server_close()`` also closes the store.
    """

    daemon_threads = True

    def __init__(self, store: FeatureStore, host: str, port: int) -> None:
        self.store = store
        self.lock = threading.Lock()
        # the explorer's data (featstore.ui.graph), read once when the server starts
        self.lineage_api: Callable[[Any, str, Params], dict[str, Any]] = graph.lineage_api
        self.graph_source = graph.GraphSource(store)
        bind = "::1" if host == "::1" else "127.0.0.1"
        self.address_family = socket.AF_INET6 if bind == "::1" else socket.AF_INET
        super().__init__((bind, port), _Handler)
        self.port = int(self.server_address[1])
        shown = "[::1]" if bind == "::1" else bind
        self.url = f"http://{shown}:{self.port}/"
        # the Host headers a browser sends here (anything else: DNS rebinding)
        self.allowed_hosts = {f"{shown}:{self.port}", f"localhost:{self.port}"}

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks up the host's FQDN, which may wait on DNS
        socketserver.TCPServer.server_bind(self)
        self.server_name = str(self.server_address[0])
        self.server_port = int(self.server_address[1])

    def server_close(self) -> None:
        super().server_close()
        with self.lock:
            self.store.close()


class _Handler(BaseHTTPRequestHandler):
    server: UIServer
    server_version = "featstore-ui"
    sys_version = ""

    # -- methods ---------------------------------------------------------------------

    def do_GET(self) -> None:
        try:
            self._check_host()
            parts = urlsplit(self.path)
            path = parts.path
            if path.startswith("/api/") or path == "/api":
                self._api(path, parts.query)
            elif path in ("/", "/index.html"):
                self._static("index.html")
            elif path.startswith("/static/"):
                self._static(path.removeprefix("/static/"))
            elif path == "/favicon.ico":
                self._send(HTTPStatus.NO_CONTENT, b"", None)
            else:
                raise _Refused(HTTPStatus.NOT_FOUND, f"no page {path!r}", "NotFoundError")
        except _Refused as exc:
            self._refuse(exc)

    def _not_allowed(self) -> None:
        self._refuse(
            _Refused(
                HTTPStatus.METHOD_NOT_ALLOWED,
                f"the featstore UI is read-only: {self.command} is not allowed, only GET",
                "MethodNotAllowed",
            ),
            allow="GET",
        )

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _not_allowed

    # -- routes ----------------------------------------------------------------------

    def _check_host(self) -> None:
        host = (self.headers.get("Host") or "").strip().lower()
        if host not in self.server.allowed_hosts:
            raise _Refused(
                HTTPStatus.FORBIDDEN,
                f"unexpected Host header {host!r}; open the UI at {self.server.url}",
                "Forbidden",
            )

    def _static(self, name: str) -> None:
        kind = STATIC_FILES.get(name)
        if kind is None:
            raise _Refused(HTTPStatus.NOT_FOUND, f"no static file {name!r}", "NotFoundError")
        try:
            body = resources.files("featstore.ui").joinpath("static", name).read_bytes()
        except OSError:
            raise _Refused(
                HTTPStatus.NOT_FOUND, f"static file {name!r} is not installed", "NotFoundError"
            ) from None
        self._send(HTTPStatus.OK, body, kind)

    def _api(self, path: str, query: str) -> None:
        segments = [unquote(s) for s in path.split("/")[2:]]
        if segments and segments[-1] == "" and len(segments) > 1:
            segments.pop()  # a trailing slash
        params = {k: v[0] for k, v in parse_qs(query, keep_blank_values=True).items()}
        head, rest = (segments[0], segments[1:]) if segments else ("", [])
        store = self.server.store
        call: Callable[[], dict[str, Any]] | None = None
        if head == "lineage" and len(rest) == 1 and rest[0]:
            op = rest[0]
            source = self.server.graph_source
            call = lambda: self.server.lineage_api(source, op, params)  # noqa: E731
        elif head == "views" and len(rest) == 2 and rest[1] == "diff":
            name = rest[0]
            call = lambda: pages.view_diff(store, name, params.get("a"), params.get("b"))  # noqa: E731
        elif (head, len(rest)) in _ROUTES and all(rest):
            page = _ROUTES[(head, len(rest))]
            call = lambda: page(store, rest, params)  # noqa: E731
        if call is None:
            raise _Refused(
                HTTPStatus.NOT_FOUND,
                f"unknown API endpoint {path!r}; the endpoints are {_ENDPOINTS}",
                "NotFoundError",
            )
        try:
            with self.server.lock:
                data = call()
            body = json.dumps(pages.jsonable(data), allow_nan=False).encode()
        except (NotFoundError, LineageError) as exc:
            raise _Refused(HTTPStatus.NOT_FOUND, str(exc), type(exc).__name__) from exc
        except FeatstoreError as exc:
            raise _Refused(HTTPStatus.BAD_REQUEST, str(exc), type(exc).__name__) from exc
        except Exception as exc:
            log.exception("featstore ui: %s failed", path)
            raise _Refused(
                HTTPStatus.INTERNAL_SERVER_ERROR,
                f"{path}: internal error: {type(exc).__name__}: {exc}",
                type(exc).__name__,
            ) from exc
        self._send(HTTPStatus.OK, body, _JSON)

    # -- responses -------------------------------------------------------------------

    def _refuse(self, exc: _Refused, *, allow: str | None = None) -> None:
        body = json.dumps({"error": str(exc), "type": exc.kind}).encode()
        self._send(exc.status, body, _JSON, allow=allow)

    def _send(
        self, status: HTTPStatus, body: bytes, kind: str | None, *, allow: str | None = None
    ) -> None:
        self.send_response(status)
        if kind is not None:
            self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        for key, value in _SECURITY_HEADERS.items():
            self.send_header(key, value)
        if allow is not None:
            self.send_header("Allow", allow)
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s - %s", self.address_string(), format % args)


def serve(
    store_path: str | os.PathLike[str], *, port: int = 0, host: str = "127.0.0.1"
) -> UIServer:
    """Open the store at ``store_path`` read-only and listen on ``host:port`` (``port=0``:
    any free port; the server's ``url`` says which).

    Raises ConfigError for a host other than 127.0.0.1, ::1 or localhost (the UI serves
    only this machine), or when there is no store at ``store_path``.
    """
    if host not in LOOPBACK_HOSTS:
        raise ConfigError(
            f"the featstore UI listens on the loopback interface only, not on host {host!r}; "
            f"use one of {', '.join(LOOPBACK_HOSTS)} and, to reach it from another machine, "
            f"forward the port (ssh -L {port or 8765}:127.0.0.1:{port or 8765} ...)"
        )
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ConfigError(f"UI port must be an integer from 0 to 65535, found {port!r}")
    store = FeatureStore(store_path, read_only=True, create=False, progress=False)
    try:
        return UIServer(store, host, port)
    except OSError as exc:
        store.close()
        raise ConfigError(
            f"cannot listen on {host}:{port} for the featstore UI: {exc.strerror or exc}; "
            f"pick another port (or 0 for any free one)"
        ) from exc
    except BaseException:
        store.close()
        raise
