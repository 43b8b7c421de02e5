"""The forward proxy (``skitai.enable_proxy``): absolute-form requests and CONNECT
tunnels to a real member, and the client and destination allow-lists."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ServerProcess
from tests.fixtures.members import start_skitai_member
from tests.integration.test_gateway_proxy import start_gateway


@pytest.fixture
def member(tmp_path: Path) -> Iterator[ServerProcess]:
    m = start_skitai_member(tmp_path, "member")
    yield m
    m.stop()


def exchange(port: int, data: bytes, until: bytes = b"}") -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
        s.sendall(data)
        out = b""
        while until not in out:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
        return out


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def test_absolute_form_and_the_allow_lists(tmp_path: Path, member: ServerProcess) -> None:
    gw = start_gateway(tmp_path, [f"127.0.0.1:{member.port}"],
                       extra=f"skitai.enable_proxy(ports=[{member.port}])")
    url = f"http://127.0.0.1:{member.port}/via/proxy?x=1"
    try:
        answer = exchange(gw.port, f"GET {url} HTTP/1.1\r\nHost: 127.0.0.1:{member.port}\r\n"
                          "Proxy-Connection: keep-alive\r\nProxy-Authorization: Basic eDp5\r\n\r\n".encode())
        assert status_of(answer) == 200
        seen = json.loads(answer.split(b"\r\n\r\n", 1)[1])
        assert seen["path"] == "/via/proxy" and seen["query"] == "x=1"
        assert "proxy-authorization" not in seen["headers"]  # hop-by-hop, never forwarded
        assert "proxy-connection" not in seen["headers"]
        # a destination port outside the list
        answer = exchange(gw.port, b"GET http://127.0.0.1:1/ HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\n",
                          until=b"</h1>")
        assert status_of(answer) == 403
        # the mounts still answer origin-form requests
        answer = exchange(gw.port, b"GET /members/ HTTP/1.1\r\nHost: x\r\n\r\n")
        assert status_of(answer) == 200
    finally:
        gw.stop()


def test_connect_tunnel(tmp_path: Path, member: ServerProcess) -> None:
    gw = start_gateway(tmp_path, [f"127.0.0.1:{member.port}"],
                       extra=f"skitai.enable_proxy(ports=[{member.port}])\n"
                             "skitai.set_proxy_keep_alive(channel=30, tunnel=60)")
    try:
        with socket.create_connection(("127.0.0.1", gw.port), timeout=20) as s:
            s.sendall(f"CONNECT 127.0.0.1:{member.port} HTTP/1.1\r\n"
                      f"Host: 127.0.0.1:{member.port}\r\n\r\n".encode())
            head = b""
            while b"\r\n\r\n" not in head:
                head += s.recv(1024)
            assert head.startswith(b"HTTP/1.1 200 ")
            # now plain bytes to the member, through the tunnel
            s.sendall(b"GET /tunnelled HTTP/1.1\r\nHost: m\r\n\r\n")
            out = b""
            while b"}" not in out:
                out += s.recv(65536)
            assert b'"path": "/tunnelled"' in out
        answer = exchange(gw.port, b"CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: x\r\n\r\n",
                          until=b"</h1>")
        assert status_of(answer) == 403
    finally:
        gw.stop()


def test_clients_outside_the_list_are_refused(tmp_path: Path, member: ServerProcess) -> None:
    gw = start_gateway(tmp_path, [f"127.0.0.1:{member.port}"],
                       extra=f"skitai.enable_proxy(clients=['10.0.0.0/8'], ports=[{member.port}])")
    try:
        answer = exchange(gw.port, f"GET http://127.0.0.1:{member.port}/ HTTP/1.1\r\n"
                          f"Host: 127.0.0.1\r\n\r\n".encode(), until=b"</h1>")
        assert status_of(answer) == 403
        answer = exchange(gw.port, f"CONNECT 127.0.0.1:{member.port} HTTP/1.1\r\nHost: x\r\n\r\n".encode(),
                          until=b"</h1>")
        assert status_of(answer) == 403
    finally:
        gw.stop()


def test_without_enable_proxy_absolute_form_is_not_proxied(tmp_path: Path,
                                                            member: ServerProcess) -> None:
    gw = start_gateway(tmp_path, [f"127.0.0.1:{member.port}"])
    try:
        answer = exchange(gw.port, f"GET http://127.0.0.1:{member.port}/x HTTP/1.1\r\n"
                          "Host: 127.0.0.1\r\n\r\n".encode(), until=b"</h1>")
        assert status_of(answer) in (400, 404)
    finally:
        gw.stop()
