"""Header names are lower-cased, values keep their case; OWS around values is dropped."""

from skitai.worker.events import Body, EndBody, Request

expected = [
    Request(1, b"GET", b"/index.html",
            [(b"host", b"example.com"), (b"user-agent", b"curl/8.0"), (b"accept", b"*/*"),
             (b"x-mixed-case", b"VaLuE")], b"1.1"),
    EndBody(1),
]
