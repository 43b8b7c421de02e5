"""A pipelined head, beginning mid-chunk, far over max_header_bytes (128): 431 after the
first request."""

from skitai.worker.events import Body, EndBody, Request

limits = {"max_header_bytes": 128}
status = 431
events_before = [
    Request(1, b"GET", b"/1", [(b"host", b"a")], b"1.1"),
    EndBody(1),
]
