"""Implicit TLS, STARTTLS and AUTH against aiosmtpd with a certificate made by the test."""

from __future__ import annotations

import asyncio
import os
import shutil
import ssl
import subprocess
from typing import Any

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword

from skitai.config.daemons import SmtpdaConfig
from skitai.smtpda import agent, message, spool
from tests.integration import smtpd_helper

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl CLI")


@pytest.fixture
def certs(tmp_path: os.PathLike[str]) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    cert, key = os.path.join(tmp_path, "cert.pem"), os.path.join(tmp_path, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)
    client = ssl.create_default_context(cafile=cert)
    return server, client


def _auth(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and data.login == b"bob" and data.password == b"s3cret"
    return AuthResult(success=ok, handled=False)


def _send_one(tmp: str, cfg: SmtpdaConfig, client: ssl.SSLContext,
              smtp: tuple[str, str, str, bool] | None = None) -> spool.Spool:
    sp = spool.Spool(os.path.join(tmp, "spool"))
    m = message.Composer("tls", "a@example.com", "b@example.com")
    m.add_text("hello")
    if smtp:
        m.set_smtp(*smtp)
    m.send(sp.root)
    asyncio.run(agent.Agent(cfg, sp, tls_context=client, backoff_base=0, timeout=10).run_once())
    return sp


def test_implicit_tls(tmp_path: os.PathLike[str], certs: tuple[ssl.SSLContext, ssl.SSLContext]) -> None:
    ctl, rec = smtpd_helper.start(ssl_context=certs[0])
    try:
        sp = _send_one(str(tmp_path), SmtpdaConfig(server=f"127.0.0.1:{ctl.port}", ssl=True), certs[1])
        assert len(rec.messages) == 1 and sp.stats()["sent"] == 1
    finally:
        ctl.stop()


def test_starttls_with_auth(tmp_path: os.PathLike[str], certs: tuple[ssl.SSLContext, ssl.SSLContext]) -> None:
    ctl, rec = smtpd_helper.start(tls_context=certs[0], require_starttls=True,
                                  authenticator=_auth, auth_required=True)
    try:
        cfg = SmtpdaConfig(server=f"127.0.0.1:{ctl.port}", user="bob", password="s3cret")
        sp = _send_one(str(tmp_path), cfg, certs[1])
        assert len(rec.messages) == 1 and sp.stats()["sent"] == 1
    finally:
        ctl.stop()


def test_bad_auth_fails_permanently(tmp_path: os.PathLike[str], certs: tuple[ssl.SSLContext, ssl.SSLContext]) -> None:
    ctl, rec = smtpd_helper.start(tls_context=certs[0], require_starttls=True,
                                  authenticator=_auth, auth_required=True)
    try:
        cfg = SmtpdaConfig(server=f"127.0.0.1:{ctl.port}", user="bob", password="wrong")
        sp = _send_one(str(tmp_path), cfg, certs[1])
        assert rec.messages == []
        failed = sp.records("failed")
        assert len(failed) == 1 and "535" in (failed[0].reason or "")
    finally:
        ctl.stop()


def test_per_message_server_override(tmp_path: os.PathLike[str], certs: tuple[ssl.SSLContext, ssl.SSLContext]) -> None:
    ctl, rec = smtpd_helper.start(tls_context=certs[0], require_starttls=True,
                                  authenticator=_auth, auth_required=True)
    try:
        # The daemon's own server is dead; the message names the live one with credentials.
        cfg = SmtpdaConfig(server=f"127.0.0.1:{smtpd_helper.free_port()}")
        sp = _send_one(str(tmp_path), cfg, certs[1],
                       smtp=(f"127.0.0.1:{ctl.port}", "bob", "s3cret", False))
        assert len(rec.messages) == 1 and sp.stats()["sent"] == 1
    finally:
        ctl.stop()
