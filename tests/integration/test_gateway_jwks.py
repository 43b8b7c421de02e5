"""The API gateway with a JWKS file (RS256 and ES256 keys picked by ``kid``, the file's
rotation picked up) and a ``handle_token`` that looks tokens up in PostgreSQL through
``was``, in front of a real member."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.conftest import ServerProcess
from tests.fixtures.members import start_skitai_member
from tests.integration.test_gateway_auth import bearer
from tests.integration.test_gateway_proxy import get, start_gateway
from tests.unit.was.services import need_pg


@pytest.fixture
def member(tmp_path: Path) -> Iterator[ServerProcess]:
    m = start_skitai_member(tmp_path, "member")
    yield m
    m.stop()


def _jwk(key: Any, kid: str, alg: str | None) -> dict[str, Any]:
    public = key.public_key()
    if isinstance(public, rsa.RSAPublicKey):
        out = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(public))
    else:
        out = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(public))
    out["kid"] = kid
    if alg:
        out["alg"] = alg
    return dict(out)


def _write(path: Path, keys: list[dict[str, Any]] | str) -> None:
    """Replaced the way a key rotation job does it: a new file renamed over the old."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(keys if isinstance(keys, str) else json.dumps({"keys": keys}))
    os.replace(tmp, path)


def test_jwks_file_keys_by_kid_and_rotation(tmp_path: Path, member: ServerProcess) -> None:
    r1 = rsa.generate_private_key(65537, 2048)
    e1 = ec.generate_private_key(ec.SECP256R1())
    r2 = rsa.generate_private_key(65537, 2048)
    (tmp_path / "gateway").mkdir()
    jwks = tmp_path / "gateway" / "jwks.json"
    _write(jwks, [_jwk(r1, "r1", "RS256"), _jwk(e1, "e1", None)])
    gw = start_gateway(tmp_path, [f"127.0.0.1:{member.port}"], extra=(
        'skitai.enable_gateway(True, jwks="jwks.json", algorithms=["RS256", "ES256"])'))
    claims = {"user": "u", "roles": ["r"], "exp": int(time.time()) + 600}

    def token(key: Any, alg: str, kid: str | None) -> str:
        return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid} if kid else None)

    def status(tok: str) -> int:
        return get(gw, "/members/", headers=bearer(tok))[0]
    try:
        assert status(token(r1, "RS256", "r1")) == 200
        assert status(token(e1, "ES256", "e1")) == 200
        refused = {
            "unknown kid": token(r1, "RS256", "zz"),
            "no kid among two keys": token(r1, "RS256", None),
            "kid of another key": token(r2, "RS256", "r1"),
            "EC key under an RS256 kid": token(e1, "ES256", "r1"),  # r1 says alg RS256
            "RS256 under the EC kid": token(r1, "RS256", "e1"),
            "HS256 not pinned": jwt.encode(claims, "s" * 32, algorithm="HS256",
                                           headers={"kid": "r1"}),
        }
        for why, tok in refused.items():
            assert status(tok) == 401, why
        # Rotation: r2 comes in, r1 goes.  The new kid works at once (an unknown kid
        # makes the gateway look at the file); the removed one stops within seconds.
        _write(jwks, [_jwk(r2, "r2", "RS256"), _jwk(e1, "e1", None)])
        assert status(token(r2, "RS256", "r2")) == 200
        old = token(r1, "RS256", "r1")
        deadline = time.monotonic() + 15
        while status(old) == 200:
            assert time.monotonic() < deadline, "a removed key kept working"
            time.sleep(0.3)
        # a half-written or broken file leaves the keys as they were
        _write(jwks, '{"keys": [')
        assert status(token(r2, "RS256", "r2")) == 200
        assert status(token(r1, "RS256", "zz")) == 401
    finally:
        gw.stop()


PG_AUTHORIZER = '''
from skitai import was

class Authorizer:
    async def handle_token(self, handler, request):
        res = await was.backend("@pg").execute(
            "SELECT username, roles FROM gw_tokens WHERE token = %s AND expires > now()",
            (request.token,))
        rows = res.data
        if not rows:
            return handler.continue_request(request)
        handler.continue_request(request, rows[0].username, rows[0].roles.split(","))

skitai.alias("@pg", skitai.DB_PGSQL, "postgres@127.0.0.1:5432/test")
skitai.enable_gateway(True, auth_handler=Authorizer())
'''


def _pg(sql: str) -> None:
    import asyncio

    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/test", ssl=False)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(run())
    finally:
        loop.close()


def test_handle_token_queries_postgresql_through_was(tmp_path: Path, member: ServerProcess) -> None:
    need_pg()
    _pg("DROP TABLE IF EXISTS gw_tokens; CREATE TABLE gw_tokens (token text PRIMARY KEY, "
        "username text, roles text, expires timestamptz);"
        "INSERT INTO gw_tokens VALUES ('tok-good', 'pguser', 'user,admin', now() + interval '1 hour'),"
        "('tok-old', 'olduser', 'user', now() - interval '1 hour')")
    alias = (f'skitai.alias("@members", skitai.PROTO_HTTP, ["127.0.0.1:{member.port}"])\n'
             f'skitai.alias("@admin", skitai.PROTO_HTTP, ["127.0.0.1:{member.port}"], role="admin")\n'
             'skitai.mount("/admin", "@admin")')
    gw = start_gateway(tmp_path, [], alias=alias, extra=PG_AUTHORIZER)
    try:
        assert get(gw, "/members/", headers=bearer("tok-good"))[0] == 200
        assert get(gw, "/admin/", headers=bearer("tok-good"))[0] == 200  # roles from the row
        assert get(gw, "/members/", headers=bearer("tok-old"))[0] == 401  # expired in the db
        assert get(gw, "/members/", headers=bearer("tok-nope"))[0] == 401
        _pg("UPDATE gw_tokens SET roles = 'user' WHERE token = 'tok-good'")
        assert get(gw, "/admin/", headers=bearer("tok-good"))[0] == 403  # asked each time
    finally:
        gw.stop()
        _pg("DROP TABLE IF EXISTS gw_tokens")
    log = (tmp_path / "gateway" / "logs" / "request.log").read_text()
    assert '"pguser"' in log and "tok-good" not in log
