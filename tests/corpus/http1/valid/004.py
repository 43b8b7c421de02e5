"""Keep-alive pipelining: three requests in one go get stream ids 1, 2, 3 in order."""

from skitai.worker.events import Body, EndBody, Request

expected = [
    Request(1, b"GET", b"/1", [(b"host", b"a")], b"1.1"),
    EndBody(1),
    Request(2, b"GET", b"/2", [(b"host", b"a")], b"1.1"),
    EndBody(2),
    Request(3, b"GET", b"/3", [(b"host", b"a")], b"1.1"),
    EndBody(3),
]
