from __future__ import annotations

import time

import pytest

from skitai.saddle import cookies, csrf, mbox, sessions, tokens
from skitai.saddle.sealedcookie import CookieTooLarge

KEY = "k" * 20


def cookie_header(jar: cookies.Cookies) -> str:
    """What the browser sends back: name=value of each Set-Cookie that is not a removal."""
    pairs = []
    for line in jar.set_cookie_headers():
        pair = line.split(";", 1)[0]
        if "Max-Age=0" not in line:
            pairs.append(pair)
    return "; ".join(pairs)


def session(header: str | None, addr: str = "1.2.3.4", key=KEY, timeout=1200):
    jar = cookies.Cookies(header, "/")
    return jar, sessions.SessionMounts(jar, key, timeout, addr)


def test_set_then_read_in_next_request():
    jar, s = session(None)
    s.set("user", {"id": 7})
    s["n"] = 1
    assert s.get("user") == {"id": 7} and "n" in s and sorted(s.keys()) == ["n", "user"]
    s.commit()
    (line,) = jar.set_cookie_headers()
    assert line.startswith("SESSION=") and "HttpOnly" in line and "SameSite=Lax" in line
    assert "Max-Age=1200" in line or "Max-Age=1199" in line
    jar2, s2 = session(cookie_header(jar))
    assert s2.get("user") == {"id": 7} and s2.source_verified()
    s2.commit()
    assert jar2.set_cookie_headers() == []  # read only: nothing written


def test_tampered_or_foreign_cookie_reads_empty():
    jar, s = session(None)
    s.set("v", 1)
    s.commit()
    header = cookie_header(jar)
    name, value = header.split("=", 1)
    tampered = f"{name}={value[:-2]}{'A' if value[-2] != 'A' else 'B'}{value[-1]}"
    assert session(tampered)[1].get("v") is None
    assert session(header, key="other")[1].get("v") is None
    assert session(header, key=["new", KEY])[1].get("v") == 1  # rotation


def test_expiry_is_checked_on_the_server():
    jar, s = session(None)
    s.set("v", 1)
    s.current.set_expiry(-1)
    s.commit()
    # the browser would drop it; a client that keeps it still gets nothing
    line = jar.set_cookie_headers()[0]
    forced = line.split(";", 1)[0]
    assert session(forced)[1].get("v") is None


def test_auto_extension_keeps_a_longer_explicit_expiry():
    _, s = session(None, timeout=100)
    s.set("a", 1)
    first = s.current.expires_at()
    assert first is not None and first == pytest.approx(time.time() + 100, abs=5)
    s.set_expiry(10000)
    s.set("b", 2)
    assert s.current.expires_at() == pytest.approx(time.time() + 10000, abs=5)
    s.set_expiry(5)
    s.touch()
    assert s.current.expires_at() == pytest.approx(time.time() + 100, abs=5)


def test_remove_all_removes_cookie_and_expire():
    jar, s = session(None)
    s.set("a", 1)
    s.commit()
    jar2, s2 = session(cookie_header(jar))
    s2.remove("a")
    s2.commit()
    assert "Max-Age=0" in jar2.set_cookie_headers()[0]
    jar3, s3 = session(cookie_header(jar))
    s3.expire()
    s3.commit()
    assert "Max-Age=0" in jar3.set_cookie_headers()[0]


def test_named_sessions_are_separate_cookies():
    jar, s = session(None)
    s.set("who", "default")
    s.mount("ADM", "admin-key", path="/admin")
    s.set("admin", True)
    assert s.get("who") is None
    s.commit()
    names = sorted(line.split("=", 1)[0] for line in jar.set_cookie_headers())
    assert names == ["SESSION", "SESSION_ADM"]
    assert "Path=/admin" in [x for x in jar.set_cookie_headers() if x.startswith("SESSION_ADM")][0]
    _, again = session(cookie_header(jar))
    assert again.exists(None) and not again.exists("ADM")  # ADM uses its own key
    again.mount("ADM", "admin-key")
    assert again.get("admin") is True and again.exists("ADM")


def test_size_check():
    _, s = session(None)
    s.set("big", "x" * 5000)
    with pytest.raises(CookieTooLarge, match="4096"):
        s.commit()


def test_source_verified_and_getv():
    jar, s = session(None, addr="1.1.1.1")
    s.set("a", 1)
    s.commit()
    _, other = session(cookie_header(jar), addr="2.2.2.2")
    assert other.get("a") == 1 and other.getv("a") is None and not other.source_verified()


def test_mbox_one_shot_survives_redirect_and_is_consumed():
    jar = cookies.Cookies(None)
    box = mbox.MboxMounts(jar, KEY)
    box.send("saved", "info")
    box.send("alarm", "alert", valid=60, level=3)
    box.finish(ok=True)
    jar2 = cookies.Cookies(cookie_header(jar))
    box2 = mbox.MboxMounts(jar2, KEY)
    got = box2.get()
    assert [(m[1], m[4]) for m in got] == [("info", "saved"), ("alert", "alarm")]
    assert box2.get("alert")[0][5] == {"level": 3} and box2.search("level", 3) == [2]
    box2.finish(ok=True)
    jar3 = cookies.Cookies(cookie_header(jar2))
    assert [m[4] for m in mbox.MboxMounts(jar3, KEY).get()] == ["alarm"]


def test_mbox_push_is_send():
    # The seed's "App Decorating" example: was.mbox.push(msg, category, icon=...).
    jar = cookies.Cookies(None)
    box = mbox.MboxMounts(jar, KEY)
    box.push("Invalid User Name or Password", "error", icon="new_releases")
    (m,) = box.get("error")
    assert m[4] == "Invalid User Name or Password" and m[5] == {"icon": "new_releases"}


def test_mbox_not_consumed_when_request_failed():
    jar = cookies.Cookies(None)
    box = mbox.MboxMounts(jar, KEY)
    box.send("m")
    box.finish(ok=True)
    jar2 = cookies.Cookies(cookie_header(jar))
    box2 = mbox.MboxMounts(jar2, KEY)
    assert len(box2.get()) == 1
    box2.finish(ok=False)
    assert jar2.set_cookie_headers() == []


def test_csrf_token_bound_to_session_and_used_once():
    _, s = session(None)
    token = csrf.token(s.current)
    assert token == csrf.token(s.current) and len(token) >= 40
    assert 'name="csrf_token"' in csrf.token_input(s.current)
    assert not csrf.verify(s.current, None) and not csrf.verify(s.current, token + "x")
    assert csrf.verify(s.current, token, keep=True)
    assert csrf.verify(s.current, token)
    assert not csrf.verify(s.current, token)  # consumed
    assert "csrf" not in s.keys()


def test_tokens_expire_and_can_be_revoked():
    _, s = session(None)
    t = tokens.make(KEY, {"user": "hans"}, 3600)
    assert tokens.read(KEY, t) == {"user": "hans"}
    assert tokens.read("other", t) is None
    assert tokens.read(KEY, t[:-3] + "AAA") is None
    assert tokens.read(KEY, tokens.make(KEY, "x", -1)) is None
    bound = tokens.make(KEY, "hans", 3600, "rset", s.current)
    assert tokens.read(KEY, bound, s.current) == "hans"
    assert tokens.read(KEY, bound, None) is None
    tokens.revoke(KEY, bound, s.current)
    assert tokens.read(KEY, bound, s.current) is None
    first = tokens.make(KEY, "a", 60, "one", s.current)
    tokens.make(KEY, "b", 60, "one", s.current)
    assert tokens.read(KEY, first, s.current) is None  # a newer token of the name replaces it
