"""The simplest HTTP/1.1 request."""

from skitai.worker.events import Body, EndBody, Request

expected = [
    Request(1, b"GET", b"/", [(b"host", b"example.com")], b"1.1"),
    EndBody(1),
]
