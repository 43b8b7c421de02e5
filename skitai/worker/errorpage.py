"""The one small HTML page the worker answers with for an error or a refusal.

Every protocol and handler uses it (a 404 with no mount, a 413, a malformed request, a
refused WebSocket, a static file's 403), so a status reads the same wherever it came from.
"""

from __future__ import annotations

from html import escape
from http import HTTPStatus

from skitai.worker import events

HTML = b"text/html; charset=utf-8"


def phrase(status: int) -> str:
    """The reason phrase of ``status`` ("Error" for a code HTTP does not name)."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def page(status: int, detail: str = "", *, traceback: str = "") -> tuple[events.Headers, bytes]:
    """The headers and body of the page for ``status``; ``detail`` (plain text, escaped)
    becomes a paragraph under the heading, ``traceback`` (debug mode) a ``<pre>`` block."""
    body = f"<h1>{status} {phrase(status)}</h1>".encode()
    if detail:
        body += f"<p>{escape(detail)}</p>".encode()
    if traceback:
        body += b"<pre>" + escape(traceback).encode("utf-8", "replace") + b"</pre>"
    return [(b"content-type", HTML), (b"content-length", str(len(body)).encode())], body
