"""The members of one alias, as one worker uses them: keep-alive pools, balancing,
fail-over and health checks, and the request API the gateway and ``was`` call.

``await pool.request(method, path, headers, body, timeout)`` returns an
``UpstreamResponse`` with the whole body; ``await pool.open(...)`` returns a
``ResponseStream`` once the head arrived, for a caller that streams the body (the reverse
proxy), which must call ``pool.release(response)`` at the end.  ``member=i`` sends to that
member only (``was.get.map``); ``start_idle`` is the reverse proxy's fast path.

Every request is framed here, whatever the caller was given: ``Content-Length`` for a
body of known size, else ``Transfer-Encoding: chunked``, and the caller's framing
headers are dropped.  So a member receives exactly one well-framed request per call.

Fail-over: a connect that is refused or times out marks the member down (passive) and
the request goes to another member (no byte of it was sent).  A request whose bytes went
out is retried elsewhere only if its method is idempotent and its body is replayable
(``bytes``, or a streamed body of which nothing was read yet: a head sent with ``Expect:
100-continue`` that the member dropped before its 100, ``BodyUnread``), and only when no
byte of the response came back.  Down members are probed
every ``health_interval`` seconds (a TCP or unix connect) and come back when they answer.

``keep_alive`` (``skitai.set_backend_keep_alive``, the seed's meaning): an idle
connection older than this is closed rather than reused, so the member's own keep-alive
timeout never races a request.  ``max_idle`` (128) idle connections are kept per member:
fewer than a worker's concurrent requests to a member, and every burst would close
connections only to open them again (64 clients through one member with 32 kept cost
45% more instructions per request, the connects and the slow path they take).

HTTP/2: an ``https://`` member is offered ``h2`` and ``http/1.1`` by ALPN.  When it picks
``h2`` the pool keeps one ``H2UpstreamConnection`` for it (``h2connection.py``) and every
request to that member is a stream on it; the first connect to a member is shared by the
requests that wait for it, so concurrent calls do not each open a connection.  A member
that picks ``http/1.1`` (or none) gets the keep-alive pool above, and is remembered so.
A request the member refused or dropped in a GOAWAY (``H2Refused``: never processed) is
sent again on a new connection to the same member.  An upgrade (a WebSocket) always goes
over a connection that offers ``http/1.1`` only, and so does every request when ``http2``
is off (``skitai.set_backend_http2(False)``, or the alias's ``http2=False``): h2 costs the
client several times the CPU per request of a kept-alive HTTP/1.1 connection, which is
what nginx speaks to its upstreams.
"""

from __future__ import annotations

import asyncio
import logging
import ssl as ssl_mod
from collections.abc import AsyncIterable, Callable, Iterable
from dataclasses import dataclass
from typing import Final

from skitai.config.aliases import Alias, Member
from skitai.upstream.balancer import Balancer, MemberState
from skitai.upstream.connection import (
    Headers,
    ResponseStream,
    UpstreamConnection,
    UpstreamError,
    UpstreamTimeout,
)
from skitai.upstream.h2connection import AlpnSwitch, H2Refused, H2UpstreamConnection

log = logging.getLogger("skitai.upstream")

# Seconds a member may stay silent after a head with ``Expect: 100-continue`` before the
# body goes anyway (RFC 9110 10.1.1; curl waits 1 s too).
EXPECT_WAIT: Final = 1.0
IDEMPOTENT: Final = frozenset({b"GET", b"HEAD", b"OPTIONS", b"TRACE", b"PUT", b"DELETE"})
# Framing and per-hop fields a caller may not set: the pool frames every request itself.
_FRAMING: Final = frozenset({b"content-length", b"transfer-encoding", b"connection",
                             b"keep-alive", b"upgrade", b"te", b"proxy-connection"})
# Fields never sent in a trailer section (RFC 9110 6.5.1; the server side refuses them too).
_NO_TRAILER: Final = frozenset({b"host", b"trailer", b"authorization", b"proxy-authorization",
                                b"cookie", b"content-type", b"content-encoding",
                                b"content-range", b"cache-control", b"expect", b"max-forwards",
                                b"pragma", b"range", b"forwarded", b"x-forwarded-for",
                                b"x-forwarded-host", b"x-forwarded-proto", b"via"})
Body = bytes | AsyncIterable[bytes] | None
# A request refused by an HTTP/2 member (never processed) is sent again this many times.
H2_RETRIES: Final = 3


class BodyUnread(UpstreamError):
    """The member failed after a head sent with ``Expect: 100-continue`` and before its
    100 (or any answer): the head reached it, no byte of the streamed body was read from
    the caller, so an idempotent request may go to another member with it whole."""


@dataclass
class UpstreamResponse:
    """A buffered answer (``pool.request``)."""

    status: int
    reason: str
    headers: Headers
    body: bytes
    member: str

    def header(self, name: str) -> str | None:
        key = name.lower().encode("latin-1")
        for n, v in self.headers:
            if n == key:
                return v.decode("latin-1")
        return None


class AliasPool:
    """One alias's members in one worker (made once per worker, used by every request)."""

    def __init__(self, alias: Alias, loop: asyncio.AbstractEventLoop, *,
                 keep_alive: float = 10.0, timeout: float = 30.0, connect_timeout: float = 5.0,
                 max_idle: int = 128, health_interval: float = 2.0,
                 ssl_context: ssl_mod.SSLContext | None = None, http2: bool = True) -> None:
        self.alias = alias
        self.loop = loop
        self.keep_alive = keep_alive
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.max_idle = max_idle
        self.health_interval = health_interval
        self.balancer = Balancer(alias.members)
        # Offer h2 to https members (set_backend_http2 / alias http2=); off: HTTP/1.1 only
        self.http2 = http2
        self._ssl = ssl_context
        self._ssl_given = ssl_context is not None
        self._ssl_h1: ssl_mod.SSLContext | None = None
        # HTTP/2 members: one shared connection each; a first connect others wait for;
        # the protocol each member's ALPN chose ("h2" or "http/1.1").
        self._h2: dict[int, H2UpstreamConnection] = {}
        self._h2_pending: dict[int, asyncio.Future[None]] = {}
        self._alpn: dict[int, str] = {}
        self._health: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def name(self) -> str:
        return self.alias.name

    def loads(self) -> list[dict[str, object]]:
        """Per member: weight, outstanding, served, failures, idle, up/down (and the
        open streams of its HTTP/2 connection, when it has one)."""
        out = [s.snapshot() for s in self.balancer.states]
        for index, shared in self._h2.items():
            out[index]["h2_streams"] = len(shared.streams)
        return out

    # --- the request API ------------------------------------------------------------------
    async def request(self, method: str | bytes, path: str | bytes, headers: Headers | None = None,
                      body: bytes | None = None, timeout: float | None = None,
                      *, limit: int | None = 64 << 20, member: int | None = None
                      ) -> UpstreamResponse:
        """One call, buffered: the member's whole answer (``limit`` bytes at most).
        ``member``: that member only (an index into the alias's members; no fail-over),
        as a call to every member (``was.get.map``) wants."""
        response, state = await self._open(_bytes(method), _bytes(path), headers or [], body,
                                           timeout, None, member=member)
        try:
            data = await response.body(limit, self.timeout if timeout is None else timeout)
        except BaseException:
            self.release(response)
            raise
        self.release(response)
        return UpstreamResponse(response.status, response.reason.decode("latin-1"),
                                response.headers, data, state.member.label)

    async def open(self, method: bytes, path: bytes, headers: Headers, body: Body = None,
                   timeout: float | None = None, *, length: int | None = None,
                   idempotent: bool | None = None, upgrade: bytes = b"",
                   member: int | None = None,
                   trailers: Callable[[], Headers] | None = None,
                   on_continue: Callable[[], None] | None = None) -> ResponseStream:
        """Send a request and return once the member's head arrived; read the body with
        ``await response.read()`` and then call ``release(response)``.  ``body`` may be an
        async iterable (streamed with backpressure: chunked unless ``length`` is given).
        ``member``: that member only (no balancing, no fail-over).  ``trailers``: called
        when a chunked body has ended, its fields go in the trailer section.
        ``on_continue``: send the head with ``Expect: 100-continue`` and stream the body
        only after the member's 100 (``on_continue()`` is called then, for the proxy to
        tell its client), or after ``EXPECT_WAIT`` seconds of silence; a member that
        answers first never gets the body (and the connection is not reused)."""
        response, _ = await self._open(method, path, headers, body, timeout, length, idempotent,
                                       upgrade, member=member, trailers=trailers,
                                       on_continue=on_continue)
        return response

    def start_idle(self, method: bytes, path: bytes, headers: Headers,
                   timeout: float | None = None, block: bytes = b"") -> ResponseStream | None:
        """Send a bodiless request on a kept-alive connection at once, if the chosen
        member has one (the fast path: no connect, no coroutine); None otherwise.  The
        caller reacts to ``response.listener`` events and calls ``release``.  ``headers``
        must hold no framing or per-hop field (``_FRAMING``): they are not looked at.
        ``block``: ``headers`` already written as field lines (``name: value\r\n``
        each, in order) and holding a ``host``: an HTTP/1.1 head is made of it as it is
        (the reverse proxy keeps most of its lines from one request to the next)."""
        state = self.balancer.pick()
        if state is None:
            return None
        if not state.idle:
            return self._start_stream(state, method, path, headers, timeout) if self._h2 \
                else None
        now = self.loop.time()
        idle = state.idle
        while idle:
            conn = idle.pop()
            if conn.closed or now - conn.last_used >= self.keep_alive or \
                    conn.transport is None or conn.transport.is_closing():
                conn.close()
                continue
            if block:
                member = state.member
                target = member.prefix.encode("latin-1") + path if member.prefix else path
                head = b"%b %b HTTP/1.1\r\n%b\r\n" % (method, target or b"/", block)
            else:
                head = _plain_head(method, state.member, path, headers)
            try:
                response = conn.start(method, head)
            except UpstreamError:  # closed under us: try the next one
                conn.close()
                continue
            state.outstanding += 1
            state.served += 1
            response._arm(self.timeout if timeout is None else timeout)
            return response
        return None

    def _start_stream(self, state: MemberState, method: bytes, path: bytes, headers: Headers,
                      timeout: float | None) -> ResponseStream | None:
        """``start_idle`` for an HTTP/2 member: a stream on its connection at once, when
        the connection has a free one."""
        shared = self._h2.get(state.index)
        if shared is None or not shared.usable(self.keep_alive) or not shared.has_slot():
            return None
        member = state.member
        target = member.prefix.encode("latin-1") + path if member.prefix else path
        timeout = self.timeout if timeout is None else timeout
        try:
            response = shared.start(method, target, headers, None, timeout)
        except UpstreamError:
            return None  # the slow way says what is wrong
        state.outstanding += 1
        state.served += 1
        response._arm(timeout)
        return response

    def release(self, response: ResponseStream) -> None:
        state = getattr(response.conn, "member_state", None)  # (_state_of's usual case)
        if type(state) is not MemberState:
            state = self._state_of(response.conn)
        state.outstanding -= 1
        if response.release() and not self._closed and len(state.idle) < self.max_idle:
            state.idle.append(response.conn)

    # --- the attempt loop -----------------------------------------------------------------------
    async def _open(self, method: bytes, path: bytes, headers: Headers, body: Body,
                    timeout: float | None, length: int | None,
                    idempotent: bool | None = None, upgrade: bytes = b"",
                    member: int | None = None,
                    trailers: Callable[[], Headers] | None = None,
                    on_continue: Callable[[], None] | None = None
                    ) -> tuple[ResponseStream, MemberState]:
        timeout = self.timeout if timeout is None else timeout
        states = self.balancer.states
        if member is not None and not 0 <= member < len(states):
            raise UpstreamError(f"@{self.name} has no member #{member}", sent=False)
        replayable = body is None or isinstance(body, bytes)
        safe = method in IDEMPOTENT if idempotent is None else idempotent
        retry_sent = safe and replayable
        tried: set[int] = set()
        last: UpstreamError | None = None
        deadline = self.loop.time() + timeout
        again: MemberState | None = None  # refused by HTTP/2: the same member once more
        refused = 0
        state: MemberState | None
        while True:
            if again is not None:
                state, again = again, None
            elif member is None:
                state = self.balancer.pick(tried)
            else:  # one given member: tried once
                state = states[member] if member not in tried else None
            if state is None:
                raise last or UpstreamError("no member to try", sent=False)
            tried.add(state.index)
            state.outstanding += 1
            try:
                response = await self._attempt(state, method, path, headers, body, length,
                                               max(0.001, deadline - self.loop.time()), upgrade,
                                               trailers, on_continue)
            except H2Refused as exc:
                state.outstanding -= 1
                last = exc
                refused += 1
                if refused > H2_RETRIES:
                    raise
                again = state  # not processed: a new connection to the same member
                continue
            except UpstreamError as exc:
                state.outstanding -= 1
                state.failures += 1
                last = exc
                if isinstance(exc, UpstreamTimeout) and exc.sent:
                    raise  # the member is slow, not gone: 504, and no second try
                if exc.sent and not retry_sent and not (safe and isinstance(exc, BodyUnread)):
                    raise
                log.warning("@%s: member %s failed (%s); trying another", self.name,
                            state.member.label, exc)
                continue
            state.served += 1
            return response, state

    async def _attempt(self, state: MemberState, method: bytes, path: bytes, headers: Headers,
                       body: Body, length: int | None, timeout: float,
                       upgrade: bytes = b"",
                       trailers: Callable[[], Headers] | None = None,
                       on_continue: Callable[[], None] | None = None) -> ResponseStream:
        member = state.member
        conn = await self._connection(state, timeout, h1_only=bool(upgrade))
        if isinstance(conn, H2UpstreamConnection):
            if on_continue is not None:
                # An HTTP/2 member's 100 is not relayed: the client gets ours now, as
                # nginx gives it, and the body follows on the stream.
                on_continue()
            target = member.prefix.encode("latin-1") + path if member.prefix else path
            try:
                stream = await conn.request(method, target, headers, body, timeout,
                                            length=length, trailers=trailers)
            except UpstreamError:
                if conn.retiring:
                    conn.retire()  # an extra connection with no stream: closed now
                raise
            try:
                await stream.head(timeout)
            except UpstreamError:
                stream.release()
                raise
            return stream
        relay: _Relay | None = None
        if on_continue is not None and body is not None and not isinstance(body, bytes):
            headers = [*headers, (b"expect", b"100-continue")]
            relay = _Relay(on_continue)
        head, chunked = _head(method, member, path, headers, body, length, upgrade)
        try:
            response = conn.start(method, head)
        except UpstreamError:
            conn.close()
            raise
        sender = None
        if isinstance(body, bytes):
            if body:
                conn.write(body)
        elif body is not None:
            sender = response.sender = asyncio.ensure_future(
                _send_body(conn, response, body, chunked, timeout, trailers, relay))
            sender.add_done_callback(_sent)
        try:
            await response.head(timeout)
        except UpstreamError as exc:
            if sender is not None:
                sender.cancel()
            response.release()
            if relay is not None and not relay.called and not isinstance(exc, UpstreamTimeout):
                raise BodyUnread(str(exc), member=exc.member) from exc
            raise
        return response

    async def _connection(self, state: MemberState, timeout: float, h1_only: bool = False
                          ) -> UpstreamConnection | H2UpstreamConnection:
        index = state.index
        h1_only = h1_only or not self.http2
        h2_maybe = state.member.ssl and not h1_only and self._alpn.get(index) != "http/1.1"
        if h2_maybe:
            shared = self._h2.get(index)
            if shared is not None:
                if shared.usable(self.keep_alive):
                    return shared
                shared.retire()
                del self._h2[index]
            pending = self._h2_pending.get(index)
            if pending is not None:  # another request is connecting: share its result
                limit = min(timeout, self.connect_timeout)
                try:
                    await asyncio.wait_for(asyncio.shield(pending), limit)
                except TimeoutError:
                    raise UpstreamTimeout(f"cannot connect to {state.member.label} within "
                                          f"{limit:g}s", sent=False,
                                          member=state.member.label) from None
                shared = self._h2.get(index)
                if shared is not None and shared.usable(self.keep_alive):
                    return shared
                if state.down:  # that connect failed just now: so would ours
                    raise UpstreamError(f"cannot connect to {state.member.label}", sent=False,
                                        member=state.member.label)
            else:
                waiter = self._h2_pending[index] = self.loop.create_future()
                try:
                    return await self._new_connection(state, timeout, h1_only)
                finally:
                    del self._h2_pending[index]
                    waiter.set_result(None)
        now = self.loop.time()
        idle = state.idle
        while idle:
            conn = idle.pop()
            if not conn.closed and now - conn.last_used < self.keep_alive and \
                    conn.transport is not None and not conn.transport.is_closing():
                return conn
            conn.close()
        return await self._new_connection(state, timeout, h1_only)

    async def _new_connection(self, state: MemberState, timeout: float, h1_only: bool
                              ) -> UpstreamConnection | H2UpstreamConnection:
        member = state.member
        limit = min(timeout, self.connect_timeout)
        try:
            conn = await asyncio.wait_for(self._connect(member, h1_only), limit)
        except TimeoutError:
            self._mark_down(state)
            raise UpstreamTimeout(f"cannot connect to {member.label} within {limit:g}s",
                                  sent=False, member=member.label) from None
        except (OSError, ssl_mod.SSLError) as exc:
            self._mark_down(state)
            raise UpstreamError(f"cannot connect to {member.label}: {exc}", sent=False,
                                member=member.label) from None
        if state.down:
            state.down = False
        if member.ssl and not h1_only:
            if isinstance(conn, H2UpstreamConnection):
                self._alpn[state.index] = "h2"
                old = self._h2.get(state.index)
                if old is None or not old.usable(self.keep_alive):
                    if old is not None:
                        old.retire()
                    self._h2[state.index] = conn
                else:  # another connect won the race: this one serves its request, then goes
                    conn.retiring = True
            else:
                self._alpn[state.index] = "http/1.1"
        return conn

    async def _connect(self, member: Member, h1_only: bool = False
                       ) -> UpstreamConnection | H2UpstreamConnection:
        def factory() -> UpstreamConnection:
            conn = UpstreamConnection(member, self.loop)
            for state in self.balancer.states:  # (release() finds it without a search)
                if state.member is member:
                    conn.member_state = state
            return conn

        if member.unix:
            _, proto = await self.loop.create_unix_connection(factory, member.unix)
        elif member.ssl:
            switch = AlpnSwitch(member, self.loop)
            await self.loop.create_connection(
                lambda: switch, member.host, member.port, ssl=self._ssl_context(h1_only),
                server_hostname=member.host)
            assert switch.chosen is not None  # set by connection_made
            return switch.chosen
        else:
            _, proto = await self.loop.create_connection(factory, member.host, member.port)
        return proto

    def _ssl_context(self, h1_only: bool = False) -> ssl_mod.SSLContext:
        """Verification on; ALPN offers ``h2`` then ``http/1.1`` (``h1_only``: the
        latter alone).  A context the pool was given is used as it is."""
        if self._ssl_given and self._ssl is not None:
            return self._ssl
        if h1_only:
            if self._ssl_h1 is None:
                self._ssl_h1 = ssl_mod.create_default_context()
                self._ssl_h1.set_alpn_protocols(["http/1.1"])
            return self._ssl_h1
        if self._ssl is None:
            self._ssl = ssl_mod.create_default_context()
            self._ssl.set_alpn_protocols(["h2", "http/1.1"])
        return self._ssl

    def _state_of(self, conn: UpstreamConnection | H2UpstreamConnection) -> MemberState:
        state = conn.member_state if isinstance(conn, UpstreamConnection) else None
        if isinstance(state, MemberState):
            return state
        for state in self.balancer.states:
            if state.member is conn.member:
                return state
        raise KeyError(conn.member.label)

    # --- health --------------------------------------------------------------------------------
    def _mark_down(self, state: MemberState) -> None:
        if not state.down:
            log.warning("@%s: member %s is down", self.name, state.member.label)
            state.down = True
            state.down_since = self.loop.time()
        for conn in state.idle:
            conn.close()
        state.idle.clear()
        shared = self._h2.pop(state.index, None)
        if shared is not None:
            shared.retire()
        if self._health is None or self._health.done():
            self._health = self.loop.create_task(self._check_health())

    async def _check_health(self) -> None:
        while not self._closed:
            down = [s for s in self.balancer.states if s.down]
            if not down:
                return
            await asyncio.sleep(self.health_interval)
            for state in down:
                try:
                    conn = await asyncio.wait_for(self._connect(state.member, not self.http2),
                                                  self.connect_timeout)
                except (TimeoutError, OSError, ssl_mod.SSLError):
                    continue
                conn.close()
                if state.down:
                    state.down = False
                    log.warning("@%s: member %s is back", self.name, state.member.label)

    def close(self) -> None:
        self._closed = True
        if self._health is not None:
            self._health.cancel()
        for state in self.balancer.states:
            for conn in state.idle:
                conn.close()
            state.idle.clear()
        for shared in self._h2.values():
            shared.close()
        self._h2.clear()


def _bytes(value: str | bytes) -> bytes:
    return value.encode("latin-1") if isinstance(value, str) else value


def _head(method: bytes, member: Member, path: bytes, headers: Iterable[tuple[bytes, bytes]],
          body: Body, length: int | None, upgrade: bytes = b"") -> tuple[bytes, bool]:
    """The request head, framed by us; returns it and whether the body goes chunked.
    ``upgrade``: ask the member to switch protocols (a WebSocket)."""
    target = member.prefix.encode("latin-1") + path if member.prefix else path
    lines = [method, b" ", target or b"/", b" HTTP/1.1\r\n"]
    has_host = False
    for name, value in headers:
        low = name.lower()
        if low in _FRAMING:
            continue
        if low == b"host":
            has_host = True
        lines += [name, b": ", value, b"\r\n"]
    if not has_host:
        lines += [b"host: ", member.netloc.encode("idna"), b"\r\n"]
    if upgrade:
        lines += [b"connection: upgrade\r\nupgrade: ", upgrade, b"\r\n"]
    chunked = False
    if isinstance(body, bytes):
        if body or method not in (b"GET", b"HEAD", b"DELETE", b"OPTIONS", b"TRACE"):
            lines += [b"content-length: ", str(len(body)).encode(), b"\r\n"]
    elif body is not None:
        if length is not None:
            lines += [b"content-length: ", str(length).encode(), b"\r\n"]
        else:
            chunked = True
            lines.append(b"transfer-encoding: chunked\r\n")
    lines.append(b"\r\n")
    return b"".join(lines), chunked


def _plain_head(method: bytes, member: Member, path: bytes,
                headers: Iterable[tuple[bytes, bytes]]) -> bytes:
    """``_head`` for a request without a body whose fields hold no framing or per-hop
    field (the reverse proxy's fast path, whose ``member_headers`` dropped them): the
    same bytes, with no per-field checks."""
    target = member.prefix.encode("latin-1") + path if member.prefix else path
    lines = [method, b" ", target or b"/", b" HTTP/1.1\r\n"]
    has_host = False
    for name, value in headers:
        if name == b"host":
            has_host = True
        lines += (name, b": ", value, b"\r\n")
    if not has_host:
        lines += (b"host: ", member.netloc.encode("idna"), b"\r\n")
    lines.append(b"\r\n")
    return b"".join(lines)


async def _send_body(conn: UpstreamConnection, response: ResponseStream,
                     body: AsyncIterable[bytes], chunked: bool, timeout: float,
                     trailers: Callable[[], Headers] | None = None,
                     on_continue: Callable[[], None] | None = None) -> None:
    """Stream a request body.  While it flows the member's time to answer does not run
    (a long upload is not a slow member; a stalled client is the client side's
    request_timeout): the watchdog skips a response whose sender runs, and the deadline
    starts again when the body is out.  ``on_continue``: the head said ``Expect:
    100-continue``; wait for the member's word first (see ``open``)."""
    if on_continue is not None:
        if not await response.wait_continue(EXPECT_WAIT):
            # The member answered without wanting the body: it never gets it, and the
            # connection (whose request is unfinished) is not reused.
            raise UpstreamError("the member answered before 100 Continue; body withheld",
                                member=conn.member.label)
        on_continue()
    async for data in body:
        if not data:
            continue
        if chunked:
            conn.write(b"%x\r\n%b\r\n" % (len(data), data))
        else:
            conn.write(data)
        await conn.wait_writable(timeout)
    if chunked:
        fields = trailers() if trailers is not None else None
        if fields:  # the client's trailer section, re-framed like the head
            conn.write(b"0\r\n" + b"".join(
                b"%b: %b\r\n" % (n, v) for n, v in fields if n[:1] != b":"
                and n.lower() not in _FRAMING and n.lower() not in _NO_TRAILER) + b"\r\n")
        else:
            conn.write(b"0\r\n\r\n")
    if response.deadline:
        response.deadline = conn.loop.time() + timeout


class _Relay:
    """A caller's ``on_continue``, noting whether it was called: from then on the body is
    being read from the caller (it cannot go to another member)."""

    __slots__ = ("call", "called")

    def __init__(self, call: Callable[[], None]) -> None:
        self.call = call
        self.called = False

    def __call__(self) -> None:
        self.called = True
        self.call()


def _sent(task: asyncio.Future[None]) -> None:
    """A request body that failed to go out: the connection is not reusable."""
    if task.cancelled():
        return
    if task.exception() is not None:
        log.debug("request body to a member failed: %s", task.exception())
