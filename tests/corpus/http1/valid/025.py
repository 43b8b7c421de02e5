"""CONNECT with an authority-form target is treated like an upgrade (llhttp pauses)."""

from skitai.worker.events import Body, EndBody, Request

upgrade = True
trailing = b"tunnel"

expected = [
    Request(1, b"CONNECT", b"example.com:443", [(b"host", b"example.com:443")], b"1.1"),
    EndBody(1),
]
