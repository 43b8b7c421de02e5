"""A header field whose name and value are exactly 8190 bytes (the default limit) is
accepted."""

from skitai.worker.events import EndBody, Request

expected = [
    Request(1, b"GET", b"/", [(b"host", b"a"), (b"x-big", b"c" * 8185)], b"1.1"),
    EndBody(1),
]
