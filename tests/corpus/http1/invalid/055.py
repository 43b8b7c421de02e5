"""Chunk size followed by a space (llhttp rejects BWS there)."""

from skitai.worker.events import Request

status = 400
events_before = [
    Request(1, b"POST", b"/", [(b"host", b"a"), (b"transfer-encoding", b"chunked")], b"1.1",
            chunked=True),
]
