"""featstore.locks: exclusive locks across processes, a non-blocking try, a timeout, and
release when the holder closes its descriptor or dies."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from featstore import locks
from featstore.offline import OfflineStore

PACKAGE_ROOT = Path(locks.__file__).resolve().parent.parent

# holds the lock of argv[1] ("locked" on stdout) until its stdin closes, then exits
_HOLDER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from featstore import locks
    with locks.exclusive(Path(sys.argv[1])):
        print("locked", flush=True)
        sys.stdin.read()
    """
)


@contextmanager
def _holder(path: Path) -> Iterator[subprocess.Popen[str]]:
    """A process holding the lock of ``path`` for the block (killed at its end if still
    running)."""
    with subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(PACKAGE_ROOT)},
    ) as proc:
        try:
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "locked"
            yield proc
        finally:
            proc.kill()
            proc.wait()


@pytest.fixture
def lock_path(tmp_path: Path) -> Path:
    return tmp_path / "x.lock"


@pytest.fixture
def fd(lock_path: Path) -> Iterator[int]:
    descriptor = locks.open_lock_file(lock_path)
    yield descriptor
    os.close(descriptor)


def test_try_acquire_takes_a_free_lock_and_fails_on_a_held_one(lock_path: Path, fd: int) -> None:
    other = locks.open_lock_file(lock_path)
    try:
        assert locks.try_acquire(fd)
        assert not locks.try_acquire(other)  # another descriptor, even in this process
        locks.release(fd)
        assert locks.try_acquire(other)
        assert not locks.try_acquire(fd)
    finally:
        os.close(other)
    assert locks.try_acquire(fd)  # closing released it


def test_acquire_times_out_naming_the_lock(lock_path: Path, fd: int) -> None:
    with locks.exclusive(lock_path):
        began = time.monotonic()
        with pytest.raises(locks.LockTimeout, match=r"lock 'x.lock' is still held .* after 0.2s"):
            locks.acquire(fd, timeout=0.2, poll_interval=0.05, path="x.lock")
        assert 0.2 <= time.monotonic() - began < 5
    locks.acquire(fd, timeout=0.2)  # free now: taken at once


def test_acquire_refuses_a_bad_poll_interval(fd: int) -> None:
    with pytest.raises(ValueError, match="poll_interval must be positive"):
        locks.acquire(fd, poll_interval=0)


def test_two_processes_contend(lock_path: Path, fd: int) -> None:
    with _holder(lock_path) as holder:
        assert not locks.try_acquire(fd)
        waited: list[float] = []

        def wait() -> None:
            began = time.monotonic()
            locks.acquire(fd, timeout=30)
            waited.append(time.monotonic() - began)

        waiter = threading.Thread(target=wait)
        waiter.start()
        time.sleep(0.3)
        assert waiter.is_alive(), "acquired a lock another process holds"
        assert holder.stdin is not None
        holder.stdin.close()  # the holder leaves its block and exits
        waiter.join(timeout=30)
        assert not waiter.is_alive()
        assert waited
        assert waited[0] >= 0.3
        assert holder.wait(timeout=30) == 0
    # and the other way round: this process holds it now, another cannot take it
    code = (
        "import sys; from pathlib import Path; from featstore import locks\n"
        "fd = locks.open_lock_file(Path(sys.argv[1]))\n"
        "sys.exit(0 if not locks.try_acquire(fd) else 3)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(lock_path)],
        env={**os.environ, "PYTHONPATH": str(PACKAGE_ROOT)},
        check=False,
        timeout=60,
    )
    assert proc.returncode == 0, "another process took a lock this one holds"


def test_a_killed_holder_releases_its_lock(lock_path: Path, fd: int) -> None:
    with _holder(lock_path):
        assert not locks.try_acquire(fd)
    # killed at the end of the block
    locks.acquire(fd, timeout=10)  # the kernel released it with the process


def test_open_lock_file_never_follows_a_symlink(tmp_path: Path) -> None:
    if not hasattr(os, "O_NOFOLLOW"):
        pytest.skip("the platform cannot refuse a link when opening")
    target = tmp_path / "outside.txt"
    target.write_text("precious")
    link = tmp_path / "x.lock"
    link.symlink_to(target)
    with pytest.raises(OSError, match=r"x\.lock") as caught:
        locks.open_lock_file(link)
    assert caught.value.errno in (errno.ELOOP, errno.EMLINK)  # Linux and macOS; FreeBSD
    assert target.read_text() == "precious"


def test_new_refuses_an_existing_file(lock_path: Path) -> None:
    lock_path.touch()
    with pytest.raises(FileExistsError):
        locks.open_lock_file(lock_path, new=True)


def test_a_staging_directory_is_live_while_its_writer_process_lives(tmp_path: Path) -> None:
    """The offline store's use: gc keeps a staging directory whose writer (another
    process) holds its .lock, and collects it once that process is killed."""
    root = tmp_path / "store"
    root.mkdir()
    store = OfflineStore(root)
    run_id = "7f" * 16
    folder = store.staging_root / run_id
    folder.mkdir()
    with _holder(folder / ".lock"):
        assert store.collect_staging() == []
        assert folder.is_dir()
    assert store.collect_staging() == [f"staging/{run_id}"]
    assert not folder.exists()


def test_featstore_imports_without_fcntl() -> None:
    """Windows has no fcntl: importing featstore must not need it (simulated here by
    making ``import fcntl`` fail; filelock then warns that it has only soft locks)."""
    code = (
        "import sys\n"
        "sys.modules['fcntl'] = None\n"
        "import featstore, featstore.offline, featstore.locks, featstore.cli\n"
    )
    proc = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", code],
        env={**os.environ, "PYTHONPATH": str(PACKAGE_ROOT)},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
