"""TLS on a real server: ALPN h2 and http/1.1, TLS 1.2+, h2load over TLS, the HTTPS
forward listener (no open redirect), and certificates reloaded on HUP."""

from __future__ import annotations

import shutil
import signal
import socket
import ssl
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import ServerProcess, start_app
from tests.integration.h2client import H2Client
from tests.integration.test_http2 import prepare
from tests.rawhttp import Reader

BIG = bytes(range(256)) * 1200  # 300 KiB: the size that takes sendfile on plain TCP
pytestmark = pytest.mark.skipif(not shutil.which("openssl"), reason="openssl is not installed")


def make_cert(where: Path, name: str, cn: str = "localhost", passphrase: str | None = None
              ) -> tuple[Path, Path]:
    """A self-signed certificate for localhost and 127.0.0.1, made by ``openssl req``."""
    cert, key = where / f"{name}.crt", where / f"{name}.key"
    cmd = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-days", "2",
           "-keyout", str(key), "-out", str(cert), "-subj", f"/CN={cn}",
           "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"]
    cmd += ["-passout", f"pass:{passphrase}"] if passphrase else ["-nodes"]
    subprocess.run(cmd, check=True, capture_output=True)
    return cert, key


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> ServerProcess:
    tmp = tmp_path_factory.mktemp("tls")
    cert, key = make_cert(tmp, "server", passphrase="s3cret")
    source = prepare(tmp)
    (tmp / "static" / "big.bin").write_bytes(BIG)
    srv = start_app(tmp, source, env={"TEST_CERT": str(cert), "TEST_KEY": str(key),
                                            "TEST_PASS": "s3cret",
                                            "SKITAI_VARPATH": str(tmp / "var")})
    srv.cert = str(cert)  # type: ignore[attr-defined]
    yield srv
    srv.stop()


def tls_socket(server: ServerProcess, alpn: list[str], cafile: str) -> ssl.SSLSocket:
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.set_alpn_protocols(alpn)
    raw = socket.create_connection((server.host, server.port), timeout=10)
    return ctx.wrap_socket(raw, server_hostname="localhost")


def test_the_banner_names_the_https_url(tls_server: ServerProcess) -> None:
    assert f"serving on https://127.0.0.1:{tls_server.port}/" in tls_server.output


def test_alpn_h2(tls_server: ServerProcess) -> None:
    c = H2Client.connect_tls(tls_server.host, tls_server.port, tls_server.cert)  # type: ignore[attr-defined]
    assert c.sock.version() in ("TLSv1.2", "TLSv1.3")
    reply = c.get("/echo/tls")
    assert reply.status == 200
    assert reply.data.startswith(b"HTTP/2 GET /echo/tls|") and b"scheme=https" in reply.data
    c.close()


def test_alpn_http11(tls_server: ServerProcess) -> None:
    sock = tls_socket(tls_server, ["http/1.1"], tls_server.cert)  # type: ignore[attr-defined]
    assert sock.selected_alpn_protocol() == "http/1.1"
    sock.sendall(b"GET /echo/one HTTP/1.1\r\nHost: test\r\n\r\n")
    reader = Reader(sock)
    assert reader.line().startswith(b"HTTP/1.1 200")
    sock.close()


def test_static_file_over_tls_both_protocols(tls_server: ServerProcess) -> None:
    """No sendfile under TLS: the bytes must arrive encrypted and whole."""
    sock = tls_socket(tls_server, ["http/1.1"], tls_server.cert)  # type: ignore[attr-defined]
    sock.sendall(b"GET /static/big.bin HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and body == BIG
    sock.close()
    c = H2Client.connect_tls(tls_server.host, tls_server.port, tls_server.cert)  # type: ignore[attr-defined]
    reply = c.get("/static/big.bin")
    assert reply.status == 200 and bytes(reply.data) == BIG
    c.close()


def test_no_alpn_is_http11(tls_server: ServerProcess) -> None:
    ctx = ssl.create_default_context(cafile=tls_server.cert)  # type: ignore[attr-defined]
    raw = socket.create_connection((tls_server.host, tls_server.port), timeout=10)
    sock = ctx.wrap_socket(raw, server_hostname="localhost")
    assert sock.selected_alpn_protocol() is None
    sock.sendall(b"GET /echo/plain HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    assert data.startswith(b"HTTP/1.1 200") and b"scheme=https" in data
    sock.close()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_tls_1_1_is_refused(tls_server: ServerProcess) -> None:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")  # let this client speak TLS 1.1 at all
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    except (ValueError, ssl.SSLError):
        pytest.skip("this OpenSSL cannot make a TLS 1.1 client")
    raw = socket.create_connection((tls_server.host, tls_server.port), timeout=10)
    with pytest.raises((ssl.SSLError, ConnectionResetError)):
        ctx.wrap_socket(raw, server_hostname="localhost")
    raw.close()


def test_plain_http_on_the_tls_port_does_not_hang(tls_server: ServerProcess) -> None:
    sock = socket.create_connection((tls_server.host, tls_server.port), timeout=10)
    sock.sendall(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
    try:
        data = sock.recv(65536)
    except ConnectionResetError:
        data = b""
    assert not data.startswith(b"HTTP/1.1 200")
    sock.close()


@pytest.mark.skipif(not shutil.which("h2load"), reason="h2load (apt nghttp2-client) is not installed")
def test_h2load_over_tls_has_no_failures(tls_server: ServerProcess) -> None:
    out = subprocess.run(["h2load", "-n", "3000", "-c", "8", "-m", "16",
                          f"https://{tls_server.host}:{tls_server.port}/echo/load"],
                         capture_output=True, text=True, timeout=120).stdout
    assert "Application protocol: h2" in out, out
    assert "3000 succeeded, 0 failed, 0 errored, 0 timeout" in out, out


def _connect(port: int) -> socket.socket:
    """A connection to a listener that may still be starting (retried for 10 s)."""
    deadline = time.monotonic() + 10
    while True:
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=10)
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _forward_server(tmp_path: Path, name: str) -> tuple[ServerProcess, int]:
    """The TLS app with enable_forward(<free port>, 8443): (server, forward port)."""
    cert, key = make_cert(tmp_path, name)
    fport = free_port()
    srv = start_app(tmp_path, prepare(tmp_path), env={
        "TEST_CERT": str(cert), "TEST_KEY": str(key), "TEST_FORWARD": str(fport),
        "TEST_FORWARD_TO": "8443", "SKITAI_VARPATH": str(tmp_path / "var")})
    return srv, fport


def test_forward_redirects_to_configured_hosts_only(tmp_path: Path) -> None:
    srv, fport = _forward_server(tmp_path, "fwd")
    try:
        def ask(host: bytes, method: bytes = b"GET", target: bytes = b"/a/b?c=1") -> tuple[bytes, str | None]:
            sock = _connect(fport)
            sock.sendall(method + b" " + target + b" HTTP/1.1\r\nHost: " + host
                         + b"\r\nContent-Length: 0\r\n\r\n")
            reader = Reader(sock)
            status = reader.line()
            location = None
            while (line := reader.line()) != b"":
                name, _, value = line.partition(b":")
                if name.lower() == b"location":
                    location = value.strip().decode()
            sock.close()
            return status, location

        status, location = ask(b"www.example.com")
        assert status.startswith(b"HTTP/1.1 301") and location == "https://www.example.com:8443/a/b?c=1"
        assert ask(b"img.example.org:80")[1] == "https://img.example.org:8443/a/b?c=1"
        # a forged Host never becomes the target: the first configured name is used
        assert ask(b"evil.com")[1] == "https://www.example.com:8443/a/b?c=1"
        assert ask(b"www.example.com.evil.com")[1] == "https://www.example.com:8443/a/b?c=1"
        status, location = ask(b"www.example.com", b"POST")
        assert status.startswith(b"HTTP/1.1 308")
        # an absolute-form target cannot steer it either
        assert ask(b"www.example.com", target=b"http://evil.com/x")[1] == "https://www.example.com:8443/"
    finally:
        srv.stop()




def test_forward_redirects_every_protocol(tmp_path: Path) -> None:
    """The forward port serves nothing but the redirect, whatever the client speaks:
    h2c prior knowledge, ``Upgrade: h2c`` and a WebSocket upgrade get it too (the app
    behind the HTTPS port is never reached over clear text)."""
    srv, fport = _forward_server(tmp_path, "fwd3")
    try:
        _connect(fport).close()  # the forward listener is up
        # h2c prior knowledge: HTTP/2 from the first byte
        client = H2Client.connect("127.0.0.1", fport)
        reply = client.get("/echo/plain?x=1", authority="www.example.com")
        assert reply.status == 301, reply
        assert reply.header(b"location") == b"https://www.example.com:8443/echo/plain?x=1"
        sid = client.request("/echo/body", method="POST", body=b"abc", authority="evil.com")
        client.wait(lambda: client.replies[sid].ended)
        assert client.replies[sid].status == 308
        assert client.replies[sid].header(b"location") == b"https://www.example.com:8443/echo/body"
        client.sock.close()
        # Upgrade: h2c, then the upgrade request is stream 1
        up = H2Client.connect("127.0.0.1", fport, upgrade=True)
        up.sock.sendall(b"GET /echo/up HTTP/1.1\r\nHost: www.example.com\r\n"
                        b"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
                        b"HTTP2-Settings: " + up.upgrade_settings + b"\r\n\r\n")
        head = b""
        while b"\r\n\r\n" not in head:
            head += up.sock.recv(1)
        assert head.startswith(b"HTTP/1.1 101 "), head
        up.flush()
        up.wait(lambda: up.replies[1].ended)
        assert up.replies[1].status == 301
        assert up.replies[1].header(b"location") == b"https://www.example.com:8443/echo/up"
        up.close()
        # a WebSocket upgrade is a request like any other: redirected, never switched
        with socket.create_connection(("127.0.0.1", fport), timeout=10) as sock:
            sock.sendall(b"GET /ws HTTP/1.1\r\nHost: www.example.com\r\nUpgrade: websocket\r\n"
                         b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                         b"Sec-WebSocket-Version: 13\r\n\r\n")
            status = Reader(sock).line()
            assert status.startswith(b"HTTP/1.1 301"), status
    finally:
        srv.stop()


def _served_cn(port: int) -> str:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
            ctx.wrap_socket(raw, server_hostname="localhost") as sock:
        der = sock.getpeercert(binary_form=True)
    assert der is not None
    pem = ssl.DER_cert_to_PEM_cert(der)
    out = subprocess.run(["openssl", "x509", "-noout", "-subject"], input=pem,
                         capture_output=True, text=True, check=True).stdout
    return out.strip().rsplit("=", 1)[-1].strip()


def test_certificate_reloaded_on_hup(tmp_path: Path) -> None:
    cert, key = make_cert(tmp_path, "live", cn="first")
    srv = start_app(tmp_path, prepare(tmp_path), env={
        "TEST_CERT": str(cert), "TEST_KEY": str(key), "SKITAI_VARPATH": str(tmp_path / "var")})
    try:
        assert _served_cn(srv.port) == "first"
        new_cert, new_key = make_cert(tmp_path, "renewed", cn="second")
        shutil.copyfile(new_key, key)
        shutil.copyfile(new_cert, cert)
        srv.signal(signal.SIGHUP)
        deadline = time.monotonic() + 60
        while _served_cn(srv.port) != "second":
            assert time.monotonic() < deadline, "the renewed certificate was never served"
            time.sleep(0.3)
    finally:
        srv.stop()


@pytest.mark.parametrize(("host", "names", "expected"), [
    (b"www.example.com", ("www.example.com",), "www.example.com"),
    (b"WWW.Example.com:80", ("www.example.com",), "www.example.com"),
    (b"evil.com", ("www.example.com", "api.example.com"), "www.example.com"),
    (b"a.b.example.org", (".example.org",), "a.b.example.org"),
    (b"example.org", (".example.org",), "example.org"),
    (b"badexample.org", (".example.org",), "example.org"),
    (None, ("www.example.com",), "www.example.com"),
    (b"evil.com", (), "10.0.0.1"),  # no names: the address the client connected to
    (b"[::1]:80", (), "10.0.0.1"),
])
def test_redirect_host_never_follows_an_unknown_host(host: bytes | None, names: tuple[str, ...],
                                                     expected: str) -> None:
    from skitai.worker.forward import redirect_host

    assert redirect_host(host, names, "10.0.0.1") == expected


def test_forward_without_names_goes_to_the_local_address(tmp_path: Path) -> None:
    cert, key = make_cert(tmp_path, "fwd2")
    fport = free_port()
    source = prepare(tmp_path).replace('hosts=["www.example.com", ".example.org"]', "")
    srv = start_app(tmp_path, source, env={
        "TEST_CERT": str(cert), "TEST_KEY": str(key), "TEST_FORWARD": str(fport),
        "TEST_FORWARD_TO": "443", "SKITAI_VARPATH": str(tmp_path / "var")})
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                sock = socket.create_connection(("127.0.0.1", fport), timeout=10)
                break
            except ConnectionRefusedError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        sock.sendall(b"GET /x HTTP/1.1\r\nHost: evil.com\r\n\r\n")
        reader = Reader(sock)
        assert reader.line().startswith(b"HTTP/1.1 301")
        head = []
        while (line := reader.line()) != b"":
            head.append(line.lower())
        assert b"location: https://127.0.0.1/x" in head
        sock.close()
    finally:
        srv.stop()


def test_enable_ssl_and_forward_check_their_arguments(tmp_path: Path) -> None:
    import skitai
    from skitai import api

    api.reset()
    try:
        with pytest.raises(skitai.ConfigError, match=r"skitai\.enable_ssl\(.*no cert file"):
            skitai.enable_ssl(str(tmp_path / "missing.crt"), str(tmp_path / "missing.key"))
        with pytest.raises(skitai.ConfigError, match="hosts are names"):
            skitai.enable_forward(8080, 8443, hosts=["evil.com/x"])
        cert, key = make_cert(tmp_path, "ok")
        skitai.enable_ssl(str(cert), str(key), "pw")
        skitai.enable_forward(8080, 8443, hosts="www.example.com")
        config = api.draft().freeze(env={})
        assert (config.ssl_cert, config.ssl_key, config.ssl_passphrase) == (str(cert), str(key), "pw")
        assert (config.forward_port, config.forward_to, config.forward_hosts) == \
            (8080, 8443, ("www.example.com",))
    finally:
        api.reset()
