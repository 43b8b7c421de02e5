"""An empty Host is allowed (RFC 9112 3.2: the target has no authority)."""

from skitai.worker.events import Body, EndBody, Request

expected = [
    Request(1, b"GET", b"/", [(b"host", b"")], b"1.1"),
    EndBody(1),
]
