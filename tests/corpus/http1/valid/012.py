"""HTTP/1.0 needs no Host and is not keep-alive by default; bytes after it are ignored."""

from skitai.worker.events import Body, EndBody, Request

expected = [
    Request(1, b"GET", b"/old", [], b"1.0", keep_alive=False),
    EndBody(1),
]
