"""A request with a large Content-Length body after a small head: the body is not
counted against the head limit."""

from skitai.worker.events import Body, EndBody, Request

limits = {"max_header_bytes": 64}

expected = [
    Request(1, b"POST", b"/", [(b"host", b"a"), (b"content-length", b"200")], b"1.1",
            content_length=200),
    Body(1, b"0123456789" * 20),
    EndBody(1),
]
