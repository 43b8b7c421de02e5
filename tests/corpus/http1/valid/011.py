"""Expect: 100-continue is ignored on HTTP/1.0 (RFC 9110 10.1.1)."""

from skitai.worker.events import Body, EndBody, Request

expected = [
    Request(1, b"POST", b"/", [(b"content-length", b"2"), (b"expect", b"100-continue")],
            b"1.0", content_length=2, keep_alive=False),
    Body(1, b"ok"),
    EndBody(1),
]
