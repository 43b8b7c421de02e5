"""WebSocket over HTTP/2 (RFC 8441): an extended CONNECT stream carries the frames.

Theory.  ``http2.EXTENDED_CONNECT[b"websocket"] = take`` (``install()``) makes the
HTTP/2 connection advertise SETTINGS_ENABLE_CONNECT_PROTOCOL and hand every
``CONNECT :protocol websocket`` stream to ``take``.  From there it is the HTTP/1.1 path,
not a second copy: the request is routed by the server's router, the app is asked
(INIT) by ``websocket_app.start`` through a ``Stream`` whose sink is this stream, and an
accepted WebSocket is a ``WebSocketSession`` whose "transport" is the stream
(``_TunnelTransport``: DATA frames out, ``conn.tunnels[sid]`` for DATA in).  The only
differences: the answer is 200 instead of 101, there is no Sec-WebSocket-Key/Accept, and
"closing the connection" is ending the stream (END_STREAM), or resetting it on abort.

The app sees a GET (``REQUEST_METHOD``), as it does over HTTP/1.1, and
``SERVER_PROTOCOL`` ``HTTP/2``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from skitai.worker import eager, errorpage, events, websocket_app
from skitai.worker.connections import http2
from skitai.worker.connections.http2 import H2Connection
from skitai.worker.connections.websocket import open_session
from skitai.worker.dispatch import response_headers, route_stream
from skitai.worker.handler import WebSocketTunnel
from skitai.worker.protocols.http2 import ErrorCodes
from skitai.worker.stream import FileLike, Stream

log = logging.getLogger("skitai.server")

CANCEL = ErrorCodes.CANCEL
# Bytes held for a tunnel's stream (its client's window closed) above which the protocol
# feeding it is told to pause (``pause_writing``), and below which to resume.
TUNNEL_HIGH = 256 * 1024
TUNNEL_LOW = 64 * 1024


def install() -> None:
    """Register WebSocket as an extended CONNECT protocol (call before serving), and the
    forward proxy's plain CONNECT tunnels (the same stream-as-transport machinery)."""
    http2.EXTENDED_CONNECT[b"websocket"] = take
    http2.PLAIN_CONNECT = take_connect


def take(conn: H2Connection, request: events.Request) -> None:
    """``CONNECT :protocol websocket`` on ``conn``."""
    # The app is asked as for a GET of the path (RFC 8441 4: :path and :authority as a GET).
    as_get = events.Request(request.stream_id, b"GET", request.target, request.headers, b"2")
    sink = _TunnelSink(conn, request.stream_id)
    stream = Stream(sink, as_get, conn.loop, scheme=conn.scheme, client=conn.client,
                    server=conn.sockname, started=conn.loop.time())
    sink.stream = stream
    route = route_stream(conn.server, conn.router, stream)
    app = route.app if route is not None else None
    if isinstance(app, WebSocketTunnel):  # the reverse proxy: a tunnel to a member
        task = eager.start(conn.loop, app.websocket(stream))
        if task is not None:
            task.add_done_callback(_log_failure)
        return
    if not websocket_app.wants(app):
        sink.respond(404)
        return
    websocket_app.start(stream, app)


def take_connect(conn: H2Connection, request: events.Request) -> None:
    """A plain ``CONNECT host:port`` stream (RFC 9113 8.5) for the forward proxy: it
    answers 200 and switches the stream to a byte tunnel (``switch_protocol``): DATA
    frames both ways, END_STREAM or RST_STREAM to end it."""
    forward = conn.router.forward_proxy
    sink = _TunnelSink(conn, request.stream_id)
    stream = Stream(sink, request, conn.loop, scheme=conn.scheme, client=conn.client,
                    server=conn.sockname, started=conn.loop.time())
    sink.stream = stream
    if forward is None:
        sink.respond(501)
        return
    conn.server.count_request(request)
    proxied = forward(stream)
    task = eager.start(conn.loop, proxied) if proxied is not None else None
    if task is not None:
        task.add_done_callback(_log_failure)


def _log_failure(task: asyncio.Future[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("WebSocket tunnel failed", exc_info=task.exception())


class _TunnelSink:
    """The ``StreamSink`` of the CONNECT stream until it is switched to the WebSocket."""

    def __init__(self, conn: H2Connection, stream_id: int) -> None:
        self.conn = conn
        self.server = conn.server
        self.stream_id = stream_id
        self.stream: Stream | None = None
        self.logged = False

    def stream_send(self, event: events.Outbound) -> None:
        stream = self.stream
        if type(event) is events.Response and stream is not None:
            event = events.Response(event.stream_id, event.status,
                                    response_headers(self.server, stream, event.headers))
        self.conn.send_tunnel(event)
        self.conn.flush()
        if type(event) is events.EndData and stream is not None and not self.logged:
            self.logged = True
            self.server.log_access(stream, stream.status)

    def stream_respond(self, stream_id: int, status: int, headers: events.Headers,
                       reason: bytes, body: bytes) -> None:
        self.stream_send(events.Response(stream_id, status, headers, reason))
        if body:
            self.stream_send(events.Data(stream_id, body))
        self.stream_send(events.EndData(stream_id))

    async def stream_drain(self, stream_id: int) -> None:
        return None

    async def stream_sendfile(self, stream_id: int, file: FileLike, offset: int,
                              count: int) -> None:
        raise RuntimeError("no file bodies on a WebSocket handshake")

    def stream_abort(self, stream_id: int) -> None:
        self.conn.reset_stream(stream_id, CANCEL)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def respond(self, status: int) -> None:
        assert self.stream is not None
        headers, body = errorpage.page(status)
        self.stream.respond(status, headers, body)

    # --- what websocket_app asks of a connection ---------------------------------------------
    def accept_websocket(self, stream: Stream, accepted: websocket_app.Accepted) -> bool:
        return open_session(self.server, stream, accepted, self.switch_protocol)

    def switch_protocol(self, factory: Callable[[Any, bytes], asyncio.BaseProtocol]) -> None:
        stream = self.stream
        if stream is not None and not self.logged:
            self.logged = True
            stream.ended = True
            self.server.log_access(stream, 200)
        transport = _TunnelTransport(self.conn, self.stream_id)
        protocol = factory(transport, b"")
        transport.protocol = protocol
        self.conn.tunnels[self.stream_id] = transport


class _TunnelTransport(asyncio.Transport):
    """What ``WebSocketSession`` needs of a transport, over one HTTP/2 stream; also the
    ``http2.Tunnel`` that receives the stream's DATA."""

    def __init__(self, conn: H2Connection, stream_id: int) -> None:
        super().__init__()
        self.conn = conn
        self.stream_id = stream_id
        self.protocol: Any = None
        self._closing = False
        self._lost = False
        self._paused = False  # pause_writing() was called on the protocol
        self._ended = False  # the peer's END_STREAM came

    # --- Tunnel (http2 -> here) -------------------------------------------------------------
    def feed(self, data: bytes) -> None:
        if not self._lost and self.protocol is not None:
            self.protocol.data_received(data)

    def end(self) -> None:
        """The peer ended its side (END_STREAM): a half-close, as a socket's EOF.  A
        protocol that keeps its side open (``eof_received`` returns True: a CONNECT
        tunnel, whose destination may still answer) goes on sending until it closes;
        any other (a WebSocket) ends the stream now."""
        self._ended = True
        keep = False
        if self.protocol is not None and not self._lost:
            keep = bool(self.protocol.eof_received())
        if not keep:
            self.close()

    def closed(self) -> None:
        """The stream was reset or the connection is gone."""
        self._closing = True
        self._lose()

    # --- transport (session -> here) ------------------------------------------------------------
    def writable(self) -> None:
        if self._paused and self.get_write_buffer_size() < TUNNEL_LOW and not self._lost:
            self._paused = False
            resume = getattr(self.protocol, "resume_writing", None)
            if resume is not None:
                resume()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self._closing and data:
            self.conn.send_tunnel(events.Data(self.stream_id, bytes(data)))
            if not self._paused and self.get_write_buffer_size() > TUNNEL_HIGH:
                # The client does not open its window as fast as the source writes:
                # backpressure, as a socket transport's write buffer gives.
                self._paused = True
                pause = getattr(self.protocol, "pause_writing", None)
                if pause is not None:
                    pause()

    def is_closing(self) -> bool:
        return self._closing or self.conn.closed

    def close(self) -> None:
        if not self._closing:
            self._closing = True
            self.conn.send_tunnel(events.EndData(self.stream_id))
            self.conn.flush()
        self._lose()

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        """END_STREAM, the half-close: what the peer still sends keeps coming here until
        its own END_STREAM (a CONNECT destination that finished talking first)."""
        if self._closing:
            return
        self._closing = True
        self.conn.send_tunnel(events.EndData(self.stream_id))  # (which forgets the tunnel)
        self.conn.flush()
        if self._ended or self.conn.closed or self._lost:
            self._lose()
        else:
            self.conn.tunnels[self.stream_id] = self

    def abort(self) -> None:
        if not self._lost:  # (also after write_eof: the peer's side is still open)
            self._closing = True
            self.conn.tunnels.pop(self.stream_id, None)
            self.conn.reset_stream(self.stream_id, CANCEL)
        self._lose()

    def get_write_buffer_size(self) -> int:
        return int(self.conn.adapter.buffered(self.stream_id))

    def pause_reading(self) -> None:
        self.conn.adapter.hold(self.stream_id)

    def resume_reading(self) -> None:
        if not self.conn.closed:
            self.conn.adapter.release(self.stream_id)
            self.conn.write(self.conn.adapter.data_to_send())

    def _lose(self) -> None:
        if not self._lost:
            self._lost = True
            self.conn.tunnels.pop(self.stream_id, None)
            if self.protocol is not None:
                self.conn.loop.call_soon(self.protocol.connection_lost, None)
