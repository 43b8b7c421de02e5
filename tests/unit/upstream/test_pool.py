"""The upstream client against real sockets: small asyncio servers on 127.0.0.1:0 that
answer with exact bytes (good and malformed), so every framing case is reproducible."""

from __future__ import annotations

import asyncio
import collections
import random
import socket
from collections.abc import Awaitable, Callable

import pytest

from skitai.config import aliases
from skitai.upstream.balancer import Balancer
from skitai.upstream.connection import UpstreamError, UpstreamTimeout
from skitai.upstream.pool import AliasPool

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class Member:
    """A raw HTTP/1.1 member: ``answer(request_head, body) -> bytes`` per request."""

    def __init__(self, answer: Callable[[bytes, bytes], bytes | None], *, delay: float = 0) -> None:
        self.answer = answer
        self.delay = delay
        self.connections = 0
        self.requests: list[tuple[bytes, bytes]] = []
        self.server: asyncio.base_events.Server | None = None
        self.port = 0

    async def start(self) -> Member:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                body = b""
                low = head.lower()
                if b"content-length:" in low:
                    n = int(low.split(b"content-length:")[1].split(b"\r\n")[0])
                    body = await reader.readexactly(n)
                elif b"transfer-encoding: chunked" in low:
                    while True:
                        size = int((await reader.readuntil(b"\r\n")).strip(), 16)
                        chunk = await reader.readexactly(size + 2)
                        if size == 0:
                            break
                        body += chunk[:-2]
                self.requests.append((head, body))
                if self.delay:
                    await asyncio.sleep(self.delay)
                out = self.answer(head, body)
                if out is None:
                    break
                writer.write(out)
                await writer.drain()
                if b"connection: close" in out.lower():
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def stop(self) -> None:
        assert self.server is not None
        self.server.close()


def ok(body: bytes = b"hello") -> Callable[[bytes, bytes], bytes]:
    return lambda head, _: b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)


def pool_for(*ports: int, **kw: object) -> AliasPool:
    alias = aliases.make("@m", "http", [f"127.0.0.1:{p}" for p in ports], where="test")
    return AliasPool(alias, asyncio.get_running_loop(), **kw)  # type: ignore[arg-type]


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def run(coro: Awaitable[None]) -> None:
    """On a loop of its own (asyncio.run would leave the thread without a current loop,
    which tests that call get_event_loop() after these would trip on)."""
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(coro)
    finally:
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(asyncio.sleep(0.05))  # closing transports finish
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


def test_balancer_follows_weights_when_idle() -> None:
    members = aliases.make("@m", "http", ["a:1 1", "b:1 3"], where="t").members
    b = Balancer(members, random.Random(7))
    counts = collections.Counter(b.pick().member.host for _ in range(4000))  # type: ignore[union-attr]
    assert 0.2 < counts["a"] / 4000 < 0.3


def test_balancer_prefers_the_less_loaded_and_skips_down_members() -> None:
    members = aliases.make("@m", "http", ["a:1", "b:1", "c:1"], where="t").members
    b = Balancer(members, random.Random(1))
    b.states[0].outstanding = 50
    picks = collections.Counter(b.pick().member.host for _ in range(600))  # type: ignore[union-attr]
    assert picks["a"] < 600 / 9 + 30  # chosen only when both samples are "a"
    b.states[1].down = True
    assert all(b.pick().member.host != "b" for _ in range(200))  # type: ignore[union-attr]
    for s in b.states:
        s.down = True
    assert b.pick() is not None  # all down: all are tried
    assert b.pick({0, 1, 2}) is None


def test_request_reuses_the_keep_alive_connection() -> None:
    async def main() -> None:
        m = await Member(ok()).start()
        pool = pool_for(m.port)
        for _ in range(5):
            r = await pool.request("GET", "/x?q=1", [(b"x-a", b"1")])
            assert (r.status, r.body, r.member) == (200, b"hello", f"127.0.0.1:{m.port}")
        assert m.connections == 1 and len(m.requests) == 5
        head = m.requests[0][0]
        assert head.startswith(b"GET /x?q=1 HTTP/1.1\r\n")
        assert f"host: 127.0.0.1:{m.port}".encode() in head and b"x-a: 1" in head
        pool.close()
        m.stop()
    run(main())


def test_backend_keep_alive_expires_idle_connections() -> None:
    async def main() -> None:
        m = await Member(ok()).start()
        pool = pool_for(m.port, keep_alive=0.05)
        await pool.request("GET", "/")
        await asyncio.sleep(0.2)
        await pool.request("GET", "/")
        assert m.connections == 2
        pool.close()
        m.stop()
    run(main())


def test_the_pool_frames_every_request_itself() -> None:
    async def main() -> None:
        m = await Member(ok()).start()
        pool = pool_for(m.port)
        # a caller's framing headers are dropped; the body's real length is sent
        await pool.request("POST", "/", [(b"Transfer-Encoding", b"chunked"),
                                         (b"Content-Length", b"1000"), (b"Connection", b"x")],
                           b"abc")
        head, body = m.requests[-1]
        assert body == b"abc" and b"content-length: 3" in head.lower()
        assert b"chunked" not in head.lower() and b"connection" not in head.lower()

        async def parts():
            for p in (b"one ", b"", b"two"):
                yield p
        r = await pool.open(b"PUT", b"/up", [], parts())
        assert await r.body() == b"hello"
        pool.release(r)
        head, body = m.requests[-1]
        assert body == b"one two" and b"transfer-encoding: chunked" in head
        pool.close()
        m.stop()
    run(main())


async def raw_member(answer: bytes) -> tuple[asyncio.base_events.Server, int]:
    """Reads one request head, writes ``answer`` as is, closes."""
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(answer)
            await writer.drain()
        finally:
            writer.close()
    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


@pytest.mark.parametrize(("answer", "body"), [
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\nx-t: 1\r\n\r\n",
     b"abcde"),
    (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", b"ok"),
    (b"HTTP/1.0 200 OK\r\n\r\nuntil close", b"until close"),
])
def test_good_responses(answer: bytes, body: bytes) -> None:
    async def main() -> None:
        server, port = await raw_member(answer)
        pool = pool_for(port)
        r = await pool.open(b"GET", b"/", [])
        assert r.status == 200 and await r.body() == body
        if b"x-t" in answer:
            assert r.trailers == [(b"x-t", b"1")]
        pool.release(r)
        pool.close()
        server.close()
    run(main())


@pytest.mark.parametrize(("answer", "reason"), [
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "malformed"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
     "malformed"),
    (b"HTTP/1.1 200 OK\r\nX: " + b"a" * 70000 + b"\r\n\r\n", "head exceeds"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", "middle of its response"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n", "middle of its response"),
    (b"", "before its response"),
])
def test_malformed_or_cut_responses_are_errors(answer: bytes, reason: str) -> None:
    async def main() -> None:
        server, port = await raw_member(answer)
        pool = pool_for(port)
        with pytest.raises(UpstreamError, match=reason) as err:
            r = await pool.open(b"POST", b"/", [], b"x")
            try:
                await r.body()
            finally:
                pool.release(r)
        assert err.value.status_hint == 502
        pool.close()
        server.close()
    run(main())


def test_refused_member_is_marked_down_and_requests_fail_over() -> None:
    async def main() -> None:
        m = await Member(ok(b"alive")).start()
        dead = free_port()
        pool = pool_for(dead, m.port, health_interval=0.05)
        for _ in range(20):
            r = await pool.request("POST", "/", body=b"x")  # even a POST: no byte was sent
            assert r.body == b"alive"
        states = pool.balancer.states
        assert states[0].down and states[0].served == 0 and states[1].served == 20
        # the member comes back: the health check sees it
        back = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", dead)
        for _ in range(100):
            if not states[0].down:
                break
            await asyncio.sleep(0.05)
        assert not states[0].down
        assert pool.loads()[0]["state"] == "up"
        back.close()
        pool.close()
        m.stop()
    run(main())


def test_no_member_answers() -> None:
    async def main() -> None:
        pool = pool_for(free_port(), free_port())
        with pytest.raises(UpstreamError, match="cannot connect") as err:
            await pool.request("GET", "/")
        assert err.value.status_hint == 502 and not err.value.sent
        pool.close()
    run(main())


def test_a_slow_member_times_out_with_504_and_is_not_retried() -> None:
    async def main() -> None:
        slow = await Member(ok(), delay=5).start()
        pool = pool_for(slow.port, timeout=0.3)
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        with pytest.raises(UpstreamTimeout) as err:
            await pool.request("GET", "/")
        assert err.value.status_hint == 504 and loop.time() - t0 < 3
        assert len(slow.requests) == 1
        pool.close()
        slow.stop()
    run(main())


def test_idempotent_request_retried_when_a_member_drops_it() -> None:
    async def main() -> None:
        dropper = await Member(lambda h, b: None).start()  # reads the request, closes
        good = await Member(ok(b"second")).start()
        pool = pool_for(dropper.port, good.port)
        first_dropper(pool)
        r = await pool.request("GET", "/")
        assert r.body == b"second" and len(dropper.requests) == 1
        first_dropper(pool)
        with pytest.raises(UpstreamError, match="before its response"):
            await pool.request("POST", "/", body=b"once")  # not idempotent: never twice
        assert len(dropper.requests) == 2
        assert [h.split(b" ")[0] for h, _ in good.requests] == [b"GET"]
        pool.close()
        dropper.stop()
        good.stop()
    run(main())


def first_dropper(pool: AliasPool) -> None:
    """The balancer's next pick is member 0, then whatever it would pick."""
    pick = pool.balancer.pick

    def once(exclude=frozenset()):  # type: ignore[no-untyped-def]
        pool.balancer.pick = pick  # type: ignore[method-assign]
        return pool.balancer.states[0]
    pool.balancer.pick = once  # type: ignore[method-assign]


def test_response_backpressure_pauses_the_member() -> None:
    async def main() -> None:
        big = b"x" * (4 << 20)
        m = await Member(ok(big)).start()
        pool = pool_for(m.port)
        r = await pool.open(b"GET", b"/", [])
        await asyncio.sleep(0.2)  # the member writes; we do not read
        assert r._buffered <= 2 << 20  # paused near HIGH_WATER, not the whole body
        got = 0
        while data := await r.read():
            got += len(data)
        assert got == len(big)
        pool.release(r)
        pool.close()
        m.stop()
    run(main())


def test_a_long_upload_is_not_a_slow_member() -> None:
    """The member's time to answer starts when the body is out, not at the head."""
    async def main() -> None:
        m = await Member(ok(b"got it")).start()
        pool = pool_for(m.port, timeout=0.5)

        async def slow_body():
            for _ in range(4):
                await asyncio.sleep(0.3)
                yield b"x" * 1000
        r = await pool.open(b"POST", b"/up", [], slow_body())
        assert r.status == 200 and await r.body() == b"got it"
        pool.release(r)
        assert m.requests[-1][1] == b"x" * 4000
        pool.close()
        m.stop()
    run(main())


def test_a_request_to_one_given_member() -> None:
    async def main() -> None:
        a = await Member(ok(b"a")).start()
        b = await Member(ok(b"b")).start()
        dead = free_port()
        pool = pool_for(a.port, b.port, dead)
        assert [(await pool.request("GET", "/", member=i)).body for i in (0, 1, 1, 0)] == [
            b"a", b"b", b"b", b"a"]
        with pytest.raises(UpstreamError, match="cannot connect"):  # no fail-over
            await pool.request("GET", "/", member=2)
        with pytest.raises(UpstreamError, match="no member #3"):
            await pool.request("GET", "/", member=3)
        pool.close()
        a.stop()
        b.stop()
    run(main())


class ExpectMember:
    """A member that reads a head with ``Expect: 100-continue`` and then closes at once
    (``drop``), or sends its 100, reads ``part`` bytes of the body and closes."""

    def __init__(self, *, drop: bool, part: int = 0) -> None:
        self.drop = drop
        self.part = part
        self.heads: list[bytes] = []
        self.server: asyncio.base_events.Server | None = None
        self.port = 0

    async def start(self) -> ExpectMember:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            self.heads.append(await reader.readuntil(b"\r\n\r\n"))
            if not self.drop:
                writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                await reader.readexactly(self.part)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def stop(self) -> None:
        assert self.server is not None
        self.server.close()


def test_an_expect_head_dropped_before_the_100_goes_to_another_member_body_unread() -> None:
    """The first member closes on the Expect head: nothing of the streamed body was read,
    so a PUT goes to the next member whole (``on_continue`` is called once, for it); a
    POST does not (its head reached the first); and once the body began (the member's
    100 came) no request goes elsewhere."""

    async def main() -> None:
        dropper = await ExpectMember(drop=True).start()
        taker = await ExpectMember(drop=False, part=3).start()
        good = await Member(lambda h, b: b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s"
                            % (len(b), b)).start()
        read: list[bytes] = []

        async def body() -> collections.abc.AsyncIterator[bytes]:
            for part in (b"abc", b"def"):
                read.append(part)
                yield part

        pool = pool_for(dropper.port, good.port)
        continued: list[int] = []
        first_dropper(pool)
        response = await pool.open(b"PUT", b"/", [], body(), length=6,
                                   on_continue=lambda: continued.append(1))
        assert await response.body() == b"abcdef"
        pool.release(response)
        assert len(dropper.heads) == 1 and b"expect: 100-continue" in dropper.heads[0].lower()
        assert continued == [1] and read == [b"abc", b"def"]
        first_dropper(pool)
        read.clear()
        with pytest.raises(UpstreamError, match="before its response"):
            await pool.open(b"POST", b"/", [], body(), length=6, on_continue=lambda: None)
        assert len(dropper.heads) == 2 and len(good.requests) == 1 and read == []
        pool.close()
        # the body began: a PUT is not sent again
        pool = pool_for(taker.port, good.port)
        first_dropper(pool)
        with pytest.raises(UpstreamError):
            await pool.open(b"PUT", b"/", [], body(), length=6, on_continue=lambda: None)
        assert len(taker.heads) == 1 and len(good.requests) == 1
        pool.close()
        for m in (dropper, taker, good):
            m.stop()
    run(main())
