"""An h2c upgrade with a chunked body (curl --http2 -d sends this): llhttp would skip the
body, so the adapter parses it and serves the request as plain HTTP/1.1 (a server may
ignore Upgrade, RFC 9110 7.8); a pipelined request after it is parsed as usual."""

from skitai.worker.events import Body, EndBody, Request

expected = [
    Request(1, b"POST", b"/upload",
            [(b"host", b"a"), (b"connection", b"Upgrade, HTTP2-Settings"), (b"upgrade", b"h2c"),
             (b"http2-settings", b"AAMAAABkAARAAAAAAAIAAAAA"),
             (b"transfer-encoding", b"chunked")], b"1.1", chunked=True),
    Body(1, b"abc"),
    EndBody(1, [(b"x-sum", b"1")]),
    Request(2, b"GET", b"/next", [(b"host", b"a")], b"1.1"),
    EndBody(2),
]
