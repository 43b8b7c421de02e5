"""static.py through a real Stream and a recording sink (no sockets: the server's own tests
cover the wire).  Files live in tmp_path; a secret sits next to the root to catch escapes."""

from __future__ import annotations

import asyncio
import email
import email.policy
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import pytest

from skitai.worker import events, ranges
from skitai.worker.static import Refusal, Resolved, StaticDirectory, content_type
from skitai.worker.stream import Stream

SECRET = b"TOP SECRET"
DATA = bytes(range(256)) * 64  # 16 KiB


@dataclass
class Sink:
    """Records what a handler sends; sendfile is done by reading the real file."""

    events: list[events.Event] = field(default_factory=list)
    body: bytearray = field(default_factory=bytearray)

    def stream_send(self, event: events.Event) -> None:
        self.events.append(event)
        if isinstance(event, events.Data):
            self.body += event.data

    async def stream_drain(self, stream_id: int) -> None:
        return None

    async def stream_sendfile(self, stream_id: int, file: IO[bytes], offset: int, count: int) -> None:
        chunk = os.pread(file.fileno(), count, offset)
        assert len(chunk) == count, "asked to send more than the file holds"
        self.body += chunk

    def pause_reading(self) -> None:
        return None

    def resume_reading(self) -> None:
        return None


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name)


def run(handler: StaticDirectory, target: str | bytes, headers: dict[str, str] | None = None,
        method: str = "GET", mount: str = "") -> Reply:
    raw = target.encode("latin-1") if isinstance(target, str) else target
    request = events.Request(1, method.encode(), raw,
                             [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
                             b"1.1")
    sink = Sink()

    async def go() -> None:
        stream = Stream(sink, request, asyncio.get_running_loop(), scheme="http", client=None,
                        server=None, started=0.0)
        stream.script_name = mount
        rest = handler(stream)  # None: answered without a coroutine
        if rest is not None:
            await rest
        assert stream.ended

    asyncio.run(go())
    heads = [e for e in sink.events if isinstance(e, events.Response)]
    assert len(heads) == 1 and isinstance(sink.events[-1], events.EndData)
    hdrs: dict[str, str] = {}
    for name, value in heads[0].headers:
        assert name == name.lower() and name.decode() not in hdrs, name
        hdrs[name.decode()] = value.decode("latin-1")
    reply = Reply(heads[0].status, hdrs, bytes(sink.body))
    if reply.status != 304:
        assert int(reply.headers["content-length"]) == len(reply.body) or method == "HEAD"
    return reply


@pytest.fixture()
def site(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    for sub in ("docs", "js", "jsx", "empty", "images/big", ".git", ".well-known/acme-challenge"):
        (root / sub).mkdir(parents=True)
    (root / "index.html").write_text("<h1>home</h1>")
    (root / "docs" / "index.html").write_text("<h1>docs</h1>")
    (root / "js" / "app.js").write_text("let x = 1;")
    (root / "jsx" / "app.js").write_text("let y = 2;")
    (root / "images" / "a.png").write_bytes(b"\x89PNG")
    (root / "images" / "big" / "b.png").write_bytes(b"\x89PNG")
    (root / "blob.weird").write_bytes(b"\x00\x01")
    (root / "data.bin").write_bytes(DATA)
    (root / "empty.txt").write_bytes(b"")
    (root / "a b.txt").write_text("spaced")
    (root / ".env").write_text(SECRET.decode())
    (root / ".git" / "config").write_text(SECRET.decode())
    (root / ".well-known" / "acme-challenge" / "tok").write_text("token")
    (tmp_path / "secret.txt").write_bytes(SECRET)
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "index.html").write_bytes(SECRET)
    os.symlink(tmp_path / "secret.txt", root / "link-out.txt")
    os.symlink(tmp_path / "outside", root / "dir-out")
    os.symlink(root / "js" / "app.js", root / "link-in.js")
    os.mkfifo(root / "pipe")
    return root


@pytest.fixture()
def static(site: Path) -> StaticDirectory:
    return StaticDirectory(str(site), max_ages=[("/", 300), ("/js", 0), ("/images/big/", 3600)])


# --- plain serving ----------------------------------------------------------------------------

def test_file_with_headers(static: StaticDirectory) -> None:
    r = run(static, "/index.html")
    assert r.status == 200 and r.body == b"<h1>home</h1>"
    assert r.header("content-type") == "text/html; charset=utf-8"
    assert r.header("content-length") == "13"
    assert r.header("accept-ranges") == "bytes"
    assert r.header("x-content-type-options") == "nosniff"
    etag = r.header("etag")
    assert etag and etag.startswith('"') and etag.endswith('"')
    mtime = int(os.stat(static.root + "/index.html").st_mtime)
    assert ranges.parse_http_date(r.header("last-modified") or "") == mtime
    for forbidden in ("date", "server", "connection", "transfer-encoding"):
        assert forbidden not in r.headers


def test_percent_encoded_name_and_link_inside_root(static: StaticDirectory) -> None:
    assert run(static, "/a%20b.txt").body == b"spaced"
    assert run(static, "/link-in.js").body == b"let x = 1;"


def test_content_types() -> None:
    assert content_type("x.weird") == b"application/octet-stream"
    assert content_type("x.png") == b"image/png"
    assert content_type("x.css") == b"text/css; charset=utf-8"
    assert content_type("x.js").endswith(b"javascript; charset=utf-8")
    assert content_type("x.json") == b"application/json; charset=utf-8"
    assert content_type("x.tar.gz") == b"application/gzip"


def test_unknown_type(static: StaticDirectory) -> None:
    r = run(static, "/blob.weird")
    assert r.header("content-type") == "application/octet-stream" and r.body == b"\x00\x01"


def test_head_has_length_and_no_body(static: StaticDirectory) -> None:
    r = run(static, "/data.bin", method="HEAD")
    assert r.status == 200 and r.header("content-length") == str(len(DATA)) and r.body == b""
    r = run(static, "/data.bin", {"Range": "bytes=0-9"}, method="HEAD")  # Range is GET-only
    assert r.status == 200 and r.header("content-length") == str(len(DATA)) and r.body == b""


def test_other_methods_are_405(static: StaticDirectory) -> None:
    for method in ("POST", "PUT", "DELETE", "OPTIONS"):
        r = run(static, "/index.html", method=method)
        assert r.status == 405 and r.header("allow") == "GET, HEAD" and SECRET not in r.body


def test_empty_file(static: StaticDirectory) -> None:
    r = run(static, "/empty.txt", {"Range": "bytes=0-9"})
    assert r.status == 200 and r.body == b"" and r.header("content-length") == "0"


def test_missing_is_404_and_resolve_none(static: StaticDirectory) -> None:
    assert run(static, "/nope.html").status == 404
    assert run(static, "/index.html/").status == 404
    assert run(static, "/empty/").status == 404  # a directory without an index


def test_resolve_answers_are_reused_for_the_ttl_only(static: StaticDirectory, site: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from skitai.worker import static as static_mod

    assert run(static, "/later.txt").status == 404
    (site / "later.txt").write_bytes(b"new")
    assert run(static, "/later.txt").status == 404  # the cached answer, within the TTL
    # Past the TTL (the monotonic clock moved on) the new file is found...
    now = time.monotonic()
    monkeypatch.setattr(static_mod.time, "monotonic", lambda: now + static_mod.RESOLVE_TTL + 1)
    assert run(static, "/later.txt").body == b"new"
    # ...and a deleted file is a 404 at once: it is opened per request.
    (site / "later.txt").unlink()
    assert run(static, "/later.txt").status == 404


# --- directories ------------------------------------------------------------------------------

def test_index_html(static: StaticDirectory) -> None:
    assert run(static, "/").body == b"<h1>home</h1>"
    r = run(static, "/docs/")
    assert r.body == b"<h1>docs</h1>" and r.header("content-type") == "text/html; charset=utf-8"


def test_directory_without_slash_redirects_keeping_query(static: StaticDirectory) -> None:
    r = run(static, "/docs?a=1&b=2")
    assert r.status == 301 and r.header("location") == "/docs/?a=1&b=2"
    assert run(static, "/docs").header("location") == "/docs/"


def test_mounted_under_a_prefix(site: Path) -> None:
    handler = StaticDirectory(str(site), mount_point="/static", max_ages=[("/static/js", 60)])
    r = run(handler, "/static/js/app.js", mount="/static")
    assert r.body == b"let x = 1;" and r.header("cache-control") == "max-age=60"
    assert run(handler, "/static/", mount="/static").body == b"<h1>home</h1>"
    r = run(handler, "/static", mount="/static")
    assert r.status == 301 and r.header("location") == "/static/"
    assert "cache-control" not in run(handler, "/static/index.html", mount="/static").headers


# --- max age ------------------------------------------------------------------------------------

def test_max_age_longest_prefix(static: StaticDirectory) -> None:
    before = time.time()
    r = run(static, "/index.html")
    assert r.header("cache-control") == "max-age=300"
    expires = ranges.parse_http_date(r.header("expires") or "")
    assert expires is not None and before + 300 - 2 <= expires <= time.time() + 300 + 1
    r = run(static, "/js/app.js")
    assert r.header("cache-control") == "no-cache" and "expires" not in r.headers
    # "/js" is a whole-segment prefix: it does not leak onto "/jsx"
    assert run(static, "/jsx/app.js").header("cache-control") == "max-age=300"
    assert run(static, "/images/a.png").header("cache-control") == "max-age=300"
    assert run(static, "/images/big/b.png").header("cache-control") == "max-age=3600"


def test_no_rule_no_cache_headers(site: Path) -> None:
    r = run(StaticDirectory(str(site)), "/index.html")
    assert "cache-control" not in r.headers and "expires" not in r.headers


# --- conditional requests ---------------------------------------------------------------------

def test_if_none_match_304(static: StaticDirectory) -> None:
    first = run(static, "/index.html")
    etag = first.header("etag") or ""
    r = run(static, "/index.html", {"If-None-Match": etag})
    assert r.status == 304 and r.body == b"" and "content-length" not in r.headers
    assert r.header("etag") == etag and r.header("cache-control") == "max-age=300"
    assert run(static, "/index.html", {"If-None-Match": f'"x", W/{etag}'}).status == 304
    assert run(static, "/index.html", {"If-None-Match": "*"}).status == 304
    assert run(static, "/index.html", {"If-None-Match": '"other"'}).status == 200
    assert run(static, "/index.html", {"If-None-Match": etag}, method="HEAD").status == 304


def test_if_modified_since(static: StaticDirectory) -> None:
    last = run(static, "/index.html").header("last-modified") or ""
    assert run(static, "/index.html", {"If-Modified-Since": last}).status == 304
    old = ranges.format_http_date(0).decode()
    assert run(static, "/index.html", {"If-Modified-Since": old}).status == 200
    # ignored when If-None-Match is present (RFC 9110 13.1.3)
    r = run(static, "/index.html", {"If-Modified-Since": last, "If-None-Match": '"other"'})
    assert r.status == 200


def test_etag_changes_with_content(static: StaticDirectory, site: Path) -> None:
    etag = run(static, "/index.html").header("etag") or ""
    (site / "index.html").write_text("<h1>changed, longer</h1>")
    r = run(static, "/index.html", {"If-None-Match": etag})
    assert r.status == 200 and r.body == b"<h1>changed, longer</h1>"


def test_if_match_412(static: StaticDirectory) -> None:
    assert run(static, "/index.html", {"If-Match": '"other"'}).status == 412


# --- ranges --------------------------------------------------------------------------------------

def test_single_range(static: StaticDirectory) -> None:
    r = run(static, "/data.bin", {"Range": "bytes=100-199"})
    assert r.status == 206 and r.body == DATA[100:200]
    assert r.header("content-range") == f"bytes 100-199/{len(DATA)}"
    assert r.header("content-type") == "application/octet-stream"
    r = run(static, "/data.bin", {"Range": "bytes=-10"})
    assert r.status == 206 and r.body == DATA[-10:]
    r = run(static, "/data.bin", {"Range": f"bytes={len(DATA) - 5}-"})
    assert r.status == 206 and r.body == DATA[-5:]
    r = run(static, "/data.bin", {"Range": "bytes=0-9,5-19"})  # coalesced into one
    assert r.status == 206 and r.body == DATA[:20] and r.header("content-range").startswith("bytes 0-19/")


def parse_multipart(reply: Reply) -> list[tuple[str, str, bytes]]:
    ctype = reply.header("content-type") or ""
    message = email.message_from_bytes(
        b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + reply.body, policy=email.policy.HTTP)
    assert message.is_multipart() and message.get_content_type() == "multipart/byteranges"
    return [(part["content-type"], part["content-range"], part.get_payload(decode=True))
            for part in message.iter_parts()]


def test_multiple_ranges_multipart(static: StaticDirectory) -> None:
    r = run(static, "/data.bin", {"Range": "bytes=1000-1009, 0-9, -4"})
    assert r.status == 206 and "content-range" not in r.headers
    assert (r.header("content-type") or "").startswith("multipart/byteranges; boundary=")
    size = len(DATA)
    assert parse_multipart(r) == [
        ("application/octet-stream", f"bytes 0-9/{size}", DATA[0:10]),
        ("application/octet-stream", f"bytes 1000-1009/{size}", DATA[1000:1010]),
        ("application/octet-stream", f"bytes {size - 4}-{size - 1}/{size}", DATA[-4:]),
    ]
    other = run(static, "/data.bin", {"Range": "bytes=0-9,20-29"})
    assert other.header("content-type") != r.header("content-type")  # a fresh boundary


def test_unsatisfiable_416(static: StaticDirectory) -> None:
    size = len(DATA)
    for value in (f"bytes={size + 10}-", f"bytes={size}-{size + 5}", "bytes=-0"):
        r = run(static, "/data.bin", {"Range": value})
        assert r.status == 416 and r.header("content-range") == f"bytes */{size}", value
        assert r.body == b""


def test_invalid_or_abusive_range_gives_whole_file(static: StaticDirectory) -> None:
    for value in ("bytes=9-1", "bytes=abc", "lines=1-2", "bytes=0-,0-,0-,0-,0-",
                  "bytes=" + ",".join(f"{i}-{i}" for i in range(0, 400, 2))):
        r = run(static, "/data.bin", {"Range": value})
        assert r.status == 200 and r.body == DATA, value


def test_if_range(static: StaticDirectory) -> None:
    full = run(static, "/data.bin")
    etag, last = full.header("etag") or "", full.header("last-modified") or ""
    assert run(static, "/data.bin", {"Range": "bytes=0-9", "If-Range": etag}).status == 206
    assert run(static, "/data.bin", {"Range": "bytes=0-9", "If-Range": last}).status == 206
    r = run(static, "/data.bin", {"Range": "bytes=0-9", "If-Range": '"stale"'})
    assert r.status == 200 and r.body == DATA
    old = ranges.format_http_date(0).decode()
    assert run(static, "/data.bin", {"Range": "bytes=0-9", "If-Range": old}).status == 200


# --- no way out of the root --------------------------------------------------------------------

TRAVERSALS = [
    "/../secret.txt", "/docs/../../secret.txt", "/%2e%2e/secret.txt", "/%2E%2e/secret.txt",
    "/.%2e/secret.txt", "/docs/%2e%2e/%2e%2e/secret.txt", "/..%2fsecret.txt",
    "/docs/..%2F..%2Fsecret.txt", "/..%5csecret.txt", "/..%5Csecret.txt", "/..\\secret.txt",
    "/docs\\..\\..\\secret.txt", "/index.html%00", "/index.html\x00", "/%00", "/%zz/x",
    "/bad%2", "/bad%", "/./index.html", "/docs/./../../secret.txt", "/%2e/index.html",
    "/link-out.txt", "/dir-out/", "/dir-out/index.html", "/dir-out", "/%252e%252e/secret.txt",
    "/docs/..;/secret.txt", "//secret.txt", "/.env", "/.git/config", "/%2eenv", "/pipe",
    "http://evil/../secret.txt", "*",
]


@pytest.mark.parametrize("target", TRAVERSALS)
def test_no_way_out_of_the_root(static: StaticDirectory, target: str) -> None:
    r = run(static, target)
    assert r.status in (400, 404), (target, r.status)
    assert SECRET not in r.body


@pytest.mark.parametrize(("target", "status"), [
    ("/../secret.txt", 400), ("/%2E%2e/secret.txt", 400), ("/..%2fsecret.txt", 400),
    ("/..%5csecret.txt", 400), ("/a\\b", 400), ("/x%00", 400), ("/x\x00", 400), ("/%zz", 400),
    ("/./index.html", 400),
])
def test_malformed_targets_are_refused_400(static: StaticDirectory, target: str, status: int) -> None:
    found = resolve(static, target)
    assert isinstance(found, Refusal) and found.status == status


def resolve(static: StaticDirectory, target: str, mount: str = "") -> Resolved | Refusal | None:
    request = events.Request(1, b"GET", target.encode("latin-1"), [], b"1.1")

    async def go() -> Resolved | Refusal | None:
        stream = Stream(Sink(), request, asyncio.get_running_loop(), scheme="http", client=None,
                        server=None, started=0.0)
        stream.script_name = mount
        return static.resolve(stream)

    return asyncio.run(go())


def test_resolve_outcomes(static: StaticDirectory) -> None:
    # outside symlinks and non-regular files: refused (an app on the mount never sees them)
    for target in ("/link-out.txt", "/dir-out/", "/pipe"):
        found = resolve(static, target)
        assert isinstance(found, Refusal) and found.status == 404, target
    # missing, hidden and index-less: None (routing may fall through to an app)
    for target in ("/nope", "/.env", "/.git/config", "/empty/", "//x", "/index.html/"):
        assert resolve(static, target) is None, target
    found = resolve(static, "/index.html")
    assert isinstance(found, Resolved) and found.redirect is None
    found = resolve(static, "/docs")
    assert isinstance(found, Resolved) and found.redirect == b"/docs/"


def test_well_known_is_served(static: StaticDirectory) -> None:
    assert run(static, "/.well-known/acme-challenge/tok").body == b"token"


def test_file_replaced_by_fifo_after_resolve(static: StaticDirectory, site: Path) -> None:
    found = resolve(static, "/blob.weird")
    assert isinstance(found, Resolved)
    os.unlink(site / "blob.weird")
    os.mkfifo(site / "blob.weird")  # open() must not hang; fstat refuses it
    sink = Sink()

    async def go() -> int:
        request = events.Request(1, b"GET", b"/blob.weird", [], b"1.1")
        stream = Stream(sink, request, asyncio.get_running_loop(), scheme="http", client=None,
                        server=None, started=0.0)
        await asyncio.wait_for(static.serve(stream, found), 10)
        return stream.status

    assert asyncio.run(go()) == 404
