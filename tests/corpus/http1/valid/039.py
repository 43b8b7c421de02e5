"""A request line of exactly 4094 bytes (the default limit) is accepted."""

from skitai.worker.events import EndBody, Request

expected = [
    Request(1, b"GET", b"/" + b"a" * 4080, [(b"host", b"a")], b"1.1"),
    EndBody(1),
]
