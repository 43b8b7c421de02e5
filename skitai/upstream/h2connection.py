"""One HTTP/2 connection to a backend member over TLS, shared by many requests.

Theory.  When a member's TLS handshake selects ``h2`` by ALPN (the pool offers ``h2``
and ``http/1.1``; ``AlpnSwitch`` picks the protocol object once the handshake is done),
the pool keeps one ``H2UpstreamConnection`` per member and multiplexes every request to
that member over it, one stream each, instead of a keep-alive pool of HTTP/1.1
connections.  The protocol work is the ``h2`` library's (a sans-IO state machine, as the
server side uses); this module moves bytes and events between it and the streams.

Each stream's answer is an ``H2ResponseStream``: a ``ResponseStream`` (the same reader
API the reverse proxy and ``was`` use: ``head``/``read``/``body``/``take``/``release``,
the watchdog's timeouts) whose ``conn`` is a per-stream ``StreamChannel``, so what the
HTTP/1.1 reader does to "its connection" maps onto the stream: pausing the reader holds
back the flow-control credit (the member stops sending on that stream), closing it resets
the stream (RST_STREAM CANCEL), never the shared connection.

Limits and failures:
- the member's ``SETTINGS_MAX_CONCURRENT_STREAMS``: a request waits for a free stream
  (within its timeout) rather than overrunning it;
- request bodies follow the member's flow-control windows (a task waits for
  WINDOW_UPDATE when a body does not fit);
- GOAWAY: no new stream goes on the connection (the pool opens another), the streams
  it still covers run to their end (a member's graceful shutdown); streams the
  member says it never processed (above its last stream id), and streams it refuses
  (RST_STREAM REFUSED_STREAM), fail with ``H2Refused`` (``sent=False``), which the pool
  retries on a new connection to the same member;
- a reset stream fails its response; a dropped connection fails every open stream (a
  ``ResponseStream`` error, as when an HTTP/1.1 member closes mid-response).
"""

from __future__ import annotations

import asyncio
import collections
import http
import logging
from collections.abc import AsyncIterable, Callable, Iterable
from typing import Final

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings
import hpack.hpack

from skitai import h2repr  # noqa: F401 - side effect: received frames cost less (see there)
from skitai.config.aliases import Member
from skitai.transport import TransportConnection
from skitai.upstream.connection import (
    Headers,
    ResponseStream,
    UpstreamConnection,
    UpstreamError,
    UpstreamTimeout,
)

log = logging.getLogger("skitai.upstream")

# Our receive windows: a stream may have 1 MiB in flight (a fast member is not throttled
# by round trips), the connection 16 MiB (many streams at once).
STREAM_WINDOW: Final = 1 << 20
CONNECTION_WINDOW: Final = 16 << 20
MAX_HEADER_LIST: Final = 64 * 1024
# Request headers that are HTTP/1.1 connection details, never sent in HTTP/2.
_NOT_H2: Final = frozenset({b"content-length", b"transfer-encoding", b"connection",
                            b"keep-alive", b"upgrade", b"te", b"proxy-connection", b"host"})


class _Quiet:
    """hpack calls ``log.debug`` for every integer and field it codes, a real logger's
    call each (a tenth of a small request's cost).  Unless hpack's logger is set to DEBUG
    on purpose it gets this stand-in (as the server's HTTP/2 protocol does)."""

    def debug(self, *args: object, **kwargs: object) -> None:
        pass

    def isEnabledFor(self, level: int) -> bool:  # noqa: N802  # logging.Logger's name: the server's module asks it
        return False


_hpack_log = hpack.hpack.log
if isinstance(_hpack_log, logging.Logger) and not _hpack_log.isEnabledFor(logging.DEBUG):
    hpack.hpack.log = _Quiet()  # type: ignore[assignment]  # hpack's module logger, swapped for a quiet stand-in


class H2Refused(UpstreamError):
    """The member did not process the request (GOAWAY above it, REFUSED_STREAM): safe to
    send again, on a new connection, to the same member."""

    def __init__(self, message: str, *, member: str = "") -> None:
        super().__init__(message, sent=False, member=member)


class AlpnSwitch(asyncio.Protocol):
    """The protocol a TLS connect starts with: once the handshake is done (ALPN known) it
    hands the transport to an ``H2UpstreamConnection`` or an ``UpstreamConnection``,
    before any byte of the member's can arrive."""

    def __init__(self, member: Member, loop: asyncio.AbstractEventLoop) -> None:
        self.member = member
        self.loop = loop
        self.chosen: UpstreamConnection | H2UpstreamConnection | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        ssl_object = transport.get_extra_info("ssl_object")
        alpn = ssl_object.selected_alpn_protocol() if ssl_object is not None else None
        chosen: UpstreamConnection | H2UpstreamConnection
        if alpn == "h2":
            chosen = H2UpstreamConnection(self.member, self.loop)
        else:
            chosen = UpstreamConnection(self.member, self.loop)
        self.chosen = chosen
        transport.set_protocol(chosen)
        chosen.connection_made(transport)


class H2UpstreamConnection(TransportConnection):
    """A client HTTP/2 connection to one member, shared by concurrent requests (the
    transport, its backpressure and its end are ``TransportConnection``'s; the frames
    leave through ``_flush``, h2's output, not the write buffer)."""

    def __init__(self, member: Member, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop)
        self.member = member
        self.goaway = False  # the member sent GOAWAY: no new stream here
        self.retiring = False  # the pool let go of it: closed when its last stream ends
        self.last_used = loop.time()
        self.requests = 0
        self.streams: dict[int, H2ResponseStream] = {}
        self._authority = member.netloc.encode("idna")
        self._conn_credit = 0  # connection window consumed and not yet given back
        # Outbound fields are checked here (``start``: lower-cased names, no
        # connection-specific fields, no control characters, no surrounding blanks), so
        # h2's per-field re-validation is skipped (speed); inbound keeps h2's validation
        # (its normalizing only joins a request's cookie crumbs: off for responses).
        self._h2 = h2.connection.H2Connection(h2.config.H2Configuration(
            client_side=True, header_encoding=None, validate_outbound_headers=False,
            normalize_outbound_headers=False, normalize_inbound_headers=False))
        self._slot_waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._window_waiters: list[asyncio.Future[None]] = []
        self._flush_soon = False  # a write is scheduled for this turn of the loop
        # The member's first SETTINGS came: until then its stream limit is unknown (h2
        # assumes none) and no stream goes out, so none is refused for exceeding it.
        self._settings_seen = False

    # --- asyncio.Protocol ---------------------------------------------------------------
    def gone(self) -> UpstreamError:
        return UpstreamError("the member closed the connection", member=self.member.label)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        conn = self._h2
        conn.initiate_connection()
        conn.update_settings({
            h2.settings.SettingCodes.ENABLE_PUSH: 0,
            h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: STREAM_WINDOW,
            h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE: MAX_HEADER_LIST,
        })
        conn.increment_flow_control_window(CONNECTION_WINDOW - 65535)
        self._flush()

    def data_received(self, data: bytes) -> None:
        try:
            events = self._h2.receive_data(data)
        except h2.exceptions.ProtocolError as exc:
            self._flush()
            self._fail_all(UpstreamError(f"HTTP/2 protocol error from the member: {exc}",
                                         member=self.member.label))
            self.close()
            return
        for event in events:
            self._event(event)
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self._fail_all(None)
        self._wake_windows()
        self._wake_slots()

    def resume_writing(self) -> None:
        super().resume_writing()
        self._wake_windows()

    # --- events ---------------------------------------------------------------------------
    def _event(self, event: h2.events.Event) -> None:
        if isinstance(event, h2.events.DataReceived):
            size = event.flow_controlled_length or 0
            self._credit_connection(size)
            stream = self.streams.get(event.stream_id or 0)
            if stream is not None:
                stream.on_h2_data(event.data or b"", size)
        elif isinstance(event, h2.events.ResponseReceived):
            stream = self.streams.get(event.stream_id or 0)
            if stream is not None:
                stream.on_h2_headers(event.headers or [])
        elif isinstance(event, h2.events.InformationalResponseReceived):
            pass  # 100 Continue, 103: the final answer follows
        elif isinstance(event, h2.events.TrailersReceived):
            stream = self.streams.get(event.stream_id or 0)
            if stream is not None:
                stream.trailers = [(bytes(n), bytes(v)) for n, v in event.headers or []]
        elif isinstance(event, h2.events.StreamEnded):
            stream = self.streams.get(event.stream_id or 0)
            if stream is not None:
                stream.on_h2_end()
            self._wake_slots()
        elif isinstance(event, h2.events.StreamReset):
            self._reset_by_member(event.stream_id or 0, event.error_code)
        elif isinstance(event, h2.events.WindowUpdated):
            self._wake_windows()
        elif isinstance(event, h2.events.RemoteSettingsChanged):
            self._settings_seen = True
            self._wake_slots()
            self._wake_windows()
        elif isinstance(event, h2.events.ConnectionTerminated):
            self._goaway(event.last_stream_id, event.error_code)

    def _reset_by_member(self, stream_id: int, code: h2.errors.ErrorCodes | int | None) -> None:
        stream = self.streams.get(stream_id)
        if stream is None:
            return
        label = self.member.label
        if stream.complete:
            # The whole answer came, then RST_STREAM (NO_ERROR: "stop sending the
            # request body", RFC 9113 8.1): the answer stands.
            if stream.sender is not None:
                stream.sender.cancel()
            return
        if code == h2.errors.ErrorCodes.REFUSED_STREAM and not stream.received:
            stream.fail(H2Refused(f"{label} refused the stream", member=label))
        else:
            stream.fail(UpstreamError(f"{label} reset the stream ({_code(code)})", member=label))
        self._wake_slots()

    def _goaway(self, last_stream_id: int | None, code: h2.errors.ErrorCodes | int | None) -> None:
        self.goaway = True
        last = last_stream_id or 0
        label = self.member.label
        for sid, stream in list(self.streams.items()):
            if sid > last:
                stream.fail(H2Refused(f"{label} went away ({_code(code)}) before the request",
                                      member=label))
        if code not in (None, h2.errors.ErrorCodes.NO_ERROR):
            log.warning("%s: GOAWAY %s", label, _code(code))
        if not self.streams:
            self.close()
        else:
            # h2 closes its state machine on a GOAWAY it receives (python-hyper/h2#1181),
            # yet the streams at or below the last id may still finish (RFC 9113 6.8): it
            # is reopened for them, and no new stream goes out here (``self.goaway``).
            self._h2.state_machine.state = h2.connection.ConnectionState.CLIENT_OPEN
        self._wake_slots()

    def _fail_all(self, error: UpstreamError | None) -> None:
        for stream in list(self.streams.values()):
            if error is None:
                stream.lost(None)
            else:
                stream.fail(error)

    # --- used by the pool -------------------------------------------------------------------
    def usable(self, keep_alive: float) -> bool:
        """May take a new stream (an idle connection older than ``keep_alive`` is not:
        the member's own idle timeout must never race a request)."""
        if self.closed or self.goaway or self.retiring or self.transport is None or \
                self.transport.is_closing():
            return False
        if self._h2.state_machine.state == h2.connection.ConnectionState.CLOSED:
            return False
        return bool(self.streams) or self.loop.time() - self.last_used < keep_alive

    async def request(self, method: bytes, target: bytes, headers: Iterable[tuple[bytes, bytes]],
                      body: bytes | AsyncIterable[bytes] | None, timeout: float, *,
                      length: int | None = None,
                      trailers: Callable[[], Headers] | None = None) -> H2ResponseStream:
        """Open a stream (waiting for a free one within ``timeout``), send the request
        head and its body (a body that does not fit the window goes from a task: the
        response's ``sender``; ``trailers``, read when a streamed body ends, close it)."""
        await self._slot(timeout)
        return self.start(method, target, headers, body, timeout, length=length,
                          trailers=trailers)

    def has_slot(self) -> bool:
        """A stream may open now without waiting (counted from our side: conservative)."""
        return self._settings_seen and \
            len(self.streams) < self._h2.remote_settings.max_concurrent_streams

    def start(self, method: bytes, target: bytes, headers: Iterable[tuple[bytes, bytes]],
              body: bytes | AsyncIterable[bytes] | None, timeout: float, *,
              length: int | None = None,
              trailers: Callable[[], Headers] | None = None) -> H2ResponseStream:
        """Open a stream now (the caller saw a free one) and send the request."""
        if self.closed or self.goaway:
            raise H2Refused(f"the connection to {self.member.label} is closing",
                            member=self.member.label)
        conn = self._h2
        try:
            sid = conn.get_next_available_stream_id()
        except h2.exceptions.NoAvailableStreamIDError:  # 2**30 streams: time for another
            self.goaway = True
            raise H2Refused(f"no stream id left on the connection to {self.member.label}",
                            member=self.member.label) from None
        stream = H2ResponseStream(self, sid, method)
        out: Headers = [(b":method", method), (b":scheme", b"https"), (b":path", target or b"/")]
        authority = self._authority
        rest: Headers = []
        for name, value in headers:
            low = name.lower()
            if b"\0" in value or b"\r" in value or b"\n" in value or not _token(low):
                # h2 would not send it, and a member that got it would end the whole
                # connection (a protocol error): refuse this request alone.
                raise UpstreamError(f"invalid header field {name!r} for {self.member.label}",
                                    sent=False, member=self.member.label)
            value = value.strip(b" \t")
            if low == b"host":
                authority = value
            elif low not in _NOT_H2:
                rest.append((low, value))
            elif low == b"te" and value.lower() == b"trailers":
                rest.append((low, b"trailers"))  # the one TE HTTP/2 allows (gRPC sends it)
        out.insert(1, (b":authority", authority))
        if isinstance(body, bytes):
            if body or method not in (b"GET", b"HEAD", b"DELETE", b"OPTIONS", b"TRACE"):
                rest.append((b"content-length", str(len(body)).encode()))
        elif body is not None and length is not None:
            rest.append((b"content-length", str(length).encode()))
        end = body is None or body == b""
        try:
            conn.send_headers(sid, out + rest, end_stream=end)
        except h2.exceptions.ProtocolError as exc:
            raise UpstreamError(f"cannot send the request to {self.member.label}: {exc}",
                                sent=False, member=self.member.label) from None
        self.streams[sid] = stream
        self.requests += 1
        if isinstance(body, bytes) and body:
            if not self._send_now(sid, body):
                stream.sender = asyncio.ensure_future(self._send_body(sid, _one(body), timeout))
        elif body is not None and not isinstance(body, bytes):
            stream.sender = asyncio.ensure_future(self._send_body(sid, body, timeout, trailers))
        if stream.sender is not None:
            stream.sender.add_done_callback(_sent)
        if not self._flush_soon:
            # The requests started in this turn of the loop leave in one write (one TLS
            # record and send instead of one per request).
            self._flush_soon = True
            self.loop.call_soon(self._flush_later)
        return stream

    def _send_now(self, sid: int, data: bytes) -> bool:
        """Send a whole body that fits the windows now; False (nothing sent) otherwise."""
        conn = self._h2
        if len(data) > conn.local_flow_control_window(sid) or self._write_paused:
            return False
        size = conn.max_outbound_frame_size
        for i in range(0, len(data), size):
            conn.send_data(sid, data[i:i + size])
        conn.end_stream(sid)
        return True

    async def _send_body(self, sid: int, body: AsyncIterable[bytes], timeout: float,
                         trailers: Callable[[], Headers] | None = None) -> None:
        conn = self._h2
        async for data in body:
            view = memoryview(data)
            while view:
                if self.closed:
                    raise UpstreamError("the member closed the connection",
                                        member=self.member.label)
                if sid not in self.streams:
                    return  # the response is over (reset, released)
                window = min(conn.local_flow_control_window(sid), conn.max_outbound_frame_size)
                if window <= 0 or self._write_paused:
                    await self._wait_window(timeout)
                    continue
                conn.send_data(sid, bytes(view[:window]))
                view = view[window:]
                self._flush()
        if sid in self.streams and not self.closed:
            fields = [(name.lower(), value) for name, value in trailers()] if trailers else []
            if fields:
                conn.send_headers(sid, fields, end_stream=True)  # the request's trailers
            else:
                conn.end_stream(sid)
            self._flush()
        stream = self.streams.get(sid)
        if stream is not None and stream.deadline:
            stream.deadline = self.loop.time() + timeout  # the member's time starts now

    async def _wait_window(self, timeout: float) -> None:
        waiter = self.loop.create_future()
        self._window_waiters.append(waiter)
        try:
            await asyncio.wait_for(waiter, timeout)
        except TimeoutError:
            raise UpstreamTimeout(f"{self.member.label} did not take the request body within "
                                  f"{timeout:g}s", member=self.member.label) from None
        finally:
            if waiter in self._window_waiters:
                self._window_waiters.remove(waiter)

    async def _slot(self, timeout: float) -> None:
        """Wait until the member allows one more concurrent stream."""
        conn = self._h2
        # Our own streams bound h2's count of open ones (a stream stays ours until its
        # reader is done): only near the limit is h2 asked (it walks every stream).
        while not self.closed and not self.goaway and (not self._settings_seen or (
               len(self.streams) >= conn.remote_settings.max_concurrent_streams and
               conn.open_outbound_streams >= conn.remote_settings.max_concurrent_streams)):
            waiter = self.loop.create_future()
            self._slot_waiters.append(waiter)
            try:
                await asyncio.wait_for(waiter, timeout)
            except TimeoutError:
                raise UpstreamTimeout(
                    f"no free HTTP/2 stream to {self.member.label} within {timeout:g}s",
                    sent=False, member=self.member.label) from None
            finally:
                if waiter in self._slot_waiters:
                    self._slot_waiters.remove(waiter)

    def _credit_connection(self, size: int) -> None:
        """The connection's window is given back as data arrives, whatever its stream's
        reader does: a paused stream holds back its own window only, never the others'."""
        self._conn_credit += size
        if self._conn_credit >= CONNECTION_WINDOW // 4:
            credit, self._conn_credit = self._conn_credit, 0
            self._h2.increment_flow_control_window(credit)

    def credit_stream(self, sid: int, size: int) -> None:
        """Give a stream's window back (its reader took the bytes)."""
        if size and not self.closed:
            try:
                self._h2.increment_flow_control_window(size, stream_id=sid)
            except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError):
                return  # the stream ended meanwhile: no window to give
            self._flush()

    def forget(self, sid: int, reset: bool) -> None:
        """A response is over for its reader: reset the stream if it still runs."""
        self.streams.pop(sid, None)
        self.last_used = self.loop.time()
        if reset and not self.closed:
            try:
                self._h2.reset_stream(sid, h2.errors.ErrorCodes.CANCEL)
            except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError):
                pass  # already closed on both sides
            else:
                self._flush()
        self._wake_slots()
        if (self.goaway or self.retiring) and not self.streams:
            self.close()

    def retire(self) -> None:
        """The pool no longer hands this connection out: close it now if it is idle,
        else once its last stream ends."""
        self.retiring = True
        if not self.streams:
            self.close()

    def close(self, linger: bool = False) -> None:
        """GOAWAY, then close."""
        if not self.closed and self.transport is not None and not self.transport.is_closing():
            try:
                self._h2.close_connection()
                self._flush()
            except h2.exceptions.ProtocolError:
                pass
        super().close(linger)

    # --- internals -----------------------------------------------------------------------------
    def _flush_later(self) -> None:
        self._flush_soon = False
        self._flush()

    def _flush(self) -> None:
        data = self._h2.data_to_send()
        if data and self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def _wake_slots(self) -> None:
        while self._slot_waiters:
            waiter = self._slot_waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)

    def _wake_windows(self) -> None:
        waiters, self._window_waiters = self._window_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)


class StreamChannel(UpstreamConnection):
    """What a ``ResponseStream`` takes for its connection, for one HTTP/2 stream: pausing
    holds back flow-control credit, closing resets the stream, and the stream never goes
    back to an idle pool (the shared connection stays with the pool)."""

    def __init__(self, owner: H2UpstreamConnection, sid: int) -> None:
        super().__init__(owner.member, owner.loop)
        self.owner = owner
        self.sid = sid
        self.transport = owner.transport
        self.unacked = 0  # stream window consumed and not yet given back
        self.paused = False

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        self.paused = False
        if self.unacked:
            size, self.unacked = self.unacked, 0
            self.owner.credit_stream(self.sid, size)

    def write(self, data: bytes) -> None:
        raise UpstreamError("an HTTP/2 stream is written through its connection",
                            member=self.member.label)

    def finished(self, reusable: bool) -> bool:
        if not self.closed:
            self.closed = True
            self.owner.forget(self.sid, reset=not reusable)
        return False

    def detach(self) -> asyncio.Transport | None:
        return None  # a stream has no transport of its own to hand over

    def close(self, linger: bool = False) -> None:
        if not self.closed:
            self.closed = True
            self.owner.forget(self.sid, reset=True)


class H2ResponseStream(ResponseStream):
    """The member's answer on one stream (the ``ResponseStream`` reader API)."""

    __slots__ = ("channel", "stream_id")

    def __init__(self, owner: H2UpstreamConnection, sid: int, method: bytes) -> None:
        channel = StreamChannel(owner, sid)
        super().__init__(channel, method)
        self.channel = channel
        self.stream_id = sid

    def on_h2_headers(self, headers: list[tuple[bytes, bytes]]) -> None:
        # h2 validated the block: ``:status`` is its one pseudo-field, and comes first.
        status = int(headers[0][1]) if headers and headers[0][0] == b":status" else 0
        self.received += 1  # something came (the body's bytes are counted as they come)
        self.status = status
        self.reason = _REASONS.get(status, b"")
        fields = self.headers = headers[1:]
        # What the HTTP/1.1 parser notes per field (``on_header``), for the relay: an h2
        # block has no hop-by-hop field (h2 refused them), but its Content-Length counts.
        self.hop = False
        self.length = -1
        for name, value in fields:
            if name == b"content-length" and value.isdigit():
                self.length = int(value)
        self._in_head = False
        ready = self._head_ready
        if ready is not None and not ready.done():
            ready.set_result(None)
        if self.listener is not None:
            self.listener(self)

    def on_h2_data(self, data: bytes, flow_controlled: int) -> None:
        self.received += len(data)
        self.on_body(data)  # queues it; above HIGH_WATER it pauses (self.channel.paused)
        channel = self.channel
        channel.unacked += flow_controlled
        # Given back in quarters of the window (fewer WINDOW_UPDATEs), and not while the
        # reader is behind: then the member stops sending on this stream.
        if not channel.paused and channel.unacked >= STREAM_WINDOW // 4:
            size, channel.unacked = channel.unacked, 0
            channel.owner.credit_stream(self.stream_id, size)
        if self.listener is not None:
            self.listener(self)

    def on_h2_end(self) -> None:
        if self.status:
            self._end(reusable=True)
            if self.listener is not None:
                self.listener(self)
        else:
            self.fail(UpstreamError("the member ended the stream without a response",
                                    member=self.member.label))

    def fail(self, error: UpstreamError) -> None:
        self._fail(error)
        if self.listener is not None:
            self.listener(self)

    def lost(self, exc: Exception | None) -> None:
        super().lost(exc)
        if self.listener is not None:
            self.listener(self)


_TCHARS: Final = b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz"


def _token(name: bytes) -> bool:
    """A lower-case field name of token characters (RFC 9110 5.1)."""
    return bool(name) and not name.translate(None, _TCHARS)


_REASONS: Final = {s.value: s.phrase.encode() for s in http.HTTPStatus}


def _sent(task: asyncio.Future[None]) -> None:
    """A request body that failed to go out (the response reports the failure)."""
    if not task.cancelled() and task.exception() is not None:
        log.debug("request body to a member failed: %s", task.exception())


async def _one(data: bytes) -> AsyncIterable[bytes]:
    yield data


def _code(code: h2.errors.ErrorCodes | int | None) -> str:
    if isinstance(code, h2.errors.ErrorCodes):
        return code.name
    return str(code)
