"""Host with a port, and an IPv6 literal with a port."""

from skitai.worker.events import Body, EndBody, Request

expected = [
    Request(1, b"GET", b"/1", [(b"host", b"example.com:8080")], b"1.1"),
    EndBody(1),
    Request(2, b"GET", b"/2", [(b"host", b"[2001:db8::1]:8443")], b"1.1"),
    EndBody(2),
]
