"""``was.cookie``, ``was.session``, ``was.mbox``, CSRF and URL-token helpers, plugged into
``was`` through ``extensions.was_attribute`` (made on first use in a request; a request
that never touches them pays nothing).

At the end of a request (``on_response``) sessions and message boxes seal their cookies
if they changed, and every Set-Cookie line goes out, one header field each.  Each hook
takes the lines queued so far, so the hooks may run in any order.
"""

from __future__ import annotations

from typing import Any

from skitai.saddle import cookies, csrf, extensions, mbox, sessions, sqlmap, tokens
from skitai.saddle.sealedcookie import CookieSpec


def _mount_point(was: Any) -> str:
    return str(was.env.get("SCRIPT_NAME") or "/")


def _flush(jar: cookies.Cookies, response: Any) -> None:
    for line in jar.take_set_cookie_headers():
        response.append_header("Set-Cookie", line)


def _make_cookie(was: Any) -> cookies.Cookies:
    return cookies.Cookies(was.env.get("HTTP_COOKIE"), _mount_point(was))


def _cookie_done(jar: cookies.Cookies, was: Any, response: Any) -> None:
    _flush(jar, response)


def _default_spec(was: Any, name: str) -> CookieSpec:
    """The default session and mbox: path ``/`` (one session for all the apps of a host
    that share ``app.securekey``, as the seed says; a named one defaults to the mount
    point), Secure on an HTTPS request."""
    return CookieSpec(name, "/", secure=was.env.get("wsgi.url_scheme") == "https")


def _make_session(was: Any) -> sessions.SessionMounts:
    app = was.app
    return sessions.SessionMounts(
        was.cookie, app.securekey, app.session_timeout, was.env.get("REMOTE_ADDR"),
        _default_spec(was, sessions.DEFAULT_NAME))


def _session_done(session: sessions.SessionMounts, was: Any, response: Any) -> None:
    session.commit()
    _flush(was.cookie, response)


def _make_mbox(was: Any) -> mbox.MboxMounts:
    return mbox.MboxMounts(was.cookie, was.app.securekey, was.env.get("REMOTE_ADDR"),
                           _default_spec(was, mbox.DEFAULT_NAME))


def _mbox_done(box: mbox.MboxMounts, was: Any, response: Any) -> None:
    box.finish(ok=response.code < 400)
    _flush(was.cookie, response)


def _submitted_csrf(was: Any) -> str | None:
    value = was.env.get(csrf.HEADER)
    if value:
        return str(value)
    found = was.request.args.get(csrf.FIELD)
    return found if isinstance(found, str) else None


def _make_csrf_verify(was: Any) -> Any:
    def csrf_verify(keep: bool = False) -> bool:
        """Whether the request carries this session's CSRF token (form field or header)."""
        return csrf.verify(was.session.current, _submitted_csrf(was), keep)
    return csrf_verify


def _securekey(was: Any) -> Any:
    key = was.app.securekey
    if not key:
        raise RuntimeError("was.token needs app.securekey (a random string)")
    return key


def _make_token(was: Any) -> Any:
    def token(obj: Any, timeout: int | float = tokens.DEFAULT_TIMEOUT,
              session_token: str | None = None) -> str:
        session = was.session.current if session_token is not None else None
        return tokens.make(_securekey(was), obj, timeout, session_token, session)
    return token


def _make_detoken(was: Any) -> Any:
    def detoken(token: str) -> Any:
        key = _securekey(was)
        session = was.session.current if was.app.securekey else None
        return tokens.read(key, token, session)
    return detoken


def _make_rmtoken(was: Any) -> Any:
    def rmtoken(token: str) -> None:
        tokens.revoke(_securekey(was), token, was.session.current)
    return rmtoken


def install() -> None:
    extensions.was_attribute("cookie", _make_cookie, _cookie_done)
    extensions.was_attribute("session", _make_session, _session_done)
    extensions.was_attribute("mbox", _make_mbox, _mbox_done)
    extensions.was_attribute("csrf_token", lambda was: csrf.token(was.session.current))
    extensions.was_attribute("csrf_token_input", lambda was: csrf.token_input(was.session.current))
    extensions.was_attribute("csrf_verify", _make_csrf_verify)
    extensions.was_attribute("token", _make_token)
    extensions.was_attribute("detoken", _make_detoken)
    extensions.was_attribute("rmtoken", _make_rmtoken)
    extensions.was_attribute("sqlmap", lambda was: sqlmap.for_app(was.app))
