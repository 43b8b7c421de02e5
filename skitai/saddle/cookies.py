"""``was.cookie``: the request's cookies read as a mapping, changes written as Set-Cookie.

Reading.  The ``Cookie`` header is split the way browsers send it (``a=1; b=2``, RFC 6265
section 4.2), leniently: a pair without ``=`` or with an empty name is skipped instead of
losing the whole header (``http.cookies.SimpleCookie.load`` drops everything after the
first bad pair).  A double-quoted value is unquoted as ``SimpleCookie`` would.

Writing.  ``set()``/``remove()``/``clear()`` change the mapping at once (a later ``get``
in the same request sees them) and record one Set-Cookie line per (name, path, domain);
``set_cookie_headers()`` hands those lines to the response.  The seed's rules:

- ``expires`` is seconds from now; ``None`` makes a browser-session cookie, ``0`` or
  ``"now"`` expires it at once, ``"never"`` means a hundred years.
- ``path=None`` is the app's mount point (``SCRIPT_NAME``), so two apps mounted at
  ``/admin`` and ``/shop`` do not see each other's cookies unless one passes ``path="/"``.

``samesite`` ("Lax", "Strict" or "None") is added; ``"None"`` needs ``secure=True`` (browsers
drop a ``SameSite=None`` cookie that is not ``Secure``), so that combination is refused.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from email.utils import formatdate
from http.cookies import SimpleCookie
from typing import Final

HUNDRED_YEARS: Final = 100 * 365 * 86400
SAMESITE_VALUES: Final = {"lax": "Lax", "strict": "Strict", "none": "None"}
_CODEC: Final = SimpleCookie()  # value_encode/value_decode only (stateless)


def parse_cookie_header(header: str) -> dict[str, str]:
    """``"a=1; b=\\"x y\\""`` -> ``{"a": "1", "b": "x y"}``; the first of a repeated name wins
    (the browser sends the most specific path first, RFC 6265 5.4)."""
    cookies: dict[str, str] = {}
    for part in header.split(";"):
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep or not name or name in cookies:
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = _CODEC.value_decode(value)[0]
        cookies[name] = value
    return cookies


def expiry_attributes(expires: int | float | str | None, now: float | None = None) -> str:
    """The ``; Expires=...; Max-Age=...`` part for the seed's ``expires`` argument."""
    if expires is None:
        return ""
    if expires == "now":
        seconds = 0
    elif expires == "never":
        seconds = HUNDRED_YEARS
    elif isinstance(expires, int | float) and not isinstance(expires, bool):
        seconds = max(0, int(expires))
    else:
        raise ValueError(f"cookie expires must be seconds, 'now' or 'never', not {expires!r}")
    if seconds == 0:
        return "; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0"
    at = (time.time() if now is None else now) + seconds
    return f"; Expires={formatdate(at, usegmt=True)}; Max-Age={seconds}"


def build_set_cookie(
    key: str,
    value: str,
    expires: int | float | str | None = None,
    path: str = "/",
    domain: str | None = None,
    secure: bool = False,
    http_only: bool = False,
    samesite: str | None = None,
) -> str:
    """One Set-Cookie header value; a value outside the cookie-octet set is double-quoted
    with backslash escapes (what ``SimpleCookie`` writes and ``parse_cookie_header`` reads)."""
    if not key or any(c in key for c in '()<>@,;:\\"/[]?={} \t\r\n'):
        raise ValueError(f"invalid cookie name {key!r}")
    coded = _CODEC.value_encode(value)[1]
    line = f"{key}={coded}{expiry_attributes(expires)}; Path={path}"
    if domain:
        line += f"; Domain={domain}"
    if secure:
        line += "; Secure"
    if http_only:
        line += "; HttpOnly"
    if samesite is not None:
        spelled = SAMESITE_VALUES.get(samesite.lower())
        if spelled is None:
            raise ValueError(f"SameSite must be Lax, Strict or None, not {samesite!r}")
        if spelled == "None" and not secure:
            raise ValueError("SameSite=None needs secure=True (browsers drop it otherwise)")
        line += f"; SameSite={spelled}"
    return line


class Cookies:
    """The request's cookies (a mapping) plus the Set-Cookie lines this request adds."""

    __slots__ = ("_values", "_header", "_default_path", "_out")

    def __init__(self, header: str | None, default_path: str = "/") -> None:
        self._header = header
        self._values: dict[str, str] | None = None  # parsed on first read
        self._default_path = default_path or "/"
        self._out: dict[tuple[str, str, str | None], str] = {}

    @property
    def values_(self) -> dict[str, str]:
        if self._values is None:
            self._values = parse_cookie_header(self._header) if self._header else {}
        return self._values

    # -- reading ------------------------------------------------------------
    def get(self, key: str, default: str | None = None) -> str | None:
        return self.values_.get(key, default)

    def __getitem__(self, key: str) -> str:
        return self.values_[key]

    def __contains__(self, key: object) -> bool:
        return key in self.values_

    def has_key(self, key: str) -> bool:
        return key in self.values_

    def __iter__(self) -> Iterator[str]:
        return iter(list(self.values_))

    def __len__(self) -> int:
        return len(self.values_)

    def keys(self) -> list[str]:
        return list(self.values_)

    def values(self) -> list[str]:
        return list(self.values_.values())

    def items(self) -> list[tuple[str, str]]:
        return list(self.values_.items())

    # -- writing ------------------------------------------------------------
    def set(
        self,
        key: str,
        val: str,
        expires: int | float | str | None = None,
        path: str | None = None,
        domain: str | None = None,
        secure: bool = False,
        http_only: bool = False,
        samesite: str | None = None,
    ) -> None:
        path = path or self._default_path
        self._out[(key, path, domain)] = build_set_cookie(
            key, str(val), expires, path, domain, secure, http_only, samesite
        )
        if expires in (0, "now"):
            self.values_.pop(key, None)
        else:
            self.values_[key] = str(val)

    def __setitem__(self, key: str, val: str) -> None:
        self.set(key, val)

    def remove(self, key: str, path: str | None = None, domain: str | None = None) -> None:
        self.set(key, "", 0, path, domain)

    def __delitem__(self, key: str) -> None:
        self.remove(key)

    def clear(self, path: str | None = None, domain: str | None = None) -> None:
        for key in list(self.values_):
            self.remove(key, path, domain)

    def set_cookie_headers(self) -> list[str]:
        """The Set-Cookie values to send, one per cookie (never folded into one line)."""
        return list(self._out.values())

    def take_set_cookie_headers(self) -> list[str]:
        """``set_cookie_headers()``, forgetting them (each line is sent once)."""
        lines = list(self._out.values())
        self._out.clear()
        return lines
