"""One suite of request behaviours, run over HTTP/1.1 and HTTP/2 alike.

The connections are driven through a fake transport (no sockets): what differs between
the protocols is only how a client writes a request and reads a response (``H1`` and
``H2`` below); the server-side behaviour asserted is the same.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any, Protocol

import h11
import pytest

from skitai.worker.stream import ClientDisconnected, Stream
from tests.unit.worker.connections.fakes import FakeTransport, H2Peer, Site

LIMIT = 1000


class Client(Protocol):
    transport: FakeTransport

    def request(self, path: str, method: str = "GET", body: bytes = b"",
                length: int | None = None, end: bool = True) -> int: ...
    def responses(self) -> dict[int, tuple[int, bytes]]: ...
    def go_away(self, ref: int) -> None: ...
    def timed_out(self, ref: int) -> bool: ...


class H1:
    """Requests written with h11 on one HTTP/1.1 connection, answers parsed by h11."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self.conn, self.transport = site.http1()
        self.h11 = h11.Connection(h11.CLIENT)
        self.count = 0
        self.done: dict[int, tuple[int, bytes]] = {}
        self._status = 0
        self._body = b""

    def request(self, path: str, method: str = "GET", body: bytes = b"",
                length: int | None = None, end: bool = True) -> int:
        if self.h11.our_state is h11.DONE and self.h11.their_state is h11.DONE:
            self.h11.start_next_cycle()
        size = len(body) if length is None else length
        headers = [("Host", "test")] + ([("Content-Length", str(size))] if size or method == "POST"
                                       else [])
        data = self.h11.send(h11.Request(method=method, target=path, headers=headers))
        if body:
            data += self.h11.send(h11.Data(data=body))
        if end and length is None:
            data += self.h11.send(h11.EndOfMessage())
        self.site.call(self.conn.data_received, data)
        self.count += 1
        return self.count

    def responses(self) -> dict[int, tuple[int, bytes]]:
        self.site.turn()
        data = self.transport.take()
        if data:  # (b"" would tell h11 the connection closed)
            self.h11.receive_data(data)
        while True:
            event = self.h11.next_event()
            if event is h11.NEED_DATA or event is h11.PAUSED or isinstance(event, h11.ConnectionClosed):
                break
            if isinstance(event, h11.Response):
                self._status, self._body = event.status_code, b""
            elif isinstance(event, h11.Data):
                self._body += event.data
            elif isinstance(event, h11.EndOfMessage):
                self.done[len(self.done) + 1] = (self._status, self._body)
        return self.done

    def go_away(self, ref: int) -> None:
        self.site.call(self.transport.abort)  # the peer reset the connection

    def timed_out(self, ref: int) -> bool:
        """408 (no response had started) or, after a response began, an abort."""
        return self.transport.aborted or self.responses().get(ref, (0, b""))[0] == 408


class H2:
    """Requests over one HTTP/2 connection (h2c prior knowledge)."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self.peer = H2Peer(site)
        self.transport = self.peer.transport
        self.peer.receive()

    def request(self, path: str, method: str = "GET", body: bytes = b"",
                length: int | None = None, end: bool = True) -> int:
        headers = [(b"content-length", str(length).encode())] if length is not None else []
        return self.peer.request(path, method, body, headers, end=end and length is None)

    def responses(self) -> dict[int, tuple[int, bytes]]:
        self.peer.receive()
        return {sid: (int(r["headers"][b":status"]), r["data"])
                for sid, r in self.peer.responses.items() if r["ended"]}

    def go_away(self, ref: int) -> None:
        self.peer.client.reset_stream(ref)
        self.peer.send()

    def timed_out(self, ref: int) -> bool:
        """408 (no response had started) or, after a response began, a reset."""
        self.peer.receive()
        got = self.peer.responses.get(ref, {})
        return got.get("reset") is not None or (
            bool(got.get("headers")) and got["headers"][b":status"] == b"408")


class App:
    """The handler every test mounts: its behaviour is chosen by the path."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.cancelled = False
        self.body_error: BaseException | None = None
        self.forever = asyncio.Event()

    async def __call__(self, stream: Stream) -> None:
        path = stream.request.target.decode()
        self.calls.append(path)
        if path == "/hello":
            stream.respond(200, [(b"content-length", b"5")], b"hello")
        elif path == "/stream":
            stream.send_head(200, [])
            for piece in (b"one ", b"two ", b"three"):
                await stream.send_data(piece)
            stream.end()
        elif path == "/echo":
            body = b""
            try:
                while chunk := await stream.receive():
                    body += chunk
            except (ClientDisconnected, asyncio.CancelledError) as exc:
                self.body_error = exc  # the read ends either way: the peer is gone
                raise
            stream.respond(200, [(b"content-length", str(len(body)).encode())], body)
        elif path == "/wait":
            try:
                await self.forever.wait()
            except asyncio.CancelledError:
                self.cancelled = True
                raise


@pytest.fixture(params=["http/1.1", "h2"])
def setup(request: pytest.FixtureRequest) -> Iterator[tuple[Site, App, Client]]:
    app = App()
    site = Site(app, body_limit=LIMIT, request_timeout=5.0, keep_alive=30.0)
    try:
        client: Client = H1(site) if request.param == "http/1.1" else H2(site)
        yield site, app, client
    finally:
        site.close()


def test_keep_alive_serves_several_requests_on_one_connection(setup: Any) -> None:
    site, app, client = setup
    client.request("/hello")
    assert list(client.responses().values()) == [(200, b"hello")]
    client.request("/hello")
    assert list(client.responses().values()) == [(200, b"hello"), (200, b"hello")]
    assert not client.transport.closed
    assert app.calls == ["/hello", "/hello"]


def test_body_over_the_limit_is_refused_before_the_handler(setup: Any) -> None:
    site, app, client = setup
    client.request("/echo", "POST", b"x" * 10, length=LIMIT + 1, end=False)
    statuses = [status for status, _ in client.responses().values()]
    assert statuses == [413]
    assert app.calls == []


def test_body_within_the_limit_reaches_the_handler(setup: Any) -> None:
    site, app, client = setup
    client.request("/echo", "POST", b"abc" * 100)
    assert list(client.responses().values()) == [(200, b"abc" * 100)]


def test_streamed_response_arrives_whole(setup: Any) -> None:
    site, app, client = setup
    client.request("/stream")
    assert list(client.responses().values()) == [(200, b"one two three")]


def test_client_gone_cancels_the_handler(setup: Any) -> None:
    site, app, client = setup
    ref = client.request("/wait")
    client.responses()
    assert app.calls == ["/wait"] and not app.cancelled
    client.go_away(ref)
    site.turn()
    assert app.cancelled
    assert site.server.requests_served == 1


def test_stalled_body_times_out(setup: Any) -> None:
    site, app, client = setup
    ref = client.request("/echo", "POST", b"abc", length=10, end=False)
    client.responses()
    assert app.calls == ["/echo"]
    for conn in list(site.server.connections):
        site.call(conn.check_timeouts, site.loop.time() + 1.0)  # within request_timeout
    assert not client.timed_out(ref)
    for conn in list(site.server.connections):
        site.call(conn.check_timeouts, site.loop.time() + 60.0)
    site.turn()
    assert client.timed_out(ref)
    assert app.body_error is not None  # the handler's read ended
