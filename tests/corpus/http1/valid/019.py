"""Empty field values, with and without whitespace."""

from skitai.worker.events import Body, EndBody, Request

expected = [
    Request(1, b"GET", b"/", [(b"host", b"a"), (b"x-empty", b""), (b"x-blank", b"")], b"1.1"),
    EndBody(1),
]
