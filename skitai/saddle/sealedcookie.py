"""One sealed cookie (``sealing.Sealer``) read lazily and written once, at the response.

``SealedCookie`` is what a session and a message box have in common: a cookie name and
its attributes, a JSON payload that is opened on first use (a request that never touches
``was.session`` pays nothing), and ``commit()`` that writes a Set-Cookie only when the
payload changed.  A payload that cannot be opened (tampered, another key, truncated) reads
as empty, exactly like no cookie: the client learns nothing from the difference.

``Mounts`` is the seed's ``was.session.mount(name, securekey, path, ...)``: named cookies
of one kind, one of them current; every other method goes to the current one.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Generic, TypeVar

from skitai.saddle import cookies as cookies_mod
from skitai.saddle import sealing

COOKIE_LIMIT: Final = 4096
"""RFC 6265 section 6.1: browsers keep at least 4096 bytes per cookie (name, value and
attributes); past that a cookie may be silently dropped, so it is refused here instead."""


class CookieTooLarge(ValueError):
    """A sealed cookie would be past the browser limit: store less (ids, not records)."""


Secret = str | bytes | Sequence[str | bytes]


@functools.lru_cache(maxsize=32)
def _sealer(secrets: tuple[str | bytes, ...]) -> sealing.Sealer:
    return sealing.Sealer(secrets)


def sealer_for(securekey: Secret) -> sealing.Sealer:
    """The cached ``Sealer`` of a securekey (HKDF runs once per key, not per request)."""
    secrets = (securekey,) if isinstance(securekey, str | bytes) else tuple(securekey)
    return _sealer(secrets)


@dataclass(frozen=True, slots=True)
class CookieSpec:
    """Where a sealed cookie lives: its name and Set-Cookie attributes."""

    name: str
    path: str | None = None
    domain: str | None = None
    secure: bool = False
    http_only: bool = True
    samesite: str | None = "Lax"


class SealedCookie:
    """Lazy open, dirty tracking and a size-checked write of one sealed JSON cookie."""

    purpose: bytes = b"cookie:"

    def __init__(
        self,
        jar: cookies_mod.Cookies,
        securekey: Secret | None,
        spec: CookieSpec,
        remote_addr: str | None = None,
    ) -> None:
        self._jar = jar
        self._securekey = securekey
        self.spec = spec
        self.remote_addr = remote_addr
        self._payload: dict[str, Any] | None = None
        self._dirty = False

    @property
    def name(self) -> str:
        return self.spec.name

    def _purpose(self) -> bytes:
        return self.purpose + self.spec.name.encode()

    def _sealer(self) -> sealing.Sealer:
        if not self._securekey:
            raise RuntimeError(
                f"{type(self).__name__} '{self.spec.name}' needs app.securekey (a random string)"
            )
        return sealer_for(self._securekey)

    @property
    def payload(self) -> dict[str, Any]:
        if self._payload is None:
            self._payload = self._load()
        return self._payload

    def _load(self) -> dict[str, Any]:
        raw = self._jar.get(self.spec.name)
        if not raw:
            return {}
        try:
            value = self._sealer().open(raw, self._purpose())
        except sealing.SealError:
            return {}
        if not isinstance(value, dict) or not self.accept(value):
            return {}
        return value

    def accept(self, payload: dict[str, Any]) -> bool:
        """Whether a payload that opened is still good (a subclass checks expiry)."""
        return True

    def changed(self) -> None:
        self._dirty = True

    def exists(self) -> bool:
        return bool(self.payload)

    def cookie_expires(self) -> int | float | str | None:
        """The Set-Cookie ``expires`` argument (seconds; None: browser session)."""
        return None

    def commit(self) -> None:
        """Write the Set-Cookie if the payload changed: sealed, or a removal when empty."""
        if not self._dirty:
            return
        self._dirty = False
        spec = self.spec
        payload = self.payload
        if not payload:
            if spec.name in self._jar:
                self._jar.remove(spec.name, spec.path, spec.domain)
            return
        value = self._sealer().seal(payload, self._purpose())
        self._jar.set(
            spec.name, value, self.cookie_expires(), spec.path, spec.domain,
            spec.secure, spec.http_only, spec.samesite,
        )
        size = len(spec.name) + len(value) + 200  # + generous attribute allowance
        if size > COOKIE_LIMIT:
            raise CookieTooLarge(
                f"{type(self).__name__.lower()} cookie '{spec.name}' would be about {size}"
                f" bytes, past the {COOKIE_LIMIT}-byte cookie limit browsers keep;"
                " store less in it (ids, not records)"
            )


T = TypeVar("T", bound=SealedCookie)


class Mounts(Generic[T]):
    """Named sealed cookies of one kind; ``mount()`` makes one current (the seed's API:
    ``was.session.mount(name, securekey, path, domain, secure, http_only)``).  The cookie
    of ``name`` is ``<base name>_<name>``; ``name=None`` is the default one."""

    def __init__(self, jar: cookies_mod.Cookies, securekey: Secret | None,
                 remote_addr: str | None, base: CookieSpec) -> None:
        self._jar = jar
        self._securekey = securekey
        self._remote_addr = remote_addr
        self._base = base
        self.current: T = self._build(base, securekey)
        self._mounted: dict[str | None, T] = {None: self.current}

    def _build(self, spec: CookieSpec, securekey: Secret | None, **extra: Any) -> T:
        raise NotImplementedError

    def _spec(self, name: str | None, path: str | None = None, domain: str | None = None,
              secure: bool = False, http_only: bool = True, samesite: str | None = "Lax") -> CookieSpec:
        if name is None:  # the default one, with its own attributes unless given others
            base = self._base
            return CookieSpec(base.name, path or base.path, domain or base.domain,
                              secure or base.secure, http_only, samesite)
        return CookieSpec(f"{self._base.name}_{name}", path, domain, secure, http_only, samesite)

    def mount(self, name: str | None = None, securekey: Secret | None = None,
              path: str | None = None, domain: str | None = None, secure: bool = False,
              http_only: bool = True, samesite: str | None = "Lax", **extra: Any) -> T:
        found = self._mounted.get(name)
        if found is None:
            spec = self._spec(name, path, domain, secure, http_only, samesite)
            found = self._build(spec, securekey or self._securekey, **extra)
            self._mounted[name] = found
        self.current = found
        return found

    def exists(self, name: str | None = None) -> bool:
        found = self._mounted.get(name)
        if found is None:  # not mounted in this request: try it with the app's securekey
            found = self._build(self._spec(name), self._securekey)
        return found.exists()

    def commit(self) -> None:
        for one in self._mounted.values():
            one.commit()
