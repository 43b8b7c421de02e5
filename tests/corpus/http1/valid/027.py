"""Content-Length with leading zeros is still a decimal number."""

from skitai.worker.events import Body, EndBody, Request

expected = [
    Request(1, b"POST", b"/", [(b"host", b"a"), (b"content-length", b"007")], b"1.1",
            content_length=7),
    Body(1, b"1234567"),
    EndBody(1),
]
