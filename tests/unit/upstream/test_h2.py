"""HTTP/2 to members over TLS: a real h2 member (tests/unit/upstream/h2member.py) on
127.0.0.1:0; the pool picks h2 by ALPN and multiplexes requests over one connection."""

from __future__ import annotations

import asyncio
import json
import shutil
import ssl
from collections.abc import Awaitable
from pathlib import Path

import pytest

from skitai.config import aliases
from skitai.upstream.connection import HIGH_WATER, UpstreamError, UpstreamTimeout
from skitai.upstream.h2connection import CONNECTION_WINDOW, STREAM_WINDOW, H2UpstreamConnection
from skitai.upstream.pool import AliasPool
from tests.unit.upstream.h2member import H2Member, make_cert

pytestmark = pytest.mark.skipif(not shutil.which("openssl"), reason="openssl is not installed")


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    return make_cert(tmp_path_factory.mktemp("h2cert"))


def run(coro: Awaitable[None], loop_kind: str = "asyncio") -> None:
    if loop_kind == "uvloop":
        uvloop = pytest.importorskip("uvloop", reason="uvloop is not installed")
        loop = uvloop.new_event_loop()
    else:
        loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(coro)
    finally:
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(asyncio.sleep(0.05))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


def pool_for(cafile: str, *ports: int, **kw: object) -> AliasPool:
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    alias = aliases.Alias(name="h2m", type="https", members=tuple(
        aliases.parse_member(f"https://127.0.0.1:{p}", "https", where="test") for p in ports))
    return AliasPool(alias, asyncio.get_running_loop(), ssl_context=ctx, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("loop_kind", ["asyncio", "uvloop"])
def test_concurrent_requests_share_one_h2_connection(cert: tuple[str, str], loop_kind: str) -> None:
    async def main() -> None:
        member = await H2Member(*cert, delay=0.3).start()
        pool = pool_for(cert[0], member.port)
        try:
            # the first requests wait for one connect; all are streams on it
            answers = await asyncio.gather(*[pool.request("GET", "/slow") for _ in range(10)])
            assert [a.status for a in answers] == [200] * 10
            assert member.connections == 1 and member.most_open == 10
            assert isinstance(pool._h2[0], H2UpstreamConnection)
            got = json.loads(answers[0].body)
            assert got["authority"] == f"127.0.0.1:{member.port}"
            posted = await pool.request("POST", "/echo", [(b"X-A", b" b ")], b"x" * 100)
            got = json.loads(posted.body)
            assert got["length"] == 100 and got["xa"] == "b" and posted.reason == "OK"
            # a field h2 may not carry fails its request alone, not the shared connection
            with pytest.raises(UpstreamError, match="invalid header field"):
                await pool.request("GET", "/", [(b"x-a", b"a\0b")])
            with pytest.raises(UpstreamError, match="invalid header field"):
                await pool.request("GET", "/", [(b"x a", b"b")])
            assert member.connections == 1
        finally:
            pool.close()
            await member.stop()
    run(main(), loop_kind)


def test_start_idle_opens_a_stream_at_once(cert: tuple[str, str]) -> None:
    """The reverse proxy's fast path: no coroutine, the answer reported to a listener."""
    async def main() -> None:
        member = await H2Member(*cert).start()
        pool = pool_for(cert[0], member.port)
        try:
            assert pool.start_idle(b"GET", b"/first", []) is None  # no connection yet
            await pool.request("GET", "/warm")
            done = asyncio.get_running_loop().create_future()

            def listener(response):
                if response.complete and not done.done():
                    done.set_result(response.take())
            response = pool.start_idle(b"GET", b"/fast", [(b"x-a", b"1")])
            assert response is not None
            response.listener = listener
            body = await asyncio.wait_for(done, 5)
            pool.release(response)
            assert json.loads(body)["path"] == "/fast" and json.loads(body)["xa"] == "1"
            assert pool.loads()[0]["outstanding"] == 0 and member.connections == 1
        finally:
            pool.close()
            await member.stop()
    run(main())


def test_flow_control_both_ways(cert: tuple[str, str]) -> None:
    async def main() -> None:
        member = await H2Member(*cert).start()
        pool = pool_for(cert[0], member.port)
        try:
            size = 3 << 20  # past every window (ours 1 MiB a stream, the member's 64 KiB)
            big = await pool.request("GET", f"/big/{size}")
            assert len(big.body) == size and big.body[:3] == b"\x00\x01\x02"
            up = await pool.request("POST", "/echo", [], b"y" * size)
            assert json.loads(up.body)["length"] == size

            async def chunks():
                for _ in range(40):
                    yield b"z" * 50_000
            stream = await pool.open(b"PUT", b"/echo", [], chunks())
            body = await stream.body()
            pool.release(stream)
            assert json.loads(body)["length"] == 2_000_000
            assert member.connections == 1
        finally:
            pool.close()
            await member.stop()
    run(main())


def test_request_trailers_and_continue_over_h2(cert: tuple[str, str]) -> None:
    async def main() -> None:
        member = await H2Member(*cert).start()
        pool = pool_for(cert[0], member.port)
        continued: list[bool] = []
        try:
            async def chunks():
                yield b"a" * 1000
                yield b"b" * 1000
            stream = await pool.open(b"POST", b"/echo", [(b"te", b"trailers")], chunks(),
                                     trailers=lambda: [(b"X-Checksum", b"abc")],
                                     on_continue=lambda: continued.append(True))
            body = await stream.body()
            pool.release(stream)
            assert json.loads(body)["length"] == 2000
            # The trailers close the stream (a HEADERS frame), names lowered for HTTP/2;
            # the client's 100 is ours (an HTTP/2 member's is not relayed).
            assert member.trailers == [{"x-checksum": "abc"}]
            assert continued == [True]
        finally:
            pool.close()
            await member.stop()
    run(main())


def test_a_paused_reader_holds_back_the_members_window(cert: tuple[str, str]) -> None:
    async def main() -> None:
        member = await H2Member(*cert).start()
        pool = pool_for(cert[0], member.port)
        try:
            size = 4 << 20
            stream = await pool.open(b"GET", f"/big/{size}".encode(), [])
            proto = member.protocols[0]
            for _ in range(500):  # until the member is blocked on our window
                if proto.pending and stream._paused:
                    break
                await asyncio.sleep(0.01)
            assert proto.pending and stream._paused  # nobody read: the member waits
            assert stream._buffered <= STREAM_WINDOW + HIGH_WATER
            body = await stream.body()
            pool.release(stream)
            assert len(body) == size and not proto.pending
            assert pool.loads()[0]["h2_streams"] == 0
            # Sixteen paused readers hold more than the connection's window: the others'
            # streams still flow (a paused stream holds back its own window only).
            part = 2 << 20  # more than a paused stream may hold
            stuck = [await pool.open(b"GET", f"/big/{part}".encode(), []) for _ in range(16)]
            for _ in range(500):
                if all(s._paused for s in stuck) and len(proto.pending) == 16:
                    break
                await asyncio.sleep(0.01)
            assert sum(s._buffered for s in stuck) > CONNECTION_WINDOW
            moving = await pool.request("GET", f"/big/{part}", timeout=10)
            assert len(moving.body) == part and member.connections == 1
            for s in stuck:
                pool.release(s)  # reset: the member stops sending them
        finally:
            pool.close()
            await member.stop()
    run(main())


def test_waiters_on_a_failed_first_connect_fail_at_once(cert: tuple[str, str]) -> None:
    async def main() -> None:
        pool = pool_for(cert[0], 1)
        try:
            got = await asyncio.gather(*[pool.request("GET", "/") for _ in range(5)],
                                       return_exceptions=True)
            assert all(isinstance(g, UpstreamError) and "cannot connect" in str(g) for g in got)
        finally:
            pool.close()
    run(main())


def test_max_concurrent_streams_is_honoured(cert: tuple[str, str]) -> None:
    async def main() -> None:
        member = await H2Member(*cert, max_streams=3, delay=0.1).start()
        pool = pool_for(cert[0], member.port)
        try:
            # A fresh connection: no stream goes out before the member's SETTINGS came
            answers = await asyncio.gather(*[pool.request("GET", "/slow") for _ in range(9)])
            assert [a.status for a in answers] == [200] * 9
            assert member.most_open == 3 and member.connections == 1
        finally:
            pool.close()
            await member.stop()
    run(main())


def test_goaway_requests_not_processed_go_again_on_a_new_connection(cert: tuple[str, str]) -> None:
    async def main() -> None:
        member = await H2Member(*cert, goaway_after=2).start()
        pool = pool_for(cert[0], member.port)
        try:
            for i in range(5):
                answer = await pool.request("POST", f"/n{i}", [], b"body")  # not idempotent
                assert answer.status == 200 and json.loads(answer.body)["path"] == f"/n{i}"
            # 2 requests per connection, the third refused by GOAWAY and sent again
            assert [p for _, p in member.requests] == [f"/n{i}" for i in range(5)]
            assert member.connections == 3
        finally:
            pool.close()
            await member.stop()
    run(main())


def test_a_graceful_goaway_lets_running_streams_finish(cert: tuple[str, str]) -> None:
    async def main() -> None:
        member = await H2Member(*cert, delay=0.2).start()
        pool = pool_for(cert[0], member.port)
        try:
            slow = asyncio.ensure_future(pool.request("GET", "/slow"))
            while not member.requests:
                await asyncio.sleep(0.01)
            drained = await pool.request("GET", "/drain")  # GOAWAY, then its answer
            assert drained.status == 200 and json.loads(drained.body)["path"] == "/drain"
            assert (await slow).status == 200  # below the last stream id: answered
            assert (await pool.request("GET", "/next")).status == 200
            assert member.connections == 2
        finally:
            pool.close()
            await member.stop()
    run(main())


def test_reset_refused_dropped_and_timeouts(cert: tuple[str, str]) -> None:
    async def main() -> None:
        member = await H2Member(*cert).start()
        pool = pool_for(cert[0], member.port, timeout=0.5)
        try:
            with pytest.raises(UpstreamError, match="reset the stream"):
                await pool.request("POST", "/reset", [], b"")
            # refused (never processed): sent again, even a POST
            answer = await pool.request("POST", "/refuse", [], b"once")
            assert answer.status == 200 and member.requests.count(("POST", "/refuse")) == 2
            # the whole answer, then RST_STREAM NO_ERROR ("stop sending"): the answer stands
            early = await pool.request("POST", "/early", [], b"u" * (3 << 20))
            assert early.status == 200 and early.body == b"early"
            with pytest.raises(UpstreamTimeout):
                await pool.request("GET", "/hang")
            assert (await pool.request("GET", "/after")).status == 200  # the stream, not the connection
            assert member.connections == 1
            with pytest.raises(UpstreamError, match="closed the connection"):
                await pool.request("POST", "/drop", [], b"")
            assert (await pool.request("GET", "/again")).status == 200  # a new connection
            assert member.connections == 2
        finally:
            pool.close()
            await member.stop()
    run(main())


def test_map_and_lb_over_h2_members(cert: tuple[str, str]) -> None:
    async def main() -> None:
        one = await H2Member(*cert).start()
        two = await H2Member(*cert).start()
        pool = pool_for(cert[0], one.port, two.port, 1)
        try:
            # the dead third member (port 1) fails over to the others
            for _ in range(6):
                assert (await pool.request("GET", "/lb")).status == 200
            for member in (0, 1):
                got = await pool.request("GET", "/map", member=member)
                assert json.loads(got.body)["authority"].endswith(f":{(one, two)[member].port}")
            assert one.connections == 1 and two.connections == 1
        finally:
            pool.close()
            await one.stop()
            await two.stop()
    run(main())


def test_a_member_offering_only_http11_gets_http11(cert: tuple[str, str], tmp_path: Path) -> None:
    async def main() -> None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(*cert)
        ctx.set_alpn_protocols(["http/1.1"])
        connections = 0

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal connections
            connections += 1
            while True:
                try:
                    await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    break
                await asyncio.sleep(0.05)
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nh1ok")
                await writer.drain()
            writer.close()

        server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=ctx)
        port = server.sockets[0].getsockname()[1]
        pool = pool_for(cert[0], port)
        try:
            answers = await asyncio.gather(*[pool.request("GET", "/") for _ in range(3)])
            assert [a.body for a in answers] == [b"h1ok"] * 3
            assert pool._alpn == {0: "http/1.1"} and not pool._h2
            assert connections == 3  # HTTP/1.1: a connection per concurrent request
            assert (await pool.request("GET", "/")).body == b"h1ok"
            assert connections == 3  # ... kept alive
        finally:
            pool.close()
            server.close()
            await server.wait_closed()
    run(main())
