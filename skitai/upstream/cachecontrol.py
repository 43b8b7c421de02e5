"""Reading HTTP caching headers (RFC 9111): ``Cache-Control`` directives, the freshness
lifetime, a client asking to revalidate.  Pure functions over a header list (or one
header value); the one parser the reverse proxy's cache (``skitai.gateway.cache``,
``cached``) and ``was``'s result cache (``skitai.was.http``) both use (layer 3)."""

from __future__ import annotations

import calendar
import email.utils
import time

Headers = list[tuple[bytes, bytes]]


def parse(value: str, into: dict[str, str] | None = None) -> dict[str, str]:
    """One ``Cache-Control`` value as {directive (lower case): argument ("" for none)}."""
    out: dict[str, str] = {} if into is None else into
    for part in value.split(","):
        key, _, arg = part.strip().partition("=")
        if key:
            out[key.lower()] = arg.strip().strip('"')
    return out


def directives(headers: Headers) -> dict[str, str]:
    """``Cache-Control`` of a header list (every such header) as {directive: argument}."""
    out: dict[str, str] = {}
    for name, value in headers:
        if name == b"cache-control":
            parse(value.decode("latin-1"), out)
    return out


def seconds(cc: dict[str, str], name: str) -> int | None:
    """A delta-seconds directive (``max-age``...): its value, None when absent or not a
    number."""
    arg = cc.get(name)
    if arg is None:
        return None
    try:
        return max(0, int(arg))
    except ValueError:
        return None


def client_revalidates(headers: Headers) -> bool:
    """The request asks for a fresh answer: ``Cache-Control: no-cache`` or ``max-age=0``,
    or ``Pragma: no-cache``."""
    cc = directives(headers)
    if "no-cache" in cc or seconds(cc, "max-age") == 0:
        return True
    pragma = header(headers, b"pragma")
    return pragma is not None and b"no-cache" in pragma.lower()


def private_ttl(value: str | None) -> float:
    """Seconds a client's own cache (``was``'s result cache) may keep an answer with this
    ``Cache-Control`` value: its ``max-age`` (or ``s-maxage``), 0 for ``no-store``,
    ``no-cache``, ``private``, none, or a malformed age."""
    if not value:
        return 0.0
    cc = parse(value)
    if "no-store" in cc or "no-cache" in cc or "private" in cc:
        return 0.0
    ttl = 0.0
    for key in ("max-age", "s-maxage"):
        if key in cc:
            try:
                ttl = max(ttl, float(cc[key]))
            except ValueError:
                return 0.0
    return ttl


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
