"""One-time URL tokens: ``was.token(obj, timeout, session_token)``, ``detoken``, ``rmtoken``.

A token is a JSON value sealed (``sealing``: AES-GCM, never pickle) with its expiry, so
it is unreadable and unforgeable without ``app.securekey``; ``detoken`` returns ``None``
for a tampered, foreign or expired token.

Expiry alone does not stop a replay inside the time limit.  With ``session_token=NAME``
the token also carries a random nonce stored in the session under ``NAME``: ``rmtoken``
(or a newer token of the same name) removes it, and from then on the token is refused.
"""

from __future__ import annotations

import secrets
import time
from typing import Any, Final

from skitai.saddle import sealing
from skitai.saddle.sealedcookie import Secret, sealer_for
from skitai.saddle.sessions import Session

PURPOSE: Final = b"url-token"
DEFAULT_TIMEOUT: Final = 1200


def _session_key(name: str) -> str:
    return "token:" + name


def make(
    securekey: Secret,
    obj: Any,
    timeout: int | float = DEFAULT_TIMEOUT,
    session_token: str | None = None,
    session: Session | None = None,
) -> str:
    payload: dict[str, Any] = {"o": obj, "e": time.time() + timeout}
    if session_token is not None:
        if session is None:
            raise ValueError("session_token needs a session (set app.securekey)")
        nonce = secrets.token_urlsafe(12)
        session.internal_set(_session_key(session_token), nonce)
        payload["s"] = [session_token, nonce]
    return sealer_for(securekey).seal(payload, PURPOSE)


def _open(securekey: Secret, token: str) -> dict[str, Any] | None:
    try:
        payload = sealer_for(securekey).open(token, PURPOSE)
    except sealing.SealError:
        return None
    return payload if isinstance(payload, dict) else None


def read(securekey: Secret, token: str, session: Session | None = None) -> Any:
    """The token's object, or ``None`` when it is invalid, expired or revoked."""
    payload = _open(securekey, token)
    if payload is None or not payload.get("e", 0) > time.time():
        return None
    bound = payload.get("s")
    if bound is not None:
        name, nonce = bound
        if session is None or session.internal_get(_session_key(name)) != nonce:
            return None
    return payload.get("o")


def revoke(securekey: Secret, token: str, session: Session | None) -> None:
    """Make a session-bound token unusable (a token without a session name just expires)."""
    payload = _open(securekey, token)
    if payload is None or payload.get("s") is None or session is None:
        return
    name, nonce = payload["s"]
    if session.internal_get(_session_key(name)) == nonce:
        session.internal_pop(_session_key(name))
