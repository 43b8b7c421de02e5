"""A pipelined POST (Content-Length) followed by a GET: the body ends exactly at its
length, even when it looks like the start of a request."""

from skitai.worker.events import Body, EndBody, Request

expected = [
    Request(1, b"POST", b"/a", [(b"host", b"a"), (b"content-length", b"5")], b"1.1",
            content_length=5),
    Body(1, b"GET /"),
    EndBody(1),
    Request(2, b"GET", b"/b", [(b"host", b"a")], b"1.1"),
    EndBody(2),
]
