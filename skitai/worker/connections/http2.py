"""HTTP/2 connections: the ``asyncio.Protocol`` over ``protocols/http2.py``.

Theory.  An HTTP/2 connection carries many ``Stream``s at once.  Each gets a small
``_Sink`` (the ``StreamSink`` of ``stream.py``, bound to its stream id) so the stream
layer and the handlers are exactly the ones HTTP/1.1 uses; routing and the handler call
are ``dispatch.dispatch``, shared with ``http1.Http1Connection``.  It serves the router
of the connection it came from (the forward listener's redirect included).

Entry paths (all end in ``H2Connection.attach(transport, ...)``):

- TLS with ALPN ``h2``: the HTTP/1.1 connection of a TLS listener looks at the
  negotiated protocol in ``connection_made`` and calls ``server.on_alpn_h2``
  (``switch_alpn``);
- prior knowledge on a clear-text port: the HTTP/1.1 connection sees the client preface
  as the first bytes and calls ``server.on_h2_preface`` (``switch_prior_knowledge``) with
  every byte read so far;
- ``Upgrade: h2c`` on HTTP/1.1: ``server.upgrades[b"h2c"]`` (``upgrade_h2c``) answers
  101 through the HTTP/1.1 adapter, and the upgrade request becomes stream 1.

Timeouts (the server's sweep): an idle connection closes after ``keep_alive``; a
stream whose body stalls for ``request_timeout`` is reset (CANCEL); a client that stops
reading for ``request_timeout`` is dropped.

Output: bytes from the adapter are collected and written once per loop iteration (or at
once when a stream waits to drain).  A stream waits in ``stream_drain`` until the adapter
has sent everything it queued for it (window permitting) and the transport takes more:
so the connection holds at most one producer chunk per stream, never a whole body.

Input: the adapter acknowledges DATA (hands window back) unless a stream's body buffer
asked to pause (``pause_reading``): then only the connection's window comes back, so a
slow reader stops its own stream only, never the connection's other streams.

Graceful stop (``shutdown``): GOAWAY(NO_ERROR) naming the last stream seen; the streams in
flight finish; the connection closes when none is left.

Extension point (RFC 8441, WebSocket over HTTP/2): ``EXTENDED_CONNECT`` maps a
``:protocol`` value to a callable ``(connection, request) -> None`` that takes the stream
over (``connection.tunnels[stream_id] = obj`` with ``feed(data)``, ``end()`` and
``closed()`` methods gets the stream's DATA; ``connection.send_tunnel(...)`` sends).  When
it is not empty, SETTINGS_ENABLE_CONNECT_PROTOCOL is advertised.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Final, Protocol

from skitai import log as logmod
from skitai.transport import Address, close_lingering, is_tls
from skitai.worker import errorpage, events
from skitai.worker.connections.base import BaseConnection
from skitai.worker.connections.http1 import Http1Connection
from skitai.worker.connections.sendfile import send_file_in_chunks
from skitai.worker.dispatch import dispatch, hint_promise, response_headers, set_hint_promise
from skitai.worker.environ import EnvironCache
from skitai.worker.protocols.http2 import ErrorCodes, Http2Adapter
from skitai.worker.stream import BodyRefused, ClientDisconnected, FileLike, Stream

if TYPE_CHECKING:
    from skitai.worker.routing import Router
    from skitai.worker.server import Server
    from skitai.worker.websocket_app import Accepted

log = logging.getLogger("skitai.server")


class Tunnel(Protocol):
    """A stream taken over by an extended CONNECT protocol (WebSocket over HTTP/2)."""

    def feed(self, data: bytes) -> None: ...
    def end(self) -> None: ...
    def closed(self) -> None: ...
    def writable(self) -> None:
        """The client's window opened: what was held for it went out (or some did)."""


# :protocol value -> takes the extended CONNECT stream over (see the module docstring)
EXTENDED_CONNECT: dict[bytes, Callable[[H2Connection, events.Request], None]] = {}
# A plain CONNECT (RFC 9113 8.5: :authority only) -> takes the stream over for the forward
# proxy when the connection's router has one (``websocket_h2.take_connect``); else 501.
PLAIN_CONNECT: Callable[[H2Connection, events.Request], None] | None = None
# Request fields a pushed request copies from the request that pushed it.
_PUSH_COPY: Final = frozenset((b"user-agent", b"accept-encoding", b"accept-language", b"cookie"))


class _Sink:
    """The ``StreamSink`` of one HTTP/2 stream."""

    __slots__ = ("conn", "stream_id", "stream", "task", "waiter", "reset_after", "logged")

    def __init__(self, conn: H2Connection, stream_id: int) -> None:
        self.conn = conn
        self.stream_id = stream_id
        self.stream: Stream | None = None
        self.task: asyncio.Future[None] | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.reset_after = False  # RST_STREAM(NO_ERROR) once the response is out (unread body)
        self.logged = False

    def stream_send(self, event: events.Outbound) -> None:
        self.conn.stream_send(self, event)

    def stream_respond(self, stream_id: int, status: int, headers: events.Headers,
                       reason: bytes, body: bytes) -> None:
        self.conn.stream_respond(self, status, headers, body)

    async def stream_drain(self, stream_id: int) -> None:
        await self.conn.stream_drain(self)

    async def stream_sendfile(self, stream_id: int, file: FileLike, offset: int, count: int) -> None:
        # HTTP/2 frames the body, so sendfile() cannot be used.
        await send_file_in_chunks(self, stream_id, file, offset, count)

    def stream_abort(self, stream_id: int) -> None:
        self.conn.reset_stream(self.stream_id, ErrorCodes.INTERNAL_ERROR)

    def accept_websocket(self, stream: Stream, accepted: Accepted) -> bool:
        # Only an extended CONNECT stream (websocket_h2) can become a WebSocket.
        raise RuntimeError("a WebSocket on a plain HTTP/2 stream")

    def pause_reading(self) -> None:
        self.conn.adapter.hold(self.stream_id)

    def resume_reading(self) -> None:
        conn = self.conn
        if not conn.closed:
            conn.adapter.release(self.stream_id)
            conn.write(conn.adapter.data_to_send())


class H2Connection(BaseConnection):
    """One HTTP/2 connection: streams, flow control, flood limits (in the adapter)."""

    def __init__(self, server: Server, *, scheme: str, client: Address | None,
                 sockname: Address | None, router: Router | None = None) -> None:
        super().__init__(server)
        self.router = router if router is not None else server.router
        cfg = server.config
        self.adapter = Http2Adapter(
            max_header_bytes=cfg.max_header_bytes,
            max_header_fields=cfg.max_header_fields,
            max_header_field_size=cfg.max_header_field_size,
            max_request_line=cfg.max_request_line,
            max_concurrent_streams=cfg.h2_max_concurrent_streams,
            enable_push=cfg.h2_push,
            enable_connect_protocol=bool(EXTENDED_CONNECT),
        )
        self.scheme = scheme
        self.client = client
        self.sockname = sockname
        self.streams: dict[int, _Sink] = {}
        self.environ_cache = EnvironCache()
        self.tunnels: dict[int, Tunnel] = {}
        self._stopping = False

    # --- entry --------------------------------------------------------------------------
    def attach(self, transport: asyncio.BaseTransport, data: bytes = b"",
               upgrade: tuple[bytes, events.Request] | None = None) -> None:
        """Take the transport over (already switched to this protocol) and feed ``data``,
        the bytes read so far.  ``upgrade``: (HTTP2-Settings, request) after a 101."""
        accepted = self.take_transport(transport)
        first: events.Request | None = None
        if upgrade is not None:
            first = self.adapter.initiate_upgrade(*upgrade)
        else:
            self.adapter.initiate()
        self.write(self.adapter.data_to_send())
        if not accepted:
            log.info("too many connections: HTTP/2 client %s turned away", self.client)
            self.write(self.adapter.close(ErrorCodes.NO_ERROR))  # last stream 0: retry elsewhere
            self.close()
            return
        if first is not None:
            self._on_request(first)
            self._on_end(events.EndBody(1))
        if data:
            self.data_received(data)
        else:
            self.flush()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Only when a listener makes H2Connection directly; the switches call attach().
        self.attach(transport)

    # --- asyncio.Protocol --------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        if self.closed:
            return  # lingering after GOAWAY (close_lingering): dropped
        self.last_io = self.server.clock
        adapter = self.adapter
        for event in adapter.feed(data):
            if type(event) is events.Body:
                self._on_body(event)
            elif type(event) is events.Request:
                self._on_request(event)
            elif type(event) is events.EndBody:
                self._on_end(event)
            elif type(event) is events.StreamClosed:
                self._on_reset(event.stream_id)
            elif type(event) is events.RemoteError:
                self._on_error(event)
        self.write(adapter.data_to_send())
        self._wake(adapter.take_writable())
        self.flush()
        if adapter.closed:
            self.close()

    def eof_received(self) -> bool | None:
        return False  # an HTTP/2 peer that half-closes is gone

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self._all_gone()

    def _all_gone(self, by_server: bool = False) -> None:
        """The connection ended: every stream and tunnel in flight ends (a normal event).
        ``by_server``: we closed it (a stop, a timeout), so the log does not blame the
        client for the streams that had no response yet."""
        streams, self.streams = list(self.streams.values()), {}
        for sink in streams:
            self._gone(sink, by_server)
        tunnels, self.tunnels = list(self.tunnels.values()), {}
        for tunnel in tunnels:
            tunnel.closed()

    # --- inbound events -----------------------------------------------------------------------
    def _on_request(self, request: events.Request) -> None:
        sid = request.stream_id
        server = self.server
        if self._stopping or server.stopping:
            self.write(self.adapter.reset(sid, ErrorCodes.REFUSED_STREAM))
            return
        if request.method == b"CONNECT":
            self._on_connect(request)
            return
        sink = _Sink(self, sid)
        stream = Stream(sink, request, self.loop, scheme=self.scheme, client=self.client,
                        server=self.sockname, started=self.loop.time(),
                        environ_cache=self.environ_cache)
        sink.stream = stream
        self.streams[sid] = sink
        if request.content_length == 0:
            stream.body.finish()  # nothing can follow (h2 enforces it): complete before the app runs
        set_hint_promise(server, self, stream)
        task = dispatch(server, self.router, stream, self._respond_simple)
        if task is not None:
            sink.task = task
            task.add_done_callback(partial(self._task_done, sink))

    def _on_connect(self, request: events.Request) -> None:
        protocol = b""
        for name, value in request.headers:
            if name == b":protocol":
                protocol = value
        take = EXTENDED_CONNECT.get(protocol.lower()) if protocol else None
        if take is None and not protocol and self.router.forward_proxy is not None:
            take = PLAIN_CONNECT  # a tunnel through the forward proxy (enable_proxy)
        if take is None:
            # RFC 9113 8.5: a CONNECT proxy we are not; RFC 8441: unknown :protocol.
            self.write(self.adapter.send(events.Response(request.stream_id, 501,
                                                         [(b"content-length", b"0")])))
            self.write(self.adapter.send(events.EndData(request.stream_id)))
            return
        take(self, request)

    def _on_body(self, event: events.Body) -> None:
        sid = event.stream_id
        sink = self.streams.get(sid)
        if sink is None:
            tunnel = self.tunnels.get(sid)
            if tunnel is not None:
                tunnel.feed(event.data)
            return  # a stream we answered or refused already: dropped (acknowledged)
        stream = sink.stream
        assert stream is not None
        if stream.closed:
            return  # refused (413) or reset: the rest of the body is dropped
        try:
            stream.body.feed(event.data)  # (the route's size limit too)
        except BodyRefused as exc:
            self._refuse_body(sink, exc.status, exc.reason)

    def _on_end(self, event: events.EndBody) -> None:
        sink = self.streams.get(event.stream_id)
        if sink is None:
            tunnel = self.tunnels.get(event.stream_id)
            if tunnel is not None:
                tunnel.end()
            return
        assert sink.stream is not None
        sink.stream.body.finish(event.trailers)

    def _on_reset(self, sid: int) -> None:
        sink = self.streams.pop(sid, None)
        if sink is not None:
            self._gone(sink)
        tunnel = self.tunnels.pop(sid, None)
        if tunnel is not None:
            tunnel.closed()
        self._maybe_done()

    def _on_error(self, event: events.RemoteError) -> None:
        sid = event.stream_id
        if sid:
            # One stream over the field limits (431) or the request line's (414):
            # answered, the connection goes on.
            log.info("refusing HTTP/2 stream %d from %s: %s", sid, self.client, event.reason)
            sink = self.streams.get(sid)
            if sink is not None:  # its trailers: the app has the request already
                self._refuse_body(sink, event.status_hint, event.reason)
                return
            headers, body = errorpage.page(event.status_hint)
            self.write(self.adapter.refuse(sid, event.status_hint, headers, body))
            return
        if self.adapter.peer_error_code is None:
            log.info("HTTP/2 connection error from %s: %s", self.client, event.reason)
        # The adapter queued GOAWAY; data_received writes it and closes.

    def _gone(self, sink: _Sink, by_server: bool = False) -> None:
        stream = sink.stream
        if sink.waiter is not None and not sink.waiter.done():
            sink.waiter.set_exception(ClientDisconnected("stream reset"))
        if stream is None:
            return
        if not stream.ended:
            stream.client_gone()
            if sink.task is not None and not sink.task.done():
                sink.task.cancel()
            self._log(sink, stream.status or (logmod.SERVER_CLOSED if by_server
                                              else logmod.CLIENT_CLOSED))

    def _task_done(self, sink: _Sink, task: asyncio.Future[None]) -> None:
        stream = sink.stream
        if task.cancelled():
            return
        exc = task.exception()  # read even when stale: no "never retrieved" warning
        if stream is None or stream.closed:
            return
        if exc is not None and not isinstance(exc, ClientDisconnected):
            log.error("handler error for %s", stream.request.target, exc_info=exc)
            if not stream.headers_sent:
                self._respond_simple(stream, 500)
            else:
                self.reset_stream(sink.stream_id, ErrorCodes.INTERNAL_ERROR)
            return
        if not stream.ended:
            if stream.headers_sent:
                stream.end()
            else:
                self._respond_simple(stream, 500)

    def _refuse_body(self, sink: _Sink, status: int, reason: str) -> None:
        stream = sink.stream
        assert stream is not None
        log.info("refusing the body of %s: %s", stream.request.target, reason)
        stream.body.abort(ClientDisconnected(reason))
        if stream.headers_sent:
            self.reset_stream(sink.stream_id, ErrorCodes.CANCEL)
            return
        self._respond_simple(stream, status)
        stream.closed = True  # the app may still run: its output goes nowhere

    # --- the StreamSink side --------------------------------------------------------------------
    def stream_send(self, sink: _Sink, event: events.Outbound) -> None:
        if self.closed:
            raise ClientDisconnected("client disconnected")
        stream = sink.stream
        if type(event) is events.Response and stream is not None:
            event = events.Response(event.stream_id, event.status,
                                    response_headers(self.server, stream, event.headers))
        self.write(self.adapter.send(event))
        if type(event) is events.EndData:
            self._wake(self.adapter.take_writable())
            self._ended(sink)

    def stream_respond(self, sink: _Sink, status: int, headers: events.Headers,
                       body: bytes) -> None:
        """A whole small response (``Stream.respond``): one adapter call."""
        if self.closed:
            raise ClientDisconnected("client disconnected")
        stream = sink.stream
        if stream is not None:
            headers = response_headers(self.server, stream, headers)
        adapter = self.adapter
        self.write(adapter.send_whole(sink.stream_id, status, headers, body))
        writable = adapter.take_writable()
        writable.discard(sink.stream_id)  # (its own wake-up would be the _ended below)
        if writable:
            self._wake(writable)
        self._ended(sink)

    async def stream_drain(self, sink: _Sink) -> None:
        if not self.closed:
            self.write(self.adapter.flush(sink.stream_id))
        self.flush()
        stream = sink.stream
        while True:
            if self.closed or (stream is not None and stream.closed):
                raise ClientDisconnected("client disconnected")
            if self._write_paused:
                await self.wait_writable()
                continue
            if self.adapter.buffered(sink.stream_id):
                sink.waiter = self.loop.create_future()
                try:
                    await sink.waiter
                finally:
                    sink.waiter = None
                continue
            return

    def _wake(self, writable: set[int]) -> None:
        for sid in writable:
            sink = self.streams.get(sid)
            if sink is None:
                tunnel = self.tunnels.get(sid)
                if tunnel is not None:
                    tunnel.writable()
                continue
            waiter = sink.waiter
            if waiter is not None and not waiter.done():
                waiter.set_result(None)
            stream = sink.stream
            if stream is not None and stream.ended and not self.adapter.buffered(sid):
                self._ended(sink)

    def _ended(self, sink: _Sink) -> None:
        """The stream's response ended; it is done once the adapter sent it all."""
        stream = sink.stream
        if stream is not None and not sink.logged:
            self._log(sink, stream.status)
        if self.streams.get(sink.stream_id) is not sink or self.adapter.buffered(sink.stream_id):
            return
        self.streams.pop(sink.stream_id, None)
        if stream is not None and not stream.body.complete and not stream.closed:
            # Answered without reading the whole body: tell the client to stop sending
            # (RFC 9113 8.1), or it would wait for window we no longer give.
            stream.body.abort(ClientDisconnected("response complete"))
            sink.reset_after = True
        if sink.reset_after:
            self.write(self.adapter.reset(sink.stream_id, ErrorCodes.NO_ERROR))
        self._maybe_done()

    def _log(self, sink: _Sink, status: int) -> None:
        if not sink.logged and sink.stream is not None:
            sink.logged = True
            self.server.log_access(sink.stream, status)

    def _maybe_done(self) -> None:
        if self._stopping and not self.streams and not self.tunnels:
            self.close()

    def reset_stream(self, sid: int, code: int) -> None:
        sink = self.streams.pop(sid, None)
        if sink is not None:
            self._gone(sink)
        self.write(self.adapter.reset(sid, code))
        self.flush()
        self._maybe_done()

    def send_tunnel(self, event: events.Event) -> None:
        """Response events of an extended CONNECT stream (Response 200, Data, EndData)."""
        if not self.closed:
            self.write(self.adapter.send(event))
            if type(event) is events.Data:
                # A tunnel carries messages (WebSocket frames): none may wait in the
                # adapter for more body to come, as a response's small DATA may.
                self.write(self.adapter.flush(event.stream_id))
            if type(event) is events.EndData:
                self.tunnels.pop(event.stream_id, None)
                self._maybe_done()

    def _respond_simple(self, stream: Stream, status: int) -> None:
        sink = self.streams.get(stream.stream_id)
        if sink is not None and status >= 400 and not stream.body.complete:
            sink.reset_after = True  # RFC 9113 8.1: answered; the rest of the body is not wanted
        headers, body = errorpage.page(status)
        stream.respond(status, headers, body)

    # --- server push ----------------------------------------------------------------------------
    def push(self, parent: Stream, uri: str) -> bool:
        """PUSH_PROMISE ``uri`` on ``parent`` and serve it through the same routing."""
        adapter = self.adapter
        if self._stopping or self.server.stopping or not adapter.push_enabled:
            return False
        authority = b""
        copied: events.Headers = []
        for name, value in parent.request.headers:
            if name == b"host":
                authority = value
            elif name in _PUSH_COPY:
                copied.append((name, value))
        target = uri.encode("latin-1")
        pseudo = [(b":method", b"GET"), (b":scheme", self.scheme.encode()),
                  (b":authority", authority), (b":path", target)]
        promised = adapter.push(parent.stream_id, pseudo + copied)
        self.write(adapter.data_to_send())
        if promised is None:
            return False
        headers = [(b"host", authority), *copied]
        self._on_request(events.Request(promised, b"GET", target, headers, b"2"))
        self._on_end(events.EndBody(promised))
        return True

    # --- output -----------------------------------------------------------------------------------
    def write(self, data: bytes) -> None:
        """Buffered, and written at the end of the loop turn (or at a ``flush()``)."""
        if data and not self.closed:
            self.write_soon(data)

    # --- the Server side ---------------------------------------------------------------------------
    def in_flight(self) -> Stream | None:
        """One stream in flight (for ``Server.current_requests``)."""
        for sink in self.streams.values():
            return sink.stream
        return None

    def shutdown(self) -> None:
        """Graceful stop: GOAWAY now, close once the streams in flight are done."""
        if self.closed:
            return
        self._stopping = True
        self.write(self.adapter.shutdown())
        self.flush()
        self._maybe_done()

    def close(self, linger: bool = True) -> None:
        """GOAWAY (unless one went out), then close lingering: the peer may still be
        sending frames, and a plain close could turn our GOAWAY into a RST before the
        peer reads it.  Streams still in flight end as if the peer had gone."""
        transport = self.transport
        if self.closed or transport is None:
            return
        if not self.adapter.closed and not self.adapter.draining:
            self.write(self.adapter.close(ErrorCodes.NO_ERROR))
        self.flush()
        self.closed = True
        self.server.connections.discard(self)
        close_lingering(self.loop, transport)
        self._all_gone(by_server=True)

    def abort(self) -> None:
        super().abort()
        self._all_gone(by_server=True)

    def check_timeouts(self, now: float) -> None:
        cfg = self.server.config
        idle = now - self.last_io
        if not self.streams and not self.tunnels:
            if idle > cfg.keep_alive:
                self.close()
            return
        if self._write_paused and idle > cfg.request_timeout:
            log.info("HTTP/2 client stopped reading: %s", self.client)
            self.abort()
            return
        if idle > cfg.request_timeout:
            for sink in list(self.streams.values()):
                stream = sink.stream
                if stream is not None and not stream.body.complete \
                        and not self.adapter.is_held(sink.stream_id):
                    log.info("request timeout for %s", stream.request.target)
                    if stream.headers_sent:
                        self.reset_stream(sink.stream_id, ErrorCodes.CANCEL)
                    else:
                        self._refuse_body(sink, 408, "request body timed out")


# --- protocol switches (installed on the Server by install()) ----------------------------------


def _from(conn: Http1Connection) -> H2Connection:
    return H2Connection(conn.server, scheme="https" if is_tls(conn.transport) else conn.server.scheme,
                        client=conn.client, sockname=conn.sockname, router=conn.router)


def switch_prior_knowledge(conn: Http1Connection, data: bytes) -> None:
    """The HTTP/2 client preface opened a clear-text connection (h2c, prior knowledge)."""
    h2c = _from(conn)
    assert conn.transport is not None
    conn.transport.set_protocol(h2c)
    h2c.attach(conn.transport, data)


def switch_alpn(conn: Http1Connection, transport: asyncio.BaseTransport) -> None:
    """TLS negotiated ``h2`` (ALPN): HTTP/2 from the first byte."""
    h2 = H2Connection(conn.server, scheme="https", client=None, sockname=None, router=conn.router)
    transport.set_protocol(h2)
    h2.attach(transport)


def upgrade_h2c(conn: Http1Connection, request: events.Request) -> bool:
    """``Upgrade: h2c`` (RFC 7540 3.2): 101, then HTTP/2 with the request as stream 1.
    Declined (False) over TLS, without exactly one valid HTTP2-Settings, or with a body."""
    if is_tls(conn.transport) or conn.server.stopping:
        return False
    settings = [v for n, v in request.headers if n == b"http2-settings"]
    if len(settings) != 1 or request.content_length or request.chunked:
        return False
    try:
        # token68 of base64url (RFC 7540 3.2.1); validate=True refuses other characters
        base64.b64decode(settings[0] + b"=" * (-len(settings[0]) % 4), altchars=b"-_",
                         validate=True)
    except (binascii.Error, ValueError):
        return False
    transport = conn.transport
    assert transport is not None
    head = conn.adapter.send(events.Response(request.stream_id, 101,
                                             [(b"connection", b"Upgrade"), (b"upgrade", b"h2c")]))
    conn.flush()
    transport.write(head)
    rest = conn.adapter.take_trailing_data()
    h2c = _from(conn)
    transport.set_protocol(h2c)
    try:
        h2c.attach(transport, rest, upgrade=(settings[0], request))
    except Exception as exc:  # noqa: BLE001 - a bad HTTP2-Settings payload
        log.info("h2c upgrade failed for %s: %s", conn.client, exc)
        h2c.abort()
    return True


def install(server: Server) -> None:
    """Enable HTTP/2 on a server: h2c prior knowledge, Upgrade: h2c, ALPN h2, hint_promise."""
    server.on_h2_preface = switch_prior_knowledge
    server.on_alpn_h2 = switch_alpn
    server.upgrades[b"h2c"] = upgrade_h2c
    server.hint_promise = hint_promise
