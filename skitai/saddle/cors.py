"""CORS (the Fetch standard's CORS protocol) for Saddle routes.

``Policy(allow_origin, max_age, allow_credentials)`` comes from ``app.access_control_*``
or a route's own ``access_control_allow_origin=...``/``access_control_max_age=...``.

- A preflight (``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``) is
  answered here and the view never runs: 204 with the allow headers when the origin and
  method are allowed, 403 without any CORS header when not (the browser then refuses
  the real request).
- An actual request from an allowed origin gets ``Access-Control-Allow-Origin``.  With a
  list of origins the request's origin is echoed with ``Vary: Origin`` (caches must not
  hand one origin's answer to another).
- Credentials (cookies, HTTP auth): ``Access-Control-Allow-Credentials: true`` only with
  ``allow_credentials=True``, and the Fetch standard forbids that with ``"*"``: that
  combination is refused when the policy is made, not discovered in a browser.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

SAFE_METHODS: Final = frozenset({"GET", "HEAD", "POST"})
Headers = list[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class Policy:
    allow_origin: tuple[str, ...]
    max_age: int | None = None
    allow_credentials: bool = False
    expose_headers: tuple[str, ...] = ()

    @classmethod
    def make(
        cls,
        allow_origin: str | Sequence[str] | None,
        max_age: int | None = None,
        allow_credentials: bool = False,
        expose_headers: Sequence[str] = (),
    ) -> Policy | None:
        if not allow_origin:
            return None
        origins = (allow_origin,) if isinstance(allow_origin, str) else tuple(allow_origin)
        if allow_credentials and "*" in origins:
            raise ValueError(
                "access_control_allow_origin '*' cannot allow credentials (Fetch standard);"
                " list the origins instead"
            )
        return cls(tuple(o.rstrip("/") for o in origins), max_age, allow_credentials,
                   tuple(expose_headers))

    @property
    def any_origin(self) -> bool:
        return "*" in self.allow_origin

    def allows(self, origin: str) -> bool:
        return self.any_origin or origin in self.allow_origin

    def _origin_headers(self, origin: str) -> Headers:
        if self.any_origin:
            return [("Access-Control-Allow-Origin", "*")]
        headers = [("Access-Control-Allow-Origin", origin), ("Vary", "Origin")]
        if self.allow_credentials:
            headers.append(("Access-Control-Allow-Credentials", "true"))
        return headers

    def preflight(
        self, origin: str, method: str, request_headers: str | None, allowed: Iterable[str]
    ) -> tuple[int, Headers]:
        """Status and headers of the answer to a preflight; 403 when refused."""
        methods = sorted({m.upper() for m in allowed} | {"OPTIONS"})
        if not self.allows(origin) or method.upper() not in methods:
            return 403, [] if self.any_origin else [("Vary", "Origin")]
        headers = self._origin_headers(origin)
        headers.append(("Access-Control-Allow-Methods", ", ".join(methods)))
        if request_headers:
            # Any header a route is willing to read: echo what was asked (the view decides).
            headers.append(("Access-Control-Allow-Headers", request_headers))
        if self.max_age is not None:
            headers.append(("Access-Control-Max-Age", str(int(self.max_age))))
        return 204, headers

    def actual(self, origin: str) -> Headers:
        """Headers for a non-preflight response to ``origin``; none if not allowed."""
        if not self.allows(origin):
            return [] if self.any_origin else [("Vary", "Origin")]
        headers = self._origin_headers(origin)
        if self.expose_headers:
            headers.append(("Access-Control-Expose-Headers", ", ".join(self.expose_headers)))
        return headers


def is_preflight(method: str, origin: str | None, request_method: str | None) -> bool:
    return method == "OPTIONS" and bool(origin) and bool(request_method)
