"""HTTP/1.1 connections: the ``asyncio.Protocol`` over ``protocols/http1.py``.

Theory.  Bytes go into the protocol adapter, events come out; a ``Stream`` is made for
each request and handed to the handler that ``dispatch`` picked.  HTTP/1.1 runs one
stream at a time: pipelined requests parsed ahead wait in ``_queue`` (and reading pauses
when that queue holds too much), so responses leave in request order.

Writes are coalesced: ``stream_send`` appends the adapter's bytes to the write buffer and
it is written before waiting for the transport to drain, when it grows large, or, for a
response that ended, at the end of the loop turn (``Server.write_soon``): a small
response is one ``write()`` syscall, not three, and the loop reads every ready socket
before it writes to any (pipelined responses leave together, too).

Timeouts (the server's one-second sweep calls ``check_timeouts``): an idle keep-alive
connection closes after ``keep_alive``; a partial request head, a stalled body or a
client that stopped reading gets ``request_timeout``.

The static-file fast path: a plain GET or HEAD of a file that a static directory has
just served (its path resolved, its file open and its 200 head built: ``static.cached_file``
says so in one check) is sent from ``_start`` itself: counted, the head from the
adapter, the body by ``stream_sendfile``, ended, the access log written, as the normal
path would, but without ``dispatch``, the handler and the ``Stream`` events (no Stream
at all unless the log or a socket that takes only part of the file needs one): 94k
instructions per request instead of 139k (``bench/server_instr.py``, a 64 KiB file), of
which the parse is 35k and the stat 6k.  Any other request (a condition, a Range, a
body, an upgrade, a virtual host...) takes the normal path, which sends the same bytes.

Errors: a ``RemoteError`` from the adapter is answered with its status (when no response
has started) and the connection is closed; nothing after it is run.

Switches: the HTTP/2 preface as the first bytes (h2c prior knowledge,
``server.on_h2_preface``), ALPN ``h2`` on TLS (``server.on_alpn_h2``), an ``Upgrade``
token in ``server.upgrades`` (``h2c``), and a WebSocket accepted by its app
(``switch_protocol``) hand the transport to another connection class.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from skitai import log as logmod
from skitai.transport import is_tls
from skitai.worker import eager, errorpage, events
from skitai.worker import environ as environ_mod
from skitai.worker.connections.sendfile import SendfileConnection
from skitai.worker.connections.websocket import open_session
from skitai.worker.dispatch import dispatch, set_hint_promise
from skitai.worker.protocols import websocket as ws_proto
from skitai.worker.protocols.http1 import H2_PREFACE, Http1Adapter
from skitai.worker.static import cached_file
from skitai.worker.stream import BodyRefused, ClientDisconnected, Stream

if TYPE_CHECKING:
    from skitai.worker.filecache import CachedFile
    from skitai.worker.routing import Router
    from skitai.worker.server import Server
    from skitai.worker.static import StaticDirectory
    from skitai.worker.websocket_app import Accepted

log = logging.getLogger("skitai.server")

QUEUE_HIGH_WATER = 256 * 1024  # bytes of pipelined input parsed ahead before pausing reads
FLUSH_AT = 64 * 1024
SHUTDOWN_IDLE_GRACE = 1.0  # seconds an idle connection may still deliver a request at stop


class Http1Connection(SendfileConnection):
    """One client connection speaking HTTP/1.1 (see the module docstring).  ``router``:
    the mounts it serves (the server's, or the forward listener's redirect)."""

    def __init__(self, server: Server, router: Router | None = None) -> None:
        super().__init__(server)
        self.router = router if router is not None else server.router
        cfg = server.config
        self.adapter = Http1Adapter(max_request_line=cfg.max_request_line,
                                    max_header_bytes=cfg.max_header_bytes,
                                    max_field_size=cfg.max_header_field_size,
                                    max_fields=cfg.max_header_fields,
                                    defaults=server.default_headers)
        self.current: Stream | None = None
        self.task: asyncio.Future[None] | None = None
        self._queue: collections.deque[events.Event] = collections.deque()
        self._queued_bytes = 0
        self._read_paused = False
        self._reasons_paused: set[str] = set()
        self._closing = False  # close once the current response is done
        self._partial = False  # bytes of an unfinished request head were received
        self._draining = False
        self._ws_pending = False  # a WebSocket upgrade request awaits its app's answer
        self.environ_cache = environ_mod.EnvironCache()
        # The first bytes, kept until they cannot be the HTTP/2 preface (h2c prior knowledge).
        self._sniff: bytes | None = b"" if server.on_h2_preface is not None else None

    # --- asyncio.Protocol ------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        server = self.server
        if server.on_alpn_h2 is not None and is_tls(transport):
            ssl_object = transport.get_extra_info("ssl_object")
            if ssl_object.selected_alpn_protocol() == "h2":
                server.on_alpn_h2(self, transport)
                return
        if not self.take_transport(transport):
            self._send_error(503, "too many connections")

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return  # lingering after an error response (close_lingering): dropped
        self.last_io = self.server.clock
        if self._sniff is not None:
            data = self._sniff + data
            if data[:24] == H2_PREFACE[:len(data)] and len(data) < 24:
                self._sniff = data  # maybe the preface, split: wait for more
                return
            self._sniff = None
            if data.startswith(H2_PREFACE) and self.server.on_h2_preface is not None:
                self.detach()  # the transport now belongs to the HTTP/2 connection
                self.server.on_h2_preface(self, data)
                return
        produced = self.adapter.feed(data)
        for event in produced:
            if self.current is None and not self._queue:
                # Idle (the usual case): what _on_event and _dispatch would do, inline.
                if type(event) is events.Request:
                    self._partial = False
                    self._start(event)
                    continue
                if type(event) is events.EndBody:
                    continue  # the end of a request answered already: dropped
            self._on_event(event)
        # Bytes that made no event while idle: a request head is arriving (slowly?).
        self._partial = not produced and self.current is None

    def eof_received(self) -> bool | None:
        # Responses queued for the end of the loop turn (write_soon) go first: returning
        # False below lets the transport close, and it knows nothing of our buffer.
        self.flush()
        for event in self.adapter.eof():
            self._on_event(event)
        # Keep the write side open while a response is still due (a half-closing client).
        return self.current is not None

    def connection_lost(self, exc: Exception | None) -> None:
        by_server = self.closed  # close() or abort() ran first: not the client's doing
        super().connection_lost(exc)
        stream = self.current
        if stream is not None and not stream.ended:
            stream.client_gone()
            if self.task is not None and not self.task.done():
                self.task.cancel()
            gone = logmod.SERVER_CLOSED if by_server else logmod.CLIENT_CLOSED
            self.server.log_access(stream, stream.status or gone)
        self.current = None
        self._queue.clear()

    # --- events from the adapter --------------------------------------------------------
    def _on_event(self, event: events.Event) -> None:
        stream = self.current
        if self._queue or (stream is not None and event.stream_id != stream.stream_id):
            # A pipelined request parsed ahead: it waits until the current one is done.
            self._queue.append(event)
            if type(event) is events.Body:
                self._queued_bytes += len(event.data)
                if self._queued_bytes > QUEUE_HIGH_WATER:
                    self.pause_reading("pipeline")
            return
        self._dispatch(event)

    def _dispatch(self, event: events.Event) -> None:
        stream = self.current
        if stream is None:
            if type(event) is events.Request:
                self._partial = False
                self._start(event)
            elif type(event) is events.RemoteError:
                self._remote_error(event)
            else:
                # Body of a request we already answered (e.g. 413): not read, just dropped;
                # the adapter has made the connection non-keep-alive.
                pass
            return
        if type(event) is events.Body:
            try:
                stream.body.feed(event.data)  # (the route's size limit too)
            except BodyRefused as exc:
                self._abort_stream(stream, exc.status, exc.reason)
        elif type(event) is events.EndBody:
            stream.body.finish(event.trailers)
        elif type(event) is events.RemoteError:
            self._abort_stream(stream, event.status_hint, event.reason)
        elif type(event) is events.StreamClosed:
            stream.client_gone()

    def _start(self, request: events.Request) -> None:
        server = self.server
        declined: list[events.Event] | None = None
        # llhttp flags an upgrade for Connection: upgrade + Upgrade, and for CONNECT
        # (which is not ours to tunnel: it is answered like any request).
        if self.adapter.upgrade_requested and request.method != b"CONNECT":
            if ws_proto.is_upgrade(request):
                # A WebSocket stays pending through routing: websocket_app accepts it
                # (switch_protocol) or the response declines it (_finished).
                self._ws_pending = True
            else:
                declined = self._upgrade(request)
                if declined is None:
                    return
        router = self.router
        found = None
        if declined is None and not self._ws_pending and not router.virtual_hosts \
                and router.forward_proxy is None:
            # The route, looked up once for both paths (dispatch takes it).
            found = router.resolve(None, request.target)
            if found is not None and found[0].statics:
                cached = cached_file(found[0], request)
                if cached is not None:
                    self._send_cached(request, *cached)
                    return
        stream = self._new_stream(request)
        self.current = stream
        self.task = None
        if declined is not None:
            # An upgrade request has no body (llhttp pauses only then); its EndBody may
            # now queue behind the requests pipelined after it (queued here).
            stream.body.finish()
            for event in declined:
                self._on_event(event)
        set_hint_promise(server, self, stream)
        self.task = dispatch(server, router, stream, self._respond_simple, self._ws_pending,
                             found)
        if self.task is not None:
            self.task.add_done_callback(self._task_done)

    def _new_stream(self, request: events.Request) -> Stream:
        return Stream(self, request, self.loop, scheme=self.server.scheme, client=self.client,
                      server=self.sockname, started=self.loop.time(),
                      environ_cache=self.environ_cache)

    def _send_cached(self, request: events.Request, static: StaticDirectory, file: CachedFile,
                     head: events.Headers) -> None:
        """The fast path: a cached static file (``static.cached_file``), sent as
        ``dispatch`` -> ``StaticDirectory.serve`` would send it (the same counting, head
        bytes, sendfile, end and log line) without their generic steps and event objects.
        A ``Stream`` is made only for what reads one: the access log, or a file the
        socket did not take at once (its coroutine, timeouts and ``connection_lost``)."""
        server = self.server
        stream = self._new_stream(request) if server.log_requests else None
        self.current = stream
        self.task = None
        server.count_request(request)
        size = file.info.st_size if request.method != b"HEAD" else 0  # body bytes
        if self.closed:
            return  # (serve: the stream's first send raises ClientDisconnected)
        sid = request.stream_id
        self.write(self.adapter.send_ok_head(sid, self._head_started(head)))
        if stream is not None:
            _sent(stream, size)
        if size:
            try:
                rest = self.stream_sendfile(sid, file, 0, size)
            except ClientDisconnected:
                return  # (the connection logs the request as the client's close)
            if rest is not None:  # the socket took part of it: a coroutine sends the rest
                if stream is None:
                    stream = self.current = _sent(self._new_stream(request), size)
                task = self.task = eager.start(self.loop, static.send_rest(stream, rest, file))
                if task is not None:
                    task.add_done_callback(self._task_done)
                return
        data = self.adapter.send_end(sid)
        if data:
            self.write(data)
        if self._wbuf:
            server.write_soon(self)
        if stream is None:
            self._next()
            return
        stream.ended = True
        self._finished()

    def _upgrade(self, request: events.Request) -> list[events.Event] | None:
        """An ``Upgrade`` request: a protocol registered in ``server.upgrades`` takes the
        connection over (returns None), or the upgrade is declined and HTTP/1.1 goes on
        (returns the events parsed from the bytes kept meanwhile)."""
        token = b""
        for name, value in request.headers:
            if name == b"upgrade":
                token = value.split(b",", 1)[0].strip().lower()
                break
        switch = self.server.upgrades.get(token)
        if switch is not None and switch(self, request):
            self.detach()  # the transport now belongs to the new protocol
            return None
        return self.adapter.decline_upgrade()

    def switch_protocol(self, factory: Callable[[Any, bytes], asyncio.BaseProtocol]) -> None:
        """After a 101 (WebSocket): hand the transport, with the bytes already read past
        the upgrade request, to ``factory(transport, trailing)``'s protocol."""
        stream, transport = self.current, self.transport
        self.flush()
        if self.closed or transport is None:
            return
        self._ws_pending = False
        self.detach()  # the transport now belongs to the new protocol
        self.current = None
        if stream is not None:
            stream.ended = True
            self.server.log_access(stream, 101)
        protocol = factory(transport, self.adapter.take_trailing_data())
        transport.set_protocol(protocol)
        if self._read_paused:
            self._read_paused = False
            transport.resume_reading()

    def accept_websocket(self, stream: Stream, accepted: Accepted) -> bool:
        return open_session(self.server, stream, accepted, self.switch_protocol)

    def push(self, parent: Stream, uri: str) -> bool:
        """No server push over HTTP/1.1 (``hint_promise`` sends 103 and Link only)."""
        return False

    def _task_done(self, task: asyncio.Future[None]) -> None:
        if task.cancelled():
            return
        exc = task.exception()  # read even when stale: no "never retrieved" warning
        stream = self.current
        if stream is None or task is not self.task:
            return
        if exc is not None and not isinstance(exc, ClientDisconnected):
            log.error("handler error for %s", stream.request.target, exc_info=exc)
            if not stream.headers_sent:
                self._respond_simple(stream, 500)
                return
            self.abort()
            return
        if not stream.ended and not stream.closed:
            if stream.headers_sent:
                stream.end()
            else:
                self._respond_simple(stream, 500)

    # --- the StreamSink side (called by Stream) --------------------------------------------
    def stream_send(self, event: events.Outbound) -> None:
        if self.closed:
            raise ClientDisconnected("client disconnected")
        kind = type(event)
        if type(event) is events.Response:
            headers = self._head_started(event.headers)
            if headers is not event.headers:
                event = events.Response(event.stream_id, event.status, headers, event.reason)
        data = self.adapter.send(event)
        if data:
            self.write(data)
        if kind is events.EndData:
            if self._wbuf:
                self.server.write_soon(self)  # (queued twice at worst: the second finds nothing)
            self._finished()
        elif kind is events.InformationalResponse or self._wsize >= FLUSH_AT:
            self.flush()

    def stream_respond(self, stream_id: int, status: int, headers: events.Headers,
                       reason: bytes, body: bytes) -> None:
        """A whole response in one go (head, body, end): one adapter call, one write."""
        if self.closed:
            raise ClientDisconnected("client disconnected")
        data = self.adapter.send_whole(stream_id, status, self._head_started(headers), reason, body)
        if not self._wbuf:
            self.server.write_soon(self)
        self._wbuf.append(data)
        self._finished()

    def _head_started(self, headers: events.Headers) -> events.Headers:
        """A response head is about to be written: mark the first byte for the log, tell
        the adapter to close when the connection is going away, add the preload Link
        headers.  (Date and Server are the adapter's ``DefaultHeaders``.)"""
        stream = self.current
        if self._closing or self.server.stopping:
            self.adapter.close_after_response()
        if stream is None:
            return headers
        stream.first_byte = self.loop.time()
        if stream.link_headers:
            return headers + stream.link_headers
        return headers

    async def stream_drain(self, stream_id: int) -> None:
        self.flush()
        transport = self.transport
        if self.closed or transport is None or transport.is_closing():
            # A failed write closes the transport at once but reports connection_lost
            # only on a later loop turn: stop producing now.
            raise ClientDisconnected("client disconnected")
        if self._write_paused:
            await self.wait_writable()
        else:
            # Let the loop run (other clients, connection_lost) between pieces of a long
            # body even when the client keeps up.
            await asyncio.sleep(0)

    def stream_abort(self, stream_id: int) -> None:
        self.abort()

    def in_flight(self) -> Stream | None:
        return self.current

    def file_frame(self, stream_id: int, count: int) -> tuple[bytes, bytes] | None:
        return self.adapter.file_frame(stream_id, count)

    def pause_reading(self, reason: str = "body") -> None:
        self._reasons_paused.add(reason)
        if not self._read_paused and self.transport is not None and not self.closed:
            self._read_paused = True
            self.transport.pause_reading()

    def resume_reading(self, reason: str = "body") -> None:
        self._reasons_paused.discard(reason)
        if self._read_paused and not self._reasons_paused and self.transport is not None \
                and not self.closed:
            self._read_paused = False
            self.transport.resume_reading()

    # --- completion ---------------------------------------------------------------------
    def _finished(self) -> None:
        stream = self.current
        if stream is None:
            return
        server = self.server
        if server.log_requests:
            server.log_access(stream, stream.status)
        self.current = None
        self.task = None
        if not stream.body.complete and not stream.closed:  # (NO_BODY is complete)
            # Answered before the body arrived (a redirect, an app that ignores it): the
            # connection cannot be reused; linger so the response is not lost to a RST.
            self._closing = True
        self._next()

    def _next(self) -> None:
        """A response is done: close, or go on with the next request."""
        server = self.server
        if self._closing or server.stopping or not self.adapter.keep_alive:
            # Closing after an error for a request whose body we did not read: linger.
            self.close(linger=self._closing and not server.stopping)
            return
        if self._ws_pending:  # a WebSocket upgrade answered over HTTP: parse what was kept
            self._ws_pending = False
            self._queue.extend(self.adapter.decline_upgrade())
        self.last_io = server.clock
        # A request answered synchronously while draining lands here again: the outer
        # loop goes on, so deep pipelines never recurse.
        if self._queue and not self._draining:
            self._draining = True
            try:
                self._drain_queue()
            finally:
                self._draining = False
        if self._read_paused and self._queued_bytes <= QUEUE_HIGH_WATER:
            self.resume_reading("pipeline")

    def _drain_queue(self) -> None:
        """Run the next queued request and hand it every event of its own that was
        parsed ahead (its body); stop at the one after it."""
        queue = self._queue
        while queue and not self.closed:
            current = self.current
            if current is not None and queue[0].stream_id != current.stream_id:
                break
            event = queue.popleft()
            if type(event) is events.Body:
                self._queued_bytes -= len(event.data)
            self._dispatch(event)

    def _respond_simple(self, stream: Stream, status: int) -> None:
        if status >= 400 and stream.request.has_body and not stream.body.complete:
            # The body will not be read: close after this response (the adapter does too).
            # A request without a body (a 404 for a GET) keeps its connection.
            self._closing = True
        headers, body = errorpage.page(status)
        stream.respond(status, headers, body)

    def _abort_stream(self, stream: Stream, status: int, reason: str) -> None:
        """The request cannot continue (oversize or malformed body)."""
        log.info("aborting %s: %s", stream.request.target, reason)
        stream.body.abort(ClientDisconnected(reason))
        self._closing = True
        if not stream.headers_sent:
            stream.closed = False
            self._respond_simple(stream, status)
            stream.closed = True  # the app may still be running: its output goes nowhere
        else:
            self.abort()

    def _remote_error(self, event: events.RemoteError) -> None:
        log.info("bad request from %s: %s", self.client, event.reason)
        self._send_error(event.status_hint, event.reason)

    def _send_error(self, status: int, reason: str) -> None:
        """A response for a request we could not even parse: written at once, then close."""
        headers, body = errorpage.page(status)
        self.write(self.adapter.send_error(status, headers, body))
        self.flush()
        self.close(linger=True)

    # --- shutting down ------------------------------------------------------------------------
    def shutdown(self) -> None:
        """Graceful stop: a busy connection closes after its response (which says
        ``connection: close``).  An idle one gets ``SHUTDOWN_IDLE_GRACE`` seconds first:
        a keep-alive client's next request, or the first request of a connection just
        accepted, may already be on the wire, and closing under it would fail a request
        the client had every right to send (a reload under load must lose none)."""
        self._closing = True
        if self.current is None and not self.closed:
            self.loop.call_later(SHUTDOWN_IDLE_GRACE, self._close_if_idle)

    def _close_if_idle(self) -> None:
        if self.current is None and not self._partial and not self._queue:
            self.close()

    def check_timeouts(self, now: float) -> None:
        cfg = self.server.config
        idle = now - self.last_io
        stream = self.current
        if stream is None:
            if self._partial and idle > cfg.request_timeout:
                self._send_error(408, "request head timed out")
            elif idle > cfg.keep_alive:
                self.close()
            return
        # The client owes us body bytes (and we are not the ones holding it back), or it
        # stopped reading our response: both are network stalls, not a slow app.
        stalled_body = not stream.body.complete and not self._read_paused
        if (stalled_body or self._write_paused) and idle > cfg.request_timeout:
            log.info("request timeout for %s", stream.request.target)
            if stalled_body and not stream.headers_sent and not self._write_paused:
                self._abort_stream(stream, 408, "request body timed out")
            else:
                self.abort()


def _sent(stream: Stream, size: int) -> Stream:
    """What the fast path's response did to its stream, had it sent through one: a 200
    head and ``size`` body bytes."""
    stream.headers_sent = True
    stream.status = 200
    stream.sent_bytes = size
    return stream
