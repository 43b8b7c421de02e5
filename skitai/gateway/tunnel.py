"""Byte tunnels: a client transport joined to a member's (a WebSocket after its 101, a
forward proxy's CONNECT).

Theory.  Two ``TunnelEnd`` protocols, one per transport, each writing what it reads into
the other.  Backpressure: when one side's transport cannot take more (``pause_writing``),
the other side stops reading until it drains.  A half-close is passed on (``write_eof``)
and the tunnel ends when both directions are closed or either side is lost; an idle
tunnel (no byte either way for ``idle`` seconds) is closed by a timer that re-arms
itself only as often as the timeout, not per read.  What one side sends before the
other is adopted (a CONNECT destination that speaks first: an SSH or SMTP banner, or a
close) is held, that side paused, and delivered at the adoption.
"""

from __future__ import annotations

import asyncio
import logging

log = logging.getLogger("skitai.gateway")


class TunnelEnd(asyncio.Protocol):
    def __init__(self, tunnel: Tunnel, name: str) -> None:
        self.tunnel = tunnel
        self.name = name
        self.transport: asyncio.Transport | None = None
        self.peer: TunnelEnd | None = None
        self.eof = False
        self.closed = False
        self.early = b""  # read before the peer had a transport (see adopt_client)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        peer = self.peer
        self.tunnel.last_io = self.tunnel.loop.time()
        self.tunnel.bytes[self.name] += len(data)
        if peer is not None and not peer.closed:
            if peer.transport is not None:
                peer.transport.write(data)
            else:  # the other side is not adopted yet: held until it is
                self.early += data
                if self.transport is not None:
                    self.transport.pause_reading()

    def eof_received(self) -> bool | None:
        self.eof = True
        peer = self.peer
        if peer is not None and peer.transport is not None and not peer.closed:
            if peer.transport.can_write_eof():
                peer.transport.write_eof()
            else:
                peer.transport.close()
        if peer is None or peer.eof:
            self.tunnel.close()
            return False
        return True  # keep our write side: the other direction may still flow

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.tunnel.close()

    def pause_writing(self) -> None:
        peer = self.peer
        if peer is not None and peer.transport is not None and not peer.closed:
            peer.transport.pause_reading()

    def resume_writing(self) -> None:
        peer = self.peer
        if peer is not None and peer.transport is not None and not peer.closed:
            peer.transport.resume_reading()


class Tunnel:
    """``client`` and ``member`` ends; ``start`` adopts two transports."""

    def __init__(self, loop: asyncio.AbstractEventLoop, idle: float = 600.0) -> None:
        self.loop = loop
        self.idle = idle
        self.client = TunnelEnd(self, "client")
        self.member = TunnelEnd(self, "member")
        self.client.peer, self.member.peer = self.member, self.client
        self.last_io = loop.time()
        self.bytes = {"client": 0, "member": 0}
        self._timer: asyncio.TimerHandle | None = None
        self._closed = False
        self._member_pending = b""

    def adopt_member(self, transport: asyncio.Transport, pending: bytes = b"") -> None:
        """The member side: its transport now feeds the tunnel (``pending``: bytes it sent
        already, past the response head; delivered once the client side is adopted)."""
        self.member.transport = transport
        self._member_pending = pending
        transport.set_protocol(self.member)
        try:
            transport.resume_reading()  # it may have been paused for backpressure
        except (RuntimeError, AttributeError):
            pass

    def adopt_client(self, transport: asyncio.Transport, pending: bytes = b"") -> TunnelEnd:
        """The client side (called by ``Connection.switch_protocol``'s factory)."""
        self.client.transport = transport
        if pending:
            self.client.data_received(pending)
        if self._member_pending:
            data, self._member_pending = self._member_pending, b""
            self.member.data_received(data)
        member = self.member
        if member.early:  # what the member sent before (it was paused meanwhile)
            data, member.early = member.early, b""
            transport.write(data)
            if member.transport is not None and not member.closed:
                try:
                    member.transport.resume_reading()
                except (RuntimeError, AttributeError):
                    pass
        if self._closed:  # the member came and went before: what it said, then the end
            transport.close()
        elif member.eof:  # ... or its half-close
            if transport.can_write_eof():
                transport.write_eof()
            else:
                transport.close()
        self._arm()
        return self.client

    def _arm(self) -> None:
        if self.idle > 0 and not self._closed:
            self._timer = self.loop.call_later(self.idle, self._check_idle)

    def _check_idle(self) -> None:
        if self._closed:
            return
        quiet = self.loop.time() - self.last_io
        if quiet >= self.idle:
            log.info("tunnel idle for %.0fs: closed", quiet)
            self.close()
            return
        self._timer = self.loop.call_later(self.idle - quiet, self._check_idle)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
        for end in (self.client, self.member):
            end.closed = True
            if end.transport is not None and not end.transport.is_closing():
                end.transport.close()
