"""Static directories: ``skitai.mount("/", "static")`` and ``skitai.set_max_age``.

Theory.  Routing calls ``resolve()`` (cheap and synchronous: a few ``os.stat``) to learn
whether a file answers the request, then ``serve()``; ``__call__`` does both for a
directory mounted alone.  All HTTP arithmetic (validators, preconditions, ranges, dates)
is in ``ranges.py``; this module only maps URLs to files, opens them and sends bytes,
with ``Stream.send_file`` (sendfile on plain TCP).

``resolve()`` answers one of three things:
- ``Resolved``: a regular file inside the root (or a directory to redirect to ``path/``);
- ``None``: nothing here (missing file, dotfile, directory without an index).  Routing
  then tries an app mounted on the same point, else answers 404;
- ``Refusal(status)``: answered at once, never handed to an app: 400 for a malformed or
  hostile target, 404 for a path that exists but must not be served (a symlink whose
  real path leaves the root, a fifo, a device).

No way out of the root.  The RAW target is checked before decoding, so a client cannot
smuggle what decoding would hide: literal backslash or NUL, ``%2f``/``%5c``/``%00`` in
any case, and invalid percent-escapes give 400; after decoding (once, never twice) any
``.`` or ``..`` segment anywhere in the path gives 400 (clients remove dot-segments
before sending, RFC 3986 5.2.4, so only a hostile or broken one sends them).  Finally the
real path (symlinks resolved) must lie under the real root (``os.path.commonpath``).

Dotfiles (``.git``, ``.env``, ``.htpasswd``) are hidden (``None``) -- they are
typically secrets left in a web root -- except ``.well-known`` (RFC 8615), which
certbot's webroot mode and friends rely on.

The fast path.  ``cached_file`` answers, for a request the HTTP/1.1 connection may send
itself (``connections/http1.py``), whether a fresh resolve answer names a file whose
200 head is already built (``FileCache`` keeps it per file version): the file is still
``stat``-ed per request.  Everything it does not know goes the normal way.

Blocking I/O.  ``stat``/``open`` run inline on the loop: on local disks they take
microseconds, far less than a thread hop (Starlette runs its lookup in a thread; we may
move it there if a network file system ever matters).  The bytes themselves go through
``send_file``, which never blocks the loop.
"""

from __future__ import annotations

import functools
import mimetypes
import os
import re
import secrets
import stat
import time
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from skitai.worker import errorpage, ranges
from skitai.worker.filecache import CachedFile, FileCache
from skitai.worker.routing import split_target
from skitai.worker.stream import ClientDisconnected, Stream

if TYPE_CHECKING:
    from skitai.worker.events import Headers, Request
    from skitai.worker.routing import Route

ALLOWED_METHODS = b"GET, HEAD"
RESOLVE_TTL = 1.0  # seconds a URL -> file answer is reused (like nginx's open_file_cache)
RESOLVE_CACHE_SIZE = 4096
_FAST_METHODS = frozenset((b"GET", b"HEAD"))
_CONDITIONAL = frozenset((b"if-match", b"if-none-match", b"if-modified-since",
                          b"if-unmodified-since", b"range", b"if-range"))
_BAD_ESCAPE = re.compile(rb"%(?![0-9A-Fa-f]{2})")
_FORBIDDEN_ESCAPE = re.compile(rb"%(?:2[fF]|5[cC]|00)")
_PERCENT = re.compile(rb"%([0-9A-Fa-f]{2})")
_TEXTUAL = ("application/javascript", "application/json", "application/xml",
            "application/xhtml+xml", "image/svg+xml")
_COMPRESSED = {"gzip": "application/gzip", "bzip2": "application/x-bzip2",
               "xz": "application/x-xz", "compress": "application/x-compress",
               "br": "application/x-brotli"}


@dataclass(frozen=True, slots=True)
class Resolved:
    """A file to serve (``redirect`` is set instead for a directory missing its slash)."""

    path: str  # the file system path
    url_path: bytes  # the decoded URL path (mount point included): max-age rules match it
    redirect: bytes | None = None  # a Location for a 301


@dataclass(frozen=True, slots=True)
class Refusal:
    """Answer ``status`` at once; no app on the same mount point may see the request."""

    status: int
    reason: str


def content_type(name: str) -> bytes:
    """The Content-Type of a file name (charset utf-8 for textual types)."""
    return _content_type_of(os.path.basename(name).lower().partition(".")[2])


@functools.lru_cache(maxsize=512)
def _content_type_of(suffixes: str) -> bytes:
    # By the name's suffixes ("tar.gz"): guess_type only looks at those.
    name = "x." + suffixes if suffixes else "x"
    mime, encoding = mimetypes.guess_type(name, strict=False)
    if encoding is not None:
        # "x.tar.gz": the bytes are gzip; declaring Content-Encoding would make browsers
        # unpack a download the user asked for as it is.
        mime = _COMPRESSED.get(encoding, "application/octet-stream")
    if mime is None:
        return b"application/octet-stream"
    if mime.startswith("text/") or mime in _TEXTUAL:
        return f"{mime}; charset=utf-8".encode("ascii")
    return mime.encode("ascii")


def _decode(raw: bytes) -> bytes:
    return _PERCENT.sub(lambda m: bytes([int(m.group(1), 16)]), raw) if b"%" in raw else raw


class StaticDirectory:
    """One mounted directory (a ``Handler``; routing also calls ``resolve``/``serve``)."""

    body_limit = 0  # a GET or HEAD: the server's limit

    def __init__(self, root: str, *, max_ages: Sequence[tuple[str, int]] = (),
                 index_files: Sequence[str] = ("index.html",), mount_point: str = "") -> None:
        self.root = os.path.realpath(root)
        self._resolved: dict[bytes, tuple[float, Resolved | Refusal | None]] = {}
        self.mount_point = mount_point.rstrip("/")
        self.index_files = tuple(index_files)
        # Whole-segment prefixes, longest first: "/js" covers "/js" and "/js/a.js", never
        # "/jsx/a.js" (the original matched by dirname and leaked rules to siblings).
        rules = [(p.rstrip("/").encode("utf-8"), int(s)) for p, s in max_ages]
        self.max_ages = sorted(rules, key=lambda rule: len(rule[0]), reverse=True)
        self.files = FileCache()

    # --- URL -> file ------------------------------------------------------------------
    def resolve(self, stream: Stream) -> Resolved | Refusal | None:
        """The file a request names, a refusal, or None (not here: the app may have it).
        Answers are reused for ``RESOLVE_TTL`` seconds: the checks below cost a stat
        and an lstat per path component, and the file itself is opened and fstat-ed
        per request anyway (a changed or deleted file is seen at once, a new file or
        symlink after at most the TTL)."""
        raw, _ = split_target(stream.request.target)
        now = time.monotonic()
        hit = self._resolved.get(raw)
        if hit is not None and hit[0] > now:
            return hit[1]
        found = self._resolve(raw)
        if len(self._resolved) >= RESOLVE_CACHE_SIZE:
            self._resolved.clear()
        self._resolved[raw] = (now + RESOLVE_TTL, found)
        return found

    def _resolve(self, raw: bytes) -> Resolved | Refusal | None:
        if raw[:1] != b"/":
            return Refusal(400, "not an origin-form path")
        if b"\\" in raw or b"\x00" in raw:
            return Refusal(400, "backslash or NUL in the path")
        if _BAD_ESCAPE.search(raw) or _FORBIDDEN_ESCAPE.search(raw):
            return Refusal(400, "invalid or forbidden percent-escape")
        path = _decode(raw)
        segments = path.split(b"/")
        if any(seg in (b".", b"..") for seg in segments):
            return Refusal(400, "dot-segment in the path")
        mount = self.mount_point.encode("latin-1")
        if not path.startswith(mount) or (len(path) > len(mount) and path[len(mount)] != 47):
            return None  # routing matched another spelling of the mount point
        # "/mnt" (the mount point itself) is a directory without its slash: redirected.
        rest = path[len(mount):].split(b"/")[1:]
        want_dir = bool(rest) and rest[-1] == b""
        names = rest[:-1] if want_dir else rest
        if any(not name or (name[:1] == b"." and name != b".well-known") for name in names):
            return None  # "a//b" or a hidden file
        fs_path = os.path.join(self.root, *(os.fsdecode(name) for name in names))
        try:
            info = os.stat(fs_path)
        except (OSError, ValueError):
            return None
        if stat.S_ISDIR(info.st_mode):
            index = self._index(fs_path)
            if index is None:
                return None
            if not self._inside(fs_path):
                return Refusal(404, "symlink leading out of the root")
            if not want_dir:
                return Resolved(fs_path, path, redirect=raw + b"/")
            fs_path, info = index
        elif want_dir:
            return None  # "file.txt/"
        if not self._inside(fs_path):
            return Refusal(404, "symlink leading out of the root")
        if not stat.S_ISREG(info.st_mode):
            return Refusal(404, "not a regular file")
        return Resolved(fs_path, path)

    def _index(self, directory: str) -> tuple[str, os.stat_result] | None:
        for name in self.index_files:
            candidate = os.path.join(directory, name)
            try:
                info = os.stat(candidate)
            except OSError:
                continue
            if stat.S_ISREG(info.st_mode):
                return candidate, info
        return None

    def _inside(self, fs_path: str) -> bool:
        real = os.path.realpath(fs_path)
        try:
            return os.path.commonpath([self.root, real]) == self.root
        except ValueError:
            return False

    def cache_headers(self, url_path: bytes, now: float) -> list[tuple[bytes, bytes]]:
        """Cache-Control/Expires of the longest ``set_max_age`` prefix of ``url_path``."""
        for prefix, seconds in self.max_ages:
            if not prefix or url_path == prefix or url_path.startswith(prefix + b"/"):
                if seconds <= 0:
                    return [(b"cache-control", b"no-cache")]
                return [(b"cache-control", b"max-age=%d" % seconds),
                        (b"expires", ranges.format_http_date(now + seconds))]
        return []

    def _full_head(self, resolved: Resolved, info: os.stat_result, now: int
                   ) -> list[tuple[bytes, bytes]]:
        """The head of a 200 with the whole file (an Expires counted from ``now``)."""
        return [(b"etag", ranges.make_etag(info.st_size, info.st_mtime_ns, info.st_ino)),
                (b"last-modified", ranges.format_http_date(int(info.st_mtime))),
                *self.cache_headers(resolved.url_path, now),
                (b"accept-ranges", b"bytes"), (b"x-content-type-options", b"nosniff"),
                (b"content-type", content_type(resolved.path)),
                (b"content-length", b"%d" % info.st_size)]

    # --- sending --------------------------------------------------------------------------
    def __call__(self, stream: Stream) -> Coroutine[Any, Any, None] | None:
        found = self.resolve(stream)
        if found is None:
            return send_status(stream, 404)
        if isinstance(found, Refusal):
            return send_status(stream, found.status)
        return self.serve(stream, found)

    def serve(self, stream: Stream, resolved: Resolved) -> Coroutine[Any, Any, None] | None:
        """Answer with the file.  The usual request (the whole file, no condition, a
        socket that takes it at once) is done when this returns None: no coroutine and
        no task per response; otherwise the coroutine returned finishes the response."""
        request = stream.request
        method = request.method
        if method not in (b"GET", b"HEAD"):
            return send_status(stream, 405, [(b"allow", ALLOWED_METHODS)])
        if resolved.redirect is not None:
            _, query = split_target(request.target)
            location = resolved.redirect + (b"?" + query if query else b"")
            return send_status(stream, 301, [(b"location", location)])
        file = self.files.acquire(resolved.path)  # one stat when it is open already
        if file is None:
            return send_status(stream, 404)
        try:
            rest = self._send_file(stream, resolved, file, method == b"HEAD")
        except ClientDisconnected:
            rest = None  # (the connection logs the request as the client's close)
        except BaseException:
            self.files.release(file)
            raise
        if rest is None:
            self.files.release(file)
            return None
        return self._release_after(rest, file)

    async def _release_after(self, rest: Coroutine[Any, Any, None], file: CachedFile) -> None:
        try:
            await rest
        finally:
            self.files.release(file)

    def _send_file(self, stream: Stream, resolved: Resolved, file: CachedFile,
                   head_only: bool) -> Coroutine[Any, Any, None] | None:
        # Most requests carry no condition and no Range: one scan decides.
        for name, _ in stream.request.headers:
            if name in _CONDITIONAL:
                return self._send_conditional(stream, resolved, file, head_only)
        # The whole file: its head is built once per file version (and URL path), and
        # once a second where it carries an Expires.
        url_path = resolved.url_path
        head = built_head(file, url_path)
        if head is None:
            now = int(time.time())
            head = file.heads[url_path] = self._full_head(resolved, file.info, now)
            if any(name == b"expires" for name, _ in head):
                file.dated[url_path] = now
        stream.send_head(200, head)
        if not head_only:
            rest = stream.send_file_now(file, 0, file.info.st_size)
            if rest is not None:
                return _end_after(stream, rest)
        stream.end()
        return None

    def send_rest(self, stream: Stream, rest: Coroutine[Any, Any, None],
                  file: CachedFile) -> Coroutine[Any, Any, None]:
        """The fast path's file body that the socket did not take at once: ``rest``
        sends it, then the response ends (as ``serve`` would); ``file`` is held open
        until then."""
        self.files.hold(file)
        return self._release_after(_end_after(stream, rest), file)

    async def _send_conditional(self, stream: Stream, resolved: Resolved, file: CachedFile,
                                head_only: bool) -> None:
        """A request with a precondition or a Range (``ranges.py`` decides)."""
        headers = stream.request.headers
        info = file.info
        size = info.st_size
        mtime = int(info.st_mtime)
        etag = ranges.make_etag(size, info.st_mtime_ns, info.st_ino)
        validators = [(b"etag", etag), (b"last-modified", ranges.format_http_date(mtime))]
        validators += self.cache_headers(resolved.url_path, time.time())
        verdict = ranges.evaluate_preconditions(stream.request.method, headers, etag, mtime)
        if verdict == 304:
            stream.send_head(304, validators)  # no Content-Length: a 304 has no body
            stream.end()
            return
        if verdict is not None:
            await send_status(stream, verdict)
            return
        ctype = content_type(resolved.path)
        common = validators + [(b"accept-ranges", b"bytes"), (b"x-content-type-options", b"nosniff")]
        plan = ranges.FULL
        range_value = ranges.header_value(headers, b"range")
        # Only GET has range semantics (RFC 9110 14.2): HEAD describes the whole file.
        if range_value is not None and not head_only:
            if ranges.if_range_allows(ranges.header_value(headers, b"if-range"), etag, mtime):
                plan = ranges.plan_ranges(range_value, size)
        parts: list[tuple[bytes, int, int]]
        if plan.kind == "unsatisfiable":
            stream.send_head(416, common + [(b"content-range", b"bytes */%d" % size),
                                            (b"content-length", b"0")])
            stream.end()
            return
        tail = b""
        if plan.kind == "full":
            status, length, parts = 200, size, [(b"", 0, size)]
            common += [(b"content-type", ctype)]
        elif len(plan.ranges) == 1:
            (start, stop), = plan.ranges
            status, length, parts = 206, stop - start, [(b"", start, stop)]
            common += [(b"content-type", ctype),
                       (b"content-range", ranges.content_range(start, stop, size))]
        else:
            boundary = secrets.token_hex(16).encode("ascii")
            heads, tail, length = ranges.multipart_heads(plan.ranges, size, ctype, boundary)
            status = 206
            parts = [(h, start, stop) for h, (start, stop) in zip(heads, plan.ranges, strict=True)]
            common += [(b"content-type", b"multipart/byteranges; boundary=" + boundary)]
        stream.send_head(status, common + [(b"content-length", b"%d" % length)])
        if not head_only:
            for part_head, start, stop in parts:
                await stream.send_data(part_head)
                await stream.send_file(file, start, stop - start)
            await stream.send_data(tail)
        stream.end()


def cached_file(route: Route, request: Request) -> tuple[StaticDirectory, CachedFile,
                                                        Headers] | None:
    """The HTTP/1.1 fast path's one check (``connections/http1.py``), for a request
    routed to ``route`` (which has static directories): a plain HTTP/1.1 GET or HEAD (no
    body, no precondition, no Range) of a file that a directory has answered within
    ``RESOLVE_TTL`` and whose 200 head is built: the directory, the open file
    (``FileCache.current``: not held; the caller is done with it before the loop runs
    again, or holds it) and the head.  None: the normal path (``dispatch``), which would
    do the same lookups and send the same bytes for these requests; a directory with no
    fresh answer, a redirect, a refusal or a file that changed since its head was built
    sends everything there."""
    if request.method not in _FAST_METHODS or request.http_version != b"1.1" \
            or request.chunked or request.content_length:
        return None
    for name, _ in request.headers:
        if name in _CONDITIONAL:
            return None
    target = request.target
    if target[:1] != b"/":
        return None  # (the answers are kept under the origin-form path)
    raw = target.partition(b"?")[0]
    now = time.monotonic()
    for static in route.statics:  # in the order pick_handler asks them
        hit = static._resolved.get(raw)
        if hit is None or hit[0] <= now:
            return None
        found = hit[1]
        if found is None:
            continue  # not in this directory: the next one, as pick_handler does
        if type(found) is not Resolved or found.redirect is not None:
            return None
        file = static.files.current(found.path)  # the stat that sees a changed file
        if file is None:
            return None
        head = built_head(file, found.url_path)
        return None if head is None else (static, file, head)
    return None


def built_head(file: CachedFile, url_path: bytes) -> list[tuple[bytes, bytes]] | None:
    """The 200 head built for ``url_path`` of this file version, while it holds: one
    with an Expires only within the second it was counted from."""
    head = file.heads.get(url_path)
    if head is not None and file.dated:
        second = file.dated.get(url_path)
        if second is not None and second != int(time.time()):
            return None
    return head


async def _end_after(stream: Stream, rest: Coroutine[Any, Any, None]) -> None:
    await rest
    stream.end()


async def send_status(stream: Stream, status: int,
                      extra: list[tuple[bytes, bytes]] | None = None) -> None:
    """The small HTML page (``errorpage``) for an error or a redirect."""
    headers, body = errorpage.page(status)
    stream.send_head(status, list(extra or []) + headers)
    if stream.request.method != b"HEAD":
        await stream.send_data(body)
    stream.end()
