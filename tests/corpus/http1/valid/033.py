"""HTTP/1.0 request with a Content-Length body."""

from skitai.worker.events import Body, EndBody, Request

expected = [
    Request(1, b"POST", b"/form",
            [(b"content-type", b"application/x-www-form-urlencoded"),
             (b"content-length", b"7")], b"1.0", content_length=7, keep_alive=False),
    Body(1, b"a=1&b=2"),
    EndBody(1),
]
