"""The transfer coding name is case-insensitive."""

from skitai.worker.events import Body, EndBody, Request

expected = [
    Request(1, b"POST", b"/", [(b"host", b"a"), (b"transfer-encoding", b"Chunked")], b"1.1",
            chunked=True),
    Body(1, b"x"),
    EndBody(1),
]
