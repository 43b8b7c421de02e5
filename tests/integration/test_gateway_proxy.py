"""The reverse proxy with real members: skitai and gunicorn on port 0, a skitai gateway
in front (``skitai.mount("/members", "@members")``)."""

from __future__ import annotations

import collections
import hashlib
import http.client
import json
import os
import socket
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.conftest import ServerProcess, start_app
from tests.fixtures.members import GunicornMember, short_dir, start_skitai_member

GATEWAY = '''
import skitai
{aliases}
skitai.mount("/members", "@members")
skitai.set_backend_timeout({timeout})
{extra}
skitai.run(logpath={logpath!r}, varpath={varpath!r}, {run_args})
'''


def start_gateway(tmp: Path, members: list[str], *, timeout: float = 5, extra: str = "",
                  run_args: str = "threads=0", alias: str | None = None,
                  env: dict[str, str] | None = None) -> ServerProcess:
    where = tmp / "gateway"
    where.mkdir(exist_ok=True)
    aliases = alias or f'skitai.alias("@members", skitai.PROTO_HTTP, {members!r})'
    varpath = short_dir()
    source = GATEWAY.format(aliases=aliases, timeout=timeout, extra=textwrap.dedent(extra),
                            logpath=str(where / "logs"), run_args=run_args, varpath=varpath)
    server = start_app(where, source, env={"HOME": str(where), **(env or {})})
    server.varpath = varpath  # type: ignore[attr-defined]
    return server


def get(server: ServerProcess, path: str, method: str = "GET", body: bytes | None = None,
        headers: dict[str, str] | None = None, timeout: float = 30) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection(server.host, server.port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


@pytest.fixture
def members(tmp_path: Path) -> Iterator[tuple[ServerProcess, GunicornMember]]:
    a = start_skitai_member(tmp_path, "skitai-member")
    b = GunicornMember(tmp_path, "gunicorn-member")
    yield a, b
    a.stop()
    b.stop()


def test_proxy_headers_path_and_transaction_ids(tmp_path: Path, members) -> None:
    a, b = members
    gw = start_gateway(tmp_path, [f"127.0.0.1:{a.port}", f"127.0.0.1:{b.port}"])
    try:
        status, headers, body = get(gw, "/members/hello?x=1", headers={
            "X-Forwarded-For": "6.6.6.6", "Connection": "keep-alive, x-secret",
            "X-Secret": "hop", "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"})
        assert status == 200
        seen = json.loads(body)
        assert seen["path"] == "/hello" and seen["query"] == "x=1"
        h = seen["headers"]
        assert h["x-forwarded-for"] == "127.0.0.1"  # the client's claim is not trusted
        assert h["x-forwarded-proto"] == "http" and h["via"] == "1.1 skitai"
        assert h["host"] == f"127.0.0.1:{gw.port}"  # an address member gets the client's Host
        assert "x-secret" not in h  # named by Connection: hop-by-hop
        assert h["x-gtxn-id"] == "GTID-4bf92f3577b34da6a3ce929d0e0e4736"
        assert h["x-ltxn-id"] == "2001"
        assert h["traceparent"].startswith("00-4bf92f3577b34da6a3ce929d0e0e4736-")
        # the root path of the mount, and a POST body
        status, _, body = get(gw, "/members", "POST", b"abc")
        assert status == 200 and json.loads(body)["path"] == "/"
        status, headers, body = get(gw, "/members/chunked")
        assert (status, body) == (200, b"part1-part2-part3")
        # a mount point written percent-encoded still reaches the member's own path
        seen = json.loads(get(gw, "/m%65mbers/a%20b?x=1")[2])
        assert (seen["path"], seen["query"]) == ("/a b", "x=1")
    finally:
        gw.stop()
    log = (tmp_path / "gateway" / "logs" / "request.log").read_text()
    line = next(ln for ln in log.splitlines() if "/members/hello" in ln)
    assert "GTID-4bf92f3577b34da6a3ce929d0e0e4736 1000" in line
    assert f"upstream=127.0.0.1:{a.port}/" in line or f"upstream=127.0.0.1:{b.port}/" in line


def test_a_skitai_member_reads_the_ids_from_its_environ(tmp_path: Path, members) -> None:
    a, _ = members
    gw = start_gateway(tmp_path, [f"127.0.0.1:{a.port}"])
    try:
        seen = json.loads(get(gw, "/members/ids")[2])
        assert seen["gtxid"] == seen["headers"]["x-gtxn-id"]
        assert seen["gtxid"].startswith("GTID-") and seen["ltxid"] == "2001"
    finally:
        gw.stop()


def test_keep_alive_requests_get_their_own_ids_and_the_log_agrees(tmp_path: Path,
                                                                    members) -> None:
    """Requests on one client connection (the same head again, so the proxy reuses its
    member fields; the later ones take the fast path on a kept-alive member connection):
    each carries its own global id, local id 2001 and a fresh trace id; one that brings
    ids of its own keeps them; the request log has the ids the member got."""
    a, _ = members
    gw = start_gateway(tmp_path, [f"127.0.0.1:{a.port}"])
    seen = []
    try:
        conn = http.client.HTTPConnection(gw.host, gw.port, timeout=30)
        for i in range(5):
            extra = {"X-Gtxn-Id": "GTID-given", "X-Ltxn-Id": "2003"} if i == 3 else {}
            conn.request("GET", f"/members/n{i}", headers=extra)
            resp = conn.getresponse()
            assert resp.status == 200
            seen.append(json.loads(resp.read()))
        conn.close()
    finally:
        gw.stop()
    gtxids = [s["headers"]["x-gtxn-id"] for s in seen]
    assert len(set(gtxids)) == 5 and gtxids[3] == "GTID-given"
    traces = [s["headers"]["traceparent"].split("-")[1] for s in seen]
    assert len(set(traces)) == 5
    for i, s in enumerate(seen):
        assert s["gtxid"] == gtxids[i]
        assert s["headers"]["x-ltxn-id"] == s["ltxid"] == ("3004" if i == 3 else "2001")
        assert s["headers"]["x-forwarded-for"] == "127.0.0.1"
        assert s["headers"]["via"] == "1.1 skitai"
    log = (tmp_path / "gateway" / "logs" / "request.log").read_text()
    for i, gtxid in enumerate(gtxids):
        line = next(ln for ln in log.splitlines() if f"/members/n{i} " in ln)
        assert f" {gtxid} {2003 if i == 3 else 1000} " in line


def test_weights_are_respected(tmp_path: Path, members) -> None:
    a, b = members
    gw = start_gateway(tmp_path, [f"127.0.0.1:{a.port} 1", f"127.0.0.1:{b.port} 3"])
    counts: collections.Counter[str] = collections.Counter()
    try:
        conn = http.client.HTTPConnection(gw.host, gw.port, timeout=30)
        for _ in range(1000):
            conn.request("GET", "/members/")
            resp = conn.getresponse()
            assert resp.status == 200
            counts[json.loads(resp.read())["member"]] += 1
        conn.close()
    finally:
        gw.stop()
    share = counts["gunicorn-member"] / 1000
    assert 0.68 < share < 0.82, counts  # weight 3 of 4: 75%


def test_a_member_killed_under_load_fails_no_get(tmp_path: Path, members) -> None:
    a, b = members
    # A generous member timeout: the point is fail-over, and a loaded machine may make the
    # surviving member slow (a 504 would be a timeout, not a lost GET).
    gw = start_gateway(tmp_path, [f"127.0.0.1:{a.port}", f"127.0.0.1:{b.port}"], timeout=60)
    failures: list[object] = []
    done = 0
    try:
        conn = http.client.HTTPConnection(gw.host, gw.port, timeout=30)
        for i in range(400):
            if i == 100:
                b.proc.kill()  # gunicorn's master: its worker follows
                for child in psutil.Process(os.getpid()).children(recursive=True):
                    if child.pid != b.proc.pid and "gunicorn" in " ".join(child.cmdline()) \
                            and str(tmp_path) in child.cwd():
                        child.kill()
            conn.request("GET", "/members/")
            resp = conn.getresponse()
            data = resp.read()
            if resp.status != 200:
                failures.append((i, resp.status, data[:80]))
            done += 1
        conn.close()
    finally:
        gw.stop()
    assert done == 400 and failures == []


def test_no_member_is_502_and_a_slow_one_504(tmp_path: Path, members) -> None:
    a, _ = members
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    dead = s.getsockname()[1]
    s.close()
    gw = start_gateway(tmp_path, [f"127.0.0.1:{a.port}"], timeout=1, alias=(
        f'skitai.alias("@members", skitai.PROTO_HTTP, ["127.0.0.1:{a.port}"])\n'
        f'skitai.alias("@dead", skitai.PROTO_HTTP, ["127.0.0.1:{dead}"])\n'
        'skitai.mount("/dead", "@dead")'))
    try:
        status, _, body = get(gw, "/dead/")
        assert status == 502 and b"Bad Gateway" in body
        t0 = time.monotonic()
        status, _, body = get(gw, "/members/slow?s=10")
        assert status == 504 and time.monotonic() - t0 < 8
        assert get(gw, "/members/")[0] == 200  # the slow member is not "down"
    finally:
        gw.stop()


def _rss(pid: int) -> int:
    total = 0
    proc = psutil.Process(pid)
    for p in [proc, *proc.children(recursive=True)]:
        if "worker" in " ".join(p.cmdline()):
            total += p.memory_info().rss
    return total


def test_200_mib_both_ways_streams(tmp_path: Path, members) -> None:
    a, _ = members
    gw = start_gateway(tmp_path, [f"127.0.0.1:{a.port}"], extra="skitai.set_max_client_body_size('1G')")
    size = 200 << 20
    try:
        before = _rss(gw.proc.pid)
        # download: read slowly at first, so the proxy must hold back rather than buffer
        conn = http.client.HTTPConnection(gw.host, gw.port, timeout=60)
        conn.request("GET", f"/members/big?n={size}")
        resp = conn.getresponse()
        assert resp.status == 200 and int(resp.getheader("content-length")) == size
        got = 0
        peak = before
        while data := resp.read(1 << 20):
            got += len(data)
            if got % (32 << 20) < (1 << 20):
                peak = max(peak, _rss(gw.proc.pid))
        assert got == size
        conn.close()
        # upload: a generator body, sent chunked, never whole in memory on our side either
        digest = hashlib.sha256()
        piece = os.urandom(1 << 20)

        def body() -> Iterator[bytes]:
            for _ in range(200):
                digest.update(piece)
                yield piece
        conn = http.client.HTTPConnection(gw.host, gw.port, timeout=120)
        conn.request("POST", "/members/upload", body=body(), encode_chunked=True,
                     headers={"Transfer-Encoding": "chunked"})
        resp = conn.getresponse()
        answer = json.loads(resp.read())
        assert resp.status == 200 and answer == {"size": size, "sha256": digest.hexdigest()}
        conn.close()
        peak = max(peak, _rss(gw.proc.pid))
    finally:
        gw.stop()
    assert peak - before < 32 << 20, (before, peak)


def test_a_member_cut_mid_body_aborts_the_client_response(tmp_path: Path) -> None:
    """A member that promises 1 MB and closes after 1 KB: the client sees a broken
    response (connection closed early), never a complete-looking one."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    port = srv.getsockname()[1]

    def serve() -> None:
        while True:
            try:
                c, _ = srv.accept()
            except OSError:
                return
            c.recv(65536)
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n" + b"y" * 1024)
            time.sleep(0.2)
            c.close()
    threading.Thread(target=serve, daemon=True).start()
    gw = start_gateway(tmp_path, [f"127.0.0.1:{port}"])
    try:
        conn = http.client.HTTPConnection(gw.host, gw.port, timeout=30)
        conn.request("GET", "/members/x")
        resp = conn.getresponse()
        assert resp.status == 200
        with pytest.raises(http.client.IncompleteRead):
            resp.read()
        conn.close()
    finally:
        gw.stop()
        srv.close()


class EchoMember:
    """A ``websockets`` echo server on 127.0.0.1:0 in a thread (the WebSocket member)."""

    def __init__(self) -> None:
        import asyncio

        from websockets.asyncio.server import serve

        ready = threading.Event()
        self.port = 0
        self.loop = asyncio.new_event_loop()
        self.done: asyncio.Future[None] = self.loop.create_future()

        async def echo(ws) -> None:  # type: ignore[no-untyped-def]
            async for message in ws:
                await ws.send(message)

        async def member() -> None:
            async with serve(echo, "127.0.0.1", 0) as server:
                self.port = server.sockets[0].getsockname()[1]
                ready.set()
                await self.done

        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(member(),),
                                       daemon=True)
        self.thread.start()
        assert ready.wait(10)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(lambda: self.done.done() or self.done.set_result(None))
        self.thread.join(10)
        self.loop.close()


def test_websocket_through_the_proxy(tmp_path: Path) -> None:
    """A websockets echo member; a websockets client through the gateway (HTTP/1.1)."""
    import asyncio

    from websockets.asyncio.client import connect

    member = EchoMember()
    gw = start_gateway(tmp_path, [f"127.0.0.1:{member.port}"])

    async def client() -> list[object]:
        async with connect(f"ws://127.0.0.1:{gw.port}/members/chat") as ws:
            out: list[object] = []
            for message in ("hello", b"\x00\x01binary", "x" * 200000):
                await ws.send(message)
                out.append(await ws.recv())
            return out
    loop = asyncio.new_event_loop()  # not asyncio.run: it leaves no current loop behind
    try:
        got = loop.run_until_complete(client())
        assert got == ["hello", b"\x00\x01binary", "x" * 200000]
    finally:
        loop.close()
        gw.stop()
        member.stop()


def test_websocket_over_http2_to_an_http1_member(tmp_path: Path) -> None:
    """RFC 8441 extended CONNECT from the client, an HTTP/1.1 upgrade to the member."""
    from tests.integration.test_websocket import H2WebSocket

    member = EchoMember()
    gw = start_gateway(tmp_path, [f"127.0.0.1:{member.port}"])
    try:
        ws = H2WebSocket(gw, "/members/chat")
        assert ws.status == 200
        ws.send(1, b"over h2")
        assert ws.frame() == (1, b"over h2")
        ws.send(2, b"\x00\x01")
        assert ws.frame() == (2, b"\x00\x01")
        ws.sock.close()
    finally:
        gw.stop()
        member.stop()


def test_http2_client_to_http1_members(tmp_path: Path, members) -> None:
    import httpx

    a, b = members
    gw = start_gateway(tmp_path, [f"127.0.0.1:{a.port}", f"127.0.0.1:{b.port}"])
    try:
        with httpx.Client(http1=False, http2=True, base_url=gw.url("")) as client:
            r = client.get("/members/h2?q=1")
            assert r.http_version == "HTTP/2" and r.status_code == 200
            seen = r.json()
            assert seen["path"] == "/h2" and seen["headers"]["via"] == "2 skitai"
            assert seen["headers"]["host"] == f"127.0.0.1:{gw.port}"  # from :authority
            body = os.urandom(300000)
            r = client.post("/members/upload", content=body)
            assert r.json() == {"size": len(body), "sha256": hashlib.sha256(body).hexdigest()}
            r = client.get("/members/big", params={"n": str(3 << 20)})
            assert r.status_code == 200 and len(r.content) == 3 << 20
    finally:
        gw.stop()


def test_member_loads_in_status(tmp_path: Path, members) -> None:
    from skitai.master import control, report

    a, b = members
    gw = start_gateway(tmp_path, [f"127.0.0.1:{a.port} 1", f"127.0.0.1:{b.port} 3"])
    try:
        for _ in range(20):
            assert get(gw, "/members/")[0] == 200
        sock = os.path.join(gw.varpath, "control.sock")  # type: ignore[attr-defined]
        deadline = time.monotonic() + 20
        loads = None
        while time.monotonic() < deadline:
            data = control.call(sock, {"op": "status"}, timeout=20)
            worker = next(p for p in data["processes"] if p["role"] == "worker")
            loads = (worker.get("upstream") or {}).get("@members")
            if loads and sum(m["served"] for m in loads) == 20:
                break
            time.sleep(0.5)
        assert loads is not None
        assert {m["member"]: m["weight"] for m in loads} == {
            f"127.0.0.1:{a.port}": 1, f"127.0.0.1:{b.port}": 3}
        assert sum(m["served"] for m in loads) == 20 and all(m["state"] == "up" for m in loads)
        text = report.format_status(data)
        assert "OUTSTANDING" in text and f"127.0.0.1:{b.port}" in text
    finally:
        gw.stop()


@pytest.mark.parametrize("answer", [
    b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nsmuggled\r\n",
    b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n",
])
def test_a_malformed_member_response_is_a_502(tmp_path: Path, answer: bytes) -> None:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)

    def serve() -> None:
        while True:
            try:
                c, _ = srv.accept()
            except OSError:
                return
            c.recv(65536)
            c.sendall(answer)
            c.close()
    threading.Thread(target=serve, daemon=True).start()
    gw = start_gateway(tmp_path, [f"127.0.0.1:{srv.getsockname()[1]}"])
    try:
        status, _, body = get(gw, "/members/x", "POST", b"once")
        assert status == 502 and b"smuggled" not in body
    finally:
        gw.stop()
        srv.close()


def test_forwarded_headers_from_a_trusted_proxy_are_kept(tmp_path: Path, members) -> None:
    a, _ = members
    gw = start_gateway(tmp_path, [f"127.0.0.1:{a.port}"],
                       extra='skitai.set_trusted_proxies("127.0.0.0/8")')
    try:
        seen = json.loads(get(gw, "/members/", headers={
            "X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https",
            "X-Forwarded-Host": "api.example.com"})[2])
        h = seen["headers"]
        assert h["x-forwarded-for"] == "203.0.113.7, 127.0.0.1"
        assert h["x-forwarded-proto"] == "https" and h["x-forwarded-host"] == "api.example.com"
    finally:
        gw.stop()
