"""HTTP/1.1 on a real server process bound to port 0, with threads=4 and threads=0."""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import ServerProcess, start_app
from tests.rawhttp import Reader, exchange

HERE = Path(__file__).parent


def _prepare(tmp: Path) -> str:
    static = tmp / "static"
    (static / "sub").mkdir(parents=True)
    (static / "index.html").write_text("<h1>index</h1>")
    (static / "sub" / "a.txt").write_text("hello static\n")
    (static / "data.bin").write_bytes(os.urandom(200_000))
    (tmp / "nocache").mkdir()
    (tmp / "marks").mkdir()
    (tmp / "limited_app.py").write_text(
        "def app(environ, start_response):\n"
        "    body = environ['wsgi.input'].read()\n"
        "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
        "    return [b'got %d' % len(body)]\n")
    return (HERE / "apps_http.py").read_text()


@pytest.fixture(scope="module", params=["4", "0"], ids=["threads4", "threads0"])
def server(request, tmp_path_factory) -> ServerProcess:
    tmp = tmp_path_factory.mktemp("http1")
    source = _prepare(tmp)
    srv = start_app(tmp, source, env={"SKITAI_THREADS": request.param,
                                      "TEST_MARKS": str(tmp / "marks")})
    yield srv
    srv.stop()


def req(path: str, extra: str = "", body: bytes = b"", method: str = "GET") -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: test\r\n{extra}"
    if body:
        head += f"Content-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


def test_keep_alive_reuses_one_connection(server: ServerProcess) -> None:
    sock = server.connect()
    reader = Reader(sock)
    pids = set()
    for i in range(20):
        sock.sendall(req(f"/echo/k{i}?n={i}"))
        resp = reader.response()
        assert resp.status == 200
        assert resp.body.startswith(f"GET /echo|/k{i}|n={i} len=0".encode())
        assert resp.header("date") and resp.header("server") == "skitai"
        pids.add(resp.body.split(b"pid=")[1])
    assert len(pids) == 1
    sock.close()


def test_pipelined_requests_answer_in_order(server: ServerProcess) -> None:
    data = b"".join(req(f"/echo/p{i}") for i in range(10)) + req("/slow", body=b"") \
        + req("/echo/after")
    resps, _ = exchange(server.host, server.port, data.replace(b"/slow", b"/slow?0.2"), 12)
    bodies = [r.body.split(b" ")[1] for r in resps]
    assert bodies[:10] == [f"/echo|/p{i}|".encode() for i in range(10)]
    assert resps[10].body == b"slept 0.2"
    assert bodies[11] == b"/echo|/after|"


def test_chunked_upload_streams_into_the_app(server: ServerProcess) -> None:
    payload = os.urandom(3_000_000)
    sock = server.connect()
    sock.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
    for i in range(0, len(payload), 100_000):
        piece = payload[i:i + 100_000]
        sock.sendall(b"%x\r\n" % len(piece) + piece + b"\r\n")
    sock.sendall(b"0\r\n\r\n")
    resp = Reader(sock).response()
    assert resp.status == 200
    assert f"len={len(payload)} md5={hashlib.md5(payload).hexdigest()}".encode() in resp.body


def test_readline_iteration_over_wsgi_input(server: ServerProcess) -> None:
    body = b"".join(b"line %d\n" % i for i in range(1000))
    resps, _ = exchange(server.host, server.port, req("/lines", body=body, method="POST"))
    assert resps[0].body == b"lines=1000"


def test_expect_100_continue(server: ServerProcess) -> None:
    sock = server.connect()
    sock.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
    reader = Reader(sock)
    interim = reader.response()
    assert interim.status == 100
    sock.sendall(b"hello")
    final = reader.response()
    assert final.status == 200 and b"len=5" in final.body


def test_413_before_the_body_is_read_and_connection_closed(server: ServerProcess) -> None:
    sock = server.connect()
    sock.sendall(b"POST /limited HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n"
                 b"Expect: 100-continue\r\n\r\n")
    reader = Reader(sock)
    resp = reader.response()
    assert resp.status == 413  # no 100 Continue first: the body is never read
    assert reader.closed()
    ok, _ = exchange(server.host, server.port, req("/limited", body=b"x" * 999, method="POST"))
    assert ok[0].body == b"got 999"


def test_413_reaches_a_client_that_keeps_sending_its_body(server: ServerProcess) -> None:
    # The client sends a megabyte of a too-large body before it reads.  Closing with
    # that input unread would make the kernel answer with a RST, which can destroy the
    # 413 before the client reads it: the server sends FIN and drops input a while.
    sock = server.connect()
    sock.settimeout(10)
    sock.sendall(b"POST /limited HTTP/1.1\r\nHost: t\r\nContent-Length: 4000000\r\n\r\n")
    sock.sendall(b"x" * 1_000_000)
    reader = Reader(sock)
    assert reader.response().status == 413
    assert reader.closed()


def test_413_for_a_chunked_body_over_the_limit(server: ServerProcess) -> None:
    sock = server.connect()
    sock.sendall(b"POST /limited HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                 + b"400\r\n" + b"x" * 1024 + b"\r\n" + b"0\r\n\r\n")
    reader = Reader(sock)
    assert reader.response().status == 413
    assert reader.closed()


@pytest.mark.parametrize("data,status", [
    (b"GET /" + b"a" * 10000 + b" HTTP/1.1\r\nHost: t\r\n\r\n", 414),
    (b"GET / HTTP/1.1\r\nHost: t\r\n" + b"X-Big: " + b"b" * 70000 + b"\r\n\r\n", 431),
    (b"GET / HTTP/1.1\r\n\r\n", 400),  # no Host
    (b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", 400),
    (b"GET / HTTP/1.1\r\nHost: t\r\nX: a\r\n b\r\n\r\n", 400),  # obs-fold
    (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
])
def test_malformed_requests_get_4xx_and_close(server: ServerProcess, data: bytes, status: int) -> None:
    sock = server.connect()
    sock.sendall(data + req("/echo/smuggled"))
    reader = Reader(sock)
    resp = reader.response()
    assert resp.status == status
    assert reader.closed()  # nothing after a bad request is ever run
    ok, _ = exchange(server.host, server.port, req("/echo/ok"))
    assert ok[0].status == 200


def test_a_client_that_half_closes_after_its_request_still_gets_the_answer(
        server: ServerProcess) -> None:
    # Request and FIN in one go (HTTP/1.0-style clients, `nc -N`): the response is
    # written after the loop turn that also saw the EOF, and must not be lost with it.
    for _ in range(5):
        sock = server.connect()
        sock.sendall(req("/echo/half") + req("/echo/closed"))
        sock.shutdown(socket.SHUT_WR)
        reader = Reader(sock)
        assert [reader.response().status, reader.response().status] == [200, 200]
        assert reader.closed()
        sock.close()


def test_http10_and_head(server: ServerProcess) -> None:
    resps, reader = exchange(server.host, server.port, b"GET /stream HTTP/1.0\r\n\r\n")
    assert resps[0].body == b"piece0;piece1;piece2;piece3;piece4;"
    assert resps[0].header("transfer-encoding") is None
    assert reader.closed()
    resps, _ = exchange(server.host, server.port, req("/echo/x", method="HEAD") + req("/echo/y"),
                        1, head=True)
    assert resps[0].status == 200 and resps[0].body == b""


def test_streamed_body_is_chunked_and_write_callable(server: ServerProcess) -> None:
    resps, _ = exchange(server.host, server.port, req("/stream") + req("/writer"), 2)
    assert resps[0].body == b"piece0;piece1;piece2;piece3;piece4;"
    assert resps[1].body == b"written;returned"


def test_app_exception_is_a_500_without_the_traceback(server: ServerProcess) -> None:
    resps, _ = exchange(server.host, server.port, req("/boom") + req("/echo/after"), 2)
    assert resps[0].status == 500
    assert b"kaboom" not in resps[0].body
    assert resps[1].status == 200
    deadline = time.time() + 5
    while "kaboom-secret-detail" not in server.output and time.time() < deadline:
        time.sleep(0.05)
    assert "RuntimeError: kaboom-secret-detail" in server.output


def test_file_wrapper_sends_the_file(server: ServerProcess) -> None:
    resps, _ = exchange(server.host, server.port, req("/file"))
    data = (server.workdir / "static" / "data.bin").read_bytes()
    assert resps[0].status == 200 and resps[0].body == data


def test_slow_client_does_not_block_others(server: ServerProcess) -> None:
    slow = server.connect()
    slow.sendall(b"GET /echo/slow HTTP/1.1\r\nHost: t\r\n")  # head never finished
    dribble = server.connect()
    dribble.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nab")
    started = time.monotonic()
    for i in range(30):
        resps, _ = exchange(server.host, server.port, req(f"/echo/fast{i}"))
        assert resps[0].status == 200
    assert time.monotonic() - started < 15
    slow.close()
    dribble.close()


def test_client_gone_mid_response_closes_the_app_iterable(server: ServerProcess) -> None:
    sock = server.connect()
    sock.sendall(req("/big?gone1"))
    sock.recv(100_000)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    sock.close()
    mark = server.workdir / "marks" / "gone1"
    deadline = time.time() + 20
    # The app creates the file, then writes it: wait for its words, not only its name.
    while not (mark.exists() and mark.read_text()) and time.time() < deadline:
        time.sleep(0.05)
    assert mark.exists(), "close() was not called on the app's iterable"
    assert int(mark.read_text().split()[-1]) < 64 * 1024 * 1024


def test_many_concurrent_clients(server: ServerProcess) -> None:
    errors: list[BaseException] = []

    def client(n: int) -> None:
        try:
            sock = server.connect()
            reader = Reader(sock)
            for i in range(20):
                sock.sendall(req(f"/echo/c{n}-{i}"))
                assert reader.response().status == 200
            sock.close()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors


def test_graceful_stop_lets_an_inflight_request_finish(tmp_path: Path) -> None:
    srv = start_app(tmp_path, _prepare(tmp_path), env={"TEST_MARKS": str(tmp_path / "marks")})
    try:
        sock = srv.connect()
        sock.sendall(req("/slow?2"))
        time.sleep(0.5)
        srv.signal(signal.SIGTERM)
        resp = Reader(sock).response()
        assert resp.status == 200 and resp.body == b"slept 2.0"
        assert resp.header("connection") == "close"
        assert srv.proc.wait(15) == 0
        with pytest.raises(OSError):
            socket.create_connection((srv.host, srv.port), timeout=2).close()
    finally:
        srv.stop()


def test_keep_alive_timeout_closes_idle_connections(tmp_path: Path) -> None:
    srv = start_app(tmp_path, _prepare(tmp_path), env={"TEST_KEEP_ALIVE": "1",
                                                       "TEST_MARKS": str(tmp_path / "marks")})
    try:
        sock = srv.connect()
        reader = Reader(sock)
        sock.sendall(req("/echo/x"))
        assert reader.response().status == 200
        sock.settimeout(10)
        started = time.monotonic()
        assert reader.closed()
        assert time.monotonic() - started < 8
    finally:
        srv.stop()
