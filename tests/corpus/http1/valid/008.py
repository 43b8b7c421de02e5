"""Trailer fields after the last chunk go on EndBody (RFC 9112 7.1.2), names lower-cased."""

from skitai.worker.events import Body, EndBody, Request

expected = [
    Request(1, b"POST", b"/up",
            [(b"host", b"a"), (b"transfer-encoding", b"chunked"),
             (b"trailer", b"Checksum, X-Count")], b"1.1", chunked=True),
    Body(1, b"data"),
    EndBody(1, [(b"checksum", b"abc123"), (b"x-count", b"4")]),
]
