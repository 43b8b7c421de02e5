"""Upgrade with a body is not an upgrade (llhttp: the body comes first); TE: trailers is
a request header, not framing."""

from skitai.worker.events import Body, EndBody, Request

expected = [
    Request(1, b"POST", b"/x",
            [(b"host", b"a"), (b"connection", b"Upgrade"), (b"upgrade", b"h2c"),
             (b"te", b"trailers"), (b"content-length", b"2")], b"1.1", content_length=2),
    Body(1, b"hi"),
    EndBody(1),
]
