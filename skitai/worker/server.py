"""The only code in a worker that touches sockets: connections, timeouts, backpressure.

Theory.  ``Connection`` is an ``asyncio.Protocol``.  Bytes go into the protocol adapter
(``protocols/http1.py``), events come out; a ``Stream`` is made for each request and
handed to the handler that routing picked.  HTTP/1.1 runs one stream at a time:
pipelined requests parsed ahead wait in ``_queue`` (and reading pauses when that queue
holds too much), so responses leave in request order.

Writes are coalesced: ``stream_send`` appends the adapter's bytes to ``_wbuf`` and the
buffer is written before waiting for the transport to drain, when it grows large, or,
for a response that ended, at the end of the loop turn (``Server.write_soon``): a small
response is one ``write()`` syscall, not three, and the loop reads every ready socket
before it writes to any (pipelined responses leave together, too).

Timeouts are checked by one sweep a second over all connections (no timer per
connection or per read): idle keep-alive connections close after ``keep_alive``; a
partial request head or a stalled body or a client that stopped reading gets
``request_timeout``.  A slow client therefore holds only its own connection.

Errors: a ``RemoteError`` from the adapter is answered with its status (when no
response has started) and the connection is closed; nothing after it is run.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from email.utils import formatdate
from functools import partial
from http import HTTPStatus
from typing import IO, TYPE_CHECKING, Any, Protocol

from skitai import log as logmod
from skitai.config.model import ServerConfig
from skitai.worker import eager, events
from skitai.worker import environ as environ_mod
from skitai.worker.protocols import websocket as ws_proto
from skitai.worker.protocols.http1 import H2_PREFACE, DefaultHeaders, Http1Adapter
from skitai.worker.routing import Router
from skitai.worker.stream import ClientDisconnected, Stream

if TYPE_CHECKING:
    from skitai.worker.routing import Route

log = logging.getLogger("skitai.server")

SERVER_HEADER = b"skitai"
QUEUE_HIGH_WATER = 256 * 1024  # bytes of pipelined input parsed ahead before pausing reads
FLUSH_AT = 64 * 1024
FILE_CHUNK = 256 * 1024
SENDFILE_MIN = 16 * 1024  # below this a pread + write is as cheap as sendfile
_MSG_MORE = getattr(socket, "MSG_MORE", 0)  # Linux
SHUTDOWN_IDLE_GRACE = 1.0  # seconds an idle connection may still deliver a request at stop
LINGER = 2.0  # seconds a closing connection reads and drops what the peer still sends


class PendingWriter(Protocol):
    """What ``Server.write_soon`` queues: a connection (HTTP/1.1 or WebSocket) whose
    ``_flush`` writes the bytes it has kept back."""

    def _flush(self) -> None: ...


class Server:
    """All connections of one worker, the sweep timer and the stop logic."""

    def __init__(
        self,
        config: ServerConfig,
        router: Router,
        logs: logmod.Logs,
        *,
        loop: asyncio.AbstractEventLoop,
        worker_label: str = "W0",
        scheme: str = "http",
    ) -> None:
        self.config = config
        self.router = router
        self.logs = logs
        self.loop = loop
        self.worker_label = worker_label
        self.scheme = scheme
        self.connections: set[Connection] = set()
        self.requests_served = 0
        self.on_request: Callable[[bytes, bytes], None] | None = None
        self.log_off = logmod.LogOff(config.log_off)
        self.log_requests = not self.log_off.everything  # log_off("/"): log_access never logs
        self.clock = loop.time()
        self.date_header = formatdate(usegmt=True).encode()
        # Date and Server lines of every HTTP/1.1 head, shared by all its adapters.
        self.default_headers = DefaultHeaders(SERVER_HEADER, self.date_header)
        self.stopping = False
        self._servers: list[asyncio.base_events.Server] = []
        self._stopped: asyncio.Future[bool] = loop.create_future()
        self._sweeper: asyncio.TimerHandle | None = None
        self._write_queue: list[PendingWriter] = []  # see write_soon
        self.body_limit = config.max_client_body_size
        # Protocol switches, installed by the composition root (worker/main.py):
        # Upgrade token -> takes the connection over and returns True, or declines (False);
        self.upgrades: dict[bytes, Callable[[Connection, events.Request], bool]] = {}
        # the HTTP/2 preface arrived on a clear-text HTTP/1.1 connection (h2c prior knowledge);
        self.on_h2_preface: Callable[[Connection, bytes], None] | None = None
        # ``environ["skitai.hint_promise"]`` is this, bound to (connection, stream).
        self.hint_promise: Callable[[Any, Stream, str], None] | None = None
        self.loop_thread = threading.get_ident()  # the server is made on its loop's thread

    # --- lifecycle -------------------------------------------------------------------
    async def start(self, listeners: list[socket.socket], ssl: Any = None) -> None:
        for sock in listeners:
            await self.listen(sock, lambda: Connection(self), ssl)
        self._sweep()

    async def listen(self, sock: socket.socket, factory: Callable[[], asyncio.Protocol],
                     ssl: Any = None) -> None:
        """Serve ``sock`` with protocols from ``factory`` (TLS when ``ssl`` is a context)."""
        sock.setblocking(False)
        tls: dict[str, Any] = {}
        if ssl is not None:
            tls = {"ssl": ssl, "ssl_handshake_timeout": self.config.request_timeout}
        if sock.family == socket.AF_UNIX:
            srv = await self.loop.create_unix_server(factory, sock=sock,
                                                     backlog=self.config.backlog, **tls)
        else:
            srv = await self.loop.create_server(factory, sock=sock,
                                                backlog=self.config.backlog, **tls)
        self._servers.append(srv)

    async def serve(self) -> None:
        """Run until ``stop()``; a graceful stop waits for in-flight work (bounded)."""
        graceful = await self._stopped
        if graceful and self.connections:
            deadline = self.loop.time() + self.config.graceful_timeout
            while self.connections and self.loop.time() < deadline:
                await asyncio.sleep(0.05)
        for conn in list(self.connections):
            conn.abort()
        for srv in self._servers:
            await srv.wait_closed() if not self.connections else None
        if self._sweeper is not None:
            self._sweeper.cancel()

    def write_soon(self, conn: PendingWriter) -> None:
        """Write ``conn``'s finished responses at the end of this loop turn, together with
        every other connection's: the loop first reads all the sockets that are ready,
        then writes.  Writing each response from inside its ``data_received`` made the
        kernel hand it to the client (and wake it) in the middle of the batch, which cost
        a keep-alive benchmark a third of its throughput.  What must leave at once (a
        drain, a sendfile, a close) calls ``Connection._flush`` itself."""
        if not self._write_queue:
            self.loop.call_soon(self._write_queued)
        self._write_queue.append(conn)

    def _write_queued(self) -> None:
        queue, self._write_queue = self._write_queue, []
        for conn in queue:
            conn._flush()

    def stop(self, graceful: bool = True) -> None:
        if self._stopped.done():
            if not graceful:  # a second, fast stop while a graceful one runs
                for conn in list(self.connections):
                    conn.abort()
            return
        self.stopping = True
        for srv in self._servers:
            srv.close()
        for conn in list(self.connections):
            conn.shutdown()
        self._stopped.set_result(graceful)

    def reopen_logs(self) -> None:
        self.logs.reopen()

    @property
    def open_connections(self) -> int:
        return len(self.connections)

    def current_requests(self) -> list[str]:
        out = []
        for conn in self.connections:
            s = conn.current
            if s is not None:
                out.append(f"{s.request.method.decode('latin-1')} {s.request.target.decode('latin-1')}")
        return out

    def _sweep(self) -> None:
        now = self.loop.time()
        self.clock = now
        self.date_header = formatdate(usegmt=True).encode()
        self.default_headers.set_date(self.date_header)
        for conn in list(self.connections):
            conn.check_timeouts(now)
        self._sweeper = self.loop.call_later(1.0, self._sweep)

    # --- access log --------------------------------------------------------------------
    def log_access(self, stream: Stream, status: int) -> None:
        if not self.log_requests:
            return
        req = stream.request
        log_off = self.log_off
        if log_off and log_off.skip(req.target.split(b"?", 1)[0].decode("latin-1")):
            return
        host = ref = ua = auth = xff = None
        for name, value in req.headers:
            if name == b"host":
                host = value
            elif name == b"user-agent":
                ua = value
            elif name == b"referer":
                ref = value
            elif name == b"authorization":
                auth = value
            elif name == b"x-forwarded-for":
                xff = value
        now = self.loop.time()
        first = stream.first_byte or now
        record = logmod.AccessRecord(
            when=time.time(),
            client=stream.client[0] if stream.client else "-",
            host=_text(host),
            method=req.method.decode("latin-1"),
            uri=req.target.decode("latin-1"),
            version=req.http_version.decode("latin-1"),
            request_bytes=stream.body.received,
            status=status,
            response_bytes=stream.sent_bytes,
            gtxid=f"{os.getpid():x}-{id(stream.sink) & 0xFFFF:x}-{stream.stream_id}",
            ltxid="1000",
            user=_text(stream.extra.get("user")),  # type: ignore[arg-type]
            authorization=_text(auth),
            referer=_text(ref),
            user_agent=_text(ua),
            forwarded_for=_text(xff),
            worker=self.worker_label,
            connections=len(self.connections),
            handle_ms=(first - stream.started) * 1000,
            send_ms=(now - first) * 1000,
        )
        self.logs.request.write(logmod.format_access(record))


def _text(value: bytes | str | None) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else value.decode("latin-1")


def route_stream(server: Server, stream: Stream) -> Route | None:
    """Count a new request and find its mount (None: no mount matches); sets the
    stream's ``script_name``, ``path_info`` and ``query``.  Every entry shares it:
    HTTP/1.1, HTTP/2 and WebSocket over HTTP/2."""
    request = stream.request
    server.requests_served += 1
    if server.on_request is not None:
        server.on_request(request.method, request.target)
    router = server.router
    host = None
    if router.virtual_hosts:
        for name, value in request.headers:
            if name == b"host":
                host = value
                break
    found = router.resolve(host, request.target)
    if found is None:
        return None
    route, stream.script_name, stream.path_info, stream.query = found
    return route


def set_hint_promise(server: Server, conn: Any, stream: Stream) -> None:
    """Give the stream's WSGI environ ``skitai.hint_promise`` (when the server has one).
    A dotted key: PEP 3333 (and wsgiref.validate) want un-dotted keys to be CGI strings."""
    hint = server.hint_promise
    if hint is not None:
        stream.environ_extra = {"skitai.hint_promise": partial(hint, conn, stream)}


def dispatch(server: Server, stream: Stream, respond: Callable[[Stream, int], None],
             websocket: bool = False) -> tuple[int, asyncio.Future[None] | None]:
    """Route a new stream and start its handler: one copy for HTTP/1.1 and HTTP/2.

    Returns the request body limit of the route (0 when no route matched) and the task
    running the handler's awaitable (None when the handler returned without one, e.g. a
    WSGI app submitted to the pool, or when ``respond(stream, status)`` already answered).
    ``websocket``: the connection saw a WebSocket upgrade request (an app may take it).
    """
    request = stream.request
    route = route_stream(server, stream)
    if route is None:
        respond(stream, 404)
        return 0, None
    limit = route.body_limit or server.body_limit
    if request.content_length is not None and request.content_length > limit:
        respond(stream, 413)
        return limit, None
    if request.expect_continue:
        stream.send_informational(100)
    handler = pick_handler(route, stream, respond)
    if handler is None:
        return limit, None
    # (An upgrade request with a body is served as plain HTTP by the adapter: never ours.)
    if websocket and handler is route.app and not request.has_body:
        from skitai.worker import websocket_app

        if websocket_app.wants(handler):  # a WSGI app: it is asked (INIT) to take it
            websocket_app.start(stream, handler)
            return limit, None
    try:
        result = handler(stream)
        task = eager.start(server.loop, result) if result is not None else None  # type: ignore[arg-type]
    except Exception:  # noqa: BLE001 - a handler bug must not kill the connection loop
        log.exception("handler failed for %s", request.target)
        respond(stream, 500)
        return limit, None
    return limit, task


def pick_handler(route: Route, stream: Stream, respond: Callable[[Stream, int], None]
                 ) -> Callable[[Stream], Awaitable[None] | None] | None:
    """The handler: a static file if one exists, else the app, else 404."""
    for static in route.statics:
        found = static.resolve(stream)
        if found is None:
            continue
        status = getattr(found, "status", None)
        if status is not None and not hasattr(found, "path"):
            respond(stream, int(status))
            return None
        return lambda s, st=static, f=found: st.serve(s, f)
    if route.app is not None:
        return route.app  # type: ignore[no-any-return]
    respond(stream, 404)
    return None


async def send_file_in_chunks(sink: Any, stream_id: int, file: IO[bytes], offset: int,
                              count: int) -> None:
    """pread + Data events with a drain between them: a file body where sendfile cannot
    be used (TLS, HTTP/2 framing, small files)."""
    fd = file.fileno()
    while count > 0:
        chunk = os.pread(fd, min(FILE_CHUNK, count), offset)
        if not chunk:
            raise ClientDisconnected("file shrank while sending")
        sink.stream_send(events.Data(stream_id, chunk))
        await sink.stream_drain(stream_id)
        offset += len(chunk)
        count -= len(chunk)


def response_headers(server: Server, stream: Stream | None,
                     headers: events.Headers) -> events.Headers:
    """A new list: the app's headers plus Date and Server (unless the app set them) and
    the stream's preload Link headers; marks the stream's first byte for the log."""
    if stream is not None:
        stream.first_byte = server.loop.time()
    extra = [(b"date", server.date_header), (b"server", SERVER_HEADER)]
    for name, _ in headers:
        if name == b"server" or name == b"date":
            extra = [h for h in extra if h[0] != name]
    if stream is not None and stream.extra:
        extra += stream.extra.get("link_headers", ())  # type: ignore[arg-type]
    return headers + extra


def close_lingering(loop: asyncio.AbstractEventLoop, transport: asyncio.BaseTransport) -> None:
    """Close a connection whose peer may still be sending (after a 4xx for a request we
    did not read, or a GOAWAY): FIN now, then up to ``LINGER`` seconds in which what
    arrives is read and dropped (the protocol ignores it once closed), then close.
    Closing at once with unread input makes the kernel answer with a RST, and a RST can
    destroy the response on its way before the client reads it (nginx's
    ``lingering_close``).  A peer that closes its side ends the wait early."""
    if transport.is_closing():
        return
    if not transport.can_write_eof():  # e.g. TLS: a plain close
        transport.close()
        return
    try:
        transport.write_eof()  # type: ignore[attr-defined]
    except (OSError, RuntimeError):
        transport.close()
        return
    loop.call_later(LINGER, _close_transport, transport)


def _close_transport(transport: asyncio.BaseTransport) -> None:
    if not transport.is_closing():
        transport.close()


def simple_page(status: int) -> tuple[events.Headers, bytes]:
    """The headers and body of the small HTML page sent for an error or a refusal."""
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    body = f"<h1>{status} {phrase}</h1>".encode()
    return [(b"content-type", b"text/html; charset=utf-8"),
            (b"content-length", str(len(body)).encode())], body


class Connection(asyncio.Protocol):
    """One client connection speaking HTTP/1.1.  It hands its transport over to HTTP/2
    (``server.on_h2_preface``: h2c prior knowledge; ``server.upgrades[b"h2c"]``) or to
    WebSocket (``switch_protocol``); ALPN h2 is ``h2conn.TlsConnection``."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.loop = server.loop
        cfg = server.config
        self.adapter = Http1Adapter(max_request_line=cfg.max_request_line,
                                    max_header_bytes=cfg.max_header_bytes,
                                    defaults=server.default_headers)
        self.transport: asyncio.Transport | None = None
        self.client: tuple[str, int] | None = None
        self.sockname: tuple[str, int] | None = None
        self.current: Stream | None = None
        self.task: asyncio.Future[None] | None = None
        self._queue: collections.deque[events.Event] = collections.deque()
        self._queued_bytes = 0
        self._wbuf: list[bytes] = []
        self._wsize = 0
        self._write_paused = False
        self._drain_waiter: asyncio.Future[None] | None = None
        self._read_paused = False
        self._reasons_paused: set[str] = set()
        self._closing = False  # close once the current response is done
        self._closed = False
        self._partial = False  # bytes of an unfinished request head were received
        self._draining = False
        self._sendfile_socket: Any = None  # None: not looked up yet; False: no sendfile
        self._more: socket.socket | None = None  # for a head sent with MSG_MORE (TCP)
        self._limit = server.body_limit
        self.last_io = server.clock
        self._ws_pending = False  # a WebSocket upgrade request awaits its app's answer
        self.environ_cache = environ_mod.EnvironCache()
        # The first bytes, kept until they cannot be the HTTP/2 preface (h2c prior knowledge).
        self._sniff: bytes | None = b"" if server.on_h2_preface is not None else None

    # --- asyncio.Protocol ------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, so no isinstance check.
        self.transport = transport  # type: ignore[assignment]
        self.server.connections.add(self)
        peer = transport.get_extra_info("peername")
        self.client = (str(peer[0]), int(peer[1])) if isinstance(peer, tuple) else ("unix", 0)
        sockname = transport.get_extra_info("sockname")
        self.sockname = (str(sockname[0]), int(sockname[1])) if isinstance(sockname, tuple) else None
        if len(self.server.connections) > self.server.config.max_connections:
            self._send_error(503, "too many connections")

    def data_received(self, data: bytes) -> None:
        if self._closed:
            return  # lingering after an error response (close_lingering): dropped
        self.last_io = self.server.clock
        if self._sniff is not None:
            data = self._sniff + data
            if data[:24] == H2_PREFACE[:len(data)] and len(data) < 24:
                self._sniff = data  # maybe the preface, split: wait for more
                return
            self._sniff = None
            if data.startswith(H2_PREFACE) and self.server.on_h2_preface is not None:
                self._closed = True  # the transport now belongs to the HTTP/2 connection
                self.server.connections.discard(self)
                self.server.on_h2_preface(self, data)
                return
        produced = self.adapter.feed(data)
        for event in produced:
            self._on_event(event)
        # Bytes that made no event while idle: a request head is arriving (slowly?).
        self._partial = not produced and self.current is None

    def eof_received(self) -> bool | None:
        # Responses queued for the end of the loop turn (write_soon) go first: returning
        # False below lets the transport close, and it knows nothing of our buffer.
        self._flush()
        for event in self.adapter.eof():
            self._on_event(event)
        # Keep the write side open while a response is still due (a half-closing client).
        return self.current is not None

    def connection_lost(self, exc: Exception | None) -> None:
        by_server = self._closed  # close() or abort() ran first: not the client's doing
        self._closed = True
        self.server.connections.discard(self)
        self._drop_more()
        stream = self.current
        if stream is not None and not stream.ended:
            stream.client_gone()
            if self.task is not None and not self.task.done():
                self.task.cancel()
            gone = logmod.SERVER_CLOSED if by_server else logmod.CLIENT_CLOSED
            self.server.log_access(stream, stream.status or gone)
        self.current = None
        self._queue.clear()
        waiter = self._drain_waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(ClientDisconnected("client disconnected"))

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        self.last_io = self.server.clock
        waiter = self._drain_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # --- events from the adapter --------------------------------------------------------
    def _on_event(self, event: events.Event) -> None:
        stream = self.current
        if self._queue or (stream is not None and event.stream_id != stream.stream_id):
            # A pipelined request parsed ahead: it waits until the current one is done.
            self._queue.append(event)
            if type(event) is events.Body:
                self._queued_bytes += len(event.data)  # type: ignore[attr-defined]
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
        kind = type(event)
        if kind is events.Body:
            body = stream.body
            if body.received + len(event.data) > self._limit:  # type: ignore[attr-defined]
                self._abort_stream(stream, 413, "request body too large")
                return
            body.feed(event.data)  # type: ignore[attr-defined]
        elif kind is events.EndBody:
            stream.body.finish()
        elif kind is events.RemoteError:
            self._abort_stream(stream, event.status_hint, event.reason)  # type: ignore[attr-defined]
        elif kind is events.StreamClosed:
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
        stream = Stream(self, request, self.loop, scheme=server.scheme, client=self.client,
                        server=self.sockname, started=self.loop.time(),
                        environ_cache=self.environ_cache)
        self.current = stream
        self.task = None
        if declined is not None:
            # An upgrade request has no body (llhttp pauses only then); its EndBody may
            # now queue behind the requests pipelined after it (queued here).
            stream.body.finish()
            for event in declined:
                self._on_event(event)
        set_hint_promise(server, self, stream)
        limit, self.task = dispatch(server, stream, self._respond_simple, self._ws_pending)
        if limit:
            self._limit = limit
        if self.task is not None:
            self.task.add_done_callback(self._task_done)

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
            self._closed = True  # the transport now belongs to the new protocol
            self.server.connections.discard(self)
            self._drop_more()
            return None
        return self.adapter.decline_upgrade()

    def decline_upgrade(self) -> None:
        """The WebSocket upgrade is answered over HTTP (the kept bytes are parsed once the
        response is done)."""

    def switch_protocol(self, factory: Callable[[Any, bytes], asyncio.Protocol]) -> None:
        """After a 101 (WebSocket): hand the transport, with the bytes already read past
        the upgrade request, to ``factory(transport, trailing)``'s protocol."""
        stream, transport = self.current, self.transport
        self._flush()
        if self._closed or transport is None:
            return
        self._ws_pending = False
        self._closed = True  # the transport now belongs to the new protocol
        self.server.connections.discard(self)
        self._drop_more()
        self.current = None
        if stream is not None:
            stream.ended = True
            self.server.log_access(stream, 101)
        protocol = factory(transport, self.adapter.take_trailing_data())
        transport.set_protocol(protocol)
        if self._read_paused:
            self._read_paused = False
            transport.resume_reading()

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
    def stream_send(self, event: events.Event) -> None:
        if self._closed:
            raise ClientDisconnected("client disconnected")
        kind = type(event)
        if kind is events.Response:
            headers = self._head_started(event.headers)  # type: ignore[attr-defined]
            if headers is not event.headers:  # type: ignore[attr-defined]
                event = events.Response(event.stream_id, event.status,  # type: ignore[attr-defined]
                                        headers, event.reason)  # type: ignore[attr-defined]
        data = self.adapter.send(event)  # type: ignore[arg-type]
        if data:
            self._wbuf.append(data)
            self._wsize += len(data)
        if kind is events.EndData:
            if self._wbuf:
                self.server.write_soon(self)  # (queued twice at worst: the second finds nothing)
            self._finished()
        elif kind is events.InformationalResponse or self._wsize >= FLUSH_AT:
            self._flush()

    def stream_respond(self, stream_id: int, status: int, headers: events.Headers,
                       reason: bytes, body: bytes) -> None:
        """A whole response in one go (head, body, end): one adapter call, one write."""
        if self._closed:
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
        extra = stream.extra
        if extra and "link_headers" in extra:
            return headers + extra["link_headers"]  # type: ignore[operator]
        return headers

    async def stream_drain(self, stream_id: int) -> None:
        self._flush()
        transport = self.transport
        if self._closed or transport is None or transport.is_closing():
            # A failed write closes the transport at once but reports connection_lost
            # only on a later loop turn: stop producing now.
            raise ClientDisconnected("client disconnected")
        if self._write_paused:
            self._drain_waiter = self.loop.create_future()
            try:
                await self._drain_waiter
            finally:
                self._drain_waiter = None
        else:
            # Let the loop run (other clients, connection_lost) between pieces of a long
            # body even when the client keeps up.
            await asyncio.sleep(0)

    async def stream_sendfile(self, stream_id: int, file: IO[bytes], offset: int, count: int) -> None:
        out = self._sendfile_fd() if count >= SENDFILE_MIN else None
        if out is not None:
            await self._sendfile(out, stream_id, file, offset, count)
        else:
            await send_file_in_chunks(self, stream_id, file, offset, count)

    def _sendfile_fd(self) -> int | None:
        """The socket's fd when the kernel can copy the file for us (plain TCP or unix,
        HTTP/1.1 framing); None under TLS or on a transport without a socket."""
        sock = self._sendfile_socket
        if sock is None:
            transport = self.transport
            if transport is None or transport.get_extra_info("sslcontext") is not None \
                    or not hasattr(self.adapter, "file_frame"):
                self._sendfile_socket = False
                return None
            # Looked up once: uvloop makes a new socket object per get_extra_info(), and
            # its ``family`` asks the kernel (getsockname) every time.
            sock = self._sendfile_socket = transport.get_extra_info("socket") or False
            if sock and _MSG_MORE and sock.family != socket.AF_UNIX:
                # Our own handle on the socket, for send(MSG_MORE): uvloop's socket
                # object refuses send().  A dup: closing it leaves the connection open.
                try:
                    more = socket.socket(sock.family, socket.SOCK_STREAM, 0, os.dup(sock.fileno()))
                    more.setblocking(False)
                    self._more = more
                except OSError:
                    self._more = None
        return sock.fileno() if sock else None

    async def _sendfile(self, out: int, stream_id: int, file: IO[bytes], offset: int,
                        count: int) -> None:
        frame = self.adapter.file_frame(stream_id, count)
        if frame is None:  # HEAD: no body bytes
            return
        prefix, suffix = frame
        if prefix:
            self._wbuf.append(prefix)
        transport = self.transport
        assert transport is not None
        # As write_soon does for small responses: let the loop read every ready socket
        # before this one's head and file go out (fewer wake-ups of the clients in the
        # middle of a batch: +10% files/s and a third of the p99 in bench/web.sh).
        await asyncio.sleep(0)
        if self._closed or transport.is_closing():
            raise ClientDisconnected("client disconnected")
        self._send_head_more(transport)
        await self._sendfile_body(transport, out, file, offset, count)
        if suffix:
            self._wbuf.append(suffix)

    def _drop_more(self) -> None:
        """Close our dup of the socket (the connection ends or changes protocol)."""
        if self._more is not None:
            self._more.close()
            self._more = None

    def _send_head_more(self, transport: asyncio.WriteTransport) -> None:
        """Write what is buffered (the head) so that it leaves with the file's first bytes,
        in full packets rather than a small head packet first: sent with MSG_MORE, the
        kernel holds it for the sendfile that follows (nginx's tcp_nopush does this with
        TCP_CORK, for two more syscalls per response).  What the socket does not take
        at once goes through the transport, which _sendfile_body waits for."""
        if not self._wbuf:
            return
        data = self._wbuf[0] if len(self._wbuf) == 1 else b"".join(self._wbuf)
        self._wbuf.clear()
        self._wsize = 0
        sent = 0
        more = self._more
        if more is not None and not transport.get_write_buffer_size():
            try:
                sent = more.send(data, _MSG_MORE)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError:
                sent = 0  # the transport's write meets the same error and reports it
        if sent < len(data):
            transport.write(data[sent:])

    async def _sendfile_body(self, transport: asyncio.WriteTransport, out: int, file: IO[bytes],
                             offset: int, count: int) -> None:
        # The head (and anything before it) must leave the transport's buffer first:
        # sendfile writes to the socket behind the transport's back.
        while transport.get_write_buffer_size():
            await self._socket_writable(out)
        fd = file.fileno()
        while count > 0:
            if self._closed:
                raise ClientDisconnected("client disconnected")
            try:
                sent = os.sendfile(out, fd, offset, count)
            except BlockingIOError:
                await self._socket_writable(out)
                continue
            except OSError as exc:
                self.abort()
                raise ClientDisconnected(f"sendfile: {exc.strerror}") from exc
            if sent == 0:
                # The file shrank under us: the promised length cannot be kept.
                self.abort()
                raise ClientDisconnected("file shrank while sending")
            offset += sent
            count -= sent
            self.last_io = self.server.clock

    async def _socket_writable(self, out: int) -> None:
        """Wait until the socket takes more bytes.  The transport owns the fd's
        registration in the loop, so a dup of it is watched; the request timeout sweep
        treats the wait like a paused transport (a client that stopped reading)."""
        dup = os.dup(out)
        waiter: asyncio.Future[None] = self.loop.create_future()

        def ready() -> None:
            if not waiter.done():
                waiter.set_result(None)

        self.loop.add_writer(dup, ready)
        self._drain_waiter = waiter
        self._write_paused = True
        try:
            await waiter
        finally:
            self._write_paused = False
            self._drain_waiter = None
            self.loop.remove_writer(dup)
            os.close(dup)

    def stream_abort(self, stream_id: int) -> None:
        self.abort()

    def pause_reading(self, reason: str = "body") -> None:
        self._reasons_paused.add(reason)
        if not self._read_paused and self.transport is not None and not self._closed:
            self._read_paused = True
            self.transport.pause_reading()

    def resume_reading(self, reason: str = "body") -> None:
        self._reasons_paused.discard(reason)
        if self._read_paused and not self._reasons_paused and self.transport is not None \
                and not self._closed:
            self._read_paused = False
            self.transport.resume_reading()

    # --- completion ---------------------------------------------------------------------
    def _flush(self) -> None:
        if self._wbuf and self.transport is not None and not self._closed:
            data = self._wbuf[0] if len(self._wbuf) == 1 else b"".join(self._wbuf)
            self._wbuf.clear()
            self._wsize = 0
            self.transport.write(data)

    def _finished(self) -> None:
        stream = self.current
        if stream is None:
            return
        server = self.server
        if server.log_requests:
            server.log_access(stream, stream.status)
        self.current = None
        self.task = None
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
        while queue and not self._closed:
            current = self.current
            if current is not None and queue[0].stream_id != current.stream_id:
                break
            event = queue.popleft()
            if type(event) is events.Body:
                self._queued_bytes -= len(event.data)  # type: ignore[attr-defined]
            self._dispatch(event)

    def _respond_simple(self, stream: Stream, status: int) -> None:
        if status >= 400 and stream.request.has_body and not stream.body.complete:
            # The body will not be read: close after this response (the adapter does too).
            # A request without a body (a 404 for a GET) keeps its connection.
            self._closing = True
        headers, body = simple_page(status)
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
        """A response for a request we could not even parse: written directly, then close."""
        phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
        body = f"<h1>{status} {phrase}</h1>".encode()
        head = (f"HTTP/1.1 {status} {phrase}\r\ncontent-type: text/html; charset=utf-8\r\n"
                f"content-length: {len(body)}\r\nconnection: close\r\n").encode()
        head += b"date: " + self.server.date_header + b"\r\nserver: " + SERVER_HEADER + b"\r\n\r\n"
        self._wbuf.append(head + body)
        self._flush()
        self.close(linger=True)

    # --- shutting down ------------------------------------------------------------------------
    def shutdown(self) -> None:
        """Graceful stop: a busy connection closes after its response (which says
        ``connection: close``).  An idle one gets ``SHUTDOWN_IDLE_GRACE`` seconds first:
        a keep-alive client's next request, or the first request of a connection just
        accepted, may already be on the wire, and closing under it would fail a request
        the client had every right to send (a reload under load must lose none)."""
        self._closing = True
        if self.current is None and not self._closed:
            self.loop.call_later(SHUTDOWN_IDLE_GRACE, self._close_if_idle)

    def _close_if_idle(self) -> None:
        if self.current is None and not self._partial and not self._queue:
            self.close()

    def close(self, linger: bool = False) -> None:
        if not self._closed and self.transport is not None:
            self._flush()
            self._closed = True
            self.server.connections.discard(self)
            if linger:
                close_lingering(self.loop, self.transport)
            else:
                self.transport.close()

    def abort(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.abort()
        self._closed = True
        self.server.connections.discard(self)

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
            self.abort()


def describe(value: Any) -> str:
    return repr(value)
