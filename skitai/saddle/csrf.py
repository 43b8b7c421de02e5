"""CSRF tokens bound to the session (the seed's ``was.csrf_token`` and ``was.csrf_verify``).

The token is ``secrets.token_urlsafe(32)`` kept in the sealed session (so it is bound to
that browser's session and unreadable to others), and a submitted token is compared with
``hmac.compare_digest`` (constant time).  The original made it with ``random.getrandbits``
(predictable) and compared with ``==``.

A form carries it as the field ``csrf_token`` (``was.csrf_token_input``); an ``fetch``/XHR
call as the header ``X-CSRF-Token``.  ``verify(keep=False)`` consumes the token on success
(the seed's default: one form, one token); ``keep=True`` leaves it for the next request.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Final

from markupsafe import Markup

from skitai.saddle.sessions import Session

FIELD: Final = "csrf_token"
HEADER: Final = "HTTP_X_CSRF_TOKEN"
_KEY: Final = "csrf"


def token(session: Session) -> str:
    """The session's CSRF token, made on first use."""
    found = session.internal_get(_KEY)
    if not isinstance(found, str):
        found = secrets.token_urlsafe(32)
        session.internal_set(_KEY, found)
    return found


def token_input(session: Session) -> Markup:
    """A hidden ``<input>`` for a form, safe to print unescaped in a template."""
    return Markup('<input type="hidden" name="{}" value="{}">').format(FIELD, token(session))


def verify(session: Session, submitted: str | None, keep: bool = False) -> bool:
    """Whether ``submitted`` is the session's token; on success it is used up unless ``keep``."""
    expected = session.internal_get(_KEY)
    if not isinstance(expected, str) or not submitted:
        return False
    if not hmac.compare_digest(expected.encode(), submitted.encode("utf-8", "replace")):
        return False
    if not keep:
        session.internal_pop(_KEY)
    return True
