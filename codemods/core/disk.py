"""The disk operations a transaction makes, the lock that keeps two of them apart, and signal handling.

Every write, flush, rename and removal that :mod:`codemods.core.journal` makes goes
through :data:`DISK`, one small object, so that a test can make any single one of
them fail (disk full, read-only directory) and check that the tree is left exactly
as it was. The lock is an advisory ``flock`` on a file beside the journals, like
git's ``index.lock`` but released by the kernel when its holder dies, even under
``kill -9``, so a crash never leaves a stale lock behind.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

try:
    import fcntl
except ImportError:  # no flock on this platform: an exclusive-create lock file stands in
    fcntl = None  # type: ignore[assignment]


class Disk:
    """The operations a transaction makes on the disk (``kind`` tells a staged file from a journal)."""

    def write_new(self, path: Path, data: bytes, mode: int, kind: str) -> None:
        """Create ``path`` (it must not exist), write ``data`` and flush it to the disk."""
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(descriptor, view) :]
            self.fsync(descriptor)
        finally:
            os.close(descriptor)
        os.chmod(path, mode)

    def fsync(self, descriptor: int) -> None:
        os.fsync(descriptor)

    def fsync_directory(self, directory: Path) -> None:
        """Make the renames inside ``directory`` durable (a no-op where directories cannot be opened)."""
        try:
            descriptor = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        except OSError:
            return
        try:
            self.fsync(descriptor)
        finally:
            os.close(descriptor)

    def replace(self, source: Path, target: Path) -> None:
        os.replace(source, target)

    def unlink(self, path: Path) -> None:
        os.unlink(path)


DISK = Disk()


class LockBusy(RuntimeError):
    """Another refactor command holds the lock of this repository."""


@contextmanager
def exclusive_lock(directory: Path) -> Iterator[Path]:
    """Hold ``directory/lock`` for the duration; raise :class:`LockBusy` at once when another process does."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "lock"
    holder = json.dumps({"pid": os.getpid(), "since": time.strftime("%Y-%m-%dT%H:%M:%S")})
    if fcntl is None:
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            raise LockBusy(_busy_message(path, stale_possible=True)) from None
        os.write(descriptor, holder.encode())
        try:
            yield path
        finally:
            os.close(descriptor)
            path.unlink(missing_ok=True)
        return
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise LockBusy(_busy_message(path, stale_possible=False)) from None
            raise
        os.ftruncate(descriptor, 0)
        os.write(descriptor, holder.encode())
        yield path
    finally:
        os.close(descriptor)  # closing releases the flock


def _busy_message(path: Path, stale_possible: bool) -> str:
    try:
        holder = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        holder = {}
    who = f"process {holder['pid']} (since {holder.get('since', '?')})" if "pid" in holder else "another process"
    message = f"another refactor command is writing this repository: {who} holds {path}; try again when it is done"
    if stale_possible:
        message += f" (if no refactor command is running, delete {path})"
    return message


class Interrupted(BaseException):
    """SIGTERM (or SIGHUP) arrived during a transaction: handled like Ctrl-C, by rolling back."""


@contextmanager
def signals_roll_back() -> Iterator[None]:
    """Within the block, SIGTERM and SIGHUP raise :class:`Interrupted` as SIGINT raises KeyboardInterrupt."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    wanted = [s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if s is not None]

    def interrupt(number: int, _frame: object) -> None:
        raise Interrupted(f"signal {signal.Signals(number).name}")

    previous = {number: signal.signal(number, interrupt) for number in wanted}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


@contextmanager
def signals_deferred() -> Iterator[None]:
    """Within the block (a rollback), SIGINT, SIGTERM and SIGHUP wait: a second Ctrl-C must not stop a restore."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    names = ("SIGINT", "SIGTERM", "SIGHUP")
    numbers = [getattr(signal, name) for name in names if hasattr(signal, name)]
    arrived: list[int] = []
    previous = {number: signal.signal(number, lambda n, _f: arrived.append(n)) for number in numbers}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        if arrived:
            signal.raise_signal(arrived[0])
