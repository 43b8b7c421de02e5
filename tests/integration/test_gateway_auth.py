"""The API gateway with a real member: JWT verification, the seed's auth handler,
role and source rules (401 vs 403), and a rate limit held across two workers."""

from __future__ import annotations

import http.client
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.conftest import ServerProcess
from tests.fixtures.members import start_skitai_member
from tests.integration.test_gateway_proxy import get, start_gateway

SECRET = "8fa06210-e109-11e6-934f-001b216d6e71"


@pytest.fixture
def member(tmp_path: Path) -> Iterator[ServerProcess]:
    m = start_skitai_member(tmp_path, "member")
    yield m
    m.stop()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def hs(claims: dict[str, object], key: str = SECRET, alg: str = "HS256") -> str:
    return jwt.encode(claims, key, algorithm=alg)


def test_jwt_cases(tmp_path: Path, member: ServerProcess) -> None:
    alias = (f'skitai.alias("@members", skitai.PROTO_HTTP, ["127.0.0.1:{member.port}"])\n'
             f'skitai.alias("@admin", skitai.PROTO_HTTP, ["127.0.0.1:{member.port}"], role="admin")\n'
             'skitai.mount("/admin", "@admin")')
    gw = start_gateway(tmp_path, [], alias=alias,
                       extra=f'skitai.enable_gateway(True, "{SECRET}", audience="api", leeway=0)')
    now = int(time.time())
    good = {"user": "hansroh", "roles": ["user"], "aud": "api", "exp": now + 600}
    try:
        status, headers, _ = get(gw, "/members/")
        assert status == 401 and headers["www-authenticate"] == 'Bearer realm="API Gateway"'
        status, _, body = get(gw, "/members/", headers=bearer(hs(good)))
        assert status == 200 and json.loads(body)["path"] == "/"
        refused = {
            "expired": hs({**good, "exp": now - 120}),
            "not yet valid": hs({**good, "nbf": now + 600}),
            "wrong key": hs(good, "another-secret-of-thirty-two-bytes-or-more"),
            "wrong audience": hs({**good, "aud": "other"}),
            "no audience": hs({k: v for k, v in good.items() if k != "aud"}),
            "alg none": jwt.encode(good, None, algorithm="none"),
            "HS512 not pinned": hs(good, SECRET * 2, alg="HS512"),
            "RS256": jwt.encode(good, rsa.generate_private_key(65537, 2048), algorithm="RS256"),
            "garbage": "a.b.c",
            "opaque, no handler": "12345678-1234-123456",
            "no roles": hs({"user": "x", "aud": "api", "exp": now + 600}),
        }
        for why, token in refused.items():
            status, headers, _ = get(gw, "/members/", headers=bearer(token))
            assert status == 401, why
            assert headers["www-authenticate"].startswith('Bearer realm="API Gateway"'), why
        # a valid user without the alias's role: 403, not 401
        assert get(gw, "/admin/", headers=bearer(hs(good)))[0] == 403
        admin = hs({**good, "roles": ["user", "admin"]})
        assert get(gw, "/admin/", headers=bearer(admin))[0] == 200
    finally:
        gw.stop()
    log = (tmp_path / "gateway" / "logs" / "request.log").read_text()
    assert hs(good) not in log and hs(good).split(".")[1] not in log  # tokens never logged
    assert '"hansroh"' in log  # the user is


def test_rs256_with_a_public_key_file(tmp_path: Path, member: ServerProcess) -> None:
    key = rsa.generate_private_key(65537, 2048)
    pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    (tmp_path / "gateway").mkdir()
    (tmp_path / "gateway" / "pub.pem").write_bytes(pem)
    gw = start_gateway(tmp_path, [f"127.0.0.1:{member.port}"],
                       extra='skitai.enable_gateway(True, public_key="pub.pem", issuer="idp")')
    claims = {"user": "u", "roles": ["r"], "iss": "idp", "exp": int(time.time()) + 60}
    try:
        assert get(gw, "/members/", headers=bearer(jwt.encode(claims, key, algorithm="RS256")))[0] == 200
        # the key-confusion attack: an HS256 token signed with the public key as a secret
        forged = _hmac_token(claims, pem)
        assert get(gw, "/members/", headers=bearer(forged))[0] == 401
        wrong_iss = jwt.encode({**claims, "iss": "evil"}, key, algorithm="RS256")
        assert get(gw, "/members/", headers=bearer(wrong_iss))[0] == 401
    finally:
        gw.stop()


def _hmac_token(claims: dict[str, object], secret: bytes) -> str:
    """An HS256 token made by hand (PyJWT itself refuses a PEM as an HMAC secret)."""
    import base64
    import hashlib
    import hmac

    def b64(data: bytes) -> bytes:
        return base64.urlsafe_b64encode(data).rstrip(b"=")
    signing = b64(b'{"alg":"HS256","typ":"JWT"}') + b"." + b64(json.dumps(claims).encode())
    return (signing + b"." + b64(hmac.new(secret, signing, hashlib.sha256).digest())).decode()


AUTHORIZER = '''
import threading, time
class Authorizer:
    def __init__(self):
        self.tokens = {"12345678-1234-123456": ("hansroh", ["user", "admin"], 0),
                       "expired-token": ("old", ["user"], 1)}

    def handle_token(self, handler, request):
        if request.token == "async-token":
            return self.lookup(handler, request)  # a coroutine: awaited on the loop
        username, roles, expires = self.tokens.get(request.token, (None, None, 0))
        if expires and expires < time.time():
            return handler.continue_request(request)
        # answer later, from another thread (as a database callback would)
        threading.Timer(0.05, handler.continue_request, (request, username, roles)).start()

    async def lookup(self, handler, request):
        import asyncio
        await asyncio.sleep(0.05)  # a database query through was would await here
        handler.continue_request(request, "async-user", ["user"])

    def handle_claim(self, handler, request):
        claim = request.claim
        handler.continue_request(request, claim.get("user"), claim.get("roles"))
'''


def test_the_seed_auth_handler(tmp_path: Path, member: ServerProcess) -> None:
    extra = AUTHORIZER + f'skitai.enable_gateway(True, "{SECRET}", auth_handler=Authorizer())'
    gw = start_gateway(tmp_path, [f"127.0.0.1:{member.port}"], extra=extra)
    try:
        assert get(gw, "/members/", headers=bearer("12345678-1234-123456"))[0] == 200
        assert get(gw, "/members/", headers=bearer("expired-token"))[0] == 401
        assert get(gw, "/members/", headers=bearer("unknown"))[0] == 401
        assert get(gw, "/members/", headers=bearer("async-token"))[0] == 200
        assert get(gw, "/members/", headers=bearer(hs({"user": "c", "roles": ["x"]})))[0] == 200
    finally:
        gw.stop()


def test_enable_auth_false_means_no_authentication(tmp_path: Path, member: ServerProcess) -> None:
    gw = start_gateway(tmp_path, [f"127.0.0.1:{member.port}"],
                       extra=f'skitai.enable_gateway(False, "{SECRET}")')
    try:
        assert get(gw, "/members/")[0] == 200
    finally:
        gw.stop()


def test_source_networks_v4_and_v6(tmp_path: Path, member: ServerProcess) -> None:
    alias = (f'skitai.alias("@members", skitai.PROTO_HTTP, ["127.0.0.1:{member.port}"], '
             'source="10.0.0.0/8, ::1/128")\n'
             f'skitai.alias("@local", skitai.PROTO_HTTP, ["127.0.0.1:{member.port}"], '
             'source="127.0.0.0/8")\n'
             'skitai.mount("/local", "@local")')
    gw = start_gateway(tmp_path, [], alias=alias)
    try:
        assert get(gw, "/members/")[0] == 403  # 127.0.0.1 is outside 10/8 and ::1
        assert get(gw, "/local/")[0] == 200
    finally:
        gw.stop()


def test_rate_limit_holds_across_two_workers(tmp_path: Path, member: ServerProcess) -> None:
    gw = start_gateway(tmp_path, [f"127.0.0.1:{member.port}"], run_args="threads=0, workers=2",
                       extra='skitai.set_rate_limit(10, per=60, key="address")')
    codes: list[int] = []
    pids: set[int] = set()
    retry = None
    try:
        for _ in range(30):  # a new connection each time: the kernel spreads them
            conn = http.client.HTTPConnection(gw.host, gw.port, timeout=30)
            conn.request("GET", "/members/")
            resp = conn.getresponse()
            data = resp.read()
            codes.append(resp.status)
            if resp.status == 200:
                pids.add(json.loads(data)["pid"])
            else:
                retry = resp.getheader("retry-after")
            conn.close()
    finally:
        gw.stop()
    assert codes.count(200) == 10 and codes.count(429) == 20, codes
    assert retry is not None and 1 <= int(retry) <= 60
    # both workers answered (a per-worker limit would have let 20 through)
    log = (tmp_path / "gateway" / "logs" / "request.log").read_text().splitlines()
    workers = {m.group(1) for ln in log if "/members/" in ln
               for m in [re.search(r" (W\d+) \d+ \d+ \d+", ln)] if m}
    assert workers == {"W0", "W1"}, workers
