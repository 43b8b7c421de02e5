"""obs-text (0x80-0xFF) and HTAB are allowed inside a field value (RFC 9110 5.5)."""

from skitai.worker.events import Body, EndBody, Request

expected = [
    Request(1, b"GET", b"/",
            [(b"host", b"a"), (b"x-utf8", b"caf\xc3\xa9 \xe2\x82\xac"), (b"x-tab", b"a\tb")],
            b"1.1"),
    EndBody(1),
]
