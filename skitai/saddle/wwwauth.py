"""WWW-Authenticate: HTTP Basic (RFC 7617) and Digest (RFC 7616, SHA-256 and MD5).

``Authenticator.check(authorization, method, uri)`` returns the ``User`` or ``None``;
``challenges(stale)`` are the WWW-Authenticate values of the 401.  No socket, no app.

Users (the seed's ``app.users``): a dict or any object with ``get(username)`` returning
``password``, ``(password, encrypted)`` or ``(password, encrypted, info)``.  An encrypted
password is the digest ``H(username:realm:password)`` in hex: 32 digits for MD5 (the
seed's form), 64 for SHA-256; it works with Basic too (the server hashes what it gets).

Digest details:
- Challenges are sent SHA-256 first, then MD5 (RFC 7616 3.7: the preferred one first);
  ``qop="auth"`` only.  A user with an MD5-hashed password can only pass MD5.
- Nonces are ``time | pid | random | HMAC`` (no table of issued nonces).  One older than
  ``nonce_ttl``, or made by another worker process, gets a fresh challenge with
  ``stale=true``: the client retries with the new nonce without asking the user (a
  keep-alive connection stays with its worker, so this is rare).
- Replay: the worker that made a nonce is the only one that accepts it, and it remembers
  the highest ``nc`` per nonce and refuses one not above it: a captured request does not
  work twice.  Basic has no such protection at all, which is why the seed says to use it
  only over TLS.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import struct
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

ALGORITHMS: Final[dict[str, Callable[[bytes], Any]]] = {
    "SHA-256": hashlib.sha256,
    "MD5": hashlib.md5,
}
_HEX_LEN: Final = {64: "SHA-256", 32: "MD5"}
_PARAM: Final = re.compile(r'\s*([A-Za-z0-9_-]+)\s*=\s*("((?:[^"\\]|\\.)*)"|[^\s,]+)\s*,?')
_SEEN_MAX: Final = 10000


class UserSource(Protocol):
    def get(self, username: str, /) -> Any: ...


@dataclass(frozen=True, slots=True)
class User:
    """``was.request.user``: who passed WWW-Authenticate."""

    name: str
    realm: str
    info: Any = None


@dataclass(frozen=True, slots=True)
class _Entry:
    password: str
    encrypted: bool
    info: Any


def _lookup(users: UserSource | None, name: str) -> _Entry | None:
    if users is None:
        return None
    found = users.get(name)
    if found is None:
        return None
    if isinstance(found, str):
        return _Entry(found, False, None)
    if isinstance(found, tuple | list) and 1 <= len(found) <= 3:
        return _Entry(str(found[0]), bool(found[1]) if len(found) > 1 else False,
                      found[2] if len(found) > 2 else None)
    raise TypeError(f"app.users.get({name!r}) must give a password or a (password, encrypted[, info]) tuple")


def parse_params(text: str) -> dict[str, str]:
    """``a="x y", b=z`` -> ``{"a": "x y", "b": "z"}`` (quoted-string escapes undone)."""
    params: dict[str, str] = {}
    pos = 0
    while pos < len(text):
        m = _PARAM.match(text, pos)
        if m is None:
            break
        quoted = m.group(3)
        value = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else m.group(2)
        params[m.group(1).lower()] = value
        pos = m.end()
    return params


def ha1(algorithm: str, name: str, realm: str, password: str) -> str:
    return str(ALGORITHMS[algorithm](f"{name}:{realm}:{password}".encode()).hexdigest())


@dataclass
class Authenticator:
    """Checks Authorization headers against ``users`` for one realm."""

    scheme: str  # "basic" or "digest"
    realm: str
    users: UserSource | None
    secret: bytes = b""
    algorithms: Sequence[str] = ("SHA-256", "MD5")
    nonce_ttl: float = 300.0
    _seen: OrderedDict[str, int] = field(default_factory=OrderedDict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self.scheme = self.scheme.lower()
        if self.scheme not in ("basic", "digest"):
            raise ValueError(f"app.authorization must be 'basic' or 'digest', not {self.scheme!r}")
        unknown = [a for a in self.algorithms if a not in ALGORITHMS]
        if unknown:
            raise ValueError(f"unknown digest algorithm(s) {unknown}; use {list(ALGORITHMS)}")
        # Nonces must verify in every worker: the key comes from the realm and the app's
        # securekey, not from a per-process random value.
        self._nonce_key = hashlib.sha256(b"skitai digest nonce\0" + self.realm.encode() + b"\0" + self.secret).digest()

    # -- challenges -----------------------------------------------------------
    def make_nonce(self, now: float | None = None) -> str:
        stamp = struct.pack(">dI", time.time() if now is None else now, os.getpid() & 0xFFFFFFFF)
        stamp += os.urandom(4)
        mac = hmac.new(self._nonce_key, stamp, hashlib.sha256).digest()[:16]
        return base64.urlsafe_b64encode(stamp + mac).decode().rstrip("=")

    def _nonce_age(self, nonce: str) -> float | None:
        """Seconds since the nonce was made; ``inf`` for another process's nonce (a stale
        one: only the process that made a nonce counts its uses); None if not ours."""
        try:
            raw = base64.urlsafe_b64decode(nonce + "=" * (-len(nonce) % 4))
        except (binascii.Error, ValueError):
            return None
        if len(raw) != 32:
            return None
        expected = hmac.new(self._nonce_key, raw[:16], hashlib.sha256).digest()[:16]
        if not hmac.compare_digest(expected, raw[16:]):
            return None
        made, pid = struct.unpack(">dI", raw[:12])
        if pid != os.getpid() & 0xFFFFFFFF:
            return float("inf")
        return float(time.time() - made)

    def challenges(self, stale: bool = False) -> list[str]:
        realm = self.realm.replace("\\", "\\\\").replace('"', '\\"')
        if self.scheme == "basic":
            return [f'Basic realm="{realm}", charset="UTF-8"']
        opaque = hashlib.sha256(self._nonce_key).hexdigest()[:32]
        return [
            f'Digest realm="{realm}", qop="auth", algorithm={algorithm}, '
            f'nonce="{self.make_nonce()}", opaque="{opaque}"' + (", stale=true" if stale else "")
            for algorithm in self.algorithms
        ]

    # -- checks ---------------------------------------------------------------
    def check(self, authorization: str | None, method: str, uri: str) -> tuple[User | None, bool]:
        """``(user, stale)``: the user, or None; ``stale`` when only the nonce was too old."""
        if not authorization:
            return None, False
        scheme, _, rest = authorization.strip().partition(" ")
        if scheme.lower() != self.scheme:
            return None, False
        if self.scheme == "basic":
            return self._check_basic(rest.strip()), False
        return self._check_digest(parse_params(rest), method, uri)

    def _password_matches(self, entry: _Entry, name: str, password: str) -> bool:
        if not entry.encrypted:
            return hmac.compare_digest(entry.password.encode(), password.encode())
        algorithm = _HEX_LEN.get(len(entry.password))
        if algorithm is None:
            return False
        return hmac.compare_digest(entry.password.lower(), ha1(algorithm, name, self.realm, password))

    def _check_basic(self, credentials: str) -> User | None:
        try:
            decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            return None
        name, sep, password = decoded.partition(":")
        entry = _lookup(self.users, name) if sep else None
        if entry is None or not self._password_matches(entry, name, password):
            return None
        return User(name, self.realm, entry.info)

    def _check_digest(self, p: dict[str, str], method: str, uri: str) -> tuple[User | None, bool]:
        algorithm = p.get("algorithm", "MD5").upper()
        needed = ("username", "realm", "nonce", "uri", "response", "qop", "nc", "cnonce")
        if algorithm not in self.algorithms or any(k not in p for k in needed):
            return None, False
        if p["realm"] != self.realm or p["qop"] != "auth" or p["uri"] != uri:
            return None, False
        age = self._nonce_age(p["nonce"])
        if age is None:
            return None, False
        entry = _lookup(self.users, p["username"])
        if entry is None:
            return None, False
        if entry.encrypted:
            if _HEX_LEN.get(len(entry.password)) != algorithm:
                return None, False
            secret_ha1 = entry.password.lower()
        else:
            secret_ha1 = ha1(algorithm, p["username"], self.realm, entry.password)
        digest = ALGORITHMS[algorithm]
        ha2 = digest(f"{method}:{p['uri']}".encode()).hexdigest()
        expected = digest(
            f"{secret_ha1}:{p['nonce']}:{p['nc']}:{p['cnonce']}:auth:{ha2}".encode()
        ).hexdigest()
        if not hmac.compare_digest(expected, p["response"].lower()):
            return None, False
        if age > self.nonce_ttl or age < -60:
            return None, True  # right password, old nonce: a new challenge with stale=true
        if not self._count(p["nonce"], p["nc"]):
            return None, False
        return User(p["username"], self.realm, entry.info), False

    def _count(self, nonce: str, nc: str) -> bool:
        """Refuse a nonce count not above the last one this process accepted (a replay)."""
        try:
            count = int(nc, 16)
        except ValueError:
            return False
        with self._lock:  # views run on a thread pool: check-and-set must be one step
            if count <= self._seen.get(nonce, 0):
                return False
            self._seen[nonce] = count
            self._seen.move_to_end(nonce)
            while len(self._seen) > _SEEN_MAX:
                self._seen.popitem(last=False)
        return True
