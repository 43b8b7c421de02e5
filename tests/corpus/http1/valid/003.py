"""A Content-Length body."""

from skitai.worker.events import Body, EndBody, Request

expected = [
    Request(1, b"POST", b"/submit",
            [(b"host", b"a"), (b"content-length", b"11"), (b"content-type", b"text/plain")],
            b"1.1", content_length=11),
    Body(1, b"hello world"),
    EndBody(1),
]
