"""``skitai.enable_proxy()``: a forward HTTP proxy on the main listener.

Absolute-form requests (``GET http://host:port/path HTTP/1.1``) are sent on to the
destination through a keep-alive pool per destination (the reverse proxy's handler and
framing: hop-by-hop headers dropped, one well-framed request per client request), and
``CONNECT host:port`` opens a byte tunnel after ``200 Connection established``.

A WebSocket in absolute form (``GET ws://host:port/path`` with ``Upgrade: websocket``;
``wss://`` for a TLS destination) is the reverse proxy's WebSocket pass-through to that
destination: an HTTP/1.1 upgrade to it, then the two connections joined by a byte
tunnel.  Over HTTP/2, ``CONNECT`` is RFC 9113 8.5's (``:method CONNECT`` and
``:authority`` only): the answer is a 200 HEADERS frame and the tunnel's bytes are the
stream's DATA frames (``websocket_h2.take_connect``).  The client's END_STREAM is a
half-close, as a TCP client's FIN over HTTP/1.1: the destination gets EOF (``write_eof``)
and what it still sends flows back until it closes, which ends the stream (END_STREAM);
RST_STREAM ends both directions at once.

Never an open proxy: only clients inside ``clients`` (default: loopback) may use it, only
to ``hosts`` (exact names, or ``.domain`` for a domain and its subdomains; default any)
and ``ports`` (default 80 and 443).  Anything else is a 403 that names nothing of the
rules.  Pools are bounded (least recently used destinations are dropped).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import ssl as ssl_mod
from collections.abc import Coroutine
from typing import Any
from urllib.parse import urlsplit

from skitai.config import aliases
from skitai.config.model import ServerConfig
from skitai.gateway.proxy import ProxyHandler, TrustedProxies, answer
from skitai.gateway.tunnel import Tunnel
from skitai.upstream.pool import AliasPool
from skitai.worker.protocols import websocket as ws_proto
from skitai.worker.stream import Stream

log = logging.getLogger("skitai.gateway")

MAX_DESTINATIONS = 256
CONNECTED = b"HTTP/1.1 200 Connection established\r\n\r\n"


class _AbsoluteForm(ProxyHandler):
    """The reverse proxy's handler for one destination; the target is the URL's path."""

    def member_target(self, stream: Stream) -> bytes:
        parts = urlsplit(stream.request.target.decode("latin-1"))
        path = parts.path or "/"
        return (path + ("?" + parts.query if parts.query else "")).encode("latin-1")


class ForwardProxy:
    def __init__(self, config: ServerConfig, loop: asyncio.AbstractEventLoop) -> None:
        assert config.forward_proxy is not None
        self.rules = config.forward_proxy
        self.config = config
        self.loop = loop
        self.clients = TrustedProxies(self.rules.clients)
        self._handlers: collections.OrderedDict[tuple[str, str, int], _AbsoluteForm] = \
            collections.OrderedDict()
        self._ssl: ssl_mod.SSLContext | None = None

    @staticmethod
    def wants(target: bytes, method: bytes) -> bool:
        """Is this request for the forward proxy (not for a mount)?"""
        if method == b"CONNECT":
            return True
        if target[:1] == b"/":  # origin form: the usual request, for a mount
            return False
        head = target[:7].lower()
        return head in (b"http://", b"https:/") or head[:5] == b"ws://" or head[:6] == b"wss://"

    def __call__(self, stream: Stream) -> Coroutine[Any, Any, None] | None:
        request = stream.request
        client = stream.client[0] if stream.client else ""
        if client not in self.clients:
            return self._refuse(stream, 403, "client")
        if request.method == b"CONNECT":
            return self._connect(stream)
        parts = urlsplit(request.target.decode("latin-1"))
        scheme = parts.scheme.lower()
        try:
            host, port = parts.hostname or "", parts.port or (443 if scheme == "https" else 80)
        except ValueError:
            return self._refuse(stream, 400, "bad target")
        if scheme in ("ws", "wss"):
            # A WebSocket through the proxy: only as an upgrade (what else could a ws://
            # request be?), over the http(s) pool of the destination.
            if not ws_proto.is_upgrade(request) or request.http_version == b"2":
                return self._refuse(stream, 400, "ws:// without a WebSocket upgrade")
            scheme = "https" if scheme == "wss" else "http"
            port = parts.port or (443 if scheme == "https" else 80)
        if scheme not in ("http", "https") or not host:
            return self._refuse(stream, 400, "bad target")
        if not self.allowed(host, port):
            return self._refuse(stream, 403, "destination")
        return self._handler(scheme, host, port)(stream)

    def allowed(self, host: str, port: int) -> bool:
        host = host.lower().rstrip(".")
        if port not in self.rules.ports:
            return False
        if not self.rules.hosts:
            return True
        return any(host == rule or (rule.startswith(".") and (host.endswith(rule)
                                                              or host == rule[1:]))
                   for rule in self.rules.hosts)

    def _handler(self, scheme: str, host: str, port: int) -> _AbsoluteForm:
        key = (scheme, host, port)
        handler = self._handlers.get(key)
        if handler is not None:
            self._handlers.move_to_end(key)
            return handler
        netloc = f"[{host}]" if ":" in host else host
        alias = aliases.make(f"@proxy:{scheme}:{host}:{port}", scheme, [f"{netloc}:{port}"],
                             where="enable_proxy()")
        pool = AliasPool(alias, self.loop, keep_alive=self.config.proxy_keep_alive,
                         timeout=self.config.backend_timeout,
                         ssl_context=self._context() if scheme == "https" else None,
                         http2=self.config.backend_http2)
        handler = _AbsoluteForm(pool, mount_point="/", body_limit=self.config.max_client_body_size,
                                tunnel_idle=self.config.proxy_tunnel_timeout)
        self._handlers[key] = handler
        while len(self._handlers) > MAX_DESTINATIONS:
            _, old = self._handlers.popitem(last=False)
            old.pool.close()
        return handler

    def _context(self) -> ssl_mod.SSLContext | None:
        if not self.rules.unsecure_https:
            return None  # the pool's default: verification on
        if self._ssl is None:
            self._ssl = ssl_mod.create_default_context()
            self._ssl.check_hostname = False
            self._ssl.verify_mode = ssl_mod.CERT_NONE
        return self._ssl

    async def _connect(self, stream: Stream) -> None:
        sink: Any = stream.sink
        target = stream.request.target.decode("latin-1")
        host, sep, port_text = target.rpartition(":")
        host = host.strip("[]")
        if not sep or not port_text.isdigit() or not host:
            self._refuse(stream, 400, "bad CONNECT target")
            return
        port = int(port_text)
        if not self.allowed(host, port) or not hasattr(sink, "switch_protocol"):
            self._refuse(stream, 403, "destination")
            return
        h2 = stream.request.http_version == b"2"
        tunnel = Tunnel(self.loop, idle=self.config.proxy_tunnel_timeout)
        try:
            transport, _ = await asyncio.wait_for(
                self.loop.create_connection(lambda: tunnel.member, host, port),
                min(10.0, self.config.backend_timeout))
        except (OSError, TimeoutError) as exc:
            log.info("CONNECT %s:%d failed: %s", host, port, exc)
            self._refuse(stream, 504 if isinstance(exc, TimeoutError) else 502, "unreachable")
            return
        if stream.closed:
            transport.close()
            return
        stream.upstream = f"{host}:{port}/tunnel"

        def adopt(client: Any, trailing: bytes) -> asyncio.Protocol:
            if not h2:  # (HTTP/2: the 200 went out as a HEADERS frame, below)
                client.write(CONNECTED)
            return tunnel.adopt_client(client, trailing)

        tunnel.member.transport = transport
        if h2:
            stream.send_head(200, [])  # RFC 9113 8.5: a 2xx; the stream is the tunnel now
        sink.switch_protocol(adopt)

    @staticmethod
    def _refuse(stream: Stream, status: int, why: str) -> None:
        log.info("forward proxy refused %s %s from %s: %s", stream.request.method.decode(),
                 stream.request.target[:200].decode("latin-1"),
                 stream.client[0] if stream.client else "-", why)
        # HTTP/1.1: the connection goes (a refused CONNECT or upgrade may be followed by
        # bytes meant for the tunnel); HTTP/2: only this stream ends.
        h2 = stream.request.http_version == b"2"
        answer(stream, status, [] if h2 else [(b"connection", b"close")])
