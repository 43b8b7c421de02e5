"""One HTTP/1.1 connection to a backend member, and the response read from it.

Theory.  ``UpstreamConnection`` is a ``skitai.transport.TransportConnection`` on the
worker's loop (the client-side twin of the server's connections, which build on the same
class: the transport, its backpressure and its end are that class's): it writes one
well-framed request at a time (no pipelining) and feeds what the member answers into a ``ResponseStream``, parsed
by ``httptools`` (llhttp) in its strict mode, so the member's framing is judged by the
same parser that judges clients: bad chunking, Content-Length with Transfer-Encoding, a
head over ``MAX_HEAD`` bytes are errors (``UpstreamError``, a 502 to the caller), and a
member that closes in the middle of a framed body is an error too, never a short
complete-looking body.  A body that the member delimits by closing (no length, not
chunked) ends at the close.

Backpressure: the response body is queued until the reader takes it; above
``HIGH_WATER`` queued bytes the connection stops reading from the member, and resumes
below ``LOW_WATER``.  Writes go straight to the transport (one request at a time: its
head and body leave as they come) and a streamed body waits on ``wait_writable()`` while
the transport is paused.

Reuse: a connection goes back to its pool only when the response ended cleanly, both
sides allow keep-alive, and the member sent nothing beyond the response.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable
from typing import Final

import httptools

from skitai.config.aliases import Member
from skitai.transport import TransportConnection

MAX_HEAD: Final = 64 * 1024
# Response fields that concern one hop only (RFC 9110 7.6.1), as a proxy drops them; a
# response without any (the usual one) is relayed with its header list as it is.
HOP_BY_HOP: Final = frozenset({
    b"connection", b"keep-alive", b"proxy-connection", b"te", b"trailer",
    b"transfer-encoding", b"upgrade", b"proxy-authorization", b"proxy-authenticate",
    b"http2-settings"})
HIGH_WATER: Final = 256 * 1024
LOW_WATER: Final = 64 * 1024

Headers = list[tuple[bytes, bytes]]


class UpstreamError(Exception):
    """A member failed.  ``status_hint`` is what a proxy answers (502, or 504 for a
    timeout); ``sent`` says whether any byte of the request may have reached the member
    (a request is retried elsewhere only when it is safe)."""

    status_hint = 502

    def __init__(self, message: str, *, sent: bool = True, member: str = "") -> None:
        super().__init__(message)
        self.sent = sent
        self.member = member


class UpstreamTimeout(UpstreamError):
    status_hint = 504


class UpstreamConnection(TransportConnection):
    """A client connection to one member."""

    def __init__(self, member: Member, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop)
        self.member = member
        self.last_used = loop.time()
        self.requests = 0
        self.response: ResponseStream | None = None
        # The last response, kept for the next request (its parser goes on with the
        # next message): no parser, deque or reference cycle made per request.
        self.spare: ResponseStream | None = None
        self.member_state: object = None  # the pool's state of this member (pool._state_of)
        self.watchdog: Watchdog | None = None  # the loop's (found once)

    def gone(self) -> UpstreamError:
        return UpstreamError("the member closed the connection", member=self.member.label)

    def stalled(self, timeout: float) -> UpstreamTimeout:
        return UpstreamTimeout(f"{self.member.label} did not answer within {timeout:g}s",
                               member=self.member.label)

    # --- asyncio.Protocol ---------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        response = self.response
        if response is None:
            # Bytes while no request is out: a member that broke the protocol, or one
            # announcing its close.  Never reuse this connection.
            self.close()
            return
        response.feed(data)
        if response.listener is not None:
            response.listener(response)

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        response = self.response
        if response is not None:
            response.lost(exc)
            if response.listener is not None:
                response.listener(response)

    # --- used by the pool -------------------------------------------------------------------
    def start(self, method: bytes, head: bytes) -> ResponseStream:
        """Write a request head; returns the response it will get."""
        if self.closed or self.transport is None:
            raise UpstreamError("connection closed", sent=False, member=self.member.label)
        self.requests += 1
        response = self.spare
        if response is None:
            response = ResponseStream(self, method)
        else:
            self.spare = None
            response.reset(method)
        self.response = response
        self.transport.write(head)
        return response

    def write(self, data: bytes) -> None:
        """Write through (nothing is buffered: see the module docstring)."""
        if self.closed or self.transport is None:
            raise self.gone()
        self.transport.write(data)

    def finished(self, reusable: bool) -> bool:
        """The response is over; returns whether the connection may serve another."""
        self.response = None
        self.last_used = self.loop.time()
        if not reusable or self.closed:
            self.close()
            return False
        return True

    def detach(self) -> asyncio.Transport | None:
        """Hand the transport to someone else (a WebSocket tunnel after a 101)."""
        transport = super().detach()
        self.transport = None
        self.response = None
        return transport


class ResponseStream:
    """The member's answer to one request: ``await head()``, then ``await read()`` until
    ``b""``.  httptools calls the ``on_*`` methods."""

    __slots__ = ("conn", "member", "status", "reason", "headers", "trailers", "upgraded", "tail",
                 "received", "hop", "length", "_parser", "_head_only", "_in_head", "_head_bytes", "_head_ready",
                 "_chunks", "_buffered", "_paused", "_done", "_reusable", "_eof_delimited",
                 "_error", "_waiter", "sender", "deadline", "timeout", "listener",
                 "continued", "_continue_waiter", "__weakref__")

    def __init__(self, conn: UpstreamConnection, method: bytes) -> None:
        self.conn = conn
        self.member = conn.member
        self._parser = httptools.HttpResponseParser(self)
        self._chunks: collections.deque[bytes] = collections.deque()
        self.reset(method)

    def reset(self, method: bytes) -> None:
        """Ready for a new response on the same connection (its parser is where the last
        response left it: at the start of the next message)."""
        self.status = 0
        self.reason = b""
        self.headers: Headers = []
        self.trailers: Headers = []
        self.upgraded = False
        self.tail = b""  # bytes after a 101 head: the first bytes of the new protocol
        self.received = 0  # bytes the member sent (0: nothing reached us)
        self.hop = False  # the head has a hop-by-hop field (see HOP_BY_HOP)
        self.length = -1  # the head's Content-Length (-1: none)
        self._head_only = method == b"HEAD"
        self._in_head = True
        self._head_bytes = 0
        self._head_ready: asyncio.Future[None] | None = None  # made when someone waits
        self._buffered = 0
        self._paused = False
        self._done = False
        self._reusable = False
        self._eof_delimited = False
        self._error: UpstreamError | None = None
        self._waiter: asyncio.Future[None] | None = None
        # The task streaming the request body, when it is streamed (set by the pool).
        self.sender: asyncio.Future[None] | None = None
        self.deadline = 0.0  # loop time by which the member must have answered (0: none)
        # Called after every read, the close and a timeout (a caller that reacts to
        # events instead of awaiting: the reverse proxy's fast path).
        self.listener: Callable[[ResponseStream], None] | None = None
        self.timeout = 0.0
        # A request sent with ``Expect: 100-continue``: the member's 100 came.
        self.continued = False
        self._continue_waiter: asyncio.Future[None] | None = None

    # --- parser callbacks -----------------------------------------------------------------
    def on_message_begin(self) -> None:
        if self._done:  # a second message: the member sent more than one response
            self._fail(UpstreamError("the member sent an unsolicited response",
                                     member=self.member.label))
            return
        self._in_head = True
        self.headers = []
        self.reason = b""
        self.hop = False
        self.length = -1

    def on_status(self, data: bytes) -> None:
        self.reason += data

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if not self._in_head:
            self.trailers.append((name, value))
            return
        self.headers.append((name, value))
        if name in HOP_BY_HOP:
            self.hop = True
        elif name == b"content-length" and value.isdigit():
            self.length = int(value)  # llhttp refused a second, different one

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if 100 <= status < 200 and status != 101:
            if status == 100:  # the member wants the body (Expect: 100-continue)
                self.continued = True
                self._wake_continue()
            return  # an interim response (100 Continue, 103): the final one follows
        self.status = status
        self._wake_continue()
        self._in_head = False
        # llhttp judged the framing; a body without either field ends at the close.
        framed = self.length >= 0 or (
            self.hop and any(n == b"transfer-encoding" for n, _ in self.headers))
        self._eof_delimited = not framed and status not in (204, 304) and not self._head_only
        ready = self._head_ready
        if ready is not None and not ready.done():
            ready.set_result(None)
        if self._head_only:  # no body follows a HEAD response, whatever its length says
            self._end(reusable=False)

    def on_body(self, data: bytes) -> None:
        if self._done:
            return
        self._chunks.append(data)
        self._buffered += len(data)
        if self._buffered > HIGH_WATER and not self._paused:
            self._paused = True
            self.conn.pause_reading()
        if self._waiter is not None:  # (inline _wake: once per read)
            self._wake()

    def on_message_complete(self) -> None:
        if self._in_head or self._done:
            return  # the end of an interim response, or of a HEAD response ended early
        # (_end, inline: once per response)
        self._done = True
        self._reusable = self._parser.should_keep_alive()
        if self._waiter is not None:
            self._wake()

    # --- fed by the connection -----------------------------------------------------------
    def feed(self, data: bytes) -> None:
        if self._error is not None:
            return
        if self.upgraded:  # the new protocol's bytes, kept until the tunnel takes over
            self.tail += data
            return
        if self._done:
            self._reusable = False  # bytes after the response: never reuse
            self.conn.close()
            return
        self.received += len(data)
        if self._in_head:
            room = MAX_HEAD - self._head_bytes
            if len(data) > room:
                # Only what the limit allows: if the head has not ended in it, too large.
                self._parse(data[:room])
                self._head_bytes = MAX_HEAD
                if self._in_head and self._error is None:
                    self._fail(UpstreamError(
                        f"the member's response head exceeds {MAX_HEAD} bytes",
                        member=self.member.label))
                if self.upgraded:
                    self.tail += data[room:]
                elif self._error is None:
                    self._parse(data[room:])
                return
            self._head_bytes += len(data)
        try:  # (_parse, inline: the path of every read)
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            self._upgraded(data, exc)
        except httptools.HttpParserError as exc:
            self._malformed(exc)

    def _parse(self, data: bytes) -> None:
        if not data or self._error is not None:
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            self._upgraded(data, exc)
        except httptools.HttpParserError as exc:
            self._malformed(exc)

    def _upgraded(self, data: bytes, exc: httptools.HttpParserUpgrade) -> None:
        offset = int(exc.args[0]) if exc.args else len(data)
        self.upgraded = True
        self.tail = data[offset:]
        self._end(reusable=False)

    def _malformed(self, exc: httptools.HttpParserError) -> None:
        self._fail(UpstreamError(f"malformed response from the member: {exc}",
                                 member=self.member.label))

    def lost(self, exc: Exception | None) -> None:
        if self._done or self._error is not None:
            return
        if not self._in_head and self._eof_delimited:
            self._end(reusable=False)  # a body delimited by the close: complete
            return
        where = "before its response" if self._in_head else "in the middle of its response"
        self._fail(UpstreamError(f"the member closed the connection {where}",
                                 member=self.member.label))

    # --- the reader's side ------------------------------------------------------------------
    @property
    def done(self) -> bool:
        """Read to the end."""
        return self._done and not self._chunks

    @property
    def complete(self) -> bool:
        """The whole response arrived (the body may still be queued for the reader)."""
        return self._done and self._error is None

    async def head(self, timeout: float | None = None) -> None:
        """Wait for the final response head (raises the member's failure, or
        ``UpstreamTimeout`` after ``timeout`` seconds)."""
        if not self.status and self._error is None:
            if timeout is not None:
                self._arm(timeout)
            ready = self._head_ready
            if ready is None:
                ready = self._head_ready = self.conn.loop.create_future()
            await ready
        if self._error is not None and not self.status:
            raise self._error

    def take(self) -> bytes:
        """Whatever body bytes are queued now (joined), without waiting."""
        chunks = self._chunks
        if not chunks:
            return b""
        data = chunks.popleft() if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        self._buffered = 0
        if self._paused:
            self._paused = False
            self.conn.resume_reading()
        return data

    @property
    def error(self) -> UpstreamError | None:
        return self._error

    async def read(self, timeout: float | None = None) -> bytes:
        """The next body bytes (everything queued, joined); ``b""`` at the end.
        ``timeout``: seconds the member may stay silent."""
        while True:
            if self._chunks:
                return self.take()
            if self._error is not None:
                raise self._error
            if self._done:
                return b""
            self._waiter = self.conn.loop.create_future()
            if timeout is not None:
                self._arm(timeout)
            try:
                await self._waiter
            finally:
                self._waiter = None

    async def body(self, limit: int | None = None, timeout: float | None = None) -> bytes:
        """The whole body (``limit``: raise beyond that many bytes)."""
        parts = []
        size = 0
        while data := await self.read(timeout):
            size += len(data)
            if limit is not None and size > limit:
                raise UpstreamError(f"the member's response exceeds {limit} bytes",
                                    member=self.member.label)
            parts.append(data)
        return b"".join(parts)

    def release(self) -> bool:
        """Give the connection back (or close it when the response did not end cleanly);
        returns whether it may be reused."""
        if self.deadline:
            dog = self.conn.watchdog
            (dog if dog is not None else _watchdog(self.conn.loop)).streams.discard(self)
            self.deadline = 0.0
        reusable = self._done and self._reusable and self._error is None and not self._chunks
        sender = self.sender
        if sender is not None and (not sender.done() or sender.cancelled()
                                   or sender.exception() is not None):
            sender.cancel()  # the request body did not all go out: never reuse
            reusable = False
        conn = self.conn
        if conn.finished(reusable):
            conn.spare = self  # reset by the next start()
            return True
        # The parser holds our bound methods: drop it, or every response would be a
        # reference cycle left to the garbage collector.
        self._parser = _SPENT
        return False

    async def wait_continue(self, timeout: float) -> bool:
        """After a head sent with ``Expect: 100-continue``: True when the body should go
        (the member's 100 came, or it said nothing for ``timeout`` seconds, RFC 9110
        10.1.1), False when it answered (or failed) first: the body is not wanted."""
        if not self.continued and not self.status and self._error is None:
            loop = self.conn.loop
            waiter = self._continue_waiter = loop.create_future()
            handle = loop.call_later(timeout, _settle, waiter)
            try:
                await waiter
            finally:
                handle.cancel()
                self._continue_waiter = None
        return not self.status and self._error is None

    def _wake_continue(self) -> None:
        waiter = self._continue_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # --- internals -----------------------------------------------------------------------------
    def _arm(self, timeout: float) -> None:
        """The member must say something within ``timeout`` seconds (checked by the
        loop's watchdog a few times a second: no timer per request)."""
        conn = self.conn
        self.timeout = timeout
        self.deadline = conn.loop.time() + timeout
        dog = conn.watchdog
        if dog is None:
            dog = conn.watchdog = _watchdog(conn.loop)
        dog.watch(self)

    def expire(self) -> None:
        self._fail(UpstreamTimeout(f"{self.member.label} did not answer within "
                                   f"{self.timeout:g}s", member=self.member.label))
        if self.listener is not None:
            self.listener(self)

    def _end(self, reusable: bool) -> None:
        self._done = True
        self._reusable = reusable
        self._wake()

    def _fail(self, error: UpstreamError) -> None:
        if self._error is None:
            self._error = error
        self._done = True
        self._reusable = False
        ready = self._head_ready
        if ready is not None and not ready.done():
            ready.set_result(None)
        self._wake()
        self._wake_continue()
        self.conn.close()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class _Nobody:
    """The protocol of ``_SPENT``: no callbacks."""


# Stands in for a released response's parser (fed nothing: the connection has moved on).
_SPENT: Final = httptools.HttpResponseParser(_Nobody())


def _settle(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


class Watchdog:
    """The deadlines of one loop's waiting responses, checked every ``TICK`` seconds while
    any is armed (a timeout is late by at most a tick; backend timeouts are seconds)."""

    TICK: Final = 0.25

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.streams: set[ResponseStream] = set()
        self._timer: asyncio.TimerHandle | None = None

    def watch(self, stream: ResponseStream) -> None:
        self.streams.add(stream)
        if self._timer is None:
            self._timer = self.loop.call_later(self.TICK, self._check)

    def _check(self) -> None:
        self._timer = None
        now = self.loop.time()
        for stream in list(self.streams):
            if stream.done or stream._error is not None:
                self.streams.discard(stream)
            elif stream.sender is not None and not stream.sender.done():
                continue  # the request body is still going out (see pool._send_body)
            elif stream.deadline and now >= stream.deadline and (
                    not stream.status or stream._waiter is not None
                    or stream.listener is not None):
                self.streams.discard(stream)
                stream.expire()
        if self.streams:
            self._timer = self.loop.call_later(self.TICK, self._check)


_watchdogs: dict[asyncio.AbstractEventLoop, Watchdog] = {}


def _watchdog(loop: asyncio.AbstractEventLoop) -> Watchdog:
    dog = _watchdogs.get(loop)
    if dog is None:
        dog = _watchdogs[loop] = Watchdog(loop)
    return dog
