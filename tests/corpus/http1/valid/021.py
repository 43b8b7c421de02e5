"""Percent-encoding and the query string stay raw in the target."""

from skitai.worker.events import Body, EndBody, Request

expected = [
    Request(1, b"GET", b"/a%20b/%2e%2e/c?q=%41&x=y+z&empty=", [(b"host", b"a")], b"1.1"),
    EndBody(1),
]
