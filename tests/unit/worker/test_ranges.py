"""ranges.py: HTTP dates, entity tags, preconditions and byte ranges, as pure functions."""

from __future__ import annotations

import pytest

from skitai.worker import ranges
from skitai.worker.ranges import RangePlan

T = 784111777  # Sun, 06 Nov 1994 08:49:37 GMT
ETAG = b'"a-b-c"'


# --- dates ----------------------------------------------------------------------------------

def test_format_http_date() -> None:
    assert ranges.format_http_date(T) == b"Sun, 06 Nov 1994 08:49:37 GMT"
    assert ranges.format_http_date(T + 0.9) == b"Sun, 06 Nov 1994 08:49:37 GMT"


@pytest.mark.parametrize("text", [
    b"Sun, 06 Nov 1994 08:49:37 GMT",  # IMF-fixdate
    b"Sunday, 06-Nov-94 08:49:37 GMT",  # RFC 850
    b"Sun Nov  6 08:49:37 1994",  # asctime
    b"  Sun, 06 Nov 1994 08:49:37 GMT ",
])
def test_parse_http_date_three_formats(text: bytes) -> None:
    assert ranges.parse_http_date(text) == T


@pytest.mark.parametrize("text", [
    b"", b"garbage", b"Sun, 06 Nov 1994 08:49:37 GMT, Mon, 07 Nov 1994 08:49:37 GMT", b"12345",
])
def test_parse_http_date_invalid(text: bytes) -> None:
    assert ranges.parse_http_date(text) is None


def test_date_round_trip() -> None:
    for ts in (0, T, 2_000_000_000):
        assert ranges.parse_http_date(ranges.format_http_date(ts)) == ts


# --- entity tags ------------------------------------------------------------------------------

def test_make_etag_is_strong_quoted_and_changes() -> None:
    tag = ranges.make_etag(10, 123, 7)
    assert tag.startswith(b'"') and tag.endswith(b'"') and not tag.startswith(b"W/")
    assert len({tag, ranges.make_etag(11, 123, 7), ranges.make_etag(10, 124, 7),
                ranges.make_etag(10, 123, 8)}) == 4


def test_parse_etags() -> None:
    assert ranges.parse_etags(b"*") == "*"
    assert ranges.parse_etags(b'"x", W/"y" ,"z"') == [(False, b'"x"'), (True, b'"y"'), (False, b'"z"')]
    assert ranges.parse_etags(b'"",') == [(False, b'""')]
    assert ranges.parse_etags(b"x") is None
    assert ranges.parse_etags(b'"a" junk') is None


def test_weak_and_strong_match() -> None:
    assert ranges.weak_match(b'W/"a-b-c"', ETAG)
    assert ranges.weak_match(b'"zz", "a-b-c"', ETAG)
    assert ranges.weak_match(b"*", ETAG)
    assert not ranges.weak_match(b'"other"', ETAG)
    assert not ranges.weak_match(b"garbage", ETAG)
    assert ranges.strong_match(ETAG, ETAG)
    assert not ranges.strong_match(b'W/"a-b-c"', ETAG)
    assert not ranges.strong_match(ETAG, b'W/"a-b-c"')


# --- preconditions -------------------------------------------------------------------------------

def pre(headers: dict[bytes, bytes], method: bytes = b"GET", mtime: int = T) -> int | None:
    return ranges.evaluate_preconditions(method, list(headers.items()), ETAG, mtime)


def test_no_conditions() -> None:
    assert pre({}) is None


def test_if_none_match() -> None:
    assert pre({b"if-none-match": ETAG}) == 304
    assert pre({b"if-none-match": b'W/"a-b-c"'}) == 304  # weak comparison
    assert pre({b"if-none-match": b'"x", "a-b-c"'}) == 304
    assert pre({b"if-none-match": b"*"}) == 304
    assert pre({b"if-none-match": ETAG}, method=b"HEAD") == 304
    assert pre({b"if-none-match": b'"other"'}) is None
    assert pre({b"if-none-match": ETAG}, method=b"PUT") == 412


def test_if_modified_since() -> None:
    assert pre({b"if-modified-since": ranges.format_http_date(T)}) == 304
    assert pre({b"if-modified-since": ranges.format_http_date(T + 60)}) == 304
    assert pre({b"if-modified-since": ranges.format_http_date(T - 1)}) is None
    assert pre({b"if-modified-since": b"not a date"}) is None
    assert pre({b"if-modified-since": ranges.format_http_date(T)}, method=b"POST") is None


def test_if_none_match_takes_precedence_over_if_modified_since() -> None:
    fresh = ranges.format_http_date(T)
    assert pre({b"if-none-match": b'"other"', b"if-modified-since": fresh}) is None
    stale = ranges.format_http_date(T - 100)
    assert pre({b"if-none-match": ETAG, b"if-modified-since": stale}) == 304


def test_if_match_and_if_unmodified_since() -> None:
    assert pre({b"if-match": ETAG}) is None
    assert pre({b"if-match": b'"other"'}) == 412
    assert pre({b"if-match": b'W/"a-b-c"'}) == 412  # strong comparison
    assert pre({b"if-unmodified-since": ranges.format_http_date(T - 1)}) == 412
    assert pre({b"if-unmodified-since": ranges.format_http_date(T)}) is None
    # If-Match wins over If-Unmodified-Since; If-Match is checked before If-None-Match
    assert pre({b"if-match": ETAG, b"if-unmodified-since": ranges.format_http_date(0)}) is None
    assert pre({b"if-match": b'"x"', b"if-none-match": ETAG}) == 412


def test_if_range() -> None:
    assert ranges.if_range_allows(None, ETAG, T)
    assert ranges.if_range_allows(ETAG, ETAG, T)
    assert not ranges.if_range_allows(b'"stale"', ETAG, T)
    assert not ranges.if_range_allows(b'W/"a-b-c"', ETAG, T)  # weak tags never match
    assert ranges.if_range_allows(ranges.format_http_date(T), ETAG, T)
    assert not ranges.if_range_allows(ranges.format_http_date(T + 1), ETAG, T)
    assert not ranges.if_range_allows(ranges.format_http_date(T - 1), ETAG, T)
    assert not ranges.if_range_allows(b"junk", ETAG, T)


# --- ranges --------------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "specs"), [
    (b"bytes=0-499", [(0, 499)]),
    (b"bytes=500-", [(500, None)]),
    (b"bytes=-500", [(None, 500)]),
    (b"BYTES = 0-0, -1", [(0, 0), (None, 1)]),
    (b"bytes=1-2,,3-4,", [(1, 2), (3, 4)]),
])
def test_parse_range_valid(value: bytes, specs: list) -> None:
    assert ranges.parse_range(value) == specs


@pytest.mark.parametrize("value", [
    b"", b"bytes", b"bytes=", b"items=0-1", b"bytes=-", b"bytes=a-b", b"bytes=5-1", b"bytes=1-2-3",
    b"bytes=+1-2", b"bytes=0x1-2", b"bytes= - 5", b"bytes=1 -2", b"bytes=99999999999999999999-",
    b"bytes=,",
])
def test_parse_range_invalid(value: bytes) -> None:
    assert ranges.parse_range(value) is None


def test_satisfiable() -> None:
    assert ranges.satisfiable([(0, 9)], 100) == [(0, 10)]
    assert ranges.satisfiable([(90, 200)], 100) == [(90, 100)]
    assert ranges.satisfiable([(50, None)], 100) == [(50, 100)]
    assert ranges.satisfiable([(None, 10)], 100) == [(90, 100)]
    assert ranges.satisfiable([(None, 500)], 100) == [(0, 100)]
    assert ranges.satisfiable([(None, 0)], 100) == []
    assert ranges.satisfiable([(100, None), (200, 300)], 100) == []
    assert ranges.satisfiable([(100, None), (99, 99)], 100) == [(99, 100)]


def test_coalesce() -> None:
    assert ranges.coalesce([(50, 60), (0, 10)]) == [(0, 10), (50, 60)]
    assert ranges.coalesce([(0, 10), (5, 20)]) == [(0, 20)]
    assert ranges.coalesce([(0, 10), (10, 20)]) == [(0, 20)]  # adjacent
    assert ranges.coalesce([(0, 100), (10, 20)]) == [(0, 100)]


def test_plan_ranges() -> None:
    assert ranges.plan_ranges(None, 100) == ranges.FULL
    assert ranges.plan_ranges(b"garbage", 100) == ranges.FULL
    assert ranges.plan_ranges(b"bytes=0-9", 0) == ranges.FULL  # empty file: nothing to slice
    assert ranges.plan_ranges(b"bytes=0-9", 100) == RangePlan("partial", ((0, 10),))
    assert ranges.plan_ranges(b"bytes=200-", 100) == RangePlan("unsatisfiable")
    assert ranges.plan_ranges(b"bytes=0-9,5-19", 100) == RangePlan("partial", ((0, 20),))
    assert ranges.plan_ranges(b"bytes=50-59,0-9", 100) == RangePlan("partial", ((0, 10), (50, 60)))


def test_plan_ranges_refuses_abuse() -> None:
    many = b"bytes=" + b",".join(b"%d-%d" % (i * 2, i * 2) for i in range(ranges.MAX_RANGES + 1))
    assert ranges.plan_ranges(many, 10_000) == ranges.FULL
    limit = b"bytes=" + b",".join(b"%d-%d" % (i * 2, i * 2) for i in range(ranges.MAX_RANGES))
    assert ranges.plan_ranges(limit, 10_000).kind == "partial"
    overlapping = b"bytes=0-,0-,0-,0-"  # the "Apache killer" shape
    assert ranges.plan_ranges(overlapping, 10_000) == ranges.FULL
    assert ranges.plan_ranges(b"bytes=0-,0-,0-", 10_000) == RangePlan("partial", ((0, 10_000),))


def test_content_range() -> None:
    assert ranges.content_range(0, 10, 100) == b"bytes 0-9/100"


def test_multipart_heads_length_matches_body() -> None:
    data = bytes(range(256))
    parts = ((0, 10), (100, 150), (250, 256))
    heads, tail, total = ranges.multipart_heads(parts, len(data), b"text/plain", b"BOUND")
    body = b"".join(h + data[a:b] for h, (a, b) in zip(heads, parts, strict=True)) + tail
    assert len(body) == total
    assert body.startswith(b"--BOUND\r\ncontent-type: text/plain\r\ncontent-range: bytes 0-9/256\r\n\r\n")
    assert body.endswith(b"\r\n--BOUND--\r\n")
    assert body.count(b"--BOUND\r\n") == 3
    assert b"\r\n--BOUND\r\ncontent-type: text/plain\r\ncontent-range: bytes 250-255/256\r\n\r\n" in body
