"""The API gateway's admission: ``source=`` networks, bearer tokens, ``role=``, rate limit.

Theory.  Every request to an alias mount passes ``Gate.admit`` before it is proxied:

1. ``source=`` on the alias: a client outside its networks gets 403 (with or without
   authentication: an address list is not a login).
2. With ``enable_gateway(True, ...)``: an ``Authorization: Bearer`` token is required
   (401 with ``WWW-Authenticate: Bearer realm="..."`` when missing or invalid, RFC 6750).
   A token of three dot-separated parts is a JWT, verified by PyJWT with the algorithms
   the configuration pins (never the token's own choice: an RS256 token shown to an
   HS256 gateway, or ``alg: none``, is refused), ``exp``/``nbf``/``iat`` with a leeway,
   ``aud``/``iss`` when configured.  The auth handler's ``handle_claim`` then decides;
   without one, the claim's ``user`` and ``roles`` do (the original's behaviour).  Any
   other token goes to ``handle_token`` (which may look it up in a database through
   ``was`` and answer later: ``handler.continue_request(request, username, roles)`` may
   be called from a callback, a coroutine or another thread).  No user or no roles: 401.
3. ``role=`` on the alias: a user with none of its roles gets 403.
4. ``set_rate_limit``: one token from the user's (else the address's) bucket, shared by
   all workers; an empty bucket is a 429 with ``Retry-After``.

Tokens never reach a log: the request log keeps a short hash of them (``log.py``), and
nothing here logs a token or a claim.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import jwt

from skitai.config.aliases import Alias
from skitai.config.gateway import HMAC_ALGORITHMS, GatewayConfig, RateLimit
from skitai.ipc import buckets
from skitai.worker.stream import Stream

log = logging.getLogger("skitai.gateway")

_registered: Any = None


def set_auth_handler(handler: Any) -> None:
    """Register the seed's auth object (``handle_token``/``handle_claim``) in this worker
    (``wac.handler.set_auth_handler(obj)`` from an app's mount hook ends here)."""
    global _registered
    _registered = handler


@dataclass
class Refusal:
    status: int
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    reason: str = ""


class AuthRequest:
    """What the seed's auth handler sees as ``request``: ``token``, ``claim`` (a dict, for
    a JWT), ``method``, ``uri``, ``client`` and ``get_header(name)``."""

    def __init__(self, stream: Stream, token: str, claim: dict[str, Any] | None,
                 loop: asyncio.AbstractEventLoop) -> None:
        self.token = token
        self.claim = claim
        self.method = stream.request.method.decode("latin-1")
        self.uri = stream.request.target.decode("latin-1")
        self.client = stream.client[0] if stream.client else ""
        self._headers = stream.request.headers
        self.loop = loop
        self.decided: asyncio.Future[tuple[str | None, list[str]]] = loop.create_future()

    def get_header(self, name: str, default: str | None = None) -> str | None:
        key = name.lower().encode("latin-1")
        for n, v in self._headers:
            if n == key:
                return v.decode("latin-1")
        return default


class AuthHandler:
    """The ``handler`` argument of ``handle_token(handler, request)``."""

    def continue_request(self, request: AuthRequest, username: str | None = None,
                         roles: Sequence[str] | str | None = None) -> None:
        result = (username, _roles(roles))
        if request.loop.is_running() and _on_loop(request.loop):
            _decide(request.decided, result)
        else:  # from a thread of the app's
            request.loop.call_soon_threadsafe(_decide, request.decided, result)

    def set_auth_handler(self, handler: Any) -> None:
        set_auth_handler(handler)


_HANDLER = AuthHandler()


class Gate:
    """The admission of one worker's alias mounts."""

    def __init__(self, gateway: GatewayConfig | None, rate: RateLimit | None,
                 loop: asyncio.AbstractEventLoop, timeout: float) -> None:
        self.gateway = gateway
        self.auth = gateway is not None and gateway.enable_auth
        self.rate = rate
        self.loop = loop
        self.timeout = timeout
        realm = gateway.realm if gateway is not None else "API Gateway"
        self.challenge = f'Bearer realm="{realm}"'.encode()
        self.table = None
        if rate is not None:
            self.table = buckets.existing()
            if self.table is None:  # not forked from the process that ran set_rate_limit
                log.warning("rate limit: no shared table from the master; counting per worker")
                self.table = buckets.shared(rate.slots)
        self._keys = _keys(gateway) if gateway is not None else None

    @property
    def needed(self) -> bool:
        return self.auth or self.rate is not None

    async def admit(self, stream: Stream, alias: Alias) -> Refusal | None:
        client = stream.client[0] if stream.client else ""
        if alias.sources and not alias.allows(client):
            return Refusal(403, reason="source")
        user: str | None = None
        if self.auth:
            decided = await self._authenticate(stream)
            if isinstance(decided, Refusal):
                return decided
            user, roles = decided
            stream.user = user
            if alias.roles and not set(alias.roles).intersection(roles):
                return Refusal(403, [(b"www-authenticate",
                                      self.challenge + b', error="insufficient_scope"')], "role")
        if self.rate is not None and self.table is not None:
            key = f"u:{user}" if user and self.rate.key == "user" else f"a:{client}"
            wait = self.table.take(key, self.rate.rate, self.rate.burst, time.monotonic())
            if wait > 0:
                return Refusal(429, [(b"retry-after", str(max(1, math.ceil(wait))).encode())],
                               "rate")
        return None

    # --- tokens ---------------------------------------------------------------------------
    async def _authenticate(self, stream: Stream) -> tuple[str | None, list[str]] | Refusal:
        token = _bearer(stream)
        if token is None:
            return Refusal(401, [(b"www-authenticate", self.challenge)], "no token")
        invalid = Refusal(401, [(b"www-authenticate",
                                 self.challenge + b', error="invalid_token"')], "invalid token")
        handler = _registered if _registered is not None else (
            self.gateway.auth_handler if self.gateway is not None else None)
        if token.count(".") == 2:
            claim = self._verify(token)
            if claim is None:
                return invalid
            method = getattr(handler, "handle_claim", None)
            if method is None:
                user, roles = claim.get("user"), _roles(claim.get("roles"))
                return (str(user), roles) if user and roles else invalid
            request = AuthRequest(stream, token, claim, self.loop)
        else:
            method = getattr(handler, "handle_token", None)
            if method is None:
                return invalid
            request = AuthRequest(stream, token, None, self.loop)
        try:
            result = method(_HANDLER, request)
            if inspect.isawaitable(result):
                await result
            user, roles = await _within(request.decided, self.timeout)
        except TimeoutError:
            log.error("auth handler did not call continue_request within %gs", self.timeout)
            return Refusal(504, reason="auth handler timeout")
        except Exception:  # noqa: BLE001 - the app's handler failed: a 500, logged
            log.exception("auth handler failed")
            return Refusal(500, reason="auth handler error")
        return (user, roles) if user and roles else invalid

    def _verify(self, token: str) -> dict[str, Any] | None:
        gw = self.gateway
        if gw is None or self._keys is None:
            return None
        try:
            header = jwt.get_unverified_header(token)
            alg = header.get("alg")
            if alg not in gw.algorithms:
                return None  # pinned by configuration: the token does not choose
            key = self._keys.key_for(alg, header.get("kid"))
            if key is None:
                return None
            claim: dict[str, Any] = jwt.decode(
                token, key, algorithms=[alg], audience=gw.audience, issuer=gw.issuer,
                leeway=gw.leeway,
                options={"require": list(gw.require), "verify_aud": gw.audience is not None})
        except (jwt.PyJWTError, ValueError, TypeError):
            return None
        return claim


JWKS_CHECK = 1.0  # seconds between looks at a JWKS file for a rotation


class _Keys:
    """The verification keys: the HMAC secret, a public key, the keys of a JWKS.

    A JWKS given as a file is watched for rotation: a token whose ``kid`` is unknown
    makes us look at the file at once, any other at most every ``JWKS_CHECK`` seconds
    (so a removed key stops working soon); a changed file (inode, mtime or size) is
    parsed again, and one that does not parse leaves the keys as they were."""

    def __init__(self, gw: GatewayConfig) -> None:
        self.secret = gw.secure_key
        self.public: Any = None
        self.jwks: dict[str | None, tuple[Any, str | None]] = {}  # kid: (key, its "alg")
        self.jwks_path = gw.jwks_path
        self._stamp: tuple[int, int, int] | None = None
        self._checked = time.monotonic()
        if gw.public_key is not None:
            self.public = gw.public_key
        if gw.jwks is not None:
            self.jwks = _parse_jwks(gw.jwks) or {}
        if self.jwks_path is not None:
            self._reload()  # the file may have changed since the config was read

    def key_for(self, alg: str, kid: Any) -> Any:
        if alg in HMAC_ALGORITHMS:
            return self.secret
        if self.jwks_path is not None:
            now = time.monotonic()
            if kid not in self.jwks or now - self._checked >= JWKS_CHECK:
                self._checked = now
                self._reload()
        if self.jwks:
            found = self.jwks.get(kid)
            if found is None and len(self.jwks) == 1 and kid is None:
                found = next(iter(self.jwks.values()))
            if found is None:
                return None
            key, declared = found
            # A key that names its algorithm is used with that one only.
            return key if declared is None or declared == alg else None
        return self.public


    def _reload(self) -> None:
        assert self.jwks_path is not None
        try:
            st = os.stat(self.jwks_path)
        except OSError:
            return  # gone for a moment (replaced by a rename): keep the keys we have
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        if stamp == self._stamp:
            return
        try:
            with open(self.jwks_path, encoding="utf-8") as f:
                text = f.read()
        except OSError:
            return
        keys = _parse_jwks(text)
        if keys is None:
            log.warning("jwks: %s does not parse; the previous keys stay", self.jwks_path)
            return
        if self._stamp is not None:
            log.info("jwks: %s reloaded (%d keys)", self.jwks_path, len(keys))
        self._stamp = stamp
        self.jwks = keys


def _parse_jwks(text: str) -> dict[str | None, tuple[Any, str | None]] | None:
    """A JWKS document's usable keys by ``kid``, with the algorithm each names (None: not
    a JWKS document)."""
    try:
        found = json.loads(text)["keys"]
        if not isinstance(found, list):
            return None
    except (ValueError, KeyError, TypeError):
        return None
    keys: dict[str | None, tuple[Any, str | None]] = {}
    for jwk in found:
        kid = jwk.get("kid") if isinstance(jwk, dict) else None
        try:
            keys[kid] = (jwt.PyJWK(jwk).key, jwk.get("alg"))
        except (jwt.PyJWTError, ValueError, TypeError, KeyError) as exc:
            log.warning("jwks: key %s skipped (%s)", kid, exc)
    return keys


def _keys(gw: GatewayConfig) -> _Keys | None:
    if gw.secure_key is None and gw.public_key is None and gw.jwks is None:
        return None
    return _Keys(gw)


def _bearer(stream: Stream) -> str | None:
    for name, value in stream.request.headers:
        if name == b"authorization":
            scheme, _, token = value.partition(b" ")
            if scheme.lower() == b"bearer" and token.strip():
                return token.strip().decode("latin-1")
            return None
    return None


def _roles(roles: object) -> list[str]:
    if roles is None:
        return []
    if isinstance(roles, str):
        return [r.strip() for r in roles.split(",") if r.strip()]
    if isinstance(roles, list | tuple | set | frozenset):
        return [str(r) for r in roles]
    return []


def _decide(fut: asyncio.Future[tuple[str | None, list[str]]],
            result: tuple[str | None, list[str]]) -> None:
    if not fut.done():
        fut.set_result(result)


async def _within(fut: asyncio.Future[tuple[str | None, list[str]]],
                  timeout: float) -> tuple[str | None, list[str]]:
    """``fut``'s result, or TimeoutError after ``timeout`` seconds (a timer: handlers may
    start outside a Task, see ``worker/eager.py``)."""
    if not fut.done():
        waiter = fut.get_loop().create_future()
        settle = fut.get_loop().call_later(timeout, _decide_timeout, waiter)
        fut.add_done_callback(lambda _: waiter.done() or waiter.set_result(None))  # type: ignore[func-returns-value]
        try:
            await waiter
        finally:
            settle.cancel()
    return fut.result()


def _decide_timeout(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


def _on_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False
