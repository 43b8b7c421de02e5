"""``build_environ``: a pure function from a parsed request to a PEP 3333 environ.

Strings are "native strings": bytes decoded as latin-1, so every byte survives and the
app can re-encode (PEP 3333).  ``SCRIPT_NAME`` is the mount point, ``PATH_INFO`` the
percent-decoded rest.  Header names with ``_`` are dropped: ``X_Forwarded_For`` and
``X-Forwarded-For`` would both become ``HTTP_X_FORWARDED_FOR`` and one could spoof the
other (gunicorn does the same).
"""

from __future__ import annotations

import io
import sys
from typing import IO, Any

from skitai.worker import events

_PROTOCOLS = {b"1.1": "HTTP/1.1", b"1.0": "HTTP/1.0", b"2": "HTTP/2", b"0.9": "HTTP/0.9"}
# Header name -> environ key (RFC 3875 4.1.18); the two CGI ones are not HTTP_ keys and
# are never combined (the parser already refuses a repeated Content-Length).
_HEADER_KEYS: dict[bytes, str] = {b"content-type": "CONTENT_TYPE",
                                  b"content-length": "CONTENT_LENGTH"}
_SINGLE = frozenset(("CONTENT_TYPE", "CONTENT_LENGTH"))
_METHODS = {m.encode(): m for m in ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH",
                                      "OPTIONS", "CONNECT", "TRACE")}
# (Host header, server address, scheme) -> (SERVER_NAME, SERVER_PORT): a few per worker.
_SERVER_NAMES: dict[tuple[str | None, tuple[str, int] | None, str], tuple[str, str]] = {}


def _header_key(name: bytes) -> str | None:
    key = _HEADER_KEYS.get(name)
    if key is None:
        if b"_" in name:
            return None
        key = "HTTP_" + name.decode("latin-1").upper().replace("-", "_")
        if len(_HEADER_KEYS) < 4096:
            _HEADER_KEYS[name] = key
    return key


class EnvironCache:
    """What one connection's requests share in their environ, kept on the connection.

    ``common``: the worker's base keys plus the connection's own (scheme, client
    address), made once.  ``headers``/``fields``: the last request head's header list
    and the environ entries made of it (``HTTP_*``, ``CONTENT_*``, ``SERVER_NAME``,
    ``SERVER_PORT``): a keep-alive client sends the same header block request after
    request, and comparing two lists costs less than decoding it again."""

    __slots__ = ("base", "common", "headers", "chunked", "fields", "gtxid_prefix",
                 "template", "extra_keys", "proxied")

    def __init__(self) -> None:
        self.base: dict[str, Any] | None = None
        self.common: dict[str, Any] = {}
        self.headers: events.Headers | None = None
        self.chunked = False
        self.fields: dict[str, str] = {}
        self.gtxid_prefix = ""  # the connection's "GTID-<tag>-C<n>-R" (Stream.put_txn)
        # common + every key a request sets (placeholders) + fields + the extra keys: a
        # request's environ is its copy (one memcpy of a table already the right size)
        # with values replaced, not a dict grown key by key.
        self.template: dict[str, Any] | None = None
        self.extra_keys: tuple[str, ...] = ()
        # The reverse proxy's memo of the last request head it forwarded (gateway/proxy.py)
        self.proxied: object = None


# Set for every request after the template's copy (build_environ), and the transaction
# ids set right after it by the WSGI handler (Stream.put_txn): placeholders in the template.
_PER_REQUEST = dict.fromkeys(("REQUEST_METHOD", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING",
                              "RAW_URI", "REQUEST_URI", "SERVER_PROTOCOL", "wsgi.input",
                              "skitai.gtxid", "skitai.ltxid"), "")


def build_environ(
    request: events.Request,
    *,
    script_name: str,
    path_info: str,
    query: bytes,
    scheme: str,
    client: tuple[str, int] | None,
    server: tuple[str, int] | None,
    body: IO[bytes] | io.RawIOBase,
    base: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
    cache: EnvironCache | None = None,
) -> dict[str, Any]:
    """``script_name`` and ``path_info`` are the router's latin-1 strings; ``extra`` is
    merged last (``skitai.hint_promise``); ``cache`` is the connection's (the same
    ``scheme``, ``client`` and ``server`` for every call with it)."""
    base = base or {}
    headers = request.headers
    if cache is None:
        environ = _common(base, scheme, client)
    else:
        if cache.base is not base:
            cache.common = _common(base, scheme, client)
            cache.base = base
            cache.template = None
        extra_keys = tuple(extra) if extra else ()
        template = cache.template
        if (template is None or headers != cache.headers or request.chunked != cache.chunked
                or extra_keys != cache.extra_keys):
            if headers != cache.headers or request.chunked != cache.chunked:
                cache.fields = _fields(headers, request.chunked, server, scheme)
                cache.headers, cache.chunked = headers, request.chunked
            template = cache.common.copy()
            template.update(_PER_REQUEST)
            template.update(cache.fields)
            template.update(dict.fromkeys(extra_keys))
            cache.template, cache.extra_keys = template, extra_keys
        environ = template.copy()
    method = request.method
    environ["REQUEST_METHOD"] = _METHODS.get(method) or method.decode("latin-1")
    environ["SCRIPT_NAME"] = script_name
    environ["PATH_INFO"] = path_info
    environ["QUERY_STRING"] = query.decode("latin-1") if query else ""
    environ["RAW_URI"] = environ["REQUEST_URI"] = request.target.decode("latin-1")
    environ["SERVER_PROTOCOL"] = _PROTOCOLS.get(request.http_version, "HTTP/1.1")
    environ["wsgi.input"] = body
    if cache is None:
        environ.update(_fields(headers, request.chunked, server, scheme))
    if extra:
        environ.update(extra)
    return environ


def _common(base: dict[str, Any], scheme: str, client: tuple[str, int] | None) -> dict[str, Any]:
    environ = dict(base)
    environ["wsgi.url_scheme"] = scheme
    environ["wsgi.input_terminated"] = True
    if client:
        environ["REMOTE_ADDR"] = client[0]
        environ["REMOTE_PORT"] = str(client[1])
    else:
        environ["REMOTE_ADDR"] = ""
    return environ


def _fields(headers: events.Headers, chunked: bool, server: tuple[str, int] | None,
            scheme: str) -> dict[str, str]:
    """The environ entries made of a request's header fields."""
    fields: dict[str, str] = {}
    keys = _HEADER_KEYS
    for name, value in headers:
        key = keys.get(name) or _header_key(name)
        if key is None:
            continue
        if key in fields and key not in _SINGLE:
            # RFC 9110 5.3: repeated fields combine with commas (cookies with "; ").
            fields[key] += ("; " if key == "HTTP_COOKIE" else ",") + value.decode("latin-1")
        else:
            fields[key] = value.decode("latin-1")
    if chunked and "CONTENT_LENGTH" not in fields:
        fields["CONTENT_LENGTH"] = ""
    host = fields.get("HTTP_HOST")
    names = _SERVER_NAMES.get((host, server, scheme))
    if names is None:
        names = _server_name(host, server, scheme)
        if len(_SERVER_NAMES) < 1024:
            _SERVER_NAMES[(host, server, scheme)] = names
    fields["SERVER_NAME"], fields["SERVER_PORT"] = names
    return fields


def _server_name(host: str | None, server: tuple[str, int] | None,
                 scheme: str) -> tuple[str, str]:
    default_port = "443" if scheme == "https" else "80"
    if host:
        text = host
        if text.startswith("["):
            end = text.find("]")
            name, rest = text[: end + 1], text[end + 1 :]
            return name, rest[1:] if rest.startswith(":") else default_port
        if ":" in text:
            name, _, port = text.rpartition(":")
            return name, port or default_port
        return text, default_port
    if server:
        return server[0], str(server[1])
    return "localhost", default_port


def base_environ(*, multithread: bool, multiprocess: bool, file_wrapper: Any,
                 errors: IO[str] | None = None) -> dict[str, Any]:
    """The keys that are the same for every request of a worker (computed once)."""
    return {
        "wsgi.version": (1, 0),
        "wsgi.errors": errors or sys.stderr,
        "wsgi.multithread": multithread,
        "wsgi.multiprocess": multiprocess,
        "wsgi.run_once": False,
        "wsgi.file_wrapper": file_wrapper,
        "SERVER_SOFTWARE": "skitai",
    }
