"""What every connection that owns an asyncio transport shares, server side or client side.

Theory.  ``TransportConnection`` is the ``asyncio.Protocol`` half both kinds of connection
have in common; what is left to the subclasses is the protocol and the registry they live in:

- ``worker.connections.base.BaseConnection`` (a client's connection to a ``Server``) adds
  the server's registry (``Server.connections``), its clock, the end-of-turn flush
  (``write_soon``) and the sweep (``check_timeouts``, ``shutdown``);
- ``upstream.connection.UpstreamConnection`` (the reverse proxy's and ``was``'s
  connection to a member) and ``upstream.h2connection.H2UpstreamConnection`` add the
  member, the response parser and the pool's bookkeeping.

What is here:

- output: ``write()`` buffers, ``flush()`` joins and writes once (an upstream connection
  writes through instead: one request at a time, its head and body go as they come);
- backpressure out: ``pause_writing``/``resume_writing`` from the transport, and
  ``wait_writable(timeout)`` for a producer that must not run ahead of a slow peer (it
  raises ``gone()``, the subclass's own exception, when the peer went meanwhile, and
  ``stalled(timeout)`` when the transport stayed paused that long);
- backpressure in: ``pause_reading``/``resume_reading`` (no-ops once closed);
- the end: ``close(linger)`` (flush, then close; ``linger``: FIN, read and drop for
  ``LINGER`` seconds so a RST cannot destroy what was written), ``abort()``, and
  ``detach()`` when the transport is handed to another protocol (h2c, a WebSocket, a
  tunnel).

Layer 3 (beside ``upstream/``): it imports asyncio only, so the upstream client can use it
without the worker.
"""

from __future__ import annotations

import asyncio

LINGER = 2.0  # seconds a closing connection reads and drops what the peer still sends

Address = tuple[str, int]


def peer_of(transport: asyncio.BaseTransport) -> tuple[Address, Address | None]:
    """(peer address, local address) of a transport; a unix socket's peer is
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


class TransportConnection(asyncio.Protocol):
    """One transport: buffer, flush, drain, pause, close (see the module docstring)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._wbuf: list[bytes] = []
        self._wsize = 0
        self._write_paused = False
        self._drain_waiters: list[asyncio.Future[None]] = []

    # --- what the subclass says -------------------------------------------------------------
    def gone(self) -> Exception:
        """The exception a writer waiting on a peer that went away gets."""
        return ConnectionResetError("the peer closed the connection")

    def stalled(self, timeout: float) -> Exception:
        """The exception of ``wait_writable(timeout)`` when the peer took nothing for
        ``timeout`` seconds."""
        return TimeoutError(f"the peer took nothing for {timeout:g}s")

    # --- the transport --------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses: no isinstance check.
        self.transport = transport  # type: ignore[assignment]  # a stream transport; uvloop's are not asyncio.Transport subclasses

    def detach(self) -> asyncio.Transport | None:
        """The transport now belongs to another protocol: stop using it (returned, for
        the caller to hand over)."""
        self.closed = True
        return self.transport

    # --- output ---------------------------------------------------------------------------
    def write(self, data: bytes) -> None:
        """Buffer ``data``; it leaves at the next ``flush()``."""
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
        self._wake_drained(None)

    async def wait_writable(self, timeout: float | None = None) -> None:
        """Return once the transport takes more (raises ``gone()`` when the peer is gone
        meanwhile, ``stalled(timeout)`` when it stays paused ``timeout`` seconds)."""
        while self._write_paused:
            if self.closed:
                raise self.gone()
            waiter: asyncio.Future[None] = self.loop.create_future()
            self._drain_waiters.append(waiter)
            if timeout is None:
                await waiter
                continue
            handle = self.loop.call_later(timeout, self._stall, waiter, timeout)
            try:
                await waiter
            finally:
                handle.cancel()
        if self.closed:
            raise self.gone()

    def _stall(self, waiter: asyncio.Future[None], timeout: float) -> None:
        if not waiter.done():
            waiter.set_exception(self.stalled(timeout))

    def _wake_drained(self, error: BaseException | None) -> None:
        waiters, self._drain_waiters = self._drain_waiters, []
        for waiter in waiters:
            if not waiter.done():
                if error is None:
                    waiter.set_result(None)
                else:
                    waiter.set_exception(error)

    # --- input ----------------------------------------------------------------------------
    def pause_reading(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.resume_reading()

    # --- the end ----------------------------------------------------------------------------
    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._drain_waiters:
            self._wake_drained(self.gone())

    def close(self, linger: bool = False) -> None:
        """Flush and close (``linger``: let the peer's unread input drain first)."""
        transport = self.transport
        if self.closed or transport is None:
            return
        self.flush()
        self.closed = True
        if linger:
            close_lingering(self.loop, transport)
        else:
            transport.close()

    def abort(self) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.abort()
        self.closed = True
