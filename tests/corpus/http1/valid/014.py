"""Connection: close makes the request the last one: what follows is never parsed."""

from skitai.worker.events import Body, EndBody, Request

expected = [
    Request(1, b"GET", b"/last", [(b"host", b"a"), (b"connection", b"close")], b"1.1",
            keep_alive=False),
    EndBody(1),
]
