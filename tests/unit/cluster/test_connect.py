"""``skitai.cluster.connect``: ``rediss://`` (TLS to Redis, a private CA) and a password from
the config, against a redis-server this test starts on its own port and stops by pid."""

from __future__ import annotations

import asyncio
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from skitai.cluster import connect
from skitai.config.cluster import ClusterConfig
from tests.conftest import require_services
from tests.unit.cluster.conftest import run


@pytest.fixture
def tls_redis(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    for tool in ("redis-server", "openssl"):
        if shutil.which(tool) is None:
            if require_services():
                raise AssertionError(f"{tool} is required (SKITAI_REQUIRE_SERVICES=1)")
            pytest.skip(f"{tool} is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(["redis-server", "--port", "0", "--tls-port", str(port),
                             "--bind", "127.0.0.1", "--tls-cert-file", str(cert),
                             "--tls-key-file", str(key), "--tls-ca-cert-file", str(cert),
                             "--tls-auth-clients", "no", "--requirepass", "s3cret",
                             "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if proc.poll() is not None:
                    err = proc.stderr.read().decode() if proc.stderr else ""
                    pytest.skip(f"this redis-server has no TLS: {err[-300:]}")
                time.sleep(0.05)
        yield port, cert
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)


def test_rediss_with_a_private_ca_and_a_password(tls_redis: tuple[int, Path]) -> None:
    port, cert = tls_redis
    cfg = ClusterConfig(url=f"rediss://127.0.0.1:{port}/0", name="tls", password="s3cret",
                        ca_file=str(cert))
    assert connect.sync_client(cfg).ping()
    loop = asyncio.new_event_loop()
    try:
        client = connect.async_client(cfg)
        assert run(loop, client.ping())
        run(loop, client.aclose())
    finally:
        loop.close()
    # Without the password Redis refuses; without the CA the certificate is not trusted.
    with pytest.raises(redis.AuthenticationError):
        connect.sync_client(ClusterConfig(url=cfg.url, ca_file=str(cert))).ping()
    with pytest.raises(redis.ConnectionError):
        connect.sync_client(ClusterConfig(url=cfg.url, password="s3cret")).ping()
