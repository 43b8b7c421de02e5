"""start_response's header checks, also when a pair has been seen (and cached) before."""

import pytest

from skitai.worker.wsgi import _convert_headers


def test_headers_are_lowered_encoded_and_content_length_noticed() -> None:
    for _ in range(2):  # the second time from the cache
        status, reason, out, has_length = _convert_headers(
            "201 Created", [("Content-Type", "text/plain"), ("Content-Length", "3")])
        assert (status, reason, has_length) == (201, b"Created", True)
        assert out == [(b"content-type", b"text/plain"), (b"content-length", b"3")]


def test_a_list_pair_is_accepted() -> None:
    assert _convert_headers("200 OK", [["X-A", "1"]])[2] == [(b"x-a", b"1")]


@pytest.mark.parametrize("header, error", [
    (("X-Bad", "a\r\nSet-Cookie: x"), ValueError),
    (("X:Bad", "a"), ValueError),
    ((b"X-Bytes", "a"), TypeError),
    (("X-Int", 3), TypeError),
    (("only-a-name",), TypeError),
])
def test_bad_headers_are_refused_every_time(header: tuple, error: type) -> None:
    for _ in range(2):
        with pytest.raises(error):
            _convert_headers("200 OK", [("Content-Type", "text/plain"), header])


@pytest.mark.parametrize("status", ["200", "OK 200", 200, "2000 x"])
def test_bad_status_is_refused(status: object) -> None:
    with pytest.raises(ValueError):
        _convert_headers(status, [])  # type: ignore[arg-type]
