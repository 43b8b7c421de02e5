from __future__ import annotations

from skitai import log


def _record(**kw):
    base = dict(when=0.0, client="10.0.0.1", host="example.com", method="GET", uri="/a?b=1",
                version="1.1", request_bytes=0, status=200, response_bytes=12, gtxid="g1",
                ltxid="1000", user=None, authorization=None, referer=None, user_agent="curl/8",
                forwarded_for=None, worker="W0", connections=3, handle_ms=1.4, send_ms=0.2)
    base.update(kw)
    return log.AccessRecord(**base)


def test_fields_in_readme_order() -> None:
    fields = log.format_access(_record()).split(" ")
    assert fields[2:] == ["10.0.0.1", "example.com", "GET", "/a?b=1", "1.1", "0", "200", "12",
                          "g1", "1000", "-", "-", "-", '"curl/8"', "-", "W0", "3", "1", "0"]
    assert len(fields[0]) == 10 and len(fields[1]) == 8  # date, time


def test_quotes_and_control_characters_are_escaped() -> None:
    line = log.format_access(_record(user_agent='evil" 200 \n"x', referer="r\x1b"))
    assert "\n" not in line and "\x1b" not in line
    assert '"evil\\" 200 \\x0a\\"x"' in line
    assert '"r\\x1b"' in line


def test_uri_with_spaces_stays_one_field() -> None:
    fields = log.format_access(_record(uri="/a b")).split(" ")
    assert fields[5] == "/a%20b"


def test_bearer_token_never_in_clear() -> None:
    line = log.format_access(_record(authorization="Bearer s3cr3t-token-value"))
    assert "s3cr3t" not in line
    assert " sha256:" in line
    assert log.token_digest("Basic dXNlcjpw") == "-"


def test_log_off_prefix_and_glob_on_path_only() -> None:
    off = log.LogOff(("/static/", "*.css"))
    assert off.skip("/static/x.js")
    assert off.skip("/site/a.css")
    assert not off.skip("/statics/x.js")
    assert not off.skip("/")
    assert not log.LogOff(())


def test_basic_auth_user_reaches_the_user_field_and_the_password_never() -> None:
    import base64

    creds = base64.b64encode(b"alice:s3cr3t").decode()
    fields = log.format_access(_record(authorization=f"Basic {creds}")).split(" ")
    assert fields[12] == '"alice"' and fields[13] == "-"
    assert "s3cr3t" not in " ".join(fields) and creds not in " ".join(fields)
    # What the app set wins; an undecodable header is no user.
    assert log.format_access(_record(user="bob", authorization=f"Basic {creds}")).split(" ")[12] \
        == '"bob"'
    assert log.format_access(_record(authorization="Basic !!!")).split(" ")[12] == "-"
