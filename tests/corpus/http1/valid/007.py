"""Chunk extensions (name, name=token, name="quoted") are accepted and ignored (RFC 9112 7.1.1)."""

from skitai.worker.events import Body, EndBody, Request

expected = [
    Request(1, b"POST", b"/up", [(b"host", b"a"), (b"transfer-encoding", b"chunked")], b"1.1",
            chunked=True),
    Body(1, b"abcde"),
    EndBody(1),
]
