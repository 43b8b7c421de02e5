"""HTTP/2 to members over TLS, end to end: skitai servers with TLS (their own HTTP/2) as
the members of an ``https`` alias; ``was.get`` and the reverse proxy reach them over one
multiplexed h2 connection each; a member offering only http/1.1 gets HTTP/1.1."""

from __future__ import annotations

import http.server
import shutil
import ssl
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

import skitai
from skitai import api, was
from skitai.was import http as was_http
from skitai.was import process, rcache, targets
from tests.conftest import ServerProcess, start_app
from tests.integration.test_http2 import prepare
from tests.integration.test_tls import make_cert

pytestmark = pytest.mark.skipif(not shutil.which("openssl"), reason="openssl is not installed")


@pytest.fixture(scope="module")
def tls_members(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[ServerProcess]]:
    """Two skitai TLS members (ALPN h2 and http/1.1), one certificate."""
    tmp = tmp_path_factory.mktemp("h2members")
    cert, key = make_cert(tmp, "member")
    servers = []
    try:
        for i in range(2):
            where = tmp / f"m{i}"
            where.mkdir()
            servers.append(start_app(where, prepare(where), env={
                "TEST_CERT": str(cert), "TEST_KEY": str(key), "SKITAI_THREADS": "4",
                "SKITAI_VARPATH": str(where / "var")}))
            servers[-1].cert = str(cert)  # type: ignore[attr-defined]
        yield servers
    finally:
        for srv in servers:
            srv.stop()


@pytest.fixture
def trust(tls_members: list[ServerProcess], monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """was in this process, verifying the members' certificate (the pool's default
    context reads SSL_CERT_FILE when it is made, at a pool's first TLS connect)."""
    cert = tls_members[0].cert  # type: ignore[attr-defined]
    monkeypatch.setenv("SSL_CERT_FILE", cert)
    api.reset()
    targets.configure(None)
    rcache.get_cache().clear()
    yield cert
    api.reset()
    process.reset()
    rcache.get_cache().clear()


def connections_to(port: int) -> int:
    """This process's established TCP connections to a member's port."""
    return sum(1 for c in psutil.Process().net_connections("tcp")
               if c.raddr and c.raddr.port == port and c.status == psutil.CONN_ESTABLISHED)


def test_was_get_goes_over_one_h2_connection(tls_members: list[ServerProcess], trust: str) -> None:
    member = tls_members[0]
    skitai.alias("@h2one", skitai.PROTO_HTTPS, f"127.0.0.1:{member.port}")
    before = connections_to(member.port)
    first = was.get("@h2one/echo/first").getwait(10)
    assert first.status == 3, first.error
    assert first.data.startswith("HTTP/2 GET /echo/first|") and "scheme=https" in first.data
    calls = [was.get(f"@h2one/echo/{i}") for i in range(20)]  # all started before a wait
    bodies = [c.getwait(10).data for c in calls]
    assert [b.split("|")[0] for b in bodies] == [f"HTTP/2 GET /echo/{i}" for i in range(20)]
    assert f"host=127.0.0.1:{member.port}" in bodies[0]
    assert connections_to(member.port) == before + 1  # twenty calls, one h2 connection
    posted = was.post("@h2one/echo/p", {"a": "b"}).getwait(10)
    assert posted.data.startswith("HTTP/2 POST /echo/p| len=3 ")


def test_map_and_lb_over_h2_members(tls_members: list[ServerProcess], trust: str) -> None:
    ports = [m.port for m in tls_members]
    skitai.alias("@h2two", skitai.PROTO_HTTPS, [f"127.0.0.1:{p}" for p in ports])
    before = [connections_to(p) for p in ports]  # other aliases' pools may have some
    for _ in range(2):
        results = was.get.map("@h2two/echo/map").getswait(10)
        assert results.status_code == [200, 200]
        assert all(r.data.startswith("HTTP/2 GET /echo/map|") for r in results)
        assert {r.data.rsplit("pid=", 1)[1] for r in results} == {
            str(_worker_pid(m)) for m in tls_members}
    for _ in range(6):
        assert was.get.lb("@h2two/echo/lb").getwait(10).data.startswith("HTTP/2 GET")
    after = [connections_to(p) for p in ports]
    assert [a - b for a, b in zip(after, before, strict=True)] == [1, 1]  # one each, shared


def test_a_member_offering_only_http11_gets_http11(tmp_path: Path, trust: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    cert, key = make_cert(tmp_path, "h1")
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802
            out = f"{self.request_version} {self.path}".encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, *args: object) -> None:
            pass

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    ctx.set_alpn_protocols(["http/1.1"])
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        skitai.alias("@h1tls", skitai.PROTO_HTTPS, f"127.0.0.1:{server.server_port}")
        answers = [was.get(f"@h1tls/x{i}") for i in range(3)]
        assert [a.getwait(10).data for a in answers] == [f"HTTP/1.1 /x{i}" for i in range(3)]
        pool = was_http._pools[next(k for k in was_http._pools if k[0] == "@h1tls")]
        assert pool._alpn == {0: "http/1.1"} and not pool._h2
    finally:
        server.shutdown()
        server.server_close()


def test_http2_switch_keeps_a_tls_member_preferring_h2_on_http11(
        tls_members: list[ServerProcess], trust: str) -> None:
    """The member picks h2 whenever it is offered; with the switch off it is not offered."""
    member = tls_members[0]
    skitai.alias("@h1only", skitai.PROTO_HTTPS, f"127.0.0.1:{member.port}", http2=False)
    skitai.alias("@h2still", skitai.PROTO_HTTPS, f"127.0.0.1:{member.port}")
    answers = [was.get(f"@h1only/echo/{i}") for i in range(3)]
    assert [a.getwait(10).data.split("|")[0] for a in answers] == [
        f"HTTP/1.1 GET /echo/{i}" for i in range(3)]
    pool = was_http._pools[next(k for k in was_http._pools if k[0] == "@h1only")]
    assert not pool.http2 and not pool._h2 and not pool._alpn
    assert was.get("@h2still/echo/x").getwait(10).data.startswith("HTTP/2 GET /echo/x|")
    skitai.set_backend_http2(False)  # globally (an alias's own http2= would win)
    skitai.alias("@h1global", skitai.PROTO_HTTPS, f"127.0.0.1:{member.port}")
    assert was.get("@h1global/echo/g").getwait(10).data.startswith("HTTP/1.1 GET /echo/g|")


PROXY_H1 = """
import skitai
skitai.alias("@tls", skitai.PROTO_HTTPS, {members!r})
skitai.set_backend_http2(False)
skitai.mount("/", "@tls")
skitai.run(threads=0)
"""


def test_reverse_proxy_keeps_a_tls_member_on_http11_when_told(
        tls_members: list[ServerProcess], tmp_path: Path) -> None:
    member = tls_members[0]
    front = start_app(tmp_path, PROXY_H1.format(members=[f"https://127.0.0.1:{member.port}"]),
                      env={"SSL_CERT_FILE": member.cert,  # type: ignore[attr-defined]
                           "SKITAI_VARPATH": str(tmp_path / "var")})
    try:
        for i in range(3):
            with urllib.request.urlopen(front.url(f"/echo/{i}"), timeout=10) as resp:
                body = resp.read().decode()
            assert body.startswith(f"HTTP/1.1 GET /echo/{i}|"), body
        req = urllib.request.Request(front.url("/echo/up"), data=b"z" * 200_000, method="POST")
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert resp.read().decode().startswith("HTTP/1.1 POST /echo/up| len=200000 ")
    finally:
        front.stop()


PROXY = """
import skitai
skitai.alias("@tls", skitai.PROTO_HTTPS, {members!r})
skitai.mount("/", "@tls")
skitai.run(threads=0)
"""


def test_reverse_proxy_reaches_a_tls_member_over_h2(tls_members: list[ServerProcess],
                                                   tmp_path: Path) -> None:
    member = tls_members[0]
    front = start_app(tmp_path, PROXY.format(members=[f"https://127.0.0.1:{member.port}"]),
                      env={"SSL_CERT_FILE": member.cert,  # type: ignore[attr-defined]
                           "SKITAI_VARPATH": str(tmp_path / "var")})
    try:
        for i in range(3):
            with urllib.request.urlopen(front.url(f"/echo/{i}"), timeout=10) as resp:
                body = resp.read().decode()
            assert body.startswith(f"HTTP/2 GET /echo/{i}|"), body
        data = b"z" * 200_000
        req = urllib.request.Request(front.url("/echo/up"), data=data, method="POST")
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert resp.read().decode().startswith("HTTP/2 POST /echo/up| len=200000 ")
    finally:
        front.stop()


def _worker_pid(server: ServerProcess) -> int:
    kids = psutil.Process(server.proc.pid).children()
    workers = [k for k in kids if "worker" in " ".join(k.cmdline())]
    assert len(workers) == 1, [k.cmdline() for k in kids]
    return workers[0].pid


def test_websocket_through_the_proxy_to_a_member_offering_h2(tmp_path: Path) -> None:
    """An upgrade cannot ride HTTP/2: the pool offers the member http/1.1 alone for it (a
    member that would pick h2 would get an HTTP/2 preface and fail the handshake)."""
    import asyncio

    pytest.importorskip("websockets", reason="websockets is in the test extras")
    from websockets.asyncio.client import connect
    from websockets.asyncio.server import serve

    cert, key = make_cert(tmp_path, "ws")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    ctx.set_alpn_protocols(["h2", "http/1.1"])  # h2 first: picked whenever it is offered
    ready = threading.Event()
    holder: dict[str, object] = {}

    async def echo(ws) -> None:  # type: ignore[no-untyped-def]
        async for message in ws:
            await ws.send(message)

    async def member() -> None:
        async with serve(echo, "127.0.0.1", 0, ssl=ctx) as server:
            holder["port"] = server.sockets[0].getsockname()[1]
            holder["stop"] = asyncio.get_running_loop().create_future()
            holder["loop"] = asyncio.get_running_loop()
            ready.set()
            await holder["stop"]  # type: ignore[misc]

    thread = threading.Thread(target=asyncio.run, args=(member(),), daemon=True)
    thread.start()
    assert ready.wait(10)
    front = start_app(tmp_path, PROXY.format(members=[f"https://127.0.0.1:{holder['port']}"]),
                      env={"SSL_CERT_FILE": str(cert), "SKITAI_VARPATH": str(tmp_path / "var")})

    async def client() -> list[object]:
        async with connect(f"ws://127.0.0.1:{front.port}/chat") as ws:
            out: list[object] = []
            for message in ("hello", b"\x00\x01binary"):
                await ws.send(message)
                out.append(await ws.recv())
            return out
    loop = asyncio.new_event_loop()
    try:
        assert loop.run_until_complete(client()) == ["hello", b"\x00\x01binary"]
    finally:
        loop.close()
        front.stop()
        member_loop = holder["loop"]
        member_loop.call_soon_threadsafe(holder["stop"].set_result, None)  # type: ignore[attr-defined]
        thread.join(10)
