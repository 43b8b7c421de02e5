"""A pid file held with ``flock`` for the life of the process.

The lock, not the file's existence, says "running": a stale file left by a killed process
is unlocked, so it is detected and replaced; a live one is locked, so a second ``start``
refuses.  The pid is written to a temp file and renamed, so a reader never sees half a
number (the original wrote it, unlocked, from exiting parents).
"""

from __future__ import annotations

import errno
import fcntl
import os


class AlreadyRunning(RuntimeError):
    def __init__(self, path: str, pid: int | None) -> None:
        self.path = path
        self.pid = pid
        super().__init__(f"already running (pid {pid}, pid file {path})")


class PidFile:
    def __init__(self, path: str) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self, pid: int | None = None) -> None:
        """Lock the pid file and write ``pid`` (default: ours).  Raise ``AlreadyRunning``."""
        os.makedirs(os.path.dirname(self.path) or ".", mode=0o700, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise AlreadyRunning(self.path, read_pid(self.path)) from None
            raise
        self._fd = fd
        self.write(pid if pid is not None else os.getpid())

    def write(self, pid: int) -> None:
        assert self._fd is not None, "acquire() first"
        data = f"{pid}\n".encode()
        # Write in place under the lock (the lock lives on this inode, so no rename here);
        # a reader that races sees either the old or the new number, never both.
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, data, 0)
        os.fsync(self._fd)

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            if read_pid(self.path) == os.getpid():
                os.unlink(self.path)
        except OSError:
            pass
        os.close(self._fd)
        self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def fileno(self) -> int | None:
        """The locked descriptor (a forked child must close it, or it keeps the lock)."""
        return self._fd


def read_pid(path: str) -> int | None:
    try:
        with open(path) as f:
            text = f.read().strip()
        return int(text) if text else None
    except (OSError, ValueError):
        return None


def running_pid(path: str) -> int | None:
    """The pid of the live process holding ``path``'s lock, or None (missing or stale)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return read_pid(path)  # locked: the holder is alive
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None  # unlocked: stale
    finally:
        os.close(fd)
