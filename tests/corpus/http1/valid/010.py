"""Expect: 100-continue is flagged (case-insensitively) on HTTP/1.1."""

from skitai.worker.events import Body, EndBody, Request

expected = [
    Request(1, b"PUT", b"/file",
            [(b"host", b"a"), (b"content-length", b"3"), (b"expect", b"100-Continue")],
            b"1.1", content_length=3, expect_continue=True),
    Body(1, b"abc"),
    EndBody(1),
]
