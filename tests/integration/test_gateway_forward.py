"""The forward proxy (``skitai.enable_proxy``): absolute-form requests and CONNECT
tunnels to a real member, and the client and destination allow-lists."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ServerProcess
from tests.fixtures.members import start_skitai_member
from tests.integration.test_gateway_proxy import start_gateway


@pytest.fixture
def member(tmp_path: Path) -> Iterator[ServerProcess]:
    m = start_skitai_member(tmp_path, "member")
    yield m
    m.stop()


def exchange(port: int, data: bytes, until: bytes = b"}") -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
        s.sendall(data)
        out = b""
        while until not in out:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
        return out


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def test_absolute_form_and_the_allow_lists(tmp_path: Path, member: ServerProcess) -> None:
    gw = start_gateway(tmp_path, [f"127.0.0.1:{member.port}"],
                       extra=f"skitai.enable_proxy(ports=[{member.port}])")
    url = f"http://127.0.0.1:{member.port}/via/proxy?x=1"
    try:
        answer = exchange(gw.port, f"GET {url} HTTP/1.1\r\nHost: 127.0.0.1:{member.port}\r\n"
                          "Proxy-Connection: keep-alive\r\nProxy-Authorization: Basic eDp5\r\n\r\n".encode())
        assert status_of(answer) == 200
        seen = json.loads(answer.split(b"\r\n\r\n", 1)[1])
        assert seen["path"] == "/via/proxy" and seen["query"] == "x=1"
        assert "proxy-authorization" not in seen["headers"]  # hop-by-hop, never forwarded
        assert "proxy-connection" not in seen["headers"]
        # a destination port outside the list
        answer = exchange(gw.port, b"GET http://127.0.0.1:1/ HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\n",
                          until=b"</h1>")
        assert status_of(answer) == 403
        # the mounts still answer origin-form requests
        answer = exchange(gw.port, b"GET /members/ HTTP/1.1\r\nHost: x\r\n\r\n")
        assert status_of(answer) == 200
    finally:
        gw.stop()


def test_connect_tunnel(tmp_path: Path, member: ServerProcess) -> None:
    gw = start_gateway(tmp_path, [f"127.0.0.1:{member.port}"],
                       extra=f"skitai.enable_proxy(ports=[{member.port}])\n"
                             "skitai.set_proxy_keep_alive(channel=30, tunnel=60)")
    try:
        with socket.create_connection(("127.0.0.1", gw.port), timeout=20) as s:
            s.sendall(f"CONNECT 127.0.0.1:{member.port} HTTP/1.1\r\n"
                      f"Host: 127.0.0.1:{member.port}\r\n\r\n".encode())
            head = b""
            while b"\r\n\r\n" not in head:
                head += s.recv(1024)
            assert head.startswith(b"HTTP/1.1 200 ")
            # now plain bytes to the member, through the tunnel
            s.sendall(b"GET /tunnelled HTTP/1.1\r\nHost: m\r\n\r\n")
            out = b""
            while b"}" not in out:
                out += s.recv(65536)
            assert b'"path": "/tunnelled"' in out
        answer = exchange(gw.port, b"CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: x\r\n\r\n",
                          until=b"</h1>")
        assert status_of(answer) == 403
    finally:
        gw.stop()


def test_clients_outside_the_list_are_refused(tmp_path: Path, member: ServerProcess) -> None:
    gw = start_gateway(tmp_path, [f"127.0.0.1:{member.port}"],
                       extra=f"skitai.enable_proxy(clients=['10.0.0.0/8'], ports=[{member.port}])")
    try:
        answer = exchange(gw.port, f"GET http://127.0.0.1:{member.port}/ HTTP/1.1\r\n"
                          f"Host: 127.0.0.1\r\n\r\n".encode(), until=b"</h1>")
        assert status_of(answer) == 403
        answer = exchange(gw.port, f"CONNECT 127.0.0.1:{member.port} HTTP/1.1\r\nHost: x\r\n\r\n".encode(),
                          until=b"</h1>")
        assert status_of(answer) == 403
    finally:
        gw.stop()


def test_without_enable_proxy_absolute_form_is_not_proxied(tmp_path: Path,
                                                            member: ServerProcess) -> None:
    gw = start_gateway(tmp_path, [f"127.0.0.1:{member.port}"])
    try:
        answer = exchange(gw.port, f"GET http://127.0.0.1:{member.port}/x HTTP/1.1\r\n"
                          "Host: 127.0.0.1\r\n\r\n".encode(), until=b"</h1>")
        assert status_of(answer) in (400, 404)
    finally:
        gw.stop()


class PathEchoMember:
    """A ``websockets`` server on 127.0.0.1:0 in a thread: its first message says the
    request path it was asked for, then it echoes."""

    def __init__(self) -> None:
        import asyncio
        import threading

        from websockets.asyncio.server import serve

        ready = threading.Event()
        self.port = 0
        self.loop = asyncio.new_event_loop()
        self.done: asyncio.Future[None] = self.loop.create_future()

        async def echo(ws) -> None:  # type: ignore[no-untyped-def]
            await ws.send("path=" + ws.request.path)
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


class WsprotoClient:
    """A WebSocket client (``wsproto``) on a plain socket, so the handshake's request
    target can be the absolute form a proxy gets (``ws://host:port/path``)."""

    def __init__(self, port: int, target: str, host: str) -> None:
        from wsproto import ConnectionType, WSConnection
        from wsproto.events import Request

        self.sock = socket.create_connection(("127.0.0.1", port), timeout=20)
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.sock.sendall(self.ws.send(Request(host=host, target=target)))
        self.events: list[object] = []

    def next_event(self) -> object:
        while not self.events:
            data = self.sock.recv(65536)
            self.ws.receive_data(data or None)
            self.events.extend(self.ws.events())
            if not data and not self.events:
                raise ConnectionError("closed")
        return self.events.pop(0)

    def message(self) -> str | bytes:
        from wsproto.events import Message

        parts: list[str | bytes] = []
        while True:
            event = self.next_event()
            if isinstance(event, Message):
                parts.append(event.data)
                if event.message_finished:
                    first = parts[0]
                    return "".join(parts) if isinstance(first, str) else b"".join(parts)  # type: ignore[arg-type]

    def send(self, data: str | bytes) -> None:
        from wsproto.events import BytesMessage, TextMessage

        event = TextMessage(data=data) if isinstance(data, str) else BytesMessage(data=data)
        self.sock.sendall(self.ws.send(event))


def test_websocket_in_absolute_form(tmp_path: Path) -> None:
    """``GET ws://host:port/path`` with an upgrade: relayed to that destination (a real
    websockets server), frames both ways; the destination port list still applies."""
    from wsproto.events import AcceptConnection, RejectConnection

    member = PathEchoMember()
    gw = start_gateway(tmp_path, ["127.0.0.1:1"],
                       extra=f"skitai.enable_proxy(ports=[{member.port}])")
    try:
        dest = f"127.0.0.1:{member.port}"
        client = WsprotoClient(gw.port, f"ws://{dest}/chat/room?x=1", dest)
        try:
            assert isinstance(client.next_event(), AcceptConnection)
            assert client.message() == "path=/chat/room?x=1"
            for message in ("hello", b"\x00\x01binary", "x" * 200000):
                client.send(message)
                assert client.message() == message
        finally:
            client.sock.close()
        # a destination port outside the list: refused before any upgrade
        refused = WsprotoClient(gw.port, "ws://127.0.0.1:1/chat", "127.0.0.1:1")
        try:
            event = refused.next_event()
            assert isinstance(event, RejectConnection) and event.status_code == 403
        finally:
            refused.sock.close()
        # ws:// without an upgrade is not a request a proxy can serve
        answer = exchange(gw.port, f"GET ws://{dest}/chat HTTP/1.1\r\nHost: {dest}\r\n\r\n".encode(),
                          until=b"</h1>")
        assert status_of(answer) == 400
    finally:
        gw.stop()
        member.stop()


def test_websocket_in_absolute_form_from_a_client_outside_the_list(tmp_path: Path) -> None:
    from wsproto.events import RejectConnection

    member = PathEchoMember()
    gw = start_gateway(tmp_path, ["127.0.0.1:1"],
                       extra=f"skitai.enable_proxy(clients=['10.0.0.0/8'], ports=[{member.port}])")
    try:
        dest = f"127.0.0.1:{member.port}"
        client = WsprotoClient(gw.port, f"ws://{dest}/chat", dest)
        try:
            event = client.next_event()
            assert isinstance(event, RejectConnection) and event.status_code == 403
        finally:
            client.sock.close()
    finally:
        gw.stop()
        member.stop()


def _h2_connect(client: object, authority: str) -> int:
    from tests.integration.h2client import H2Client, Reply

    assert isinstance(client, H2Client)
    sid = client.conn.get_next_available_stream_id()
    client.replies[sid] = Reply()
    # RFC 9113 8.5: :method and :authority only
    client.conn.send_headers(sid, [(b":method", b"CONNECT"), (b":authority", authority.encode())])
    client.flush()
    client.wait(lambda: bool(client.replies[sid].headers) or client.replies[sid].reset is not None)
    return sid


def test_connect_over_http2(tmp_path: Path, member: ServerProcess) -> None:
    """An HTTP/2 CONNECT stream is a tunnel: 200, then DATA frames carry the bytes both
    ways (here an HTTP/1.1 exchange with the member); the lists apply per stream."""
    from tests.integration.h2client import H2Client

    gw = start_gateway(tmp_path, [f"127.0.0.1:{member.port}"],
                       extra=f"skitai.enable_proxy(ports=[{member.port}])")
    client = H2Client.connect("127.0.0.1", gw.port)
    try:
        sid = _h2_connect(client, f"127.0.0.1:{member.port}")
        reply = client.replies[sid]
        assert reply.status == 200 and not reply.ended
        assert reply.header(b"content-length") is None
        for path in ("/first", "/second"):  # two requests on one tunnelled keep-alive
            reply.data.clear()
            client.conn.send_data(sid, f"GET {path} HTTP/1.1\r\nHost: m\r\n\r\n".encode())
            client.flush()
            client.wait(lambda: b"}" in reply.data)
            head, _, body = bytes(reply.data).partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200 ")
            assert json.loads(body)["path"] == path
        # a body larger than the client's windows: the tunnel pauses the member while
        # the client's window is closed and resumes on its WINDOW_UPDATEs
        size = 6 << 20
        reply.data.clear()
        client.conn.send_data(sid, f"GET /big?n={size} HTTP/1.1\r\nHost: m\r\n\r\n".encode())
        client.flush()

        def whole() -> bool:
            head, sep, body = bytes(reply.data).partition(b"\r\n\r\n")
            return bool(sep) and len(body) >= size

        client.wait(whole, timeout=60)
        head, _, body = bytes(reply.data).partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 ") and len(body) == size
        # a destination outside the list: this stream refused, the connection goes on
        other = _h2_connect(client, "127.0.0.1:22")
        assert client.replies[other].status == 403
        assert client.get("/members/").status == 200
        # the client ends its side: the tunnel ends
        client.conn.end_stream(sid)
        client.flush()
        client.wait(lambda: reply.ended or reply.reset is not None)
    finally:
        client.close()
        gw.stop()


def test_connect_over_http2_from_a_client_outside_the_list(tmp_path: Path,
                                                            member: ServerProcess) -> None:
    from tests.integration.h2client import H2Client

    gw = start_gateway(tmp_path, [f"127.0.0.1:{member.port}"],
                       extra=f"skitai.enable_proxy(clients=['10.0.0.0/8'], ports=[{member.port}])")
    client = H2Client.connect("127.0.0.1", gw.port)
    try:
        sid = _h2_connect(client, f"127.0.0.1:{member.port}")
        assert client.replies[sid].status == 403
    finally:
        client.close()
        gw.stop()


def test_connect_over_http2_without_enable_proxy(tmp_path: Path, member: ServerProcess) -> None:
    from tests.integration.h2client import H2Client

    gw = start_gateway(tmp_path, [f"127.0.0.1:{member.port}"])
    client = H2Client.connect("127.0.0.1", gw.port)
    try:
        sid = _h2_connect(client, f"127.0.0.1:{member.port}")
        assert client.replies[sid].status == 501
    finally:
        client.close()
        gw.stop()


class CountingDestination:
    """A TCP destination (asyncio, on 127.0.0.1:0 in a thread) that reads until EOF, then
    answers how many bytes it got, in two writes a moment apart, and closes: it can
    only answer through a tunnel that passes the client's half-close on and keeps the
    way back open.  ``speaks_first``: it says hello and half-closes first instead, then
    counts what comes until EOF (in ``counted``)."""

    def __init__(self, speaks_first: bool = False) -> None:
        import asyncio
        import threading

        ready = threading.Event()
        self.port = 0
        self.loop = asyncio.new_event_loop()
        self.done: asyncio.Future[None] = self.loop.create_future()

        self.counted: list[int] = []

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            if speaks_first:
                writer.write(b"hello\n")
                writer.write_eof()
                self.counted.append(len(await reader.read()))
                writer.close()
                return
            data = await reader.read()  # until EOF
            writer.write(b"count=%d\n" % len(data))
            await writer.drain()
            await asyncio.sleep(0.2)
            writer.write(b"bye\n")
            await writer.drain()
            writer.close()

        async def main() -> None:
            server = await asyncio.start_server(serve, "127.0.0.1", 0)
            self.port = server.sockets[0].getsockname()[1]
            ready.set()
            await self.done
            server.close()

        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(main(),),
                                       daemon=True)
        self.thread.start()
        assert ready.wait(10)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(lambda: self.done.done() or self.done.set_result(None))
        self.thread.join(10)
        self.loop.close()


def test_connect_tunnels_pass_the_half_close_on(tmp_path: Path) -> None:
    """The client ends its side (HTTP/2 END_STREAM, or an HTTP/1.1 client's FIN): the
    destination gets EOF and its answer still comes back, then its close ends the stream."""
    from tests.integration.h2client import H2Client

    dest = CountingDestination()
    gw = start_gateway(tmp_path, ["127.0.0.1:1"], extra=f"skitai.enable_proxy(ports=[{dest.port}])")
    client = H2Client.connect("127.0.0.1", gw.port)
    try:
        sid = _h2_connect(client, f"127.0.0.1:{dest.port}")
        reply = client.replies[sid]
        assert reply.status == 200 and not reply.ended
        payload = b"x" * 100000  # more than one DATA frame
        client.send_body(sid, payload, end=True)
        client.wait(lambda: reply.ended or reply.reset is not None)
        assert reply.reset is None
        assert bytes(reply.data) == b"count=100000\nbye\n"
        # the connection goes on (only that stream ended)
        assert client.get("/members/").status in (200, 502)
        # the same over HTTP/1.1: the client's FIN
        with socket.create_connection(("127.0.0.1", gw.port), timeout=20) as s:
            s.sendall(f"CONNECT 127.0.0.1:{dest.port} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            head = b""
            while b"\r\n\r\n" not in head:
                head += s.recv(1024)
            assert head.startswith(b"HTTP/1.1 200 ")
            rest = head.split(b"\r\n\r\n", 1)[1]
            s.sendall(b"y" * 5000)
            s.shutdown(socket.SHUT_WR)
            while chunk := s.recv(65536):
                rest += chunk
            assert rest == b"count=5000\nbye\n"
    finally:
        client.close()
        gw.stop()
        dest.stop()


def test_connect_over_http2_a_destination_that_ends_first(tmp_path: Path) -> None:
    """The destination half-closes first: END_STREAM reaches the client, whose DATA still
    reach the destination until the client ends its side too."""
    from tests.integration.h2client import H2Client

    dest = CountingDestination(speaks_first=True)
    gw = start_gateway(tmp_path, ["127.0.0.1:1"], extra=f"skitai.enable_proxy(ports=[{dest.port}])")
    client = H2Client.connect("127.0.0.1", gw.port)
    try:
        sid = _h2_connect(client, f"127.0.0.1:{dest.port}")
        reply = client.replies[sid]
        assert reply.status == 200
        client.wait(lambda: reply.ended or reply.reset is not None)
        assert reply.reset is None and bytes(reply.data) == b"hello\n"
        client.send_body(sid, b"z" * 70000, end=True)
        deadline = time.monotonic() + 20
        while not dest.counted and time.monotonic() < deadline:
            time.sleep(0.05)
        assert dest.counted == [70000]
        assert reply.reset is None
    finally:
        client.close()
        gw.stop()
        dest.stop()
