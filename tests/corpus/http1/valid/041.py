"""Exactly 100 header fields (the default limit) are accepted."""

from skitai.worker.events import EndBody, Request

expected = [
    Request(1, b"GET", b"/", [(b"host", b"a")] + [(b"x-f%d" % i, b"v") for i in range(99)],
            b"1.1"),
    EndBody(1),
]
