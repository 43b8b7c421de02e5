"""Transfer-Encoding in the trailer section of a chunked request (RFC 9110 6.5.1: framing,
routing, auth and content fields are never taken from trailers): 400, not merged."""

from skitai.worker.events import Body, Request

events_before = [
    Request(1, b"POST", b"/", [(b"host", b"a"), (b"transfer-encoding", b"chunked")], b"1.1",
            chunked=True),
    Body(1, b"abc"),
]
status = 400
