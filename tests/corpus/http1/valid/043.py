"""A list field (Accept) and User-Agent repeated are accepted (not singletons whose
duplicates change the request), and a trailer that is not framing, routing or auth
(X-Checksum) arrives in EndBody."""

from skitai.worker.events import Body, EndBody, Request

expected = [
    Request(1, b"POST", b"/", [(b"host", b"a"), (b"transfer-encoding", b"chunked"),
                              (b"accept", b"text/html"), (b"accept", b"*/*"),
                              (b"user-agent", b"a"), (b"user-agent", b"b")], b"1.1", chunked=True),
    Body(1, b"abc"),
    EndBody(1, [(b"x-checksum", b"900150983cd24fb0")]),
]
