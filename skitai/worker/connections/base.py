"""What every server-side connection shares: a transport (``skitai.transport``) that one
``Server`` counts.

Theory.  A connection is a ``TransportConnection`` (the write buffer and flush, the
drain waiters, pause/resume, close/linger/abort: see ``skitai/transport.py``, which the
upstream connections build on too) that one ``Server`` counts in ``Server.connections``.
This class adds what belongs to the server:

- the registry: ``take_transport()`` joins ``Server.connections`` (and says when that
  makes too many), ``close``/``abort``/``detach``/``connection_lost`` leave it;
- ``write_soon()``: buffer and ask the server to flush at the end of the loop turn
  (``Server.write_soon``), so the loop reads every ready socket before it writes to any;
- ``last_io`` on the server's clock, and the sweep: ``Server`` calls
  ``check_timeouts(now)`` once a second and ``shutdown()`` at a graceful stop; each
  protocol says what a timeout and a graceful end mean for it;
- a writer waiting on a client that went away gets ``ClientDisconnected``.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from skitai.transport import Address, TransportConnection, peer_of
from skitai.worker.stream import ClientDisconnected, Stream

if TYPE_CHECKING:
    from skitai.worker.server import Server


class BaseConnection(TransportConnection):
    """One transport of a ``Server``: the registry, the end-of-turn flush, the sweep."""

    def __init__(self, server: Server) -> None:
        super().__init__(server.loop)
        self.server = server
        self.client: Address | None = None
        self.sockname: Address | None = None
        self.last_io = server.clock

    def gone(self) -> Exception:
        return ClientDisconnected("client disconnected")

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
    def write_soon(self, data: bytes = b"") -> None:
        """Buffer ``data`` and flush at the end of this loop turn, with every other
        connection's output (a second call in the same turn queues nothing more)."""
        if not self._wbuf:
            self.server.write_soon(self)
        if data:
            self._wbuf.append(data)
            self._wsize += len(data)

    def resume_writing(self) -> None:
        self._write_paused = False
        self.last_io = self.server.clock
        self._wake_drained(None)

    # --- the end ----------------------------------------------------------------------------
    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self.server.connections.discard(self)

    def close(self, linger: bool = False) -> None:
        """Flush and close (``linger``: let the peer's unread input drain first)."""
        if not self.closed and self.transport is not None:
            self.server.connections.discard(self)
            super().close(linger)

    def abort(self) -> None:
        super().abort()
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
