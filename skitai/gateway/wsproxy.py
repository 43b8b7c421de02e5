"""WebSocket through the reverse proxy: a client's upgrade (HTTP/1.1 ``Upgrade:
websocket``, or an HTTP/2 extended CONNECT, RFC 8441) becomes an HTTP/1.1 upgrade to a
member; after the member's 101 the two connections are joined by a byte tunnel.

An HTTP/2 client sends no ``Sec-WebSocket-Key`` (RFC 8441 4): the proxy makes one for
the member and answers the client 200 without ``Sec-WebSocket-Accept``.  A member that
refuses (any status but 101) has its answer relayed as a plain response.
"""

from __future__ import annotations

import base64
import os
from typing import TYPE_CHECKING, Any

from skitai.gateway.tunnel import Tunnel
from skitai.upstream.connection import Headers, UpstreamError
from skitai.worker.stream import Stream

if TYPE_CHECKING:
    from skitai.gateway.proxy import ProxyHandler

# What goes back to the client with the switch (the rest of a 101 head is per hop).
_KEEP_101 = frozenset({b"sec-websocket-accept", b"sec-websocket-protocol",
                       b"sec-websocket-extensions", b"set-cookie"})


async def forward(proxy: ProxyHandler, stream: Stream, headers: Headers) -> None:
    request = stream.request
    sink: Any = stream.sink
    h2 = request.http_version == b"2"
    method = request.method
    if h2:  # an extended CONNECT (read as a GET): an upgrade to the member, our own key
        method = b"GET"
        headers = [h for h in headers
                   if h[0] != b"sec-websocket-key" and h[0] != b"sec-websocket-version"]
        headers += [(b"sec-websocket-key", base64.b64encode(os.urandom(16))),
                    (b"sec-websocket-version", b"13")]
    try:
        response = await proxy.pool.open(method, proxy.member_target(stream), headers,
                                         upgrade=b"websocket")
    except UpstreamError as exc:
        _decline(sink)
        proxy.fail(stream, exc)
        return
    if not (response.upgraded and response.status == 101):
        _decline(sink)
        try:
            await proxy.relay(stream, response)
        finally:
            proxy.pool.release(response)
        return
    transport = response.conn.detach()
    tail = response.tail
    proxy.pool.release(response)
    if transport is None or stream.closed:
        if transport is not None:
            transport.close()
        return
    tunnel = Tunnel(proxy.pool.loop, idle=proxy.tunnel_idle)
    tunnel.adopt_member(transport, tail)
    kept = [(n, v) for n, v in response.headers if n in _KEEP_101]
    if h2:
        stream.send_head(200, [(n, v) for n, v in kept if n != b"sec-websocket-accept"])
    else:
        stream.send_head(101, [(b"upgrade", b"websocket"), (b"connection", b"upgrade"), *kept])
    sink.switch_protocol(lambda t, trailing: tunnel.adopt_client(t, trailing))


def _decline(sink: Any) -> None:
    """The upgrade is answered over HTTP (HTTP/1.1 then parses what follows; HTTP/2 has
    nothing to undo)."""
    decline = getattr(sink, "decline_upgrade", None)
    if decline is not None:
        decline()
