"""WebSocket end to end: a real ``python app.py`` and the ``websockets`` client (raw
sockets where the client library would refuse to break the protocol)."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import struct
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ServerProcess, start_app

websockets = pytest.importorskip("websockets", reason="websockets is in the test extras")
from websockets.asyncio.client import connect  # noqa: E402
from websockets.exceptions import ConnectionClosed, InvalidStatus  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "websocket"

WSAPP = '''
import threading
import time

import skitai

SPECS = {
    "/echo": skitai.WS_SIMPLE,
    "/json": skitai.WS_SIMPLE | skitai.WS_MSG_JSON,
    "/chat": skitai.WS_GROUPCHAT,
    "/thread": skitai.WS_THREADSAFE,
    "/ping": skitai.WS_SIMPLE,
    "/flood-safe": skitai.WS_THREADSAFE,
    "/flood-simple": skitai.WS_SIMPLE,
}
SENT = {}


def app(environ, start_response):
    path = environ["PATH_INFO"]
    event = environ.get("websocket.event")
    ws = environ.get("websocket")
    cid = environ.get("websocket.client")
    if path == "/plain":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"plain answer"]
    if path == "/sent":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [str(SENT.get(environ["QUERY_STRING"], -1)).encode()]
    if event == skitai.WS_EVT_INIT:
        if path not in SPECS:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"no websocket here"]
        environ["websocket.config"] = (SPECS[path], 1 if path == "/ping" else 60, ("message",))
        return None
    if event == skitai.WS_EVT_OPEN:
        if path == "/chat":
            return "entered %d" % cid
        return None
    if event == skitai.WS_EVT_CLOSE:
        if path == "/chat":
            return "left %d" % cid
        return None
    message = environ["websocket.message"]
    if path == "/json":
        return {"got": message, "type": type(message).__name__}
    if path == "/chat":
        if message == "whoami":
            return "you are %d" % cid, cid
        if isinstance(message, str) and message.startswith("to "):
            target = int(message.split()[1])
            ws.send("private from %d" % cid, target)
            return None
        return "%d said %s" % (cid, message)
    if path.startswith("/flood"):
        chunk = b"z" * 1024
        SENT[message] = 0

        def flood():
            for _ in range(100000):  # 100 MiB if nothing held it back
                if not ws.send(chunk):
                    break
                SENT[message] += 1
        threading.Thread(target=flood, daemon=True).start()
        return None
    if path == "/thread":
        def produce():
            for i in range(20):
                ws.send("tick %d" % i)
            ws.send("done")
        threading.Thread(target=produce).start()
        return None
    if message == "close-me":
        ws.close(4001, "as asked")
        return None
    if message == "boom":
        raise RuntimeError("app failure")
    if message == "query":
        return environ["QUERY_STRING"]
    if message == "two":
        ws.send("one")
        return b"\\x02"
    return message  # str -> text frame, bytes -> binary frame
'''

APP = '''
import skitai
import wsapp

if __name__ == "__main__":
    small = skitai.pref()
    small.max_client_body_size = 1024
    skitai.mount("/ws", wsapp.app)
    skitai.mount("/small", wsapp.app, pref=small)
    skitai.mount("/static", "static")
    skitai.run(workers={workers}, threads={threads})
'''


def _start(tmp: Path, *, workers: int = 1, threads: int = 4) -> ServerProcess:
    (tmp / "wsapp.py").write_text(textwrap.dedent(WSAPP))
    (tmp / "static").mkdir(exist_ok=True)
    (tmp / "static" / "x.txt").write_text("static file")
    return start_app(tmp, APP.format(workers=workers, threads=threads))


@pytest.fixture(scope="module", params=[4, 0], ids=["threads", "inline"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[ServerProcess]:
    srv = _start(tmp_path_factory.mktemp("ws"), threads=request.param)
    yield srv
    srv.stop()


def run(coro_fn: Callable[[], Any], timeout: float = 30) -> Any:
    return asyncio.run(asyncio.wait_for(coro_fn(), timeout))


def uri(srv: ServerProcess, path: str) -> str:
    return f"ws://{srv.host}:{srv.port}{path}"


# --- raw-socket helpers ---------------------------------------------------------------------------
def upgrade_request(path: str, extra: bytes = b"", version: bytes = b"13") -> bytes:
    """The bytes of a WebSocket upgrade request head (RFC 6455's sample key)."""
    return (b"GET " + path.encode() + b" HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            b"Sec-WebSocket-Version: " + version + b"\r\n" + extra + b"\r\n")


def raw_handshake(srv: ServerProcess, path: str, extra: bytes = b"") -> tuple[socket.socket, bytes]:
    sock = srv.connect()
    sock.sendall(upgrade_request(path, extra))
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return sock, head + b"\r\n\r\n" + rest


def client_frame(opcode: int, payload: bytes, *, masked: bool = True, fin: bool = True) -> bytes:
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    mbit = 0x80 if masked else 0
    if n < 126:
        head += bytes([mbit | n])
    else:
        head += bytes([mbit | 126]) + struct.pack("!H", n)
    if not masked:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def read_frames(sock: socket.socket, initial: bytes = b"", until_close: bool = True,
                timeout: float = 15.0) -> list[tuple[int, bytes]]:
    """Server frames until a close frame (or EOF / timeout)."""
    sock.settimeout(timeout)
    buf = initial
    frames: list[tuple[int, bytes]] = []
    while True:
        while len(buf) >= 2:
            n = buf[1] & 0x7F
            i = 2
            if n == 126:
                if len(buf) < 4:
                    break
                n = struct.unpack("!H", buf[2:4])[0]
                i = 4
            elif n == 127:
                if len(buf) < 10:
                    break
                n = struct.unpack("!Q", buf[2:10])[0]
                i = 10
            if len(buf) < i + n:
                break
            frames.append((buf[0] & 0x0F, buf[i:i + n]))
            buf = buf[i + n:]
            if frames[-1][0] == 8 and until_close:
                return frames
        try:
            chunk = sock.recv(65536)
        except (TimeoutError, ConnectionResetError):
            return frames
        if not chunk:
            return frames
        buf += chunk


def close_code_of(frames: list[tuple[int, bytes]]) -> int:
    closes = [p for op, p in frames if op == 8]
    assert closes, f"no close frame in {frames!r}"
    return int(struct.unpack("!H", closes[0][:2])[0])


# --- the tests ----------------------------------------------------------------------------------

def read_until(sock: socket.socket, suffix: bytes) -> bytes:
    """Read until the bytes received end with ``suffix`` (the peer must not close first)."""
    data = b""
    while not data.endswith(suffix):
        chunk = sock.recv(65536)
        assert chunk, data
        data += chunk
    return data

def test_echo_text_binary_and_deflate(server: ServerProcess) -> None:
    async def go() -> None:
        async with connect(uri(server, "/ws/echo")) as ws:
            ext = ws.response.headers.get("Sec-WebSocket-Extensions", "")
            assert "permessage-deflate" in ext
            await ws.send("héllo")
            assert await ws.recv() == "héllo"
            await ws.send(b"\x00\x01\xff")
            assert await ws.recv() == b"\x00\x01\xff"
            big = "compressible " * 5000
            await ws.send(big)
            assert await ws.recv() == big
            await ws.send("two")
            assert await ws.recv() == "one"  # send() before the return value
            assert await ws.recv() == b"\x02"
    run(go)


def test_echo_without_compression(server: ServerProcess) -> None:
    async def go() -> None:
        async with connect(uri(server, "/ws/echo"), compression=None) as ws:
            assert "Sec-WebSocket-Extensions" not in ws.response.headers
            await ws.send("plain")
            assert await ws.recv() == "plain"
    run(go)


def test_fragmented_message_and_ping_pong(server: ServerProcess) -> None:
    async def go() -> None:
        async with connect(uri(server, "/ws/echo")) as ws:
            await ws.send(["frag-1 ", "frag-2 ", "frag-3"])
            assert await ws.recv() == "frag-1 frag-2 frag-3"
            await ws.send([b"a", b"b"])
            assert await ws.recv() == b"ab"
            latency = await asyncio.wait_for(await ws.ping(b"are you there"), 10)
            assert latency >= 0
    run(go)


def test_message_bound_as_first_query_argument(server: ServerProcess) -> None:
    async def go() -> None:
        async with connect(uri(server, "/ws/echo?room=1&message=spoof")) as ws:
            await ws.send("query")
            assert await ws.recv() == "message=query&room=1&message=spoof"
    run(go)


def test_client_close_code_is_echoed(server: ServerProcess) -> None:
    async def go() -> None:
        ws = await connect(uri(server, "/ws/echo"))
        await ws.close(4000, "client bye")
        assert ws.close_code == 4000
        assert ws.protocol.close_rcvd is not None and ws.protocol.close_rcvd.code == 4000
    run(go)


def test_server_close_from_the_app(server: ServerProcess) -> None:
    async def go() -> None:
        async with connect(uri(server, "/ws/echo")) as ws:
            await ws.send("close-me")
            with pytest.raises(ConnectionClosed):
                await ws.recv()
            assert ws.protocol.close_rcvd is not None
            assert (ws.protocol.close_rcvd.code, ws.protocol.close_rcvd.reason) == (4001, "as asked")
    run(go)


def test_app_exception_closes_1011(server: ServerProcess) -> None:
    async def go() -> None:
        async with connect(uri(server, "/ws/echo")) as ws:
            await ws.send("boom")
            with pytest.raises(ConnectionClosed):
                await ws.recv()
            assert ws.protocol.close_rcvd is not None and ws.protocol.close_rcvd.code == 1011
    run(go)
    assert "app failure" in server.output


def test_oversize_message_closes_1009(server: ServerProcess) -> None:
    async def go() -> None:
        async with connect(uri(server, "/small/echo"), max_size=None) as ws:
            await ws.send("x" * 1000)
            assert await ws.recv() == "x" * 1000
            await ws.send("y" * 5000)
            with pytest.raises(ConnectionClosed):
                await ws.recv()
            assert ws.protocol.close_rcvd is not None and ws.protocol.close_rcvd.code == 1009
    run(go)


def test_invalid_utf8_closes_1007_raw(server: ServerProcess) -> None:
    sock, head = raw_handshake(server, "/ws/echo")
    try:
        assert head.startswith(b"HTTP/1.1 101 ")
        sock.sendall(client_frame(1, b"bad \xff\xfe utf-8"))
        frames = read_frames(sock, head.partition(b"\r\n\r\n")[2])
        assert close_code_of(frames) == 1007
        assert sock.recv(10) == b""  # then the server closes
    finally:
        sock.close()


def test_unmasked_client_frame_closes_1002_raw(server: ServerProcess) -> None:
    sock, head = raw_handshake(server, "/ws/echo")
    try:
        assert head.startswith(b"HTTP/1.1 101 ")
        sock.sendall(client_frame(1, b"not masked", masked=False))
        frames = read_frames(sock, head.partition(b"\r\n\r\n")[2])
        assert close_code_of(frames) == 1002
    finally:
        sock.close()


def test_frames_sent_with_the_handshake_are_not_lost_raw(server: ServerProcess) -> None:
    # The client may send frames right behind its request head (no wait for the 101).
    sock = server.connect()
    try:
        sock.sendall(upgrade_request("/ws/echo") + client_frame(1, b"early"))
        data = b""
        while b"\r\n\r\n" not in data or not data.endswith(b"early"):
            chunk = sock.recv(65536)
            assert chunk, data
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101 ")
        assert rest == b"\x81\x05early"
        sock.sendall(client_frame(8, struct.pack("!H", 1000)))
        assert close_code_of(read_frames(sock)) == 1000
        assert sock.recv(10) == b""  # the server closes TCP first
    finally:
        sock.close()


def test_keepalive_ping_then_1011_without_pong_raw(server: ServerProcess) -> None:
    sock, head = raw_handshake(server, "/ws/ping")  # timeout 1 s
    try:
        frames = read_frames(sock, head.partition(b"\r\n\r\n")[2], timeout=20)
        ops = [op for op, _ in frames]
        assert 9 in ops, frames  # a ping came first
        assert close_code_of(frames) == 1011  # and, unanswered, the close
    finally:
        sock.close()


def test_keepalive_ping_answered_keeps_it_open(server: ServerProcess) -> None:
    async def go() -> None:
        async with connect(uri(server, "/ws/ping"), ping_interval=None) as ws:
            await asyncio.sleep(4)  # pings came and the client library answered them
            await ws.send("still here")
            assert await ws.recv() == "still here"
    run(go)


def test_json_messages(server: ServerProcess) -> None:
    async def go() -> None:
        async with connect(uri(server, "/ws/json")) as ws:
            await ws.send('{"a": [1, 2]}')
            assert await ws.recv() == '{"got":{"a":[1,2]},"type":"dict"}'
            await ws.send("not json")
            with pytest.raises(ConnectionClosed):
                await ws.recv()
            assert ws.protocol.close_rcvd is not None and ws.protocol.close_rcvd.code == 1007
    run(go)


def test_threadsafe_send_from_another_thread(server: ServerProcess) -> None:
    async def go() -> None:
        async with connect(uri(server, "/ws/thread")) as ws:
            await ws.send("start")
            got = [await ws.recv() for _ in range(21)]
            assert got == [f"tick {i}" for i in range(20)] + ["done"]
    run(go)


def test_group_chat_in_one_worker(server: ServerProcess) -> None:
    async def go() -> None:
        async with connect(uri(server, "/ws/chat?room=1")) as a:
            entered_a = await a.recv()
            async with connect(uri(server, "/ws/chat?room=1")) as b, \
                    connect(uri(server, "/ws/chat?room=2")) as c:
                entered_b = await b.recv()
                assert await a.recv() == entered_b  # a sees b enter
                entered_c = await c.recv()
                id_a, id_b = int(entered_a.split()[1]), int(entered_b.split()[1])
                id_c = int(entered_c.split()[1])
                await a.send("hello room")
                assert await a.recv() == f"{id_a} said hello room"
                assert await b.recv() == f"{id_a} said hello room"
                await b.send("whoami")  # (message, client_id): to that client only
                assert await b.recv() == f"you are {id_b}"
                await a.send(f"to {id_b}")
                assert await b.recv() == f"private from {id_a}"
                await c.send("room two")
                assert await c.recv() == f"{id_c} said room two"
            # b and c left: a is told b left (c was in another room)
            assert await a.recv() == f"left {id_b}"
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(a.recv(), 0.5)
    run(go)


def test_declined_upgrades_are_served_over_http(server: ServerProcess) -> None:
    async def go() -> None:
        with pytest.raises(InvalidStatus) as info:
            async with connect(uri(server, "/ws/nothing")):
                pass
        assert info.value.response.status_code == 404
        assert info.value.response.body == b"no websocket here"
        with pytest.raises(InvalidStatus) as info:
            async with connect(uri(server, "/static/x.txt")):
                pass
        assert info.value.response.status_code == 200  # a static file: served as such
        with pytest.raises(InvalidStatus) as info:
            async with connect(uri(server, "/nowhere")):
                pass
        assert info.value.response.status_code == 404
    run(go)


def test_declined_upgrade_keeps_the_connection_usable_raw(server: ServerProcess) -> None:
    sock, head = raw_handshake(server, "/ws/plain")
    try:
        assert head.startswith(b"HTTP/1.1 200 "), head
        assert head.endswith(b"plain answer")
        sock.sendall(b"GET /ws/plain HTTP/1.1\r\nHost: t\r\n\r\n")
        data = read_until(sock, b"plain answer")
        assert data.startswith(b"HTTP/1.1 200 ")
    finally:
        sock.close()


def test_bad_version_gets_426_raw(server: ServerProcess) -> None:
    sock = server.connect()
    try:
        sock.sendall(upgrade_request("/ws/echo", version=b"8"))
        data = sock.recv(65536)
        assert data.startswith(b"HTTP/1.1 426 ")
        assert b"sec-websocket-version: 13" in data.lower()
    finally:
        sock.close()


def test_graceful_stop_closes_1001(tmp_path: Path) -> None:
    srv = _start(tmp_path)
    try:
        async def go() -> None:
            async with connect(uri(srv, "/ws/echo")) as ws:
                await ws.send("hi")
                assert await ws.recv() == "hi"
                srv.signal(signal.SIGTERM)
                with pytest.raises(ConnectionClosed):
                    await ws.recv()
                assert ws.protocol.close_rcvd is not None and ws.protocol.close_rcvd.code == 1001
        run(go)
        assert srv.proc.wait(30) == 0
    finally:
        srv.stop()


def test_group_chat_across_two_workers(tmp_path: Path) -> None:
    srv = _start(tmp_path, workers=2)
    try:
        async def whoami(ws: Any) -> int:
            await ws.send("whoami")  # answered to this client only, by its own worker
            while True:
                text = await asyncio.wait_for(ws.recv(), 10)
                if text.startswith("you are "):
                    return int(text.split()[2])

        async def go() -> None:
            by_pid: dict[int, Any] = {}
            opened: list[Any] = []
            for _ in range(10):  # concurrent batches, so both workers accept some
                batch = await asyncio.gather(*(connect(uri(srv, "/ws/chat?room=x"),
                                                       close_timeout=1) for _ in range(6)))
                opened += batch
                for ws in batch:
                    by_pid.setdefault(await whoami(ws) >> 32, ws)  # the id carries the pid
                if len(by_pid) == 2:
                    break
            assert len(by_pid) == 2, "every connection landed on one worker"
            a, b = by_pid.values()
            await a.send("across")
            for ws in (a, b):  # both see it, whichever worker holds them
                while not (await asyncio.wait_for(ws.recv(), 10)).endswith(" said across"):
                    pass
            await asyncio.gather(*(ws.close() for ws in opened))
        run(go, 90)
    finally:
        srv.stop()


def test_readme_flask_examples(tmp_path: Path) -> None:
    pytest.importorskip("flask")
    work = tmp_path / "websocket"
    shutil.copytree(EXAMPLES, work)
    source = (work / "app.py").read_text().replace("port=5000, ", "")
    srv = start_app(work, source)
    try:
        async def go() -> None:
            async with connect(uri(srv, "/websocket/echo")) as ws:
                assert (await ws.recv()).startswith("Welcome ")
                await ws.send("hello")
                assert await ws.recv() == "ECHO:hello"
            async with connect(uri(srv, "/websocket/direct")) as ws:
                await ws.send("hi")
                assert await ws.recv() == b"You said, hi"  # bytes: a binary frame
                assert await ws.recv() == "I said acknowledge"
            async with connect(uri(srv, "/websocket/json")) as ws:
                await ws.send('{"query": "abc", "offset": 3}')
                import json
                assert json.loads(await ws.recv()) == {"query": "abc", "offset": 3,
                                                       "rows": ["ABC", "ABC"]}
            async with connect(uri(srv, "/websocket/chat?room_id=9")) as a:
                assert (await a.recv()).endswith("has entered")
                await a.send("yo")
                assert (await a.recv()).endswith("Said: yo")
            async with connect(uri(srv, "/websocket/run")) as ws:
                await ws.send("start")
                assert await ws.recv() == "Keep running..."
                await ws.send("stop")
                got = {await ws.recv(), await ws.recv()}
                assert "Try to stop..." in got
            async with connect(uri(srv, "/wsgi/echo")) as ws:
                assert (await ws.recv()).startswith("Welcome Client ")
                await ws.send(b"raw")
                assert await ws.recv() == b"ECHO:raw"
        run(go)
        import urllib.request
        with urllib.request.urlopen(f"http://{srv.host}:{srv.port}/", timeout=10) as resp:
            assert b"new WebSocket" in resp.read()
    finally:
        srv.stop()


def test_many_messages_in_order(server: ServerProcess) -> None:
    async def go() -> None:
        async with connect(uri(server, "/ws/echo")) as ws:
            for i in range(500):
                await ws.send(f"m{i}")
            got = [await ws.recv() for _ in range(500)]
            assert got == [f"m{i}" for i in range(500)]
    run(go)


H2APP = '''
import skitai

if __name__ == "__main__":
    skitai.mount("/ws", "h2wsapp.py", "app")
    skitai.run(workers=1, threads=2)
'''

# The worker installs the RFC 8441 hook itself: the app is mounted as it is.
H2WSAPP = '''
from wsapp import app
'''


class H2WebSocket:
    """A minimal RFC 8441 client over the ``h2`` library and a blocking socket."""

    def __init__(self, srv: ServerProcess, path: str) -> None:
        import h2.config
        import h2.connection
        import h2.events
        import h2.settings

        self.h2e = h2.events
        self.sock = srv.connect()
        self.conn = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding=None))
        self.conn.initiate_connection()
        self.sock.sendall(self.conn.data_to_send())
        self.events: list[Any] = []
        self.wait(h2.events.RemoteSettingsChanged)
        assert self.conn.remote_settings.get(h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL) == 1
        self.sid = self.conn.get_next_available_stream_id()
        self.conn.send_headers(self.sid, [
            (b":method", b"CONNECT"), (b":protocol", b"websocket"), (b":scheme", b"http"),
            (b":path", path.encode()), (b":authority", b"localhost"),
            (b"sec-websocket-version", b"13")])
        self.sock.sendall(self.conn.data_to_send())
        self.status = int(dict(self.wait(h2.events.ResponseReceived).headers)[b":status"])
        self.buf = b""

    def wait(self, kind: type) -> Any:
        while True:
            for i, ev in enumerate(self.events):
                if isinstance(ev, kind):
                    return self.events.pop(i)
            data = self.sock.recv(65536)
            assert data, f"connection closed while waiting for {kind.__name__}"
            for ev in self.conn.receive_data(data):
                if isinstance(ev, self.h2e.DataReceived):
                    self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                self.events.append(ev)
            self.sock.sendall(self.conn.data_to_send())

    def send(self, opcode: int, payload: bytes, *, end: bool = False) -> None:
        self.conn.send_data(self.sid, client_frame(opcode, payload), end_stream=end)
        self.sock.sendall(self.conn.data_to_send())

    def frame(self) -> tuple[int, bytes]:
        while True:
            frames = read_frames_from(self.buf)
            if frames is not None:
                (op, payload), used = frames
                self.buf = self.buf[used:]
                return op, payload
            ev = self.wait(self.h2e.DataReceived)
            self.buf += ev.data


def read_frames_from(buf: bytes) -> tuple[tuple[int, bytes], int] | None:
    if len(buf) < 2:
        return None
    n = buf[1] & 0x7F
    i = 2
    if n == 126:
        if len(buf) < 4:
            return None
        n, i = struct.unpack("!H", buf[2:4])[0], 4
    if len(buf) < i + n:
        return None
    return (buf[0] & 0x0F, buf[i:i + n]), i + n


def test_websocket_over_http2(tmp_path: Path) -> None:
    (tmp_path / "wsapp.py").write_text(textwrap.dedent(WSAPP))
    (tmp_path / "h2wsapp.py").write_text(textwrap.dedent(H2WSAPP))
    srv = start_app(tmp_path, H2APP)
    try:
        ws = H2WebSocket(srv, "/ws/echo")
        assert ws.status == 200
        ws.send(1, b"over h2")
        assert ws.frame() == (1, b"over h2")
        ws.send(2, b"\x00\x01")
        assert ws.frame() == (2, b"\x00\x01")
        ws.send(1, b"query")
        assert ws.frame() == (1, b"message=query")
        ws.send(8, struct.pack("!H", 1000))
        op, payload = ws.frame()
        assert (op, payload[:2]) == (8, struct.pack("!H", 1000))
        ws.wait(ws.h2e.StreamEnded)  # the server ends the stream: the WebSocket is closed
        # a WebSocket the app does not take gets the app's own answer, over HTTP/2
        ws2 = H2WebSocket(srv, "/ws/nothing")
        assert ws2.status == 404  # the app declined it over HTTP/2
        ws.sock.close()
        ws2.sock.close()
    finally:
        srv.stop()


def test_upgrade_request_with_a_body_is_plain_http_raw(server: ServerProcess) -> None:
    sock = server.connect()
    try:
        sock.sendall(upgrade_request("/ws/plain", b"Content-Length: 3\r\n") + b"abc")
        data = read_until(sock, b"plain answer")
        assert data.startswith(b"HTTP/1.1 200 ")
    finally:
        sock.close()


def test_many_concurrent_connections(server: ServerProcess) -> None:
    async def one(i: int) -> list[str]:
        async with connect(uri(server, "/ws/echo")) as ws:
            for j in range(10):
                await ws.send(f"{i}-{j}")
            return [await ws.recv() for _ in range(10)]

    async def go() -> None:
        results = await asyncio.gather(*(one(i) for i in range(100)))
        for i, got in enumerate(results):
            assert got == [f"{i}-{j}" for j in range(10)]
    run(go)


def _sent(srv: ServerProcess, key: str) -> int:
    import urllib.request

    with urllib.request.urlopen(f"http://{srv.host}:{srv.port}/ws/sent?{key}", timeout=10) as r:
        return int(r.read())


def test_threadsafe_send_waits_for_a_slow_reader(server: ServerProcess) -> None:
    async def go() -> None:
        async with connect(uri(server, "/ws/flood-safe"), compression=None, max_size=None,
                           max_queue=1, close_timeout=1) as ws:
            await ws.send("slow")
            await asyncio.sleep(3)  # read nothing: the producer thread must block
            stalled = _sent(server, "slow")
            assert 0 < stalled < 30000, stalled  # < 30 MiB of 100 MiB went anywhere
            await asyncio.sleep(1)
            assert _sent(server, "slow") - stalled < 2000  # and it stays blocked
            got = 0
            while got < 1000:  # reading lets it go on
                await ws.recv()
                got += 1
    run(go)


def test_simple_flood_to_a_stalled_reader_is_dropped(server: ServerProcess) -> None:
    async def go() -> None:
        ws = await connect(uri(server, "/ws/flood-simple"), compression=None, max_size=None,
                           max_queue=1, close_timeout=1)
        await ws.send("stalled")
        await asyncio.sleep(4)  # the server queues without waiting, up to its hard limit
        with pytest.raises(ConnectionClosed):
            while True:
                await asyncio.wait_for(ws.recv(), 10)
        await ws.close()
    run(go)
    assert "reads too slowly" in server.output


TLSAPP = '''
import os
import skitai
import wsapp

if __name__ == "__main__":
    skitai.enable_ssl(os.environ["TEST_CERT"], os.environ["TEST_KEY"])
    skitai.mount("/ws", wsapp.app)
    skitai.run(workers=1, threads=2)
'''


@pytest.mark.skipif(not shutil.which("openssl"), reason="openssl is not installed")
def test_wss_over_tls(tmp_path: Path) -> None:
    import ssl
    import subprocess

    cert, key = tmp_path / "server.crt", tmp_path / "server.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-days", "2", "-nodes",
                    "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True)
    (tmp_path / "wsapp.py").write_text(textwrap.dedent(WSAPP))
    srv = start_app(tmp_path, TLSAPP, env={"TEST_CERT": str(cert), "TEST_KEY": str(key),
                                           "SKITAI_VARPATH": str(tmp_path / "var")})
    try:
        ctx = ssl.create_default_context(cafile=str(cert))

        async def go() -> None:
            async with connect(f"wss://localhost:{srv.port}/ws/echo", ssl=ctx) as ws:
                await ws.send("secure")
                assert await ws.recv() == "secure"
                await ws.send(b"\x00" * 100_000)
                assert await ws.recv() == b"\x00" * 100_000
            async with connect(f"wss://localhost:{srv.port}/not-mounted", ssl=ctx):
                pass  # a 404: InvalidStatus
        with pytest.raises(InvalidStatus):
            run(go)
        head = b""
        raw = socket.create_connection((srv.host, srv.port), timeout=10)
        sock = ctx.wrap_socket(raw, server_hostname="localhost")
        sock.sendall(upgrade_request("/ws/echo"))
        while b"\r\n\r\n" not in head:
            head += sock.recv(65536)
        assert head.startswith(b"HTTP/1.1 101 ")
        sock.sendall(client_frame(1, b"\xff bad"))  # invalid UTF-8 over TLS: 1007, then closed
        assert close_code_of(read_frames(sock, head.partition(b"\r\n\r\n")[2])) == 1007
        sock.close()
    finally:
        srv.stop()


def test_declined_upgrade_with_a_pipelined_request_raw(server: ServerProcess) -> None:
    sock = server.connect()
    try:
        sock.sendall(upgrade_request("/ws/plain") + b"GET /ws/plain HTTP/1.1\r\nHost: t\r\n\r\n")
        data = b""
        while data.count(b"plain answer") < 2:
            chunk = sock.recv(65536)
            assert chunk, data
            data += chunk
        assert data.count(b"HTTP/1.1 200 ") == 2
    finally:
        sock.close()
