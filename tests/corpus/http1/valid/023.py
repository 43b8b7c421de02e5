"""A request line of exactly max_request_line (64) bytes and a head of exactly
max_header_bytes (128) bytes are accepted: the limits are inclusive."""

from skitai.worker.events import Body, EndBody, Request

limits = {"max_request_line": 64, "max_header_bytes": 128}

expected = [
    Request(1, b"GET", b"/" + b"a" * 50,
            [(b"host", b"a"), (b"x-fill", b"b" * 41)], b"1.1"),
    EndBody(1),
]
