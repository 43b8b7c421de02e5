"""Absolute-form target (RFC 9112 3.2.2): passed through whole."""

from skitai.worker.events import Body, EndBody, Request

expected = [
    Request(1, b"GET", b"http://www.example.org/pub/WWW/TheProject.html?x=1",
            [(b"host", b"www.example.org")], b"1.1"),
    EndBody(1),
]
