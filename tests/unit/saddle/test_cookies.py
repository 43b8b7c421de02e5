from __future__ import annotations

import pytest

from skitai.saddle import cookies


def test_parse_is_lenient_and_unquotes():
    got = cookies.parse_cookie_header('a=1; junk; =x; b="x \\"y\\""; a=2; c=')
    assert got == {"a": "1", "b": 'x "y"', "c": ""}


def test_set_defaults_path_to_mount_point_and_reads_back():
    jar = cookies.Cookies("user=hans", default_path="/admin")
    assert jar.get("user") == "hans" and "user" in jar and list(jar) == ["user"]
    jar.set("lang", "ko", http_only=True, secure=True, samesite="strict")
    jar["x"] = "y z"
    assert jar.get("lang") == "ko"
    lines = jar.set_cookie_headers()
    assert lines[0] == "lang=ko; Path=/admin; Secure; HttpOnly; SameSite=Strict"
    assert lines[1] == 'x="y z"; Path=/admin'
    assert sorted(jar.keys()) == ["lang", "user", "x"]


def test_expires_forms():
    jar = cookies.Cookies(None)
    jar.set("a", "1", expires=60, path="/")
    jar.set("b", "1", expires="never", domain="example.com")
    jar.remove("c")
    a, b, c = jar.set_cookie_headers()
    assert "Max-Age=60" in a and "Expires=" in a
    assert f"Max-Age={cookies.HUNDRED_YEARS}" in b and "Domain=example.com" in b
    assert c.startswith('c=""; Expires=Thu, 01 Jan 1970') and "Max-Age=0" in c


def test_remove_and_clear_hide_values():
    jar = cookies.Cookies("a=1; b=2")
    jar.remove("a")
    assert "a" not in jar
    jar.clear(path="/")
    assert len(jar) == 0 and len(jar.set_cookie_headers()) == 2


@pytest.mark.parametrize("kwargs", [{"samesite": "None"}, {"samesite": "bogus"}, {"expires": "soon"}])
def test_bad_attributes_are_refused(kwargs):
    with pytest.raises(ValueError):
        cookies.Cookies(None).set("a", "1", **kwargs)


def test_bad_name_refused():
    with pytest.raises(ValueError, match="invalid cookie name"):
        cookies.Cookies(None).set("a b", "1")
