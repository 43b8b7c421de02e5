"""A small blocking HTTP/2 client over a real socket (``h2`` inside), for the tests."""

from __future__ import annotations

import collections
import socket
import ssl
import time
from dataclasses import dataclass, field
from typing import Any

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
from hyperframe.frame import Frame, GoAwayFrame


@dataclass
class Reply:
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    data: bytearray = field(default_factory=bytearray)
    trailers: list[tuple[bytes, bytes]] = field(default_factory=list)
    informational: list[list[tuple[bytes, bytes]]] = field(default_factory=list)
    ended: bool = False
    reset: int | None = None

    @property
    def status(self) -> int:
        return int(dict(self.headers)[b":status"])

    def header(self, name: bytes) -> bytes | None:
        return dict(self.headers).get(name)


class H2Client:
    def __init__(self, sock: socket.socket, *, settings: dict[int, int] | None = None,
                 upgrade: bool = False, auto_ack: bool = True) -> None:
        self.sock = sock
        self.sock.settimeout(30)
        config = h2.config.H2Configuration(client_side=True, header_encoding=None)
        self.conn = h2.connection.H2Connection(config)
        if settings:
            self.conn.local_settings = h2.settings.Settings(client=True, initial_values=settings)
        self.replies: dict[int, Reply] = {}
        self.pushed: dict[int, tuple[int, list[tuple[bytes, bytes]]]] = {}
        self.terminated: h2.events.ConnectionTerminated | None = None
        self.eof = False
        self.auto_ack = auto_ack
        self.upgrade_settings = b""
        # A shadow frame parser: sees the server's GOAWAY even when h2 refuses a frame
        # before it (e.g. HEADERS for a stream this client reset).
        self._raw = bytearray()
        self.goaway: GoAwayFrame | None = None
        # frames received, by type (e.g. "WindowUpdateFrame"), counted by the shadow parser
        self.frames: collections.Counter[str] = collections.Counter()
        self.ping_acks: list[bytes] = []  # the opaque data of each PING ACK received
        if upgrade:
            self.upgrade_settings = self.conn.initiate_upgrade_connection()
            self.replies[1] = Reply()
        else:
            self.conn.initiate_connection()
            self.flush()

    @classmethod
    def connect(cls, host: str, port: int, **kw: Any) -> H2Client:
        return cls(socket.create_connection((host, port), timeout=30), **kw)

    @classmethod
    def connect_tls(cls, host: str, port: int, cafile: str, **kw: Any) -> H2Client:
        ctx = ssl.create_default_context(cafile=cafile)
        ctx.set_alpn_protocols(["h2"])
        raw = socket.create_connection((host, port), timeout=30)
        sock = ctx.wrap_socket(raw, server_hostname="localhost")
        assert sock.selected_alpn_protocol() == "h2"
        return cls(sock, **kw)

    def flush(self) -> None:
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def request(self, path: str, method: str = "GET", headers: list[tuple[bytes, bytes]] | None = None,
                body: bytes | None = None, end: bool = True, authority: str = "test") -> int:
        sid = self.conn.get_next_available_stream_id()
        self.replies[sid] = Reply()
        fields = [(b":method", method.encode()), (b":scheme", b"http"),
                  (b":authority", authority.encode()), (b":path", path.encode()), *(headers or [])]
        self.conn.send_headers(sid, fields, end_stream=end and not body)
        if body:
            self.send_body(sid, body, end=end)
        self.flush()
        return sid

    def send_body(self, sid: int, body: bytes, end: bool = True, timeout: float = 60) -> None:
        """Send respecting the server's windows (pumping for WINDOW_UPDATE)."""
        view = memoryview(body)
        deadline = time.monotonic() + timeout
        while view:
            reply = self.replies.get(sid)
            if reply is not None and reply.reset is not None:
                raise h2.exceptions.StreamClosedError(sid)
            window = min(self.conn.local_flow_control_window(sid), self.conn.max_outbound_frame_size)
            if window <= 0:
                self.flush()
                self.pump()
                if time.monotonic() > deadline:
                    raise TimeoutError("server window never opened")
                continue
            chunk, view = view[:window], view[window:]
            self.conn.send_data(sid, chunk.tobytes(), end_stream=end and not view)
            self.flush()
        if end and not body:
            self.conn.end_stream(sid)
            self.flush()

    def pump(self) -> bool:
        try:
            data = self.sock.recv(65536)
        except (ConnectionResetError, ssl.SSLError):
            data = b""
        if not data:
            self.eof = True
            return False
        self._shadow(data)
        try:
            evs = self.conn.receive_data(data)
        except h2.exceptions.ProtocolError:
            return True  # frames after the server's GOAWAY: h2 refuses them
        for e in evs:
            self.on_event(e)
        try:
            self.flush()
        except OSError:
            pass
        return True

    def _shadow(self, data: bytes) -> None:
        raw = self._raw
        raw += data
        while len(raw) >= 9:
            frame, length = Frame.parse_frame_header(memoryview(bytes(raw[:9])))
            if len(raw) < 9 + length:
                return
            self.frames[type(frame).__name__] += 1
            if isinstance(frame, GoAwayFrame) and self.goaway is None:
                frame.parse_body(memoryview(bytes(raw[9:9 + length])))
                self.goaway = frame
            del raw[:9 + length]

    def on_event(self, e: h2.events.Event) -> None:
        sid = getattr(e, "stream_id", None)
        reply = self.replies.setdefault(sid, Reply()) if sid else None
        if isinstance(e, h2.events.ResponseReceived):
            reply.headers = list(e.headers)
        elif isinstance(e, h2.events.InformationalResponseReceived):
            reply.informational.append(list(e.headers))
        elif isinstance(e, h2.events.DataReceived):
            reply.data += e.data
            if self.auto_ack:
                self.conn.acknowledge_received_data(e.flow_controlled_length, sid)
        elif isinstance(e, h2.events.TrailersReceived):
            reply.trailers = list(e.headers)
        elif isinstance(e, h2.events.StreamEnded):
            reply.ended = True
        elif isinstance(e, h2.events.StreamReset):
            reply.reset = int(e.error_code)
        elif isinstance(e, h2.events.PushedStreamReceived):
            self.pushed[e.pushed_stream_id] = (e.parent_stream_id, list(e.headers))
            self.replies.setdefault(e.pushed_stream_id, Reply())
        elif isinstance(e, h2.events.PingAckReceived):
            self.ping_acks.append(e.ping_data)
        elif isinstance(e, h2.events.ConnectionTerminated):
            self.terminated = e

    def wait(self, done: Any, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                raise TimeoutError("HTTP/2 exchange did not finish")
            if not self.pump():
                if not done():
                    raise ConnectionError("server closed the connection")
                return

    def round_trip(self, timeout: float = 30.0) -> None:
        """PING and wait for its ACK: whatever the server sent for the frames before the
        PING (WINDOW_UPDATEs) has been received and handled once this returns."""
        data = b"%08d" % len(self.ping_acks)
        self.conn.ping(data)
        self.flush()
        self.wait(lambda: data in self.ping_acks, timeout)

    def get(self, path: str, **kw: Any) -> Reply:
        sid = self.request(path, **kw)
        self.wait(lambda: self.replies[sid].ended or self.replies[sid].reset is not None)
        return self.replies[sid]

    def wait_closed(self, timeout: float = 10.0) -> bool:
        """True once the server closed the connection (after its GOAWAY)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.pump():
                return True
        return False

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass
