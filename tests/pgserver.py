"""A PostgreSQL server for tests: the one FEATSTORE_TEST_POSTGRES names, or a throwaway
local cluster started from the server binaries found on this machine.

In tests, :func:`server_url` gives the server (started once per process, stopped at exit)
and :func:`fresh_database_url` a new empty database on it; both raise
:class:`Unavailable` (the caller skips) when there is neither a URL nor server binaries.

From a shell (CI starts one server for a whole run and exports its URL)::

    dir=$(mktemp -d)
    export FEATSTORE_TEST_POSTGRES=$(python tests/pgserver.py start "$dir")
    ...
    python tests/pgserver.py stop "$dir"

The local cluster: a temporary data directory, trust authentication, listening on
127.0.0.1 on a free port and on a unix socket in its directory, fsync off. PostgreSQL
refuses to run as root, so as root the server runs as the ``postgres`` user (``nobody``
if there is none), owning its directory.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

__all__ = [
    "ENV_VAR",
    "LocalServer",
    "Unavailable",
    "drop_database",
    "find_bindir",
    "fresh_database_url",
    "server_url",
    "shutdown",
    "start",
    "stop",
]

ENV_VAR = "FEATSTORE_TEST_POSTGRES"
HOW_TO_GET = (
    "install PostgreSQL server binaries (Debian: apt-get install postgresql) or set "
    f"{ENV_VAR}=postgresql://..."
)
SUPERUSER = "postgres"  # the cluster's superuser role, whoever runs the server
_BINARIES = ("initdb", "pg_ctl", "postgres")
_SETTINGS = """
# featstore tests: a throwaway cluster
listen_addresses = '127.0.0.1'
unix_socket_directories = '{socket_dir}'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 300
"""


class Unavailable(RuntimeError):
    """No PostgreSQL for tests: neither FEATSTORE_TEST_POSTGRES nor server binaries."""


@dataclass(frozen=True, slots=True)
class LocalServer:
    """A throwaway cluster: ``base`` holds its data directory, log and socket."""

    bindir: Path
    base: Path
    port: int

    @property
    def data(self) -> Path:
        return self.base / "data"

    @property
    def url(self) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/postgres"


# -- finding and starting a server --------------------------------------------------------


def find_bindir() -> Path | None:
    """The directory holding initdb, pg_ctl and postgres: that of ``initdb`` on PATH
    (links resolved), else the newest /usr/lib/postgresql/<version>/bin; None if none."""
    candidates: list[Path] = []
    if found := shutil.which("initdb"):
        candidates.append(Path(found).resolve().parent)
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: [int(x) if x.isdigit() else 0 for x in p.parent.name.split(".")],
        reverse=True,
    )
    candidates += versions
    for bindir in candidates:
        if all(os.access(bindir / name, os.X_OK) for name in _BINARIES):
            return bindir
    return None


def _server_account() -> pwd.struct_passwd | None:
    """The account to run the server as: None (this one) unless we are root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise Unavailable("running as root, and neither user 'postgres' nor 'nobody' exists")


def _run(args: Sequence[str | Path], account: pwd.struct_passwd | None, what: str) -> None:
    proc = subprocess.run(
        [str(a) for a in args],
        capture_output=True,
        text=True,
        check=False,
        cwd="/",  # the server account may not be able to enter ours
        user=None if account is None else account.pw_uid,
        group=None if account is None else account.pw_gid,
        extra_groups=None if account is None else [],
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{what} failed (exit {proc.returncode}): {proc.stdout}{proc.stderr}")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start(base: Path | None = None, *, attempts: int = 3) -> LocalServer:
    """Create and start a throwaway cluster in ``base`` (an empty directory; a new
    temporary one if None). Raises Unavailable without server binaries."""
    bindir = find_bindir()
    if bindir is None:
        raise Unavailable(
            f"no PostgreSQL server binaries (initdb, pg_ctl, postgres) found; {HOW_TO_GET}"
        )
    account = _server_account()
    base = Path(tempfile.mkdtemp(prefix="featstore-pg-")) if base is None else base.resolve()
    base.mkdir(parents=True, exist_ok=True)
    if account is not None:
        os.chown(base, account.pw_uid, account.pw_gid)
    os.chmod(base, 0o700)
    data = base / "data"
    try:
        _run(
            [
                bindir / "initdb",
                "-D",
                data,
                "-U",
                SUPERUSER,
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
            account,
            "initdb",
        )
    except RuntimeError:
        _remove(base)
        raise
    with open(data / "postgresql.conf", "a", encoding="utf-8") as conf:
        conf.write(_SETTINGS.format(socket_dir=base))
    for attempt in range(attempts):
        server = LocalServer(bindir=bindir, base=base, port=_free_port())
        try:  # -p on the command line: a port taken meanwhile is retried with another
            _run(
                [
                    bindir / "pg_ctl",
                    "-D",
                    data,
                    "-l",
                    base / "server.log",
                    "-w",
                    "-t",
                    "60",
                    "-o",
                    f"-p {server.port}",
                    "start",
                ],
                account,
                "pg_ctl start",
            )
        except RuntimeError:
            if attempt == attempts - 1:
                log = (base / "server.log").read_text(errors="replace")[-2000:]
                _remove(base)
                raise RuntimeError(f"PostgreSQL did not start; its log ends:\n{log}") from None
            continue
        return server
    raise AssertionError("unreachable")


def stop(base: Path) -> None:
    """Stop the cluster in ``base`` (as the account owning it) and delete ``base``."""
    bindir = find_bindir()
    data = base / "data"
    if bindir is not None and (data / "postmaster.pid").exists():
        owner = data.stat().st_uid
        account = pwd.getpwuid(owner) if os.geteuid() == 0 and owner != 0 else None
        with contextlib.suppress(RuntimeError):  # already gone: nothing to stop
            _run([bindir / "pg_ctl", "-D", data, "-m", "immediate", "-w", "stop"], account, "stop")
    _remove(base)


def _remove(base: Path) -> None:
    shutil.rmtree(base, ignore_errors=True)


# -- the server of this process ---------------------------------------------------------

_started: LocalServer | None = None


def server_url() -> str:
    """The URL of the test server's ``postgres`` database: FEATSTORE_TEST_POSTGRES, else
    a local cluster started on first use and stopped when the process exits."""
    global _started
    if configured := os.environ.get(ENV_VAR):
        return configured
    if _started is None:
        _started = start()
        atexit.register(shutdown)
    return _started.url


def shutdown() -> None:
    """Stop the local cluster :func:`server_url` started, if any."""
    global _started
    if _started is not None:
        stop(_started.base)
        _started = None


def _with_database(url: str, name: str) -> str:
    if url.startswith(("postgresql://", "postgres://")):
        parts = urlsplit(url)
        return urlunsplit(parts._replace(path=f"/{name}"))
    import psycopg.conninfo

    return psycopg.conninfo.make_conninfo(url, dbname=name)  # a key=value string


def fresh_database_url(server: str | None = None) -> str:
    """Create a new, uniquely named, empty database on ``server`` (a URL; default
    :func:`server_url`) and return its URL."""
    import psycopg
    from psycopg import sql

    server = server_url() if server is None else server
    name = f"featstore_test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(server, autocommit=True, connect_timeout=30) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return _with_database(server, name)


def drop_database(url: str, server: str | None = None) -> None:
    """Drop the database of ``url`` (made by :func:`fresh_database_url` on ``server``),
    closing any connection still open to it."""
    import psycopg
    from psycopg import sql

    name = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
    server = server_url() if server is None else server
    with psycopg.connect(server, autocommit=True, connect_timeout=30) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(str(name)))
        )


# -- command line -----------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python tests/pgserver.py", description="a throwaway PostgreSQL for tests"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    start_cmd = sub.add_parser("start", help="start a cluster in DIR and print its URL")
    start_cmd.add_argument("dir", type=Path)
    stop_cmd = sub.add_parser("stop", help="stop the cluster in DIR and delete DIR")
    stop_cmd.add_argument("dir", type=Path)
    args = parser.parse_args(argv)
    if args.command == "start":
        began = time.monotonic()
        try:
            server = start(args.dir)
        except Unavailable as exc:
            print(exc, file=sys.stderr)
            return 2
        print(
            f"PostgreSQL started in {time.monotonic() - began:.1f}s: {server.url}", file=sys.stderr
        )
        print(server.url)
    else:
        stop(args.dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
