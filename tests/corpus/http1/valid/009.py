"""Chunk sizes are hex, either case, with leading zeros."""

from skitai.worker.events import Body, EndBody, Request

expected = [
    Request(1, b"POST", b"/", [(b"host", b"a"), (b"transfer-encoding", b"chunked")], b"1.1",
            chunked=True),
    Body(1, b"0123456789abcdefghijk"),
    EndBody(1),
]
