"""``skitai.enable_cachefs(memmax, diskmax, path)``: an HTTP cache for proxied responses.

Theory (RFC 9111, the parts a shared cache needs).  A GET response is stored when its
status is one a cache may keep (200, 203, 301, 308, 404, 410), it says nothing against it
(``no-store``, ``private``; ``Vary: *``; a request that carried ``Authorization``
unless the response says ``public`` or ``s-maxage``), and it has a freshness lifetime
(``s-maxage``, else ``max-age``, else ``Expires`` - ``Date``) or a validator (``ETag``,
``Last-Modified``) to revalidate with.  The key is the request's Host and target; the
request header values a response ``Vary``s on are kept with it and must match.

A fresh entry is served without asking the member (``Age`` says how old it is).  A stale
one, or one the client asks to revalidate (``no-cache``, ``max-age=0``), or one stored
with ``no-cache``, is revalidated with ``If-None-Match``/``If-Modified-Since``: a 304
refreshes its headers and lifetime and it is served; anything else replaces it.

One fill per key: while a request fetches a key, the others that miss it wait for that
fetch (no thundering herd), then read the cache.  Across workers (the disk is shared) the
one fetching request also holds ``flock`` on ``<entry>.lock`` beside the entry file; a
worker that finds it held polls it (``FILL_POLL``) and, once it is free, reads the entry
the other worker stored instead of fetching.  The kernel drops the lock of a worker that
dies, and a waiter gives up after ``fill_timeout`` seconds (a hung fill) and fetches.
A HEAD is answered from the GET's entry (its headers, no body).

Bounds, in bytes: ``memmax`` for the entries kept in this worker's memory (least recently
used dropped first), ``diskmax`` for the files under ``path``, which every worker shares
(written to a temporary name and renamed, so a reader never sees half a file; the oldest
files are removed when the directory grows past ``diskmax``).  A response larger than an
eighth of the larger bound is never stored.
"""

from __future__ import annotations

import asyncio
import collections
import fcntl
import hashlib
import json
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from typing import Final

from skitai.upstream.cachecontrol import directives, header, lifetime

log = logging.getLogger("skitai.gateway")

STORABLE: Final = frozenset({200, 203, 301, 308, 404, 410})
FILL_POLL: Final = 0.02  # seconds between looks at another worker's fill lock
Headers = list[tuple[bytes, bytes]]


@dataclass
class Entry:
    status: int
    reason: bytes
    headers: Headers
    body: bytes
    stored: float  # time.time() when stored or last revalidated
    lifetime: float  # seconds fresh from ``stored``
    vary: tuple[tuple[bytes, bytes | None], ...]  # request header values it varies on
    must_revalidate: bool = False  # stored with no-cache

    @property
    def size(self) -> int:
        return len(self.body) + sum(len(n) + len(v) for n, v in self.headers) + 64

    def age(self, now: float) -> float:
        return max(0.0, now - self.stored)

    def fresh(self, now: float) -> bool:
        return not self.must_revalidate and self.age(now) < self.lifetime

    def validators(self) -> Headers:
        out: Headers = []
        for name, value in self.headers:
            if name == b"etag":
                out.append((b"if-none-match", value))
            elif name == b"last-modified":
                out.append((b"if-modified-since", value))
        return out


@dataclass
class FillLock:
    """This worker fills a key: an open, ``flock``ed ``<entry>.lock``."""

    fd: int
    path: str
    waited: bool  # another worker held it first (its entry may be on disk now)


class HttpCache:
    def __init__(self, memmax: int, diskmax: int, path: str | None,
                 fill_timeout: float = 60.0) -> None:
        self.memmax = memmax
        self.fill_timeout = fill_timeout
        self.diskmax = diskmax if path else 0
        self.path = path
        self.entry_max = max(memmax, self.diskmax) // 8
        self._mem: collections.OrderedDict[str, list[Entry]] = collections.OrderedDict()
        self._mem_size = 0
        self._disk_size = -1  # unknown until first scanned
        self.fills: dict[str, asyncio.Future[None]] = {}
        self.hits = self.misses = self.stores = 0
        if path:
            os.makedirs(path, mode=0o700, exist_ok=True)

    # --- keys and lookups ------------------------------------------------------------------
    @staticmethod
    def key(host: bytes, target: bytes) -> str:
        return hashlib.sha256(host.lower() + b" " + target).hexdigest()

    def lookup(self, key: str, request_headers: Headers) -> Entry | None:
        for entry in self._entries(key):
            if all(header(request_headers, name) == value for name, value in entry.vary):
                return entry
        return None

    def _entries(self, key: str) -> list[Entry]:
        found = self._mem.get(key)
        if found is not None:
            self._mem.move_to_end(key)
            return found
        loaded = self._read_disk(key)
        if loaded:
            self._remember(key, loaded)
        return loaded

    def reload(self, key: str, request_headers: Headers) -> Entry | None:
        """``lookup`` from the disk (another worker may have stored or refreshed it)."""
        old = self._mem.pop(key, None)
        if old is not None:
            self._mem_size -= sum(e.size for e in old)
        return self.lookup(key, request_headers)

    # --- one fill across the workers ---------------------------------------------------------
    async def lock_fill(self, key: str) -> FillLock | None:
        """Hold the key's fill lock, waiting while another worker holds it (None: no
        shared disk, or the wait passed ``fill_timeout``: fetch without it)."""
        if not self.diskmax:
            return None
        path = self._file(key) + ".lock"
        try:
            os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
            fd = os.open(path, os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            log.warning("cachefs: cannot open %s: %s", path, exc)
            return None
        deadline = time.monotonic() + self.fill_timeout
        waited = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return FillLock(fd, path, waited)
            except BlockingIOError:
                pass
            except OSError as exc:
                log.warning("cachefs: cannot lock %s: %s", path, exc)
                break
            if time.monotonic() >= deadline:
                log.warning("cachefs: another worker's fill of %s took over %gs; fetching",
                            key, self.fill_timeout)
                break
            waited = True
            await asyncio.sleep(FILL_POLL)
        os.close(fd)
        return None

    @staticmethod
    def unlock_fill(lock: FillLock | None) -> None:
        """Release (and remove, unless another worker's file replaced it) the lock."""
        if lock is None:
            return
        try:
            if os.stat(lock.path).st_ino == os.fstat(lock.fd).st_ino:
                os.unlink(lock.path)
        except OSError:
            pass
        os.close(lock.fd)  # the flock goes with the last descriptor

    # --- storing -----------------------------------------------------------------------------
    def storable(self, status: int, request_headers: Headers, headers: Headers,
                 size: int) -> dict[str, str] | None:
        """The response's Cache-Control when it may be stored, else None."""
        if status not in STORABLE or size > self.entry_max:
            return None
        cc = directives(headers)
        if "no-store" in cc or "private" in cc or "no-store" in directives(request_headers):
            return None
        vary = header(headers, b"vary")
        if vary is not None and b"*" in vary:
            return None
        if header(request_headers, b"authorization") is not None and not (
                "public" in cc or "s-maxage" in cc):
            return None
        if lifetime(headers, cc) <= 0 and not any(
                n in (b"etag", b"last-modified") for n, _ in headers):
            return None
        return cc

    def store(self, key: str, request_headers: Headers, status: int, reason: bytes,
              headers: Headers, body: bytes) -> Entry | None:
        cc = self.storable(status, request_headers, headers, len(body))
        if cc is None:
            return None
        names = header(headers, b"vary") or b""
        vary = tuple((n.strip().lower(), header(request_headers, n.strip().lower()))
                     for n in names.split(b",") if n.strip())
        entry = Entry(status, reason, list(headers), body, time.time(), lifetime(headers, cc),
                      vary, must_revalidate="no-cache" in cc)
        kept = [e for e in self._entries(key) if e.vary != vary]
        kept.append(entry)
        self._remember(key, kept)
        self._write_disk(key, kept)
        self.stores += 1
        return entry

    def refresh(self, key: str, entry: Entry, headers: Headers) -> None:
        """A 304: the entry's headers take the new values, its lifetime starts again."""
        fresh = {n for n, _ in headers if n not in (b"content-length", b"transfer-encoding")}
        entry.headers = [h for h in entry.headers if h[0] not in fresh] + [
            h for h in headers if h[0] in fresh]
        cc = directives(entry.headers)
        entry.lifetime = lifetime(entry.headers, cc)
        entry.must_revalidate = "no-cache" in cc
        entry.stored = time.time()
        entries = self._entries(key)
        self._write_disk(key, entries)

    # --- memory ----------------------------------------------------------------------------------
    def _remember(self, key: str, entries: list[Entry]) -> None:
        old = self._mem.pop(key, None)
        if old is not None:
            self._mem_size -= sum(e.size for e in old)
        size = sum(e.size for e in entries)
        if not self.memmax or size > self.memmax:
            return
        self._mem[key] = entries
        self._mem_size += size
        while self._mem_size > self.memmax and self._mem:
            _, dropped = self._mem.popitem(last=False)
            self._mem_size -= sum(e.size for e in dropped)

    # --- disk (shared by the workers) ----------------------------------------------------------
    def _file(self, key: str) -> str:
        assert self.path is not None
        return os.path.join(self.path, key[:2], key)

    def _read_disk(self, key: str) -> list[Entry]:
        if not self.diskmax:
            return []
        try:
            with open(self._file(key), "rb") as f:
                data = f.read()
        except OSError:
            return []
        try:
            head, _, rest = data.partition(b"\n")
            out = []
            for meta in json.loads(head):
                size = meta["size"]
                body, rest = rest[:size], rest[size:]
                out.append(Entry(
                    meta["status"], meta["reason"].encode("latin-1"),
                    [(n.encode("latin-1"), v.encode("latin-1")) for n, v in meta["headers"]],
                    body, meta["stored"], meta["lifetime"],
                    tuple((n.encode("latin-1"), None if v is None else v.encode("latin-1"))
                          for n, v in meta["vary"]), meta["must_revalidate"]))
            return out
        except (ValueError, KeyError, TypeError):
            log.warning("cachefs: unreadable entry %s removed", key)
            self._remove(self._file(key))
            return []

    def _write_disk(self, key: str, entries: list[Entry]) -> None:
        if not self.diskmax:
            return
        meta = [{"status": e.status, "reason": e.reason.decode("latin-1"),
                 "headers": [(n.decode("latin-1"), v.decode("latin-1")) for n, v in e.headers],
                 "stored": e.stored, "lifetime": e.lifetime,
                 "vary": [(n.decode("latin-1"), None if v is None else v.decode("latin-1"))
                          for n, v in e.vary],
                 "must_revalidate": e.must_revalidate, "size": len(e.body)} for e in entries]
        data = json.dumps(meta).encode() + b"\n" + b"".join(e.body for e in entries)
        target = self._file(key)
        try:
            os.makedirs(os.path.dirname(target), mode=0o700, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=os.path.dirname(target), prefix=".tmp-")
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, target)
        except OSError as exc:
            log.warning("cachefs: cannot write %s: %s", target, exc)
            return
        if self._disk_size < 0:
            self._disk_size = self._scan()[0]
        self._disk_size += len(data)
        if self._disk_size > self.diskmax:
            self._trim()

    def _scan(self) -> tuple[int, list[tuple[float, int, str]]]:
        assert self.path is not None
        total, files = 0, []
        for sub in os.scandir(self.path):
            if not sub.is_dir():
                continue
            for f in os.scandir(sub.path):
                if f.name.endswith(".lock"):
                    continue  # a fill in progress, not an entry
                try:
                    st = f.stat()
                except OSError:
                    continue
                total += st.st_size
                files.append((st.st_mtime, st.st_size, f.path))
        return total, files

    def _trim(self) -> None:
        """Remove the oldest files until the directory is back under 90% of diskmax."""
        total, files = self._scan()
        files.sort()
        for _, size, path in files:
            if total <= self.diskmax * 0.9:
                break
            self._remove(path)
            total -= size
        self._disk_size = total

    @staticmethod
    def _remove(path: str) -> None:
        try:
            os.unlink(path)
        except OSError:
            pass
