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
fetch (no thundering herd), then read the cache.

Bounds, in bytes: ``memmax`` for the entries kept in this worker's memory (least recently
used dropped first), ``diskmax`` for the files under ``path``, which every worker shares
(written to a temporary name and renamed, so a reader never sees half a file; the oldest
files are removed when the directory grows past ``diskmax``).  A response larger than an
eighth of the larger bound is never stored.
"""

from __future__ import annotations

import asyncio
import calendar
import collections
import email.utils
import hashlib
import json
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from typing import Final

log = logging.getLogger("skitai.gateway")

STORABLE: Final = frozenset({200, 203, 301, 308, 404, 410})
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


def directives(headers: Headers) -> dict[str, str]:
    """``Cache-Control`` of a header list as {directive: argument}."""
    out: dict[str, str] = {}
    for name, value in headers:
        if name == b"cache-control":
            for part in value.decode("latin-1").split(","):
                key, _, arg = part.strip().partition("=")
                if key:
                    out[key.lower()] = arg.strip().strip('"')
    return out


def _header(headers: Headers, name: bytes) -> bytes | None:
    for n, v in headers:
        if n == name:
            return v
    return None


def _http_date(value: bytes | None) -> float | None:
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_tz(value.decode("latin-1"))
    except (TypeError, ValueError):
        return None
    if parsed is None:
        return None
    return float(calendar.timegm(parsed[:9])) - float(parsed[9] or 0)


def lifetime(headers: Headers, cc: dict[str, str]) -> float:
    for key in ("s-maxage", "max-age"):
        if key in cc:
            try:
                return max(0.0, float(int(cc[key])))
            except ValueError:
                return 0.0
    expires = _http_date(_header(headers, b"expires"))
    if expires is not None:
        date = _http_date(_header(headers, b"date")) or time.time()
        return max(0.0, expires - date)
    return 0.0


class HttpCache:
    def __init__(self, memmax: int, diskmax: int, path: str | None) -> None:
        self.memmax = memmax
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
            if all(_header(request_headers, name) == value for name, value in entry.vary):
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

    # --- storing -----------------------------------------------------------------------------
    def storable(self, status: int, request_headers: Headers, headers: Headers,
                 size: int) -> dict[str, str] | None:
        """The response's Cache-Control when it may be stored, else None."""
        if status not in STORABLE or size > self.entry_max:
            return None
        cc = directives(headers)
        if "no-store" in cc or "private" in cc or "no-store" in directives(request_headers):
            return None
        vary = _header(headers, b"vary")
        if vary is not None and b"*" in vary:
            return None
        if _header(request_headers, b"authorization") is not None and not (
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
        names = _header(headers, b"vary") or b""
        vary = tuple((n.strip().lower(), _header(request_headers, n.strip().lower()))
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
