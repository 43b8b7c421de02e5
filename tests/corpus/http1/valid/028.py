"""Other registered methods, pipelined."""

from skitai.worker.events import Body, EndBody, Request

expected = [
    Request(1, b"PUT", b"/r", [(b"host", b"a"), (b"content-length", b"1")], b"1.1",
            content_length=1),
    Body(1, b"1"),
    EndBody(1),
    Request(2, b"DELETE", b"/r", [(b"host", b"a")], b"1.1"),
    EndBody(2),
    Request(3, b"PATCH", b"/r", [(b"host", b"a"), (b"content-length", b"2")], b"1.1",
            content_length=2),
    Body(3, b"22"),
    EndBody(3),
    Request(4, b"PROPFIND", b"/r", [(b"host", b"a")], b"1.1"),
    EndBody(4),
]
