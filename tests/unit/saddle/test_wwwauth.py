from __future__ import annotations

import base64
import hashlib

import httpx
import pytest

from skitai.saddle import wwwauth

REALM = "Partner Area"
MD5_HA1 = hashlib.md5(f"app:{REALM}:pw2".encode()).hexdigest()
USERS = {"hans": "pw", "app": (MD5_HA1, True, {"role": "root"})}


def basic(user: str, pw: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()


def test_basic():
    a = wwwauth.Authenticator("basic", REALM, USERS)
    assert a.challenges() == [f'Basic realm="{REALM}", charset="UTF-8"']
    assert a.check(basic("hans", "pw"), "GET", "/")[0] == wwwauth.User("hans", REALM)
    assert a.check(basic("app", "pw2"), "GET", "/")[0].info == {"role": "root"}
    for bad in (basic("hans", "nope"), basic("nobody", "pw"), "Basic !!", "Bearer x", None):
        assert a.check(bad, "GET", "/")[0] is None


def digest_header(a: wwwauth.Authenticator, user: str, pw: str, method: str, uri: str,
                  index: int = 0) -> str:
    """Drive httpx's own DigestAuth flow against our challenge (a real client's answer)."""
    auth = httpx.DigestAuth(user, pw)
    request = httpx.Request(method, "http://testserver" + uri)
    flow = auth.sync_auth_flow(request)
    next(flow)
    challenge = a.challenges()[index:]
    response = httpx.Response(401, headers=[("www-authenticate", c) for c in challenge], request=request)
    retried = flow.send(response)
    return retried.headers["authorization"]


@pytest.mark.parametrize("index,algorithm", [(0, "SHA-256"), (1, "MD5")])
def test_digest_with_httpx_client(index, algorithm):
    a = wwwauth.Authenticator("digest", REALM, USERS)
    header = digest_header(a, "hans", "pw", "GET", "/secret?x=1", index)
    assert f"algorithm={algorithm}" in header
    user, stale = a.check(header, "GET", "/secret?x=1")
    assert user is not None and user.name == "hans" and not stale
    # the same header again is a replay (same nonce count)
    assert a.check(header, "GET", "/secret?x=1") == (None, False)


def test_digest_refusals():
    a = wwwauth.Authenticator("digest", REALM, USERS)
    good = digest_header(a, "hans", "pw", "GET", "/s")
    assert a.check(digest_header(a, "hans", "bad", "GET", "/s"), "GET", "/s")[0] is None
    assert a.check(good, "POST", "/s")[0] is None  # method is in the hash
    assert a.check(good, "GET", "/other")[0] is None  # uri must be the request's
    foreign = wwwauth.Authenticator("digest", REALM, USERS, secret=b"x")
    assert foreign.check(good, "GET", "/s")[0] is None  # nonce not ours


def test_digest_prehashed_md5_only_with_md5():
    a = wwwauth.Authenticator("digest", REALM, USERS)
    assert a.check(digest_header(a, "app", "pw2", "GET", "/", 0), "GET", "/")[0] is None
    user = a.check(digest_header(a, "app", "pw2", "GET", "/", 1), "GET", "/")[0]
    assert user is not None and user.info == {"role": "root"}


def test_stale_nonce():
    a = wwwauth.Authenticator("digest", REALM, USERS, nonce_ttl=-120)
    header = digest_header(a, "hans", "pw", "GET", "/")
    assert a.check(header, "GET", "/") == (None, True)
    assert a.challenges(stale=True)[0].endswith("stale=true")


def test_another_process_nonce_is_stale(monkeypatch: pytest.MonkeyPatch) -> None:
    a = wwwauth.Authenticator("digest", REALM, USERS)
    header = digest_header(a, "hans", "pw", "GET", "/")
    monkeypatch.setattr(wwwauth.os, "getpid", lambda: 1)  # as if another worker checked it
    assert a.check(header, "GET", "/") == (None, True)


def test_bad_config():
    with pytest.raises(ValueError, match="basic' or 'digest"):
        wwwauth.Authenticator("ntlm", REALM, USERS)
    with pytest.raises(ValueError, match="algorithm"):
        wwwauth.Authenticator("digest", REALM, USERS, algorithms=("SHA-1",))


def test_parse_params():
    assert wwwauth.parse_params('a="x, \\"y\\"", b=z,c="" ') == {"a": 'x, "y"', "b": "z", "c": ""}
