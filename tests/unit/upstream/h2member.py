"""A real HTTP/2-over-TLS member for the upstream tests: an asyncio server on 127.0.0.1:0
speaking h2 (the ``h2`` library, server side), with paths that misbehave on purpose.

Paths: ``/slow`` answers after ``delay`` seconds; ``/reset`` resets the stream;
``/refuse`` refuses the first stream that asks for it (REFUSED_STREAM); ``/drain`` sends
GOAWAY (this stream the last one) and answers after ``delay``; ``/drop`` closes
the connection; ``/early`` answers as soon as the head came
and resets the stream (NO_ERROR: stop the upload); ``/big/N`` answers N bytes (past the flow-control windows); ``/hang``
never answers; anything else echoes the method, path and body length.  ``goaway_after``:
after that many requests on a connection, a GOAWAY whose last stream id is the previous
one (the request that crossed it was never processed: the client must send it again).
"""

from __future__ import annotations

import asyncio
import json
import ssl
import subprocess
from pathlib import Path
from typing import Any

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.settings
import hyperframe.frame


def make_cert(where: Path) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 and localhost (``openssl req``)."""
    cert, key = where / "member.crt", where / "member.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-days", "2", "-nodes",
                    "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True)
    return str(cert), str(key)


class H2Member:
    def __init__(self, cert: str, key: str, *, max_streams: int = 100, delay: float = 0.0,
                 goaway_after: int = 0, alpn: tuple[str, ...] = ("h2", "http/1.1")) -> None:
        self.cert, self.key = cert, key
        self.max_streams = max_streams
        self.delay = delay
        self.goaway_after = goaway_after
        self.alpn = alpn
        self.connections = 0
        self.requests: list[tuple[str, str]] = []  # (method, path) as they arrived
        self.trailers: list[dict[str, str]] = []  # request trailers, as they arrived
        self.most_open = 0  # the most streams open at once on one connection
        self.refused = False
        self.port = 0
        self.server: asyncio.base_events.Server | None = None
        self.protocols: list[_Proto] = []

    async def start(self) -> H2Member:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert, self.key)
        ctx.set_alpn_protocols(list(self.alpn))
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(lambda: _Proto(self), "127.0.0.1", 0, ssl=ctx)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        for proto in self.protocols:
            if proto.transport is not None:
                proto.transport.close()
        await self.server.wait_closed()


class _Proto(asyncio.Protocol):
    def __init__(self, member: H2Member) -> None:
        self.member = member
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(
            client_side=False, header_encoding="utf-8"))
        self.transport: asyncio.Transport | None = None
        self.bodies: dict[int, bytes] = {}
        self.heads: dict[int, dict[str, str]] = {}
        self.pending: dict[int, bytes] = {}  # answers waiting for window
        self.seen = 0
        self.open = 0

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.member.connections += 1
        self.member.protocols.append(self)
        self.conn.local_settings = h2.settings.Settings(
            client=False, initial_values={
                h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: self.member.max_streams})
        self.conn.initiate_connection()
        self.flush()

    def flush(self) -> None:
        data = self.conn.data_to_send()
        if data and self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        for event in self.conn.receive_data(data):
            if isinstance(event, h2.events.RequestReceived):
                self.heads[event.stream_id] = dict(event.headers)
                self.bodies[event.stream_id] = b""
                self.open += 1
                self.member.most_open = max(self.member.most_open, self.open)
                if self.heads[event.stream_id][":path"] == "/early":
                    self.request(event.stream_id)
            elif isinstance(event, h2.events.DataReceived):
                self.bodies[event.stream_id] += event.data
                self.conn.acknowledge_received_data(event.flow_controlled_length,
                                                    event.stream_id)
            elif isinstance(event, h2.events.StreamEnded):
                if self.heads[event.stream_id][":path"] != "/early":  # answered already
                    self.request(event.stream_id)
            elif isinstance(event, h2.events.TrailersReceived):
                self.member.trailers.append(dict(event.headers))
            elif isinstance(event, h2.events.WindowUpdated):
                for sid in list(self.pending):
                    self.send_pending(sid)
            elif isinstance(event, h2.events.StreamReset):
                self.pending.pop(event.stream_id, None)
        self.flush()

    def request(self, sid: int) -> None:
        head = self.heads[sid]
        method, path = head[":method"], head[":path"]
        self.seen += 1
        if self.member.goaway_after and self.seen > self.member.goaway_after:
            self.conn.close_connection(last_stream_id=sid - 2)
            self.flush()
            return
        self.member.requests.append((method, path))
        loop = asyncio.get_running_loop()
        if path == "/slow":
            loop.call_later(self.member.delay, self.answer, sid, 200, None)
        elif path == "/hang":
            return
        elif path == "/drain":  # a graceful shutdown: GOAWAY, then this answer
            # Written by hand: h2 itself sends nothing more after its own GOAWAY.
            self.flush()
            assert self.transport is not None
            self.transport.write(hyperframe.frame.GoAwayFrame(
                0, last_stream_id=sid, error_code=0).serialize())
            loop.call_later(self.member.delay, self.answer, sid, 200, None)
        elif path == "/reset":
            self.conn.reset_stream(sid, h2.errors.ErrorCodes.INTERNAL_ERROR)
        elif path == "/refuse" and not self.member.refused:
            self.member.refused = True
            self.conn.reset_stream(sid, h2.errors.ErrorCodes.REFUSED_STREAM)
        elif path == "/drop":
            assert self.transport is not None
            self.transport.close()
        elif path == "/early":  # answers before the body ends, then stops the upload
            self.answer(sid, 200, b"early")
            self.conn.reset_stream(sid, h2.errors.ErrorCodes.NO_ERROR)
        elif path.startswith("/big/"):
            self.answer(sid, 200, bytes(range(256)) * (int(path[5:]) // 256))
        else:
            self.answer(sid, 200, None)

    def answer(self, sid: int, status: int, body: bytes | None) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        head = self.heads[sid]
        if body is None:
            body = json.dumps({"method": head[":method"], "path": head[":path"],
                               "authority": head.get(":authority"),
                               "length": len(self.bodies[sid]),
                               "ltxn": head.get("x-ltxn-id"), "xa": head.get("x-a")}).encode()
        self.conn.send_headers(sid, [(":status", str(status)),
                                     ("content-type", "application/json"),
                                     ("content-length", str(len(body)))])
        self.pending[sid] = body
        self.send_pending(sid)
        self.flush()

    def send_pending(self, sid: int) -> None:
        body = self.pending[sid]
        while body:
            window = min(self.conn.local_flow_control_window(sid),
                         self.conn.max_outbound_frame_size)
            if window <= 0:
                self.pending[sid] = body
                return
            self.conn.send_data(sid, body[:window])
            body = body[window:]
        del self.pending[sid]
        self.conn.end_stream(sid)
        self.open -= 1
