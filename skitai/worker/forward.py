"""The ``enable_forward`` listener: every request is redirected to the HTTPS port.

``ForwardHandler`` is the only mount of the forward listener's router, so it answers on
every protocol that listener speaks: HTTP/1.1, h2c (prior knowledge and ``Upgrade``),
and a WebSocket upgrade (a redirect, as any request).  GET and HEAD get 301, other methods
308 (which keeps the method and body, RFC 9110 15.4.9); the body is not read.

The target host is never taken blindly from the request's Host: it must be one of the
configured names (exact, or under a ``.example.com`` wildcard); any other Host is sent to
the first configured name, or, when no name is configured, to the address the client
connected to (so a forged Host cannot turn this into an open redirect).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from skitai.worker import errorpage
from skitai.worker.routing import Router

if TYPE_CHECKING:
    from skitai.config.model import ServerConfig
    from skitai.worker.stream import Stream


def forward_names(config: ServerConfig) -> tuple[str, ...]:
    """The host names a redirect may go to: ``enable_forward(hosts=...)``, else the
    ``host=`` of the mounts (``.example.com`` wildcards included)."""
    names = config.forward_hosts
    if names:
        return tuple(n.lower() for n in names)
    seen: list[str] = []
    for spec in config.mounts:
        if spec.host and spec.host not in seen:
            seen.append(spec.host.lower())
    return tuple(seen)


def redirect_host(host: bytes | None, names: tuple[str, ...], fallback: str) -> str:
    """The host part of the redirect target for a request with this Host header."""
    name = ""
    if host:
        text = host.decode("latin-1").lower()
        if text.startswith("["):
            name = text[: text.find("]") + 1]
        else:
            name = text.rsplit(":", 1)[0] if text.count(":") == 1 else text
    if name:
        for allowed in names:
            if allowed.startswith("."):
                if name.endswith(allowed) or name == allowed[1:]:
                    return name
            elif name == allowed:
                return name
    for allowed in names:
        if not allowed.startswith("."):
            return allowed
        return allowed[1:]
    return fallback


class ForwardHandler:
    """The redirect (see the module docstring)."""

    # A redirect reads no body, so no size makes it a 413 first.
    body_limit = sys.maxsize

    def __init__(self, names: tuple[str, ...], port: int) -> None:
        self.names = names
        self.port = port or 443

    def __call__(self, stream: Stream) -> None:
        request = stream.request
        host = None
        for name, value in request.headers:
            if name == b"host" or name == b":authority":
                host = value
                break
        fallback = stream.server[0] if stream.server else "localhost"
        if ":" in fallback:
            fallback = f"[{fallback}]"
        target_host = redirect_host(host, self.names, fallback)
        authority = target_host if self.port == 443 else f"{target_host}:{self.port}"
        path = request.target if request.target.startswith(b"/") else b"/"
        location = b"https://" + authority.encode("latin-1") + path
        status = 301 if request.method in (b"GET", b"HEAD") else 308
        headers, body = errorpage.page(status)
        stream.respond(status, [(b"location", location), *headers], body)


def forward_router(config: ServerConfig) -> Router:
    """The forward listener's mounts: the redirect at ``/`` for every host."""
    router = Router()
    router.default.add("/", app=ForwardHandler(forward_names(config), config.forward_to))
    return router
