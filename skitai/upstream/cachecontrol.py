"""Reading an HTTP response's caching headers (RFC 9111): ``Cache-Control`` directives
and the freshness lifetime.  Pure functions over a header list; the reverse proxy's cache
(``skitai.gateway.cache``) and ``was``'s HTTP calls both use them (layer 3)."""

from __future__ import annotations

import calendar
import email.utils
import time

Headers = list[tuple[bytes, bytes]]


def directives(headers: Headers) -> dict[str, str]:
    """``Cache-Control`` of a header list as {directive: argument}."""
    out: dict[str, str] = {}
    for name, value in headers:
        if name == b"cache-control":
            for part in value.decode("latin-1").split(","):
                key, _, arg = part.strip().partition("=")
                if key:
                    out[key.lower()] = arg.strip().strip('"')
    return out


def header(headers: Headers, name: bytes) -> bytes | None:
    for n, v in headers:
        if n == name:
            return v
    return None


def _http_date(value: bytes | None) -> float | None:
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_tz(value.decode("latin-1"))
    except (TypeError, ValueError):
        return None
    if parsed is None:
        return None
    return float(calendar.timegm(parsed[:9])) - float(parsed[9] or 0)


def lifetime(headers: Headers, cc: dict[str, str]) -> float:
    for key in ("s-maxage", "max-age"):
        if key in cc:
            try:
                return max(0.0, float(int(cc[key])))
            except ValueError:
                return 0.0
    expires = _http_date(header(headers, b"expires"))
    if expires is not None:
        date = _http_date(header(headers, b"date")) or time.time()
        return max(0.0, expires - date)
    return 0.0
