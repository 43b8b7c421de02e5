"""A line that is not a chunk size where the next chunk should start: the body cannot be
resynchronised, so it is a 400."""

from skitai.worker.events import Body, Request

status = 400
events_before = [
    Request(1, b"POST", b"/", [(b"host", b"a"), (b"transfer-encoding", b"chunked")], b"1.1",
            chunked=True),
    Body(1, b"ab"),
]
