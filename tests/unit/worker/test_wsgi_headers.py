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


def test_the_last_head_is_reused_only_when_equal_and_never_shared() -> None:
    import asyncio

    from skitai.worker.wsgi import WsgiHandler

    loop = asyncio.new_event_loop()
    try:
        handler = WsgiHandler(lambda e, s: [], loop=loop, executor=None, base={})
        head = [("Content-Type", "text/plain"), ("Content-Length", "3")]
        first = handler.convert_head("200 OK", list(head))
        second = handler.convert_head("200 OK", list(head))
        assert first == second == (200, b"OK", [(b"content-type", b"text/plain"),
                                                (b"content-length", b"3")], True)
        second[2].append((b"x-added", b"by the server"))  # e.g. a Content-Length of ours
        assert handler.convert_head("200 OK", list(head))[2] == first[2][:2]
        assert handler.convert_head("404 Not Found", list(head))[:2] == (404, b"Not Found")
        assert handler.convert_head("200 OK", [("Content-Length", "4")])[2] == \
            [(b"content-length", b"4")]
        with pytest.raises(ValueError):  # a bad head is refused, however often it comes
            handler.convert_head("200 OK", [("X-Bad", "a\nb")])
        with pytest.raises(ValueError):
            handler.convert_head("200 OK", [("X-Bad", "a\nb")])
    finally:
        loop.close()
