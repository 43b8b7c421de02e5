"""Repeated fields are kept, in order, as separate pairs."""

from skitai.worker.events import Body, EndBody, Request

expected = [
    Request(1, b"GET", b"/",
            [(b"accept", b"text/html"), (b"host", b"a"), (b"cookie", b"a=1"),
             (b"accept", b"*/*"), (b"cookie", b"b=2")], b"1.1"),
    EndBody(1),
]
