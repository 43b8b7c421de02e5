"""The reverse proxy: ``skitai.mount("/members", "@members")``, a handler like any mount.

Theory.  For each request the handler asks the alias's ``AliasPool`` (per worker) for a
member and sends it a request framed anew by the pool (never the client's bytes), so a
member receives exactly one well-framed request per client request.  The mount point is
removed from the path (``/members/x`` reaches the member as ``/x``, the original's
``mount("/lb", "@pypi")``).

Headers to the member: hop-by-hop fields (``Connection`` and what it names,
``Keep-Alive``, ``TE``, ``Transfer-Encoding``, ``Upgrade``, ``Proxy-*``) are removed;
``X-Forwarded-For`` gets the client's address (appended to the incoming one only when
the client is a trusted proxy, ``skitai.set_trusted_proxies``; otherwise the incoming
one is replaced), ``X-Forwarded-Proto``/``-Host`` say what the client asked (kept from a
trusted proxy), ``Via`` gets ``1.1 skitai``.  ``Host`` is the client's for members
written as IP addresses or unix sockets (the seed's nginx recipe: ``Host $host``), and
the member's own name for members written as host names (a virtual host elsewhere, like
the seed's ``@pypi``); ``mount(..., proxy_host="$host" | "$proxy_host" | "name")``
overrides that per mount, as nginx's ``proxy_set_header Host``.  Transaction ids go in ``X-Gtxn-Id``/``X-Ltxn-Id``/``traceparent``.

Bodies stream both ways with backpressure: the request body flows from the client's body
buffer (which pauses the client above its high water) to the member (awaiting its
drain); the response flows from the member (paused above the stream's high water) to
the client (awaiting its drain).  A response that arrived whole goes out in one write.

Errors: no member reachable is a 502, a member slower than ``backend_timeout`` a 504; a
member that fails after the head was sent (malformed or cut body) aborts the client's
response (the connection closes, or the HTTP/2 stream is reset): never a
complete-looking response.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from collections.abc import AsyncIterator, Coroutine, Sequence
from functools import partial
from typing import Any, Final
from urllib.parse import quote

from skitai import txn as txn_mod
from skitai.config.aliases import Network, in_networks
from skitai.gateway.auth import Gate, Refusal
from skitai.gateway.cache import HttpCache
from skitai.upstream.connection import (
    HOP_BY_HOP,
    Headers,
    ResponseStream,
    UpstreamError,
    UpstreamTimeout,
)
from skitai.upstream.pool import IDEMPOTENT, AliasPool
from skitai.worker import eager, errorpage, events
from skitai.worker.protocols import websocket as ws_proto
from skitai.worker.stream import ClientDisconnected, Stream

log = logging.getLogger("skitai.gateway")

_REPLACED: Final = frozenset({b"x-gtxn-id", b"x-ltxn-id", b"traceparent", b"tracestate",
                              b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host",
                              b"x-real-ip", b"forwarded", b"via", b"host", b"content-length",
                              b"expect"})
# ``Trailer`` announces the request's trailer fields, which are forwarded (RFC 9110 6.6.2:
# not hop-by-hop), so it goes along with them.
_CACHED_METHODS: Final = frozenset({b"GET", b"HEAD"})
_DROPPED: Final = (HOP_BY_HOP - {b"trailer"}) | _REPLACED


class TrustedProxies:
    """Client addresses whose ``X-Forwarded-*`` headers are believed."""

    def __init__(self, networks: Sequence[str]) -> None:
        self.networks: tuple[Network, ...] = tuple(ipaddress.ip_network(n) for n in networks)

    def __contains__(self, address: str) -> bool:
        return bool(self.networks) and in_networks(address, self.networks)


class _Fields:
    """What ``ProxyHandler._member_fields`` made of a request head (``head``, a copy)."""

    __slots__ = ("handler", "head", "fields", "block", "incoming", "upgrade")

    def __init__(self, handler: ProxyHandler, head: Headers, fields: Headers, incoming: bool,
                 upgrade: bool) -> None:
        self.handler = handler
        self.head = head
        self.fields = fields
        # ``fields`` as HTTP/1.1 field lines, when they name the Host (else the pool
        # adds the member's: see ``AliasPool.start_idle``)
        self.block = _lines(fields) if any(n == b"host" for n, _ in fields) else b""
        self.incoming = incoming
        self.upgrade = upgrade


class ProxyHandler:
    """The handler of one ``mount(point, "@alias")``."""

    def relays_continue(self) -> bool:
        """``Expect: 100-continue`` goes to the member, whose 100 (or final answer, the
        body unread) the client gets: see ``forward`` (the dispatcher does not answer it)."""
        return True

    def __init__(self, pool: AliasPool, *, mount_point: str, body_limit: int,
                 trusted: TrustedProxies | None = None, gate: Gate | None = None,
                 tunnel_idle: float = 600.0, cache: HttpCache | None = None,
                 proxy_host: str | None = None, logged: bool = True) -> None:
        self.pool = pool
        # Requests are logged (not ``log_off("/")``): the log's ``upstream=`` field is made.
        self.logged = logged
        self.cache = cache
        self.tunnel_idle = tunnel_idle
        self.gate = gate if gate is not None and gate.needed or pool.alias.sources else None
        self.prefix = "" if mount_point == "/" else mount_point.rstrip("/")
        self.prefix_bytes = self.prefix.encode("latin-1")
        self.body_limit = body_limit
        self.trusted = trusted or TrustedProxies(())
        members = pool.alias.members
        # Host: the client's for members written as addresses, the member's own otherwise
        # (the pool writes the member's when we pass none), unless the mount says.
        self.rewrite_host = any(m.unix is None and not _is_address(m.host) for m in members)
        self.fixed_host: bytes | None = None
        if proxy_host == "$host":
            self.rewrite_host = False
        elif proxy_host == "$proxy_host":
            self.rewrite_host = True
        elif proxy_host:
            self.rewrite_host = True
            self.fixed_host = proxy_host.encode("ascii" if proxy_host.isascii() else "idna")

    def __call__(self, stream: Stream) -> Coroutine[Any, Any, None] | None:
        request = stream.request
        if self.gate is None and not request.has_body and request.method in IDEMPOTENT \
                and self.cache is None:
            known = self._fields(stream)
            if not known.upgrade:
                # The fast path: a kept-alive member connection, the answer relayed from
                # its read callback; no coroutine unless the response has to stream.
                ids = self._ids(stream, known.incoming)
                headers = known.fields + ids
                response = self.pool.start_idle(
                    request.method, self.member_target(stream), headers,
                    block=known.block + _lines(ids) if known.block else b"")
                if response is not None:
                    response.listener = partial(self._on_member, stream, headers,
                                                time.monotonic())
                    return None
                return self.forward(stream, headers)
        return self._admit_and_forward(stream)

    async def _admitted(self, stream: Stream) -> bool:
        """The gateway's admission (source, token, role, rate); a refusal is answered."""
        gate = self.gate
        if gate is None:
            return True
        refusal = await gate.admit(stream, self.pool.alias)
        if refusal is not None and not stream.closed:
            _refuse(stream, refusal)
        return refusal is None

    async def _admit_and_forward(self, stream: Stream) -> None:
        if not await self._admitted(stream):
            return
        if ws_proto.is_upgrade(stream.request) and hasattr(stream.sink, "switch_protocol"):
            await self._websocket(stream)
            return
        if self.cache is not None and stream.request.method in _CACHED_METHODS \
                and not stream.request.has_body:
            from skitai.gateway import cached

            await cached.forward(self, self.cache, stream)
            return
        await self.forward(stream)

    async def websocket(self, stream: Stream) -> None:
        """An HTTP/2 extended CONNECT for a WebSocket (``handler.WebSocketTunnel``)."""
        if await self._admitted(stream):
            await self._websocket(stream)

    async def _websocket(self, stream: Stream) -> None:
        from skitai.gateway import wsproxy

        headers = self.member_headers(stream)
        await wsproxy.forward(self, stream, headers)

    def _on_member(self, stream: Stream, headers: Headers, started: float,
                   response: ResponseStream) -> None:
        """Fast path events: the response is whole (relay it), or its head came and the
        body streams (hand it to a coroutine), or the member failed before answering."""
        if response.complete:
            response.listener = None
            if self.logged:
                stream.upstream = _upstream(response.member.label, started)
            if not stream.closed:
                self.send_whole(stream, response, response.take())
            self.pool.release(response)
            return
        error = response.error
        if error is not None and not response.status:
            response.listener = None
            self.pool.release(response)
            if stream.closed:
                return
            if isinstance(error, UpstreamTimeout) or response.received:
                self._log_failure(stream, error, started)
                _error_page(stream, error.status_hint)
                return
            # A kept-alive connection the member had closed: try again the slow way (an
            # idempotent request without a body: safe to send twice).
            _spawn(self.pool.loop, self.forward(stream, headers))
        elif response.status:
            response.listener = None
            if self.logged:
                stream.upstream = _upstream(response.member.label, started)
            _spawn(self.pool.loop, self._stream_out(stream, response))

    async def _stream_out(self, stream: Stream, response: ResponseStream) -> None:
        try:
            await self.relay(stream, response)
        finally:
            self.pool.release(response)

    async def forward(self, stream: Stream, headers: Headers | None = None) -> None:
        request = stream.request
        if headers is None:
            headers = self.member_headers(stream)
        body = _body(stream) if request.has_body else None
        length = request.content_length
        if length is not None and _may_have_trailers(request):
            length = None  # chunked to the member: its trailer section carries the client's
        # Expect: 100-continue is the member's to answer (Envoy's proxy_100_continue):
        # its 100 reaches the client when it comes, and a member that refuses the head
        # (413, 401, 417) is relayed at once, the body never read from the client.
        relay_100 = partial(_continue, stream) if request.expect_continue else None
        started = time.monotonic()
        try:
            response = await self.pool.open(request.method, self.member_target(stream), headers,
                                            body, length=length,
                                            trailers=partial(_trailers, stream),
                                            on_continue=relay_100)
        except UpstreamError as exc:
            self.fail(stream, exc, started)
            return
        if self.logged:
            stream.upstream = _upstream(response.member.label, started)
        try:
            await self.relay(stream, response)
        finally:
            self.pool.release(response)

    # --- request side ---------------------------------------------------------------------
    def member_target(self, stream: Stream) -> bytes:
        """The request target without the mount point, as the client wrote it."""
        target = stream.request.target
        prefix = self.prefix_bytes
        if prefix:
            if target.startswith(prefix):
                target = target[len(prefix):]
            else:  # the client percent-encoded the mount point: rebuild from PATH_INFO
                path = quote(stream.path_info.encode("latin-1"), safe="/;=:@!$&'()*+,~")
                target = path.encode("ascii") + (b"?" + stream.query if stream.query else b"")
            if not target or target[:1] == b"?":
                target = b"/" + target
        return target

    def member_headers(self, stream: Stream, txn_headers: Headers | None = None) -> Headers:
        """The fields the member gets (a new list): the client's without the hop-by-hop
        and replaced ones, ``Host``, ``X-Forwarded-*``, ``Via``, and the transaction ids
        (``txn_headers``, or the stream's next call's)."""
        known = self._fields(stream)
        return known.fields + (self._ids(stream, known.incoming) if txn_headers is None
                               else txn_headers)

    def _fields(self, stream: Stream) -> _Fields:
        """``member_headers`` without the ids.  A keep-alive client sends the same head
        again and again: its connection keeps the last one and what it made
        (``EnvironCache.proxied``); comparing two lists costs less than the scan."""
        headers = stream.request.headers
        cache = stream.environ_cache
        if cache is not None:
            known = cache.proxied
            if type(known) is _Fields and known.handler is self and known.head == headers:
                return known
        known = self._member_fields(stream)
        if cache is not None:
            cache.proxied = known
        return known

    @staticmethod
    def _ids(stream: Stream, incoming: bool) -> Headers:
        """The transaction id fields of the stream's next backend call."""
        cache = stream.environ_cache
        if incoming or stream.txn_ids is not None or cache is None:
            return stream.txn().next_call()[1]
        # An edge request (no ids came), its one backend call: the ids a minted Txn's
        # next_call gives, without the Txn (a Txn made later, for the log, agrees).
        prefix = cache.gtxid_prefix
        if not prefix:
            prefix = cache.gtxid_prefix = txn_mod.edge_prefix(id(stream.sink) & 0xFFFF)
        return txn_mod.edge_call((prefix + str(stream.stream_id)).encode("ascii"))

    def _member_fields(self, stream: Stream) -> _Fields:
        """The scan ``_fields`` keeps: the member's fields but the ids, whether the
        request came with ids of its own (``X-Gtxn-Id`` or ``traceparent``) and whether
        it asks for an upgrade."""
        request = stream.request
        client = stream.client[0] if stream.client else ""
        trusted = bool(self.trusted.networks) and client in self.trusted
        named: set[bytes] | None = None
        host = xff = proto = fhost = None
        incoming = upgrade = False
        out: Headers = []
        for name, value in request.headers:  # one pass: kept fields, and what we replace
            if name not in _DROPPED and name[:1] != b":":
                out.append((name, value))
            elif name == b"connection":
                named = {t.strip().lower() for t in value.split(b",")}
            elif name == b"host" or name == b":authority":
                host = host or value
            elif name == b"x-forwarded-for":
                xff = value if xff is None else xff + b", " + value
            elif name == b"x-forwarded-proto":
                proto = value
            elif name == b"x-forwarded-host":
                fhost = value
            elif name == b"x-gtxn-id" or name == b"traceparent":
                incoming = True
            elif name == b"upgrade":
                upgrade = True
        if named:  # fields the client's Connection header names are hop-by-hop too
            out = [h for h in out if h[0] not in named]
        if self.fixed_host is not None:
            out.append((b"host", self.fixed_host))
        elif host is not None and not self.rewrite_host:
            out.append((b"host", host))
        addr = client.encode("latin-1")
        out.append((b"x-forwarded-for", xff + b", " + addr if trusted and xff else addr))
        out.append((b"x-forwarded-proto",
                    proto if trusted and proto else stream.scheme.encode("latin-1")))
        if fhost is not None and trusted:
            out.append((b"x-forwarded-host", fhost))
        elif host is not None:
            out.append((b"x-forwarded-host", host))
        version = b"2" if request.http_version == b"2" else b"1.1"
        out.append((b"via", version + b" skitai"))
        return _Fields(self, request.headers[:], out, incoming, upgrade)

    # --- response side ---------------------------------------------------------------------
    async def relay(self, stream: Stream, response: ResponseStream) -> None:
        if response.error is not None and not stream.headers_sent:
            # Broken before we said anything (bad chunking right after the head): a 502.
            self.fail(stream, response.error)
            return
        if response.complete:
            # The whole answer is here (the usual small response): one write.
            body = response.take()
            if not stream.closed:
                self.send_whole(stream, response, body)
            return
        headers = client_headers(response.headers)
        try:
            stream.send_head(response.status, headers, response.reason)
            timeout = self.pool.timeout
            while True:
                data = await response.read(timeout)
                if not data:
                    break
                await stream.send_data(data)
            stream.end(response.trailers)
        except ClientDisconnected:
            return  # the pool closes the member connection (the response did not end)
        except UpstreamError as exc:
            log.warning("@%s: %s failed in the middle of a response to %s: %s",
                        self.pool.name, response.member.label,
                        stream.request.target.decode("latin-1"), exc)
            _abort(stream)

    @staticmethod
    def send_whole(stream: Stream, response: ResponseStream, body: bytes) -> None:
        # The usual answer (no hop-by-hop field, a Content-Length) goes with its own list.
        headers = client_headers(response.headers) if response.hop else response.headers
        if body and response.length < 0:
            if headers is response.headers:
                headers = headers[:]
            headers.append((b"content-length", str(len(body)).encode()))
        if response.trailers:
            stream.send_head(response.status, headers, response.reason)
            stream.send_data_nowait(body)
            stream.end(response.trailers)
        else:
            stream.respond(response.status, headers, body, response.reason)

    def fail(self, stream: Stream, exc: UpstreamError, started: float | None = None) -> None:
        """No answer from any member: 502, or 504 for a timeout."""
        self._log_failure(stream, exc, time.monotonic() if started is None else started)
        if not stream.closed and not stream.headers_sent:
            _error_page(stream, exc.status_hint)

    def _log_failure(self, stream: Stream, exc: UpstreamError, started: float) -> None:
        stream.upstream = f"{exc.member or '-'}/{_ms(started)}ms"
        kind = "timed out" if isinstance(exc, UpstreamTimeout) else "failed"
        log.warning("@%s %s for %s: %s", self.pool.name, kind,
                    stream.request.target.decode("latin-1"), exc)


def client_headers(headers: Headers) -> Headers:
    """The member's response headers without the hop-by-hop ones (and what Connection
    names).  Content-Length stays: the client's framing follows the member's length."""
    named: set[bytes] = set()
    for name, value in headers:
        if name == b"connection":
            named.update(t.strip().lower() for t in value.split(b","))
    drop = HOP_BY_HOP | named if named else HOP_BY_HOP
    return [(n, v) for n, v in headers if n not in drop]


async def _body(stream: Stream) -> AsyncIterator[bytes]:
    while data := await stream.receive():
        yield data


def _continue(stream: Stream) -> None:
    """The member's 100 Continue (or its silence, see pool.EXPECT_WAIT): tell the client."""
    if not stream.headers_sent and not stream.closed and not stream.ended:
        stream.send_informational(100)


def _trailers(stream: Stream) -> Headers:
    return stream.body.trailers


def _may_have_trailers(request: events.Request) -> bool:
    """An HTTP/2 request that announced trailers (``Trailer``, or gRPC's ``TE: trailers``):
    HTTP/2 may end a body of known length with a trailing HEADERS frame."""
    if request.http_version != b"2":
        return False
    return any(n == b"trailer" or (n == b"te" and b"trailers" in v.lower())
               for n, v in request.headers)


def answer(stream: Stream, status: int, extra: Sequence[tuple[bytes, bytes]] = ()) -> None:
    """The worker's error page for ``status`` (with ``extra`` headers)."""
    headers, body = errorpage.page(status)
    stream.respond(status, [*headers, *extra], body)


def _error_page(stream: Stream, status: int) -> None:
    answer(stream, status)


def _refuse(stream: Stream, refusal: Refusal) -> None:
    answer(stream, refusal.status, refusal.headers)


def _abort(stream: Stream) -> None:
    """End the client's response as broken: the connection closes (HTTP/1.1) or the
    stream is reset (HTTP/2), so the client never takes it for a whole one."""
    if stream.closed:
        return
    abort = getattr(stream.sink, "stream_abort", None)
    if abort is not None:
        abort(stream.stream_id)


def _spawn(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, None]) -> None:
    """Run ``coro`` from a callback (started at once, see ``worker/eager.py``); a failure
    is logged, not lost."""
    started = eager.start(loop, coro)
    if started is not None:
        started.add_done_callback(_log_crash)


def _log_crash(fut: asyncio.Future[Any]) -> None:
    if not fut.cancelled() and fut.exception() is not None:
        log.error("proxy task failed", exc_info=fut.exception())


def _lines(fields: Headers) -> bytes:
    """Fields as HTTP/1.1 field lines (``name: value\r\n`` each)."""
    if len(fields) == 3:  # the transaction ids (txn.Txn.next_call, txn.edge_call)
        (a, b), (c, d), (e, f) = fields
        return b"%b: %b\r\n%b: %b\r\n%b: %b\r\n" % (a, b, c, d, e, f)
    return b"".join([b"%b: %b\r\n" % field for field in fields])


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return host == "localhost"
    return True


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _upstream(label: str, started: float) -> str:
    """The request log's ``upstream=`` field: the member and its time, ``member/NNms``."""
    return f"{label}/{int((time.monotonic() - started) * 1000)}ms"
