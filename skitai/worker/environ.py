"""``build_environ``: a pure function from a parsed request to a PEP 3333 environ.

Strings are "native strings": bytes decoded as latin-1, so every byte survives and the
app can re-encode (PEP 3333).  ``SCRIPT_NAME`` is the mount point, ``PATH_INFO`` the
percent-decoded rest.  Header names with ``_`` are dropped: ``X_Forwarded_For`` and
``X-Forwarded-For`` would both become ``HTTP_X_FORWARDED_FOR`` and one could spoof the
other (gunicorn does the same).
"""

from __future__ import annotations

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


def build_environ(
    request: events.Request,
    *,
    script_name: str,
    path_info: str,
    query: bytes,
    scheme: str,
    client: tuple[str, int] | None,
    server: tuple[str, int] | None,
    body: IO[bytes],
    base: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``script_name`` and ``path_info`` are the router's latin-1 strings; ``extra`` is
    merged last (``skitai.hint_promise``)."""
    environ: dict[str, Any] = dict(base) if base else {}
    method = request.method
    target = request.target.decode("latin-1")
    environ["REQUEST_METHOD"] = _METHODS.get(method) or method.decode("latin-1")
    environ["SCRIPT_NAME"] = script_name
    environ["PATH_INFO"] = path_info
    environ["QUERY_STRING"] = query.decode("latin-1") if query else ""
    environ["RAW_URI"] = environ["REQUEST_URI"] = target
    environ["SERVER_PROTOCOL"] = _PROTOCOLS.get(request.http_version, "HTTP/1.1")
    environ["wsgi.url_scheme"] = scheme
    environ["wsgi.input"] = body
    environ["wsgi.input_terminated"] = True
    if client:
        environ["REMOTE_ADDR"] = client[0]
        environ["REMOTE_PORT"] = str(client[1])
    else:
        environ["REMOTE_ADDR"] = ""
    keys = _HEADER_KEYS
    for name, value in request.headers:
        key = keys.get(name) or _header_key(name)
        if key is None:
            continue
        if key in environ and key not in _SINGLE:
            # RFC 9110 5.3: repeated fields combine with commas (cookies with "; ").
            environ[key] += ("; " if key == "HTTP_COOKIE" else ",") + value.decode("latin-1")
        else:
            environ[key] = value.decode("latin-1")
    if request.chunked and "CONTENT_LENGTH" not in environ:
        environ["CONTENT_LENGTH"] = ""
    host = environ.get("HTTP_HOST")
    names = _SERVER_NAMES.get((host, server, scheme))
    if names is None:
        names = _server_name(host, server, scheme)
        if len(_SERVER_NAMES) < 1024:
            _SERVER_NAMES[(host, server, scheme)] = names
    environ["SERVER_NAME"], environ["SERVER_PORT"] = names
    if extra:
        environ.update(extra)
    return environ


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
