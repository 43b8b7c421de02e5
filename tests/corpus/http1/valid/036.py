"""A pipelined head that begins mid-chunk and is exactly as large as the limit (128) is still accepted."""

from skitai.worker.events import Body, EndBody, Request

limits = {"max_header_bytes": 128}

expected = [
    Request(1, b"GET", b"/1", [(b"host", b"a")], b"1.1"),
    EndBody(1),
    Request(2, b"GET", b"/2", [(b"host", b"a"), (b"x-fill", b"c" * 90)], b"1.1"),
    EndBody(2),
]
