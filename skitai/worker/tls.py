"""TLS for the web worker: the ``SSLContext`` and the HTTP -> HTTPS forward listener.

The context is built in each worker at start from ``ServerConfig`` (never stored in the
config: it is a runtime object).  A reload (HUP) starts a new generation of workers, so
replaced certificate files are read by the new workers while the old ones finish.

Defaults: TLS 1.2 and later, AEAD ciphers with forward secrecy for TLS 1.2 (which also
keeps HTTP/2 away from the ciphers RFC 9113 9.2.2 forbids), no compression, no
renegotiation, ALPN offering ``h2`` then ``http/1.1``.

``ForwardConnection`` answers every request on the ``enable_forward`` port with a
redirect to the HTTPS port.  The target host is never taken blindly from the request's
Host: it must be one of the configured names (exact, or under a ``.example.com``
wildcard); any other Host is sent to the first configured name, or, when no name is
configured, to the address the client connected to (so a forged Host cannot turn this
into an open redirect).
"""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING

from skitai.worker import events
from skitai.worker.server import Connection

if TYPE_CHECKING:
    from skitai.config.model import ServerConfig

ALPN = ["h2", "http/1.1"]
TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20"


def build_context(cert: str, key: str | None = None, passphrase: str | None = None,
                  *, alpn: list[str] | None = None) -> ssl.SSLContext:
    """A server context; raises ``ssl.SSLError``/``OSError`` naming a bad file or pass phrase."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(TLS12_CIPHERS)
    ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE
    ctx.options |= getattr(ssl, "OP_NO_RENEGOTIATION", 0)
    ctx.load_cert_chain(cert, key or None, password=passphrase or None)
    ctx.set_alpn_protocols(alpn if alpn is not None else ALPN)
    return ctx


def context_from_config(config: ServerConfig) -> ssl.SSLContext | None:
    if not config.ssl_cert:
        return None
    return build_context(config.ssl_cert, config.ssl_key, config.ssl_passphrase)


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


class ForwardConnection(Connection):
    """HTTP/1.1 on the forward port: every request gets a redirect to HTTPS."""

    def _start(self, request: events.Request) -> None:
        from skitai.worker.stream import Stream

        server = self.server
        stream = Stream(self, request, self.loop, scheme="http", client=self.client,
                        server=self.sockname, started=self.loop.time())
        self.current = stream
        self.task = None
        host = None
        for name, value in request.headers:
            if name == b"host":
                host = value
                break
        fallback = self.sockname[0] if self.sockname else "localhost"
        if ":" in fallback:
            fallback = f"[{fallback}]"
        names: tuple[str, ...] = getattr(server, "forward_names", ())
        target_host = redirect_host(host, names, fallback)
        port = int(getattr(server, "forward_to", 443) or 443)
        authority = target_host if port == 443 else f"{target_host}:{port}"
        path = request.target if request.target.startswith(b"/") else b"/"
        location = b"https://" + authority.encode("latin-1") + path
        # 308 keeps the method and body (RFC 9110 15.4.9); GET/HEAD get the familiar 301.
        status = 301 if request.method in (b"GET", b"HEAD") else 308
        body = b"<h1>Moved</h1>"
        if request.has_body:
            self._closing = True  # the body is not read
        stream.respond(status, [(b"location", location),
                                (b"content-type", b"text/html; charset=utf-8"),
                                (b"content-length", str(len(body)).encode())], body)
