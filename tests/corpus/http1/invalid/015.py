"""Chunk data longer than its size (no CRLF where the chunk should end)."""

from skitai.worker.events import Body, Request

status = 400
events_before = [
    Request(1, b"POST", b"/", [(b"host", b"a"), (b"transfer-encoding", b"chunked")], b"1.1",
            chunked=True),
    Body(1, b"abc"),
]
