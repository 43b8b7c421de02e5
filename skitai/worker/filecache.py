"""Open static files, kept between requests and checked by one ``stat`` each time.

Theory.  Serving a file cost an ``open``, an ``fstat`` and a ``close`` per request, and
its response head (ETag, Last-Modified, Content-Type, Content-Length) was built anew
each time.  Like nginx's ``open_file_cache``, a ``CachedFile`` keeps the descriptor and
the heads built for it; every request ``stat``s the path and uses the entry only while
the inode, device, size and mtime are the ones it was opened with, so a file that is
changed, replaced (an atomic rename) or deleted is seen at the next request.  An entry
that is replaced while responses still send from it is closed when the last one ends
(``acquire``/``release`` count them; the HTTP/1.1 fast path, done before the loop runs
again, looks with ``current`` and ``hold``s only a file it could not send at once).
"""

from __future__ import annotations

import os
import stat

CACHE_SIZE = 256  # open files kept per static directory

Key = tuple[int, int, int, int]  # inode, device, size, mtime (ns)


class CachedFile:
    """An open regular file (a ``FileLike``) and the response heads built for it."""

    __slots__ = ("fd", "key", "info", "heads", "dated", "users", "stale")

    def __init__(self, fd: int, info: os.stat_result) -> None:
        self.fd = fd
        self.info = info
        self.key: Key = (info.st_ino, info.st_dev, info.st_size, info.st_mtime_ns)
        self.heads: dict[bytes, list[tuple[bytes, bytes]]] = {}  # URL path -> 200 head
        # URL path -> the second (time.time()) a head's Expires counts from: such a head
        # is used within that second only (nginx's ``expires`` moves on each second too).
        self.dated: dict[bytes, int] = {}
        self.users = 0
        self.stale = False

    def fileno(self) -> int:
        return self.fd


class FileCache:
    def __init__(self, size: int = CACHE_SIZE) -> None:
        self.size = size
        self._files: dict[str, CachedFile] = {}

    def acquire(self, path: str) -> CachedFile | None:
        """The open file at ``path`` (released with ``release``), or None when it is not
        a readable regular file."""
        entry = self.current(path)
        if entry is not None:
            entry.users += 1
        return entry

    def current(self, path: str) -> CachedFile | None:
        """``acquire`` without holding the file: for a caller that is done with it before
        it returns to the loop (no other request can replace it meanwhile); ``hold``
        it to keep it past that."""
        try:
            info = os.stat(path)
        except (OSError, ValueError):
            return None
        entry = self._files.get(path)
        if entry is None or entry.key != (info.st_ino, info.st_dev, info.st_size,
                                          info.st_mtime_ns):
            entry = self._open(path, entry)
        return entry

    @staticmethod
    def hold(entry: CachedFile) -> None:
        """Keep ``entry`` open until ``release`` (see ``current``)."""
        entry.users += 1

    def release(self, entry: CachedFile) -> None:
        entry.users -= 1
        if entry.stale and not entry.users:
            os.close(entry.fd)

    def _open(self, path: str, old: CachedFile | None) -> CachedFile | None:
        if old is not None:
            del self._files[path]
            self._retire(old)
        try:
            # O_NONBLOCK: should the path have become a fifo, open() must not wait for a
            # writer; fstat then refuses it.
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except (OSError, ValueError):
            return None
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            os.close(fd)
            return None
        if len(self._files) >= self.size:
            oldest = next(iter(self._files))
            self._retire(self._files.pop(oldest))
        entry = self._files[path] = CachedFile(fd, info)
        return entry

    @staticmethod
    def _retire(entry: CachedFile) -> None:
        entry.stale = True
        if not entry.users:
            os.close(entry.fd)

    def clear(self) -> None:
        for entry in self._files.values():
            self._retire(entry)
        self._files.clear()
