"""Connection: Upgrade without an Upgrade field is a plain request."""

from skitai.worker.events import Body, EndBody, Request

expected = [
    Request(1, b"GET", b"/", [(b"host", b"a"), (b"connection", b"keep-alive, Upgrade")],
            b"1.1"),
    EndBody(1),
    Request(2, b"GET", b"/2", [(b"host", b"a")], b"1.1"),
    EndBody(2),
]
