"""Content-Length: 0 is a body of no bytes."""

from skitai.worker.events import Body, EndBody, Request

expected = [
    Request(1, b"POST", b"/empty", [(b"host", b"a"), (b"content-length", b"0")], b"1.1",
            content_length=0),
    EndBody(1),
]
