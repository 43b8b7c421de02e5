"""HTTP/1.0 with Connection: keep-alive keeps the connection (RFC 9112 9.3, the 1.0
keep-alive mechanism): the pipelined requests after it are parsed, in order; the last one,
without keep-alive, ends the connection."""

from skitai.worker.events import EndBody, Request

expected = [
    Request(1, b"GET", b"/1", [(b"connection", b"keep-alive")], b"1.0"),
    EndBody(1),
    Request(2, b"GET", b"/2", [(b"connection", b"Keep-Alive")], b"1.0"),
    EndBody(2),
    Request(3, b"GET", b"/3", [], b"1.0", keep_alive=False),
    EndBody(3),
]
