"""A chunked body in two chunks (RFC 9112 7.1)."""

from skitai.worker.events import Body, EndBody, Request

expected = [
    Request(1, b"POST", b"/up", [(b"host", b"a"), (b"transfer-encoding", b"chunked")], b"1.1",
            chunked=True),
    Body(1, b"hello world"),
    EndBody(1),
]
