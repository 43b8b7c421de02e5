"""OPTIONS * (the asterisk form, RFC 9112 3.2.4) is accepted."""

from skitai.worker.events import EndBody, Request

expected = [
    Request(1, b"OPTIONS", b"*", [(b"host", b"a")], b"1.1"),
    EndBody(1),
]
