"""A WebSocket upgrade: the request is emitted, parsing stops, later bytes are kept."""

from skitai.worker.events import Body, EndBody, Request

upgrade = True
trailing = b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"

expected = [
    Request(1, b"GET", b"/chat",
            [(b"host", b"a"), (b"connection", b"Upgrade"), (b"upgrade", b"websocket"),
             (b"sec-websocket-key", b"dGhlIHNhbXBsZSBub25jZQ=="),
             (b"sec-websocket-version", b"13")], b"1.1"),
    EndBody(1),
]
