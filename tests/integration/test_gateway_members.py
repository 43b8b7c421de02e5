"""Member address forms with real servers: a unix socket, IPv6, and HTTPS with
certificate verification on by default."""

from __future__ import annotations

import json
import shutil
import socket
import tempfile
from pathlib import Path

import pytest

from tests.fixtures.members import start_skitai_member
from tests.integration.test_gateway_proxy import get, start_gateway


def test_unix_socket_member(tmp_path: Path) -> None:
    sock_dir = tempfile.mkdtemp(prefix="skgw")
    path = f"{sock_dir}/m.sock"
    member = start_skitai_member(tmp_path, "unixmember", run_args=f"threads=4, unix_socket={path!r}")
    try:
        gw = start_gateway(tmp_path, [f"unix:{path}"])
        try:
            status, _, body = get(gw, "/members/over-unix")
            assert status == 200 and json.loads(body)["path"] == "/over-unix"
        finally:
            gw.stop()
    finally:
        member.stop()
        shutil.rmtree(sock_dir, ignore_errors=True)


def test_ipv6_member(tmp_path: Path) -> None:
    try:
        probe = socket.socket(socket.AF_INET6)
        probe.bind(("::1", 0))
        probe.close()
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    member = start_skitai_member(tmp_path, "v6member", run_args="threads=4, address='::1'")
    try:
        gw = start_gateway(tmp_path, [f"[::1]:{member.port}"])
        try:
            status, _, body = get(gw, "/members/v6")
            assert status == 200 and json.loads(body)["remote"] == "::1"
        finally:
            gw.stop()
    finally:
        member.stop()


@pytest.mark.skipif(not shutil.which("openssl"), reason="openssl is not installed")
def test_https_member_is_verified(tmp_path: Path) -> None:
    from tests.integration.test_tls import make_cert

    cert, key = make_cert(tmp_path, "member")
    member = start_skitai_member(tmp_path, "tlsmember",
                                 setup=f"skitai.enable_ssl({str(cert)!r}, {str(key)!r})")
    try:
        # a self-signed certificate: verification (on by default) refuses it...
        gw = start_gateway(tmp_path, [f"https://127.0.0.1:{member.port}"])
        try:
            assert get(gw, "/members/")[0] == 502
        finally:
            gw.stop()
        # ...and accepts it once it is trusted (OpenSSL's SSL_CERT_FILE)
        gw = start_gateway(tmp_path, [f"https://127.0.0.1:{member.port}"],
                           env={"SSL_CERT_FILE": str(cert)})
        try:
            status, _, body = get(gw, "/members/secure")
            assert status == 200 and json.loads(body)["path"] == "/secure"
        finally:
            gw.stop()
    finally:
        member.stop()
