"""HTTP/1.0 with Connection: keep-alive stays open, so a second request is parsed."""

from skitai.worker.events import Body, EndBody, Request

expected = [
    Request(1, b"GET", b"/a", [(b"connection", b"keep-alive")], b"1.0"),
    EndBody(1),
    Request(2, b"GET", b"/b", [(b"connection", b"Keep-Alive")], b"1.0"),
    EndBody(2),
]
