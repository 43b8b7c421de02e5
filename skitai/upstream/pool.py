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
(``bytes``), and only when no byte of the response came back.  Down members are probed
every ``health_interval`` seconds (a TCP or unix connect) and come back when they answer.

``keep_alive`` (``skitai.set_backend_keep_alive``, the seed's meaning): an idle
connection older than this is closed rather than reused, so the member's own keep-alive
timeout never races a request.  ``max_idle`` (128) idle connections are kept per member:
fewer than a worker's concurrent requests to a member, and every burst would close
connections only to open them again (64 clients through one member with 32 kept cost
45% more instructions per request, the connects and the slow path they take).
"""

from __future__ import annotations

import asyncio
import logging
import ssl as ssl_mod
from collections.abc import AsyncIterable, Iterable
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

log = logging.getLogger("skitai.upstream")

IDEMPOTENT: Final = frozenset({b"GET", b"HEAD", b"OPTIONS", b"TRACE", b"PUT", b"DELETE"})
# Framing and per-hop fields a caller may not set: the pool frames every request itself.
_FRAMING: Final = frozenset({b"content-length", b"transfer-encoding", b"connection",
                             b"keep-alive", b"upgrade", b"te", b"proxy-connection"})
Body = bytes | AsyncIterable[bytes] | None


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
                 ssl_context: ssl_mod.SSLContext | None = None) -> None:
        self.alias = alias
        self.loop = loop
        self.keep_alive = keep_alive
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.max_idle = max_idle
        self.health_interval = health_interval
        self.balancer = Balancer(alias.members)
        self._ssl = ssl_context
        self._health: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def name(self) -> str:
        return self.alias.name

    def loads(self) -> list[dict[str, object]]:
        """Per member: weight, outstanding, served, failures, idle, up/down."""
        return [s.snapshot() for s in self.balancer.states]

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
                   member: int | None = None) -> ResponseStream:
        """Send a request and return once the member's head arrived; read the body with
        ``await response.read()`` and then call ``release(response)``.  ``body`` may be an
        async iterable (streamed with backpressure: chunked unless ``length`` is given).
        ``member``: that member only (no balancing, no fail-over)."""
        response, _ = await self._open(method, path, headers, body, timeout, length, idempotent,
                                       upgrade, member=member)
        return response

    def start_idle(self, method: bytes, path: bytes, headers: Headers,
                   timeout: float | None = None) -> ResponseStream | None:
        """Send a bodiless request on a kept-alive connection at once, if the chosen
        member has one (the fast path: no connect, no coroutine); None otherwise.  The
        caller reacts to ``response.listener`` events and calls ``release``.  ``headers``
        must hold no framing or per-hop field (``_FRAMING``): they are not looked at."""
        state = self.balancer.pick()
        if state is None or not state.idle:
            return None
        now = self.loop.time()
        idle = state.idle
        while idle:
            conn = idle.pop()
            if conn.closed or now - conn.last_used >= self.keep_alive or \
                    conn.transport is None or conn.transport.is_closing():
                conn.close()
                continue
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

    def release(self, response: ResponseStream) -> None:
        state = self._state_of(response.conn)
        state.outstanding -= 1
        if response.release() and not self._closed and len(state.idle) < self.max_idle:
            state.idle.append(response.conn)

    # --- the attempt loop -----------------------------------------------------------------------
    async def _open(self, method: bytes, path: bytes, headers: Headers, body: Body,
                    timeout: float | None, length: int | None,
                    idempotent: bool | None = None, upgrade: bytes = b"",
                    member: int | None = None) -> tuple[ResponseStream, MemberState]:
        timeout = self.timeout if timeout is None else timeout
        states = self.balancer.states
        if member is not None and not 0 <= member < len(states):
            raise UpstreamError(f"@{self.name} has no member #{member}", sent=False)
        replayable = body is None or isinstance(body, bytes)
        retry_sent = (method in IDEMPOTENT if idempotent is None else idempotent) and replayable
        tried: set[int] = set()
        last: UpstreamError | None = None
        deadline = self.loop.time() + timeout
        while True:
            if member is None:
                state = self.balancer.pick(tried)
            else:  # one given member: tried once
                state = states[member] if member not in tried else None
            if state is None:
                raise last or UpstreamError("no member to try", sent=False)
            tried.add(state.index)
            state.outstanding += 1
            try:
                response = await self._attempt(state, method, path, headers, body, length,
                                               max(0.001, deadline - self.loop.time()), upgrade)
            except UpstreamError as exc:
                state.outstanding -= 1
                state.failures += 1
                last = exc
                if isinstance(exc, UpstreamTimeout) and exc.sent:
                    raise  # the member is slow, not gone: 504, and no second try
                if exc.sent and not retry_sent:
                    raise
                log.warning("@%s: member %s failed (%s); trying another", self.name,
                            state.member.label, exc)
                continue
            state.served += 1
            return response, state

    async def _attempt(self, state: MemberState, method: bytes, path: bytes, headers: Headers,
                       body: Body, length: int | None, timeout: float,
                       upgrade: bytes = b"") -> ResponseStream:
        member = state.member
        conn = await self._connection(state, timeout)
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
                _send_body(conn, response, body, chunked, timeout))
            sender.add_done_callback(_sent)
        try:
            await response.head(timeout)
        except UpstreamError:
            if sender is not None:
                sender.cancel()
            response.release()
            raise
        return response

    async def _connection(self, state: MemberState, timeout: float) -> UpstreamConnection:
        now = self.loop.time()
        idle = state.idle
        while idle:
            conn = idle.pop()
            if not conn.closed and now - conn.last_used < self.keep_alive and \
                    conn.transport is not None and not conn.transport.is_closing():
                return conn
            conn.close()
        member = state.member
        limit = min(timeout, self.connect_timeout)
        try:
            conn = await asyncio.wait_for(self._connect(member), limit)
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
        return conn

    async def _connect(self, member: Member) -> UpstreamConnection:
        def factory() -> UpstreamConnection:
            conn = UpstreamConnection(member, self.loop)
            for state in self.balancer.states:  # (release() finds it without a search)
                if state.member is member:
                    conn.owner = state
            return conn

        if member.unix:
            _, proto = await self.loop.create_unix_connection(factory, member.unix)
        elif member.ssl:
            _, proto = await self.loop.create_connection(
                factory, member.host, member.port, ssl=self._ssl_context(),
                server_hostname=member.host)
        else:
            _, proto = await self.loop.create_connection(factory, member.host, member.port)
        return proto

    def _ssl_context(self) -> ssl_mod.SSLContext:
        if self._ssl is None:
            self._ssl = ssl_mod.create_default_context()  # verification on
            self._ssl.set_alpn_protocols(["http/1.1"])
        return self._ssl

    def _state_of(self, conn: UpstreamConnection) -> MemberState:
        state = conn.owner
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
                    conn = await asyncio.wait_for(self._connect(state.member), self.connect_timeout)
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
                     body: AsyncIterable[bytes], chunked: bool, timeout: float) -> None:
    """Stream a request body.  While it flows the member's time to answer does not run
    (a long upload is not a slow member; a stalled client is the client side's
    request_timeout): the watchdog skips a response whose sender runs, and the deadline
    starts again when the body is out."""
    async for data in body:
        if not data:
            continue
        if chunked:
            conn.write(b"%x\r\n%b\r\n" % (len(data), data))
        else:
            conn.write(data)
        await conn.drain(timeout)
    if chunked:
        conn.write(b"0\r\n\r\n")
    if response.deadline:
        response.deadline = conn.loop.time() + timeout


def _sent(task: asyncio.Future[None]) -> None:
    """A request body that failed to go out: the connection is not reusable."""
    if task.cancelled():
        return
    if task.exception() is not None:
        log.debug("request body to a member failed: %s", task.exception())
