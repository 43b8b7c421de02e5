"""One worker's server: its listeners, its connections, the sweep and the stop.

Theory.  ``Server`` keeps the registry of open connections (``connections/``: one class
per protocol on a shared base), runs the one-second sweep that gives each its
``check_timeouts`` (no timer per connection or per read), queues the end-of-turn writes
(``write_soon``), and stops: gracefully (``shutdown`` on every connection, then wait up to
``graceful_timeout``) or at once.  It is also the ``dispatch.Site`` that routing and the
response head read: the router, the body limit, the Date header, the request count.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable
from email.utils import formatdate
from typing import TYPE_CHECKING

from skitai import log as logmod
from skitai.config.model import ServerConfig
from skitai.worker import events
from skitai.worker.dispatch import SERVER_HEADER, HintPromise
from skitai.worker.protocols.http1 import DefaultHeaders
from skitai.worker.routing import Router
from skitai.worker.stream import Stream

if TYPE_CHECKING:
    from skitai.worker.connections.base import BaseConnection
    from skitai.worker.connections.http1 import Http1Connection

log = logging.getLogger("skitai.server")
# Loop turns from a listener's accept to its connection's connection_made (see serve)
_ACCEPT_TURNS = 3


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
        self.connections: set[BaseConnection] = set()
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
        self._write_queue: list[BaseConnection] = []  # see write_soon
        self.body_limit = config.max_client_body_size
        # Protocol switches, installed by the composition root (worker/main.py):
        # Upgrade token -> takes the connection over and returns True, or declines (False);
        self.upgrades: dict[bytes, Callable[[Http1Connection, events.Request], bool]] = {}
        # the HTTP/2 preface arrived on a clear-text HTTP/1.1 connection (h2c prior knowledge);
        self.on_h2_preface: Callable[[Http1Connection, bytes], None] | None = None
        # TLS chose h2 by ALPN: the HTTP/1.1 connection hands the transport over at once;
        self.on_alpn_h2: Callable[[Http1Connection, asyncio.BaseTransport], None] | None = None
        # ``environ["skitai.hint_promise"]`` is this, bound to (connection, stream).
        self.hint_promise: HintPromise | None = None
        self.loop_thread = threading.get_ident()  # the server is made on its loop's thread

    # --- lifecycle -------------------------------------------------------------------
    async def start(self, listeners: list[socket.socket], factory: Callable[[], asyncio.Protocol],
                    context: ssl.SSLContext | None = None) -> None:
        """Serve ``listeners`` with connections from ``factory`` (TLS with ``context``),
        and start the sweep (once)."""
        for sock in listeners:
            await self.listen(sock, factory, context)
        if self._sweeper is None:
            self._sweep()

    async def listen(self, sock: socket.socket, factory: Callable[[], asyncio.Protocol],
                     context: ssl.SSLContext | None = None) -> None:
        """Serve ``sock`` with protocols from ``factory`` (TLS with ``context``)."""
        sock.setblocking(False)
        cfg = self.config
        timeout = cfg.request_timeout if context is not None else None
        if sock.family == socket.AF_UNIX:
            srv = await self.loop.create_unix_server(factory, sock=sock, backlog=cfg.backlog,
                                                     ssl=context, ssl_handshake_timeout=timeout)
        else:
            srv = await self.loop.create_server(factory, sock=sock, backlog=cfg.backlog,
                                                ssl=context, ssl_handshake_timeout=timeout)
        self._servers.append(srv)

    async def serve(self) -> None:
        """Run until ``stop()``; a graceful stop waits for in-flight work (bounded)."""
        graceful = await self._stopped
        told = set(self.connections)  # stop() shut these down
        # A connection asyncio accepted just before the stop joins ``connections`` a
        # turn or two later, when its transport and protocol are made: let those turns
        # run (stop() left the asyncio Server open for them), then shut it down as the
        # others, so its request is answered, not reset when the worker exits.  (A TLS
        # connection still in its handshake joins later still: not waited for.)
        for _ in range(_ACCEPT_TURNS):
            await asyncio.sleep(0)
        for srv in self._servers:
            srv.close()  # (asyncio's: see stop)
        for conn in list(self.connections):
            if conn not in told:
                conn.shutdown()
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

    def write_soon(self, conn: BaseConnection) -> None:
        """Write ``conn``'s finished responses at the end of this loop turn, together with
        every other connection's: the loop first reads all the sockets that are ready,
        then writes.  Writing each response from inside its ``data_received`` made the
        kernel hand it to the client (and wake it) in the middle of the batch, which cost
        a keep-alive benchmark a third of its throughput.  What must leave at once (a
        drain, a sendfile, a close) calls the connection's ``flush`` itself."""
        if not self._write_queue:
            self.loop.call_soon(self._write_queued)
        self._write_queue.append(conn)

    def _write_queued(self) -> None:
        queue, self._write_queue = self._write_queue, []
        for conn in queue:
            conn.flush()

    def stop(self, graceful: bool = True) -> None:
        if self._stopped.done():
            if not graceful:  # a second, fast stop while a graceful one runs
                for conn in list(self.connections):
                    conn.abort()
            return
        self.stopping = True
        for srv in self._servers:
            if isinstance(self.loop, asyncio.selector_events.BaseSelectorEventLoop):
                # asyncio makes the transport of a connection it accepted a turn later,
                # and drops it (unanswered: a reset) if its Server is closed by then
                # (Server._attach asserts): stop accepting now, close in serve().
                for sock in srv.sockets:
                    self.loop.remove_reader(sock.fileno())
            else:
                srv.close()  # uvloop makes the protocol in the accept's own callback
        for conn in list(self.connections):
            conn.shutdown()
        self._stopped.set_result(graceful)

    def count_request(self, request: events.Request) -> None:
        """A request arrived (``dispatch.Site``): counted, and told to the supervision."""
        self.requests_served += 1
        if self.on_request is not None:
            self.on_request(request.method, request.target)

    def reopen_logs(self) -> None:
        self.logs.reopen()

    @property
    def open_connections(self) -> int:
        return len(self.connections)

    def current_requests(self) -> list[str]:
        out = []
        for conn in self.connections:
            s = conn.in_flight()
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
        txn = stream.txn()
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
            gtxid=txn.gtxid,
            ltxid=str(txn.ltxid),
            user=stream.user,
            authorization=_text(auth),
            referer=_text(ref),
            user_agent=_text(ua),
            forwarded_for=_text(xff),
            worker=self.worker_label,
            connections=len(self.connections),
            handle_ms=(first - stream.started) * 1000,
            send_ms=(now - first) * 1000,
            upstream=stream.upstream,
        )
        self.logs.request.write(logmod.format_access(record))


def _text(value: bytes | str | None) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else value.decode("latin-1")
