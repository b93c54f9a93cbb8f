"""Portable advisory file locks: exclusive, across processes, released on close or death.

The locking primitive is :mod:`filelock`'s (``flock`` on POSIX, ``LockFileEx`` on
Windows), applied to descriptors featstore opens itself: so the offline store decides
how a lock file is opened (inside the store, never through a symbolic link, read-only,
so that a read-only store's existing lock files still lock). A lock is held by an open
descriptor: two descriptors contend even inside one process, and closing the descriptor
(or the process dying) releases it.

>>> import tempfile
>>> from pathlib import Path
>>> with tempfile.TemporaryDirectory() as folder:
...     path = Path(folder) / "demo.lock"
...     with exclusive(path):
...         other = open_lock_file(path)
...         busy = not try_acquire(other)
...         os.close(other)
...     free = try_acquire(fd := open_lock_file(path))
...     os.close(fd)
>>> busy, free
(True, True)
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import lock_descriptor, unlock_descriptor

__all__ = ["LockTimeout", "acquire", "exclusive", "open_lock_file", "release", "try_acquire"]

# read-only: locking needs no write access; not through a final symbolic link (where
# the platform can say so); not inherited by child processes
_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_NOINHERIT", 0)  # Windows
)
_FIRST_POLL = 0.001  # seconds; doubled up to poll_interval while the lock stays busy


class LockTimeout(TimeoutError):
    """Raised by :func:`acquire` when the lock stayed busy for the whole timeout."""

    def __init__(self, path: str, timeout: float) -> None:
        super().__init__(f"lock {path!r} is still held by another process after {timeout:g}s")
        self.path = path
        self.timeout = timeout


def open_lock_file(path: Path, *, create: bool = True, new: bool = False) -> int:
    """Open a lock file (created if missing with ``create``; it must not exist yet with
    ``new``), never through a final symbolic link on POSIX (``ELOOP``).

    Returns the descriptor; the caller closes it, which releases any lock on it.
    Raises OSError as :func:`os.open` does.
    """
    flags = _OPEN_FLAGS
    if create or new:
        flags |= os.O_CREAT
    if new:
        flags |= os.O_EXCL
    return os.open(path, flags, 0o644)


def try_acquire(fd: int) -> bool:
    """Take the exclusive lock of ``fd`` if it is free, without waiting: whether it was
    taken (False: another descriptor holds it)."""
    return lock_descriptor(fd, blocking=False)


def acquire(
    fd: int, *, timeout: float | None = None, poll_interval: float = 0.05, path: str = ""
) -> None:
    """Wait for the exclusive lock of ``fd``, polling with a growing interval up to
    ``poll_interval`` seconds; ``timeout`` None waits for ever.

    Raises LockTimeout (naming ``path``) when the lock is still busy after ``timeout``.
    """
    if poll_interval <= 0:
        raise ValueError(f"poll_interval must be positive; found {poll_interval!r}")
    deadline = None if timeout is None else time.monotonic() + timeout
    delay = min(_FIRST_POLL, poll_interval)
    while not lock_descriptor(fd, blocking=False):
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise LockTimeout(path or f"descriptor {fd}", timeout or 0.0)
            delay = min(delay, left)
        time.sleep(delay)
        delay = min(delay * 2, poll_interval)


def release(fd: int) -> None:
    """Release the lock of ``fd``, leaving it open (closing ``fd`` releases it too)."""
    unlock_descriptor(fd)


@contextmanager
def exclusive(
    path: Path, *, timeout: float | None = None, poll_interval: float = 0.05
) -> Iterator[int]:
    """Hold the exclusive lock of the file ``path`` (created if missing) for the block;
    yields its descriptor. Raises LockTimeout as :func:`acquire`, OSError as
    :func:`open_lock_file`."""
    fd = open_lock_file(path)
    try:
        acquire(fd, timeout=timeout, poll_interval=poll_interval, path=str(path))
        yield fd
    finally:
        os.close(fd)  # releases the lock
