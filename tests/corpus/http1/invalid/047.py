"""A good request, then garbage: the error is on stream 2, after stream 1's events."""

from skitai.worker.events import Body, EndBody, Request

status = 400
events_before = [
    Request(1, b"GET", b"/", [(b"host", b"a")], b"1.1"),
    EndBody(1),
]
