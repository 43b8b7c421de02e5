"""Pure HTTP arithmetic for static files: dates, entity tags, preconditions, byte ranges.

Theory.  Everything here is a function of header values, a file's size and its
validators, and returns plain values; no I/O, no clock (callers pass ``now``).  The static
handler (``static.py``) only opens files and sends bytes.  References: RFC 9110 sections
5.6.7 (dates), 8.8 (validators), 13 (preconditions and their precedence) and 14 (ranges),
and RFC 2046 / RFC 9110 14.6 (multipart/byteranges).

Policy choices (each one documented where it is made):
- a syntactically invalid ``Range`` is ignored (the whole file, 200), as RFC 9110 14.2
  allows; so is a ``Range`` on an empty file (no ``Content-Range`` can describe it);
- more than ``MAX_RANGES`` ranges, or more than ``MAX_OVERLAPS`` ranges that overlap
  an earlier one, is treated as abuse (CVE-2011-3192 "Apache killer") and answered with the
  whole file; otherwise overlapping and adjacent ranges are coalesced, in ascending order.
"""

from __future__ import annotations

import calendar
import email.utils
import functools
import re
from dataclasses import dataclass
from typing import Literal

MAX_RANGES = 100
MAX_OVERLAPS = 2

# --- HTTP dates -------------------------------------------------------------------------


def format_http_date(timestamp: float) -> bytes:
    """IMF-fixdate (``Sun, 06 Nov 1994 08:49:37 GMT``) of a POSIX timestamp."""
    return _format_seconds(int(timestamp))


@functools.lru_cache(maxsize=4096)
def _format_seconds(seconds: int) -> bytes:
    # Cached: the same mtimes (and the current second) are formatted on every request.
    return email.utils.formatdate(seconds, usegmt=True).encode("ascii")


def parse_http_date(value: bytes | str) -> int | None:
    """POSIX seconds of an HTTP-date (IMF-fixdate, RFC 850 or asctime), None if invalid."""
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    text = text.strip()
    if not text or "," in text.split(" ", 1)[-1]:  # a list of dates is not a date
        return None
    try:
        parsed = email.utils.parsedate_tz(text)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed is None:
        return None
    offset = parsed[9] or 0  # asctime carries no zone: it is GMT by definition
    try:
        return calendar.timegm(parsed[:6] + (0, 0, 0)) - offset
    except (OverflowError, ValueError):
        return None


# --- entity tags --------------------------------------------------------------------------

_ETAG = re.compile(rb'\s*(W/)?("[\x21\x23-\x7e\x80-\xff]*")\s*(?:,|$)')


def make_etag(size: int, mtime_ns: int, inode: int) -> bytes:
    """A strong tag: changes whenever the file is replaced (inode) or rewritten (size, mtime)."""
    return b'"%x-%x-%x"' % (size, mtime_ns, inode)


def parse_etags(value: bytes) -> list[tuple[bool, bytes]] | Literal["*"] | None:
    """``*``, or the list of (weak, quoted opaque tag) of an If-(None-)Match value; None if
    the value is malformed (callers then treat the condition as false for If-Match and
    ignore it for If-None-Match, the safe readings)."""
    text = value.strip()
    if text == b"*":
        return "*"
    tags: list[tuple[bool, bytes]] = []
    pos = 0
    while pos < len(text):
        if text[pos:pos + 1] in (b",", b" ", b"\t"):  # empty list elements are allowed
            pos += 1
            continue
        match = _ETAG.match(text, pos)
        if match is None:
            return None
        tags.append((match.group(1) is not None, match.group(2)))
        pos = match.end()
    return tags


def _opaque(etag: bytes) -> tuple[bool, bytes]:
    return (True, etag[2:]) if etag.startswith(b"W/") else (False, etag)


def weak_match(value: bytes, etag: bytes) -> bool:
    """If-None-Match: does any listed tag weakly match ``etag`` (``*`` matches anything)?"""
    tags = parse_etags(value)
    if tags is None:
        return False
    if tags == "*":
        return True
    mine = _opaque(etag)[1]
    return any(opaque == mine for _, opaque in tags)


def strong_match(value: bytes, etag: bytes) -> bool:
    """If-Match: does any listed tag strongly match ``etag`` (both strong and equal)?"""
    tags = parse_etags(value)
    if tags is None:
        return False
    if tags == "*":
        return True
    weak, mine = _opaque(etag)
    return not weak and any(not w and opaque == mine for w, opaque in tags)


# --- preconditions (RFC 9110 section 13.2.2) -------------------------------------------------


def header_value(headers: list[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    """The combined value of a (lower-case) header, None when absent."""
    values = [v for n, v in headers if n == name]
    if not values:
        return None
    return b", ".join(values)


def evaluate_preconditions(method: bytes, headers: list[tuple[bytes, bytes]], etag: bytes,
                           mtime: int) -> int | None:
    """304 or 412 when a precondition says so, else None (go on and serve).

    The order is RFC 9110 13.2.2: If-Match, else If-Unmodified-Since; then If-None-Match,
    else (GET/HEAD only) If-Modified-Since.  ``mtime`` is whole seconds (what
    Last-Modified carries).  An invalid date makes its header be ignored (13.1.3/13.1.4).
    """
    get_or_head = method in (b"GET", b"HEAD")
    if_match = header_value(headers, b"if-match")
    if if_match is not None:
        if not strong_match(if_match, etag):
            return 412
    else:
        ius = header_value(headers, b"if-unmodified-since")
        if ius is not None:
            when = parse_http_date(ius)
            if when is not None and mtime > when:
                return 412
    if_none_match = header_value(headers, b"if-none-match")
    if if_none_match is not None:
        if weak_match(if_none_match, etag):
            return 304 if get_or_head else 412
    elif get_or_head:
        ims = header_value(headers, b"if-modified-since")
        if ims is not None:
            when = parse_http_date(ims)
            if when is not None and mtime <= when:
                return 304
    return None


def if_range_allows(value: bytes | None, etag: bytes, mtime: int) -> bool:
    """May the Range be honoured?  True without If-Range; with it, only if it names the
    current representation: a strong ETag equal to ours, or exactly our Last-Modified date
    (RFC 9110 13.1.5; a weak tag or a malformed value never matches)."""
    if value is None:
        return True
    text = value.strip()
    if text.startswith((b'"', b"W/")):
        return not text.startswith(b"W/") and text == etag
    when = parse_http_date(text)
    return when is not None and when == mtime


# --- ranges -------------------------------------------------------------------------------

Spec = tuple[int | None, int | None]  # (first, last) as written; (None, n) is a suffix


def parse_range(value: bytes) -> list[Spec] | None:
    """The range specs of ``bytes=...`` or None when the header is invalid (then ignored)."""
    unit, sep, rest = value.partition(b"=")
    if not sep or unit.strip().lower() != b"bytes":
        return None
    specs: list[Spec] = []
    for item in rest.split(b","):
        item = item.strip(b" \t")
        if not item:
            continue  # RFC 9110 5.6.1: empty list elements are legal
        first, dash, last = item.partition(b"-")
        if not dash or not (first.isdigit() or last.isdigit()):
            return None
        if (first and not first.isdigit()) or (last and not last.isdigit()):
            return None
        if len(first) > 18 or len(last) > 18:  # beyond any file size; keeps ints small
            return None
        start = int(first) if first else None
        end = int(last) if last else None
        if start is not None and end is not None and end < start:
            return None
        specs.append((start, end))
    return specs or None


def satisfiable(specs: list[Spec], size: int) -> list[tuple[int, int]]:
    """The satisfiable ranges as (start, stop) with ``stop`` exclusive, in request order."""
    out: list[tuple[int, int]] = []
    for first, last in specs:
        if first is None:
            assert last is not None
            if last == 0:
                continue
            out.append((max(0, size - last), size))
        elif first < size:
            out.append((first, size if last is None else min(last + 1, size)))
    return out


def coalesce(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted, with overlapping and adjacent ranges merged."""
    merged: list[tuple[int, int]] = []
    for start, stop in sorted(ranges):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], stop))
        else:
            merged.append((start, stop))
    return merged


def _overlaps(ranges: list[tuple[int, int]]) -> int:
    """How many ranges overlap one that sorts before them."""
    count = 0
    reach = -1
    for start, stop in sorted(ranges):
        if start < reach:
            count += 1
        reach = max(reach, stop)
    return count


@dataclass(frozen=True, slots=True)
class RangePlan:
    """What to send: ``full`` (200), ``partial`` (206, ``ranges`` non-empty) or
    ``unsatisfiable`` (416)."""

    kind: Literal["full", "partial", "unsatisfiable"]
    ranges: tuple[tuple[int, int], ...] = ()


FULL = RangePlan("full")


def plan_ranges(value: bytes | None, size: int) -> RangePlan:
    """Decide the response to a Range header for a file of ``size`` bytes."""
    if value is None or size == 0:
        return FULL
    specs = parse_range(value)
    if specs is None or len(specs) > MAX_RANGES:
        return FULL
    ranges = satisfiable(specs, size)
    if not ranges:
        return RangePlan("unsatisfiable")
    if _overlaps(ranges) > MAX_OVERLAPS:
        return FULL
    return RangePlan("partial", tuple(coalesce(ranges)))


def content_range(start: int, stop: int, size: int) -> bytes:
    return b"bytes %d-%d/%d" % (start, stop - 1, size)


def multipart_heads(ranges: tuple[tuple[int, int], ...] | list[tuple[int, int]], size: int,
                    content_type: bytes, boundary: bytes) -> tuple[list[bytes], bytes, int]:
    """(head of each part, closing delimiter, total body length) of a multipart/byteranges
    body.  Each part is ``head + file[start:stop]``; the body ends with the delimiter.
    The CRLF that precedes every delimiter (RFC 2046 5.1.1) starts the next head."""
    heads = []
    for index, (start, stop) in enumerate(ranges):
        heads.append(
            (b"\r\n" if index else b"")
            + b"--" + boundary + b"\r\n"
            + b"content-type: " + content_type + b"\r\n"
            + b"content-range: " + content_range(start, stop, size) + b"\r\n\r\n"
        )
    tail = b"\r\n--" + boundary + b"--\r\n"
    total = sum(map(len, heads)) + sum(stop - start for start, stop in ranges) + len(tail)
    return heads, tail, total
