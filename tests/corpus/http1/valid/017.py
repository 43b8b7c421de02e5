"""HEAD parses like GET."""

from skitai.worker.events import Body, EndBody, Request

expected = [
    Request(1, b"HEAD", b"/big", [(b"host", b"a")], b"1.1"),
    EndBody(1),
]
