"""Chunk data may hold CRLF; a chunked request followed by a pipelined GET."""

from skitai.worker.events import Body, EndBody, Request

expected = [
    Request(1, b"POST", b"/", [(b"host", b"a"), (b"transfer-encoding", b"chunked")], b"1.1",
            chunked=True),
    Body(1, b"\r\n\r\n"),
    EndBody(1),
    Request(2, b"GET", b"/next", [(b"host", b"a")], b"1.1"),
    EndBody(2),
]
