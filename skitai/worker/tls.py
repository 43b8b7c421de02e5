"""TLS for the web worker: the ``SSLContext``.

The context is built in each worker at start from ``ServerConfig`` (never stored in the
config: it is a runtime object).  A reload (HUP) starts a new generation of workers, so
replaced certificate files are read by the new workers while the old ones finish.

Defaults: TLS 1.2 and later, AEAD ciphers with forward secrecy for TLS 1.2 (which also
keeps HTTP/2 away from the ciphers RFC 9113 9.2.2 forbids), no compression, no
renegotiation, ALPN offering ``h2`` then ``http/1.1``.
"""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING

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
