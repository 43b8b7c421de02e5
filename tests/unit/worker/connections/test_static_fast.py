"""The HTTP/1.1 fast path for a cached static file (``Http1Connection._send_cached``):
the same bytes, counts and log lines as the normal path (dispatch -> StaticDirectory).

Each test runs its requests twice where it matters: with the fast path, and with
``cached_file`` patched to answer None (the normal path for every request)."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from skitai import log as logmod
from skitai.worker import ranges
from skitai.worker import static as static_mod
from skitai.worker.connections import http1
from skitai.worker.static import StaticDirectory
from tests.unit.worker.connections.fakes import Site

SMALL = b"hello, static\n"
BIG = os.urandom(600 * 1024)  # past FILE_CHUNK: sent by a coroutine (no sendfile here)


class Spy:
    """Counts the requests the fast path answered."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        real = http1.Http1Connection._send_cached

        def counted(conn: http1.Http1Connection, *args: object) -> None:
            self.calls += 1
            real(conn, *args)  # type: ignore[arg-type]

        monkeypatch.setattr(http1.Http1Connection, "_send_cached", counted)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "a.txt").write_bytes(SMALL)
    (tmp_path / "big.bin").write_bytes(BIG)
    (tmp_path / "js").mkdir()
    (tmp_path / "js" / "app.js").write_text("let x = 1;")
    (tmp_path / ".env").write_text("SECRET=1")
    return tmp_path


def make_site(root: Path) -> Site:
    site = Site(None, request_timeout=5.0, keep_alive=10.0)
    static = StaticDirectory(str(root), mount_point="/static", max_ages=[("/static/js", 0)])
    site.router.default.add("/static", static=static)
    return site


@pytest.fixture
def site(root: Path) -> Iterator[Site]:
    s = make_site(root)
    yield s
    s.close()


def transcript(root: Path, requests: list[bytes], fast: bool,
               monkeypatch: pytest.MonkeyPatch) -> tuple[bytes, int]:
    """Every byte written for ``requests`` (one per data_received) on one connection,
    Date lines blanked; and how many the fast path answered."""
    spy = Spy(monkeypatch)
    site = make_site(root)
    try:
        with monkeypatch.context() as m:
            if not fast:
                m.setattr(http1, "cached_file", lambda router, request: None)
            conn, t = site.http1()
            out = b""
            for raw in requests:
                site.call(conn.data_received, raw)
                site.turn()
                out += t.take()
    finally:
        site.close()
    return re.sub(rb"date: [^\r]*\r\n", b"date: -\r\n", out), spy.calls


def get(target: str, method: str = "GET", extra: str = "", version: str = "1.1") -> bytes:
    return f"{method} {target} HTTP/{version}\r\nHost: x\r\nUser-Agent: t\r\n{extra}\r\n".encode()


REQUESTS = [get("/static/a.txt"), get("/static/a.txt"), get("/static/a.txt", "HEAD"),
            get("/static/a.txt", "HEAD"), get("/static/a.txt?v=2"), get("/static/js/app.js"),
            get("/static/js/app.js"), get("/static/big.bin"), get("/static/big.bin"),
            get("/static/big.bin", "HEAD"), get("/static/.env"), get("/static/nothing"),
            get("/static/a.txt", extra="Connection: keep-alive\r\n", version="1.0"),
            get("/static/a.txt", extra="Connection: close\r\n")]


def test_fast_path_sends_the_same_bytes_as_the_normal_path(
        root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    slow, none = transcript(root, REQUESTS, False, monkeypatch)
    fast, used = transcript(root, REQUESTS, True, monkeypatch)
    assert none == 0
    # the second GET and both HEADs of a.txt, ?v=2, the second app.js (max-age 0: its
    # head has no Expires, so it is kept), both later big.bin, the Connection: close one
    # (not HTTP/1.0: the normal path)
    assert used == 8
    assert fast == slow
    assert fast.count(BIG) == 2 and fast.count(b"HTTP/1.1 404 ") == 2
    assert b"connection: keep-alive\r\n" in fast
    assert b"connection: close\r\n" in fast[fast.rindex(b"HTTP/1.1 200 "):]


def test_a_changed_file_is_seen_at_the_next_request(root: Path, site: Site,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    spy = Spy(monkeypatch)
    conn, t = site.http1()
    for _ in range(2):
        site.call(conn.data_received, get("/static/a.txt"))
    first = t.take()
    assert spy.calls == 1 and first.count(SMALL) == 2
    (root / "a.txt").write_bytes(b"changed!")
    os.utime(root / "a.txt", ns=(1, 10**18))
    site.call(conn.data_received, get("/static/a.txt"))
    out = t.take()
    assert out.endswith(b"\r\n\r\nchanged!") and b"content-length: 8\r\n" in out
    assert spy.calls == 1  # a new file version: the normal path builds its head
    site.call(conn.data_received, get("/static/a.txt"))
    assert t.take().endswith(b"\r\n\r\nchanged!") and spy.calls == 2
    (root / "a.txt").unlink()
    site.call(conn.data_received, get("/static/a.txt"))
    assert t.take().startswith(b"HTTP/1.1 404 ") and spy.calls == 2


def test_a_conditional_request_gets_304_by_the_normal_path(
        site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    spy = Spy(monkeypatch)
    conn, t = site.http1()
    site.call(conn.data_received, get("/static/a.txt"))
    etag = re.search(rb"etag: ([^\r]*)", t.take()).group(1).decode()  # type: ignore[union-attr]
    site.call(conn.data_received, get("/static/a.txt", extra=f"If-None-Match: {etag}\r\n"))
    assert t.take().startswith(b"HTTP/1.1 304 ")
    site.call(conn.data_received, get("/static/a.txt", extra="Range: bytes=0-4\r\n"))
    assert t.take().endswith(b"\r\n\r\nhello")
    assert spy.calls == 0


def test_pipelined_requests_keep_their_order(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    spy = Spy(monkeypatch)
    conn, t = site.http1()
    site.call(conn.data_received, get("/static/a.txt") + get("/static/js/app.js")
              + get("/static/big.bin"))
    site.turn(20)
    t.take()
    site.call(conn.data_received, get("/static/js/app.js") + get("/static/nothing")
              + get("/static/a.txt") + get("/static/big.bin") + get("/static/a.txt"))
    site.turn(20)
    out = t.take()
    order = [out.index(b"let x = 1;"), out.index(b"HTTP/1.1 404 "), out.index(SMALL),
             out.index(BIG), out.rindex(SMALL)]
    assert order == sorted(order) and out.count(b"HTTP/1.1 ") == 5
    assert spy.calls == 4 and not t.closed


def test_requests_are_counted(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    spy = Spy(monkeypatch)
    seen: list[tuple[bytes, bytes]] = []
    site.server.on_request = lambda method, target: seen.append((method, target))
    conn, t = site.http1()
    for method in ("GET", "GET", "HEAD"):
        site.call(conn.data_received, get("/static/a.txt", method))
    assert spy.calls == 2 and site.server.requests_served == 3
    assert seen == [(b"GET", b"/static/a.txt")] * 2 + [(b"HEAD", b"/static/a.txt")]


class Lines:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def write(self, line: str) -> None:
        self.lines.append(line)


def test_the_access_log_line_is_written(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    spy = Spy(monkeypatch)
    server = site.server
    server.log_off = logmod.LogOff([])
    server.log_requests = True
    lines = server.logs.request = Lines()  # type: ignore[assignment]
    conn, t = site.http1()
    for method in ("GET", "GET", "HEAD"):
        site.call(conn.data_received, get("/static/a.txt", method))
    assert spy.calls == 2 and len(lines.lines) == 3
    for line, method in zip(lines.lines, ("GET", "GET", "HEAD"), strict=True):
        assert f" {method} /static/a.txt 1.1 0 200 " in line
    assert f" 200 {len(SMALL)} " in lines.lines[1]


def test_a_stopping_server_says_close(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    spy = Spy(monkeypatch)
    conn, t = site.http1()
    site.call(conn.data_received, get("/static/a.txt"))
    t.take()
    site.server.stopping = True
    site.call(conn.data_received, get("/static/a.txt"))
    out = t.take()
    assert spy.calls == 1 and b"connection: close\r\n" in out and out.endswith(SMALL)
    assert t.closed


def test_a_client_gone_mid_file_releases_it(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    spy = Spy(monkeypatch)
    conn, t = site.http1()
    site.call(conn.data_received, get("/static/big.bin"))
    t.take()
    site.call(conn.pause_writing)  # the client stopped reading: the rest waits for a drain
    site.call(conn.data_received, get("/static/big.bin"))
    assert spy.calls == 1 and conn.current is not None
    static = site.router.default.routes["/static"].statics[0]
    (entry,) = static.files._files.values()
    assert entry.users == 1
    site.call(conn.connection_lost, None)
    site.turn()
    assert entry.users == 0 and conn.current is None


class Clock:
    """``static.time`` with a wall clock the test sets (monotonic stays real)."""

    def __init__(self, now: float) -> None:
        self.now = now
        self.monotonic = time.monotonic

    def time(self) -> float:
        return self.now


def test_a_max_age_head_is_kept_within_its_second(
        root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # set_max_age(300): the head's Expires moves on each second, so a head is reused in
    # the second it was counted from (fast) and built again in the next (normal path).
    spy = Spy(monkeypatch)
    clock = Clock(1_000_000.2)
    monkeypatch.setattr(static_mod, "time", clock)
    site = Site(None, request_timeout=5.0, keep_alive=10.0)
    static = StaticDirectory(str(root), mount_point="/static", max_ages=[("/static", 300)])
    site.router.default.add("/static", static=static)
    try:
        conn, t = site.http1()
        expires = []
        for now in (1_000_000.2, 1_000_000.9, 1_000_001.1, 1_000_001.5):
            clock.now = now
            site.call(conn.data_received, get("/static/a.txt"))
            out = t.take()
            assert out.endswith(SMALL) and b"cache-control: max-age=300\r\n" in out
            expires.append(re.search(rb"expires: ([^\r]*)", out).group(1))  # type: ignore[union-attr]
    finally:
        site.close()
    assert spy.calls == 2  # the second request of each second
    assert expires[0] == expires[1] == ranges.format_http_date(1_000_000 + 300)
    assert expires[2] == expires[3] == ranges.format_http_date(1_000_001 + 300)
