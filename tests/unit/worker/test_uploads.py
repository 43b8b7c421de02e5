"""worker/uploads.py: the seed's pref.config body limits, with bytes only."""

from __future__ import annotations

import pytest

from skitai.config.pref import Pref
from skitai.worker import events, uploads
from skitai.worker.stream import BodyRefused

BOUNDARY = b"b0undary"


def request(ctype: bytes, length: int | None) -> events.Request:
    headers = [(b"host", b"a"), (b"content-type", ctype)]
    return events.Request(1, b"POST", b"/", headers, b"1.1", length, length is None)


def multipart(*parts: tuple[bytes, bytes]) -> bytes:
    out = b""
    for disposition, data in parts:
        out += (b"--" + BOUNDARY + b"\r\nContent-Disposition: form-data; " + disposition
                + b"\r\n\r\n" + data + b"\r\n")
    return out + b"--" + BOUNDARY + b"--\r\n"


def feed(check: object, body: bytes, step: int) -> None:
    for i in range(0, len(body), step):
        check(body[i:i + step])  # type: ignore[operator]


def test_from_pref_reads_sizes_and_names_a_bad_one() -> None:
    pref = Pref()
    assert uploads.from_pref(pref) is None
    pref.config.max_post_body_size = "1K"
    pref.config.max_upload_file_size = 2 << 32
    assert uploads.from_pref(pref) == uploads.BodyLimits(1024, 0, 2 << 32)
    pref.config.max_multipart_body_size = "lots"
    with pytest.raises(ValueError, match="pref.config.max_multipart_body_size"):
        uploads.from_pref(pref)


def test_a_declared_length_over_the_post_limit_is_refused_at_once() -> None:
    limits = uploads.BodyLimits(post=10)
    with pytest.raises(BodyRefused):
        limits.checker(request(b"application/json", 11))
    assert limits.checker(request(b"application/json", 10)) is None  # the connection holds it


@pytest.mark.parametrize("step", [1, 7, 4096])
def test_chunked_bodies_are_counted_as_they_arrive(step: int) -> None:
    check = uploads.BodyLimits(post=10).checker(request(b"text/plain", None))
    feed(check, b"x" * 10, step)
    with pytest.raises(BodyRefused):
        feed(check, b"y", step)


@pytest.mark.parametrize("step", [1, 5, 64, 100000])
def test_file_parts_over_the_upload_limit_are_refused_fields_are_not(step: int) -> None:
    ctype = b"multipart/form-data; boundary=" + BOUNDARY
    limits = uploads.BodyLimits(upload=100)
    ok = multipart((b'name="note"', b"n" * 500), (b'name="f"; filename="a"', b"f" * 100))
    feed(limits.checker(request(ctype, len(ok))), ok, step)
    big = multipart((b'name="f"; filename="a"', b"f" * 101))
    with pytest.raises(BodyRefused, match="uploaded file"):
        feed(limits.checker(request(ctype, len(big))), big, step)


def test_not_multipart_at_all_is_left_to_the_app() -> None:
    ctype = b"multipart/form-data; boundary=" + BOUNDARY
    check = uploads.BodyLimits(upload=10).checker(request(ctype, None))
    feed(check, b"this is not multipart" * 100, 13)  # no error: the app will say so
