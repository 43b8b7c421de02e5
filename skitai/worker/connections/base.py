"""What every server-side connection shares: it owns the transport.

Theory.  A connection is an ``asyncio.Protocol`` that one ``Server`` counts in
``Server.connections``.  The base holds what used to be copied into each protocol:

- the write buffer: ``write()`` appends, ``flush()`` joins and writes once; ``write_soon()``
  asks the server to flush at the end of the loop turn (``Server.write_soon``), so the
  loop reads every ready socket before it writes to any;
- backpressure out: ``pause_writing``/``resume_writing`` from the transport, and
  ``wait_writable()`` for a producer that must not run ahead of a slow client;
- the end: ``close(linger)`` (flush, FIN, read and drop for ``LINGER`` seconds so a RST
  cannot destroy the response), ``abort()``, and ``detach()`` when the transport is handed
  to another protocol (h2c, WebSocket);
- the sweep: ``Server`` calls ``check_timeouts(now)`` once a second and ``shutdown()`` at a
  graceful stop; each protocol says what a timeout and a graceful end mean for it.

A new kind of connection (the reverse proxy's upstream connection) subclasses this and
implements ``data_received``, ``check_timeouts`` and ``shutdown``.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from skitai.worker.stream import ClientDisconnected, Stream

if TYPE_CHECKING:
    from skitai.worker.server import Server

LINGER = 2.0  # seconds a closing connection reads and drops what the peer still sends

Address = tuple[str, int]


def peer_of(transport: asyncio.BaseTransport) -> tuple[Address, Address | None]:
    """(client address, local address) of a transport; a unix socket's client is
    ``("unix", 0)`` and it has no local (host, port)."""
    peer = transport.get_extra_info("peername")
    client = (str(peer[0]), int(peer[1])) if isinstance(peer, tuple) else ("unix", 0)
    sockname = transport.get_extra_info("sockname")
    local = (str(sockname[0]), int(sockname[1])) if isinstance(sockname, tuple) else None
    return client, local


def is_tls(transport: asyncio.BaseTransport | None) -> bool:
    return transport is not None and transport.get_extra_info("ssl_object") is not None


def close_lingering(loop: asyncio.AbstractEventLoop, transport: asyncio.WriteTransport) -> None:
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
        transport.write_eof()
    except (OSError, RuntimeError):
        transport.close()
        return
    loop.call_later(LINGER, _close_transport, transport)


def _close_transport(transport: asyncio.BaseTransport) -> None:
    if not transport.is_closing():
        transport.close()


class BaseConnection(asyncio.Protocol):
    """One transport of a ``Server``: buffer, flush, drain, close, sweep."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.loop = server.loop
        self.transport: asyncio.Transport | None = None
        self.client: Address | None = None
        self.sockname: Address | None = None
        self.closed = False
        self.last_io = server.clock
        self._wbuf: list[bytes] = []
        self._wsize = 0
        self._write_paused = False
        self._drain_waiters: list[asyncio.Future[None]] = []

    # --- the transport --------------------------------------------------------------------
    def take_transport(self, transport: asyncio.BaseTransport) -> bool:
        """Adopt ``transport`` and join the server's connections; False when that makes
        too many (the subclass turns the client away its own way)."""
        # uvloop's transports are not asyncio.Transport subclasses: no isinstance check.
        self.transport = transport  # type: ignore[assignment]  # a listener's transport is a Transport; uvloop's are not its subclasses
        if self.client is None:
            self.client, self.sockname = peer_of(transport)
        server = self.server
        server.connections.add(self)
        return len(server.connections) <= server.config.max_connections

    def detach(self) -> None:
        """The transport now belongs to another protocol (h2c, WebSocket): stop using it."""
        self.closed = True
        self.server.connections.discard(self)

    # --- output ---------------------------------------------------------------------------
    def write(self, data: bytes) -> None:
        """Buffer ``data``; it leaves at the next ``flush()``."""
        if data:
            self._wbuf.append(data)
            self._wsize += len(data)

    def write_soon(self, data: bytes = b"") -> None:
        """Buffer ``data`` and flush at the end of this loop turn, with every other
        connection's output (a second call in the same turn queues nothing more)."""
        if not self._wbuf:
            self.server.write_soon(self)
        if data:
            self._wbuf.append(data)
            self._wsize += len(data)

    def flush(self) -> None:
        """Write what is buffered, as one ``write()``."""
        if self._wbuf and self.transport is not None and not self.closed:
            data = self._wbuf[0] if len(self._wbuf) == 1 else b"".join(self._wbuf)
            self._wbuf.clear()
            self._wsize = 0
            self.transport.write(data)

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        self.last_io = self.server.clock
        self._wake_drained(None)

    async def wait_writable(self) -> None:
        """Return once the transport takes more (raises ``ClientDisconnected`` when the
        peer is gone meanwhile)."""
        while self._write_paused:
            if self.closed:
                raise ClientDisconnected("client disconnected")
            waiter: asyncio.Future[None] = self.loop.create_future()
            self._drain_waiters.append(waiter)
            await waiter
        if self.closed:
            raise ClientDisconnected("client disconnected")

    def _wake_drained(self, error: BaseException | None) -> None:
        waiters, self._drain_waiters = self._drain_waiters, []
        for waiter in waiters:
            if not waiter.done():
                if error is None:
                    waiter.set_result(None)
                else:
                    waiter.set_exception(error)

    # --- the end ----------------------------------------------------------------------------
    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.server.connections.discard(self)
        self._wake_drained(ClientDisconnected("client disconnected"))

    def close(self, linger: bool = False) -> None:
        """Flush and close (``linger``: let the peer's unread input drain first)."""
        transport = self.transport
        if self.closed or transport is None:
            return
        self.flush()
        self.closed = True
        self.server.connections.discard(self)
        if linger:
            close_lingering(self.loop, transport)
        else:
            transport.close()

    def abort(self) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.abort()
        self.closed = True
        self.server.connections.discard(self)

    # --- what the Server's sweep and stop call ----------------------------------------------
    def in_flight(self) -> Stream | None:
        """A request in flight on this connection (for ``Server.current_requests``)."""
        return None

    def check_timeouts(self, now: float) -> None:
        raise NotImplementedError

    def shutdown(self) -> None:
        """Graceful stop: finish what is in flight, then close."""
        raise NotImplementedError
