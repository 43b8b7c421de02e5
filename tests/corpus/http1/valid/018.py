"""Empty lines before a request line are skipped (RFC 9112 2.2)."""

from skitai.worker.events import Body, EndBody, Request

expected = [
    Request(1, b"GET", b"/", [(b"host", b"a")], b"1.1"),
    EndBody(1),
]
