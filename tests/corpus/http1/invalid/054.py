"""The second pipelined request lacks Host: stream 1 is parsed, stream 2 is refused."""

from skitai.worker.events import Body, EndBody, Request

status = 400
events_before = [
    Request(1, b"GET", b"/ok", [(b"host", b"a")], b"1.1"),
    EndBody(1),
]
