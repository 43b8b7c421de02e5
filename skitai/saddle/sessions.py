"""``was.session``: a dict-like session kept in a sealed cookie (no server-side store).

Payload (JSON, sealed by ``sealing``): ``{"d": user data, "i": internal data (CSRF
token, one-time token nonces), "e": expiry (epoch seconds), "a": client address}``.

Expiry, as the seed describes it: setting, changing or removing a value extends the
expiry to ``now + session_timeout``; reading does not.  ``touch()`` extends it the same
way without a change; ``set_expiry(t)`` sets it to ``now + t`` outright.  An explicit
expiry longer than ``now + session_timeout`` is never shortened by the automatic
extension ("auto extension is disabled until the expiry becomes shorter than the one
session_timeout gives").  The expiry is checked here, on the server, at every read: a
client that keeps an old cookie past its ``Expires`` gets an empty session.

``was.session.mount("ADM", key, path="/admin")`` makes a named session current; the names
and the default one are all written at the end of the request.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any, Final

from skitai.saddle import cookies as cookies_mod
from skitai.saddle.sealedcookie import CookieSpec, Mounts, SealedCookie, Secret

DEFAULT_TIMEOUT: Final = 1200
DEFAULT_NAME: Final = "SESSION"


class Session(SealedCookie):
    purpose = b"session:"

    def __init__(
        self,
        jar: cookies_mod.Cookies,
        securekey: Secret | None,
        spec: CookieSpec,
        remote_addr: str | None = None,
        timeout: int | float = DEFAULT_TIMEOUT,
    ) -> None:
        super().__init__(jar, securekey, spec, remote_addr)
        self.timeout = timeout

    def accept(self, payload: dict[str, Any]) -> bool:
        expiry = payload.get("e")
        return isinstance(expiry, int | float) and expiry > time.time()

    # -- data -----------------------------------------------------------------
    @property
    def data(self) -> dict[str, Any]:
        return self.payload.setdefault("d", {})  # type: ignore[no-any-return]

    def _extend(self, seconds: float | None = None, force: bool = False) -> None:
        payload = self.payload
        new = time.time() + (self.timeout if seconds is None else seconds)
        if force or payload.get("e", 0) < new:
            payload["e"] = new
        self.changed()

    def set(self, key: str, val: Any) -> None:
        self.data[key] = val
        self._extend()

    def __setitem__(self, key: str, val: Any) -> None:
        self.set(key, val)

    def get(self, key: str, default: Any = None) -> Any:
        return self.payload.get("d", {}).get(key, default)

    def __getitem__(self, key: str) -> Any:
        return self.payload.get("d", {})[key]

    def getv(self, key: str, default: Any = None) -> Any:
        """``get`` only when the request comes from the address that last wrote the session."""
        return self.get(key, default) if self.source_verified() else default

    def source_verified(self) -> bool:
        return bool(self.payload) and self.payload.get("a") == self.remote_addr

    def remove(self, key: str) -> Any:
        value = self.payload.get("d", {}).pop(key, None)
        self._extend()
        return value

    def __delitem__(self, key: str) -> None:
        del self.payload.get("d", {})[key]
        self._extend()

    def pop(self, key: str, default: Any = None) -> Any:
        value = self.payload.get("d", {}).pop(key, default)
        self._extend()
        return value

    def __contains__(self, key: object) -> bool:
        return key in self.payload.get("d", {})

    def has_key(self, key: str) -> bool:
        return key in self

    def __iter__(self) -> Iterator[str]:
        return iter(list(self.payload.get("d", {})))

    def __len__(self) -> int:
        return len(self.payload.get("d", {}))

    def keys(self) -> list[str]:
        return list(self.payload.get("d", {}))

    def values(self) -> list[Any]:
        return list(self.payload.get("d", {}).values())

    def items(self) -> list[tuple[str, Any]]:
        return list(self.payload.get("d", {}).items())

    def clear(self) -> None:
        self.payload.pop("d", None)
        self._extend()

    # -- internal values (CSRF, token nonces): kept apart from keys() ------------
    def internal_get(self, key: str) -> Any:
        return self.payload.get("i", {}).get(key)

    def internal_set(self, key: str, val: Any) -> None:
        self.payload.setdefault("i", {})[key] = val
        self._extend()

    def internal_pop(self, key: str) -> Any:
        value = self.payload.get("i", {}).pop(key, None)
        if value is not None:
            self._extend()
        return value

    # -- expiry -----------------------------------------------------------------
    def touch(self) -> None:
        if self.payload:
            self._extend()

    def set_expiry(self, timeout: int | float) -> None:
        self._extend(timeout, force=True)

    def expire(self) -> None:
        """Drop everything; the cookie is removed at the end of the request."""
        self.payload.clear()
        self.changed()

    def expires_at(self) -> float | None:
        expiry = self.payload.get("e")
        return float(expiry) if expiry is not None else None

    def cookie_expires(self) -> int | float | str | None:
        return max(1, int(self.payload["e"] - time.time()))

    def commit(self) -> None:
        if self._dirty:
            payload = self.payload
            if not payload.get("d") and not payload.get("i"):
                payload.clear()
            else:
                payload["a"] = self.remote_addr
        super().commit()


class SessionMounts(Mounts[Session]):
    """``was.session``: the current (default or mounted) session, and ``mount``/``exists``."""

    def __init__(
        self,
        jar: cookies_mod.Cookies,
        securekey: Secret | None,
        timeout: int | float = DEFAULT_TIMEOUT,
        remote_addr: str | None = None,
        spec: CookieSpec | None = None,
    ) -> None:
        self._timeout = timeout
        super().__init__(jar, securekey, remote_addr, spec or CookieSpec(DEFAULT_NAME))

    def _build(self, spec: CookieSpec, securekey: Secret | None, **extra: Any) -> Session:
        timeout = extra.pop("session_timeout", None) or self._timeout
        if extra:
            raise TypeError(f"was.session.mount() got unexpected arguments {sorted(extra)}")
        return Session(self._jar, securekey, spec, self._remote_addr, timeout)

    # The seed's was.session methods, on the current session.
    def set(self, key: str, val: Any) -> None:
        self.current.set(key, val)

    def __setitem__(self, key: str, val: Any) -> None:
        self.current.set(key, val)

    def get(self, key: str, default: Any = None) -> Any:
        return self.current.get(key, default)

    def __getitem__(self, key: str) -> Any:
        return self.current[key]

    def getv(self, key: str, default: Any = None) -> Any:
        return self.current.getv(key, default)

    def source_verified(self) -> bool:
        return self.current.source_verified()

    def remove(self, key: str) -> Any:
        return self.current.remove(key)

    def __delitem__(self, key: str) -> None:
        del self.current[key]

    def pop(self, key: str, default: Any = None) -> Any:
        return self.current.pop(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self.current

    def has_key(self, key: str) -> bool:
        return key in self.current

    def __iter__(self) -> Iterator[str]:
        return iter(self.current)

    def __len__(self) -> int:
        return len(self.current)

    def keys(self) -> list[str]:
        return self.current.keys()

    def values(self) -> list[Any]:
        return self.current.values()

    def items(self) -> list[tuple[str, Any]]:
        return self.current.items()

    def clear(self) -> None:
        self.current.clear()

    def touch(self) -> None:
        self.current.touch()

    def set_expiry(self, timeout: int | float) -> None:
        self.current.set_expiry(timeout)

    def expire(self) -> None:
        self.current.expire()
