"""Protocol hardening on a real server: head limits, HTTP/1.0 keep-alive, request bodies
buffered before the app runs (or streamed when the mount asks), the seed's body limits,
str bodies, and 408 for a stalled body."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest

from tests.conftest import ServerProcess, start_app
from tests.rawhttp import Reader, exchange

HERE = Path(__file__).parent


@pytest.fixture(scope="module", params=["4", "0"], ids=["threads4", "threads0"])
def server(request, tmp_path_factory) -> ServerProcess:
    tmp = tmp_path_factory.mktemp("harden")
    (tmp / "marks").mkdir()
    srv = start_app(tmp, (HERE / "apps_hardening.py").read_text(),
                    env={"SKITAI_THREADS": request.param, "TEST_MARKS": str(tmp / "marks"),
                         "TEST_REQUEST_TIMEOUT": "2"})
    yield srv
    srv.stop()


def marks(server: ServerProcess) -> Path:
    return server.workdir / "marks"


def get(server: ServerProcess, path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode()


def still_served(server: ServerProcess) -> None:
    (resp,), _ = exchange(server.host, server.port, get(server, "/echo/ok"))
    assert resp.status == 200 and resp.body.startswith(b"GET /ok")


# --- head limits (gunicorn's defaults) -----------------------------------------------------

@pytest.mark.parametrize(("data", "status"), [
    (b"GET /" + b"a" * 4082 + b" HTTP/1.1\r\nHost: t\r\n\r\n", 414),  # a 4095-byte line
    (b"GET /echo HTTP/1.1\r\nHost: t\r\nX-Big: " + b"b" * 12288 + b"\r\n\r\n", 431),
    (b"GET /echo HTTP/1.1\r\nHost: t\r\n" + b"".join(b"X-F%d: v\r\n" % i for i in range(1000))
     + b"\r\n", 431),
    (b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: a/b\r\nContent-Type: c/d\r\n"
     b"Content-Length: 2\r\n\r\n{}", 400),
    (b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"2\r\nab\r\n0\r\nHost: evil\r\n\r\n", 400),
    (b"GET * HTTP/1.1\r\nHost: t\r\n\r\n", 400),
])
def test_bad_heads_get_their_status_and_others_stay_served(server: ServerProcess, data: bytes,
                                                            status: int) -> None:
    (resp,), reader = exchange(server.host, server.port, data)
    assert resp.status == status
    assert resp.header("connection") == "close"
    assert reader.closed()
    still_served(server)


def test_a_request_line_at_the_limit_is_served(server: ServerProcess) -> None:
    path = b"/echo/" + b"a" * (4094 - len(b"GET  HTTP/1.1") - 6)
    data = b"GET " + path + b" HTTP/1.1\r\nHost: t\r\n\r\n"
    assert len(data.split(b"\r\n")[0]) == 4094
    (resp,), _ = exchange(server.host, server.port, data)
    assert resp.status == 200


def test_limits_from_set_request_limits(tmp_path: Path) -> None:
    srv = start_app(tmp_path, (HERE / "apps_hardening.py").read_text(),
                    env={"TEST_LIMITS": "100,5"})
    try:
        line = b"GET /echo/" + b"x" * 90 + b" HTTP/1.1\r\nHost: t\r\n"
        (resp,), _ = exchange(srv.host, srv.port, line + b"\r\n")
        assert resp.status == 414
        five = b"GET /echo HTTP/1.1\r\nHost: t\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(4))
        (resp,), _ = exchange(srv.host, srv.port, five + b"\r\n")
        assert resp.status == 200
        (resp,), _ = exchange(srv.host, srv.port, five + b"X-4: v\r\n\r\n")
        assert resp.status == 431
    finally:
        srv.stop()


# --- HTTP/1.0 keep-alive -----------------------------------------------------------------------

def test_http10_keep_alive_keeps_the_connection_and_answers_pipelined_in_order(
        server: ServerProcess) -> None:
    data = (b"GET /echo/1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
            b"GET /echo/2 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    (first, second), reader = exchange(server.host, server.port, data, 2)
    for resp, path in ((first, b"/1"), (second, b"/2")):
        assert resp.status == 200 and resp.version == "HTTP/1.1"
        assert resp.body.startswith(b"GET " + path) and b"proto=HTTP/1.0" in resp.body
        assert resp.header("connection") == "keep-alive"
        assert resp.header("content-length") is not None
    reader.sock.sendall(b"GET /echo/3 HTTP/1.0\r\n\r\n")  # no keep-alive: the last one
    third = reader.response()
    assert third.body.startswith(b"GET /3") and third.header("connection") == "close"
    assert reader.closed()


# --- bodies: buffered before the app, or streamed ----------------------------------------------

def _half_sent(server: ServerProcess, path: str, mark: str) -> socket.socket:
    sock = server.connect()
    sock.sendall(f"POST {path}?{mark} HTTP/1.1\r\nHost: t\r\nContent-Length: 20\r\n\r\n".encode()
                 + b"0123456789")
    return sock


def test_the_app_runs_only_once_its_body_has_arrived(server: ServerProcess) -> None:
    sock = _half_sent(server, "/marked", "buffered")
    time.sleep(0.8)
    assert not (marks(server) / "buffered").exists()  # no thread (or loop turn) taken
    sock.sendall(b"abcdefghij")
    resp = Reader(sock).response()
    assert resp.status == 200 and resp.body == b"got 20"
    assert (marks(server) / "buffered").exists()
    sock.close()


def test_a_streaming_mount_gets_its_app_called_before_the_body_is_whole(
        server: ServerProcess, request: pytest.FixtureRequest) -> None:
    """pref.stream_request_body = True: the app reads wsgi.input as the body arrives
    (with threads; an inline app, threads=0, cannot block on it and gets it whole)."""
    sock = _half_sent(server, "/streaming", "streamed")
    mark = marks(server) / "streamed"
    if "threads4" in request.node.name:
        deadline = time.monotonic() + 10
        while not mark.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert mark.exists()
    else:
        time.sleep(0.8)
        assert not mark.exists()
    sock.sendall(b"abcdefghij")
    resp = Reader(sock).response()
    assert resp.status == 200 and resp.body == b"got 20"
    sock.close()


def test_a_buffered_chunked_body_gets_its_content_length(server: ServerProcess) -> None:
    data = (b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
    (resp,), _ = exchange(server.host, server.port, data)
    assert resp.status == 200 and b"len=11" in resp.body and b"cl=11" in resp.body


def test_a_large_body_is_spooled_and_arrives_whole(server: ServerProcess) -> None:
    payload = os.urandom(3 * 1024 * 1024 + 7)
    data = f"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: {len(payload)}\r\n\r\n".encode()
    (resp,), _ = exchange(server.host, server.port, data + payload)
    assert resp.status == 200 and f"len={len(payload)}".encode() in resp.body


@pytest.mark.parametrize("path", ["/marked", "/streaming"])
def test_a_stalled_body_gets_408_not_500(server: ServerProcess, path: str) -> None:
    """Issue 10 item 13: a client that stops sending its body (request timeout 2 s)."""
    sock = _half_sent(server, path, "stalled" + path.strip("/"))
    sock.settimeout(15)
    resp = Reader(sock).response()
    assert resp.status == 408
    assert resp.header("connection") == "close"
    sock.close()
    assert "Traceback" not in server.output.split("stalled")[-1]


# --- the seed's body limits (issue 10 item 8) -----------------------------------------------

def _multipart(file_size: int, field_size: int = 5) -> tuple[bytes, bytes]:
    b = b"XyZzy"
    body = (b"--" + b + b'\r\nContent-Disposition: form-data; name="note"\r\n\r\n'
            + b"n" * field_size + b"\r\n--" + b
            + b'\r\nContent-Disposition: form-data; name="f"; filename="a.bin"\r\n'
            b"Content-Type: application/octet-stream\r\n\r\n" + b"f" * file_size
            + b"\r\n--" + b + b"--\r\n")
    return body, b"multipart/form-data; boundary=" + b


def _post(server: ServerProcess, body: bytes, ctype: bytes, chunked: bool = False) -> int:
    head = b"POST /limited HTTP/1.1\r\nHost: t\r\nContent-Type: " + ctype + b"\r\n"
    if chunked:
        data = head + b"Transfer-Encoding: chunked\r\n\r\n" + b"".join(
            b"%x\r\n%s\r\n" % (len(body[i:i + 50]), body[i:i + 50])
            for i in range(0, len(body), 50)) + b"0\r\n\r\n"
    else:
        data = head + b"Content-Length: %d\r\n\r\n" % len(body) + body
    (resp,), _ = exchange(server.host, server.port, data)
    return resp.status


@pytest.mark.parametrize("chunked", [False, True], ids=["length", "chunked"])
def test_max_post_body_size_and_max_upload_file_size_give_413(server: ServerProcess,
                                                              chunked: bool) -> None:
    form = b"application/x-www-form-urlencoded"
    assert _post(server, b"a=123", form, chunked) == 200
    assert _post(server, b"a=" + b"x" * 498, form, chunked) == 413  # 500 bytes over 10
    body, ctype = _multipart(100, field_size=1000)  # a large field is not a file
    assert _post(server, body, ctype, chunked) == 200
    body, ctype = _multipart(101)
    assert _post(server, body, ctype, chunked) == 413
    body, ctype = _multipart(50, field_size=4000)  # the multipart body limit (4000)
    assert _post(server, body, ctype, chunked) == 413
    still_served(server)


# --- str bodies (issue 10 item 5) -----------------------------------------------------------

def test_str_bodies_are_encoded_utf8_with_one_warning_per_app(server: ServerProcess) -> None:
    for _ in range(3):
        (resp,), _ = exchange(server.host, server.port, get(server, "/str"))
        assert resp.status == 200 and resp.body == b"Hello World"
        (resp,), _ = exchange(server.host, server.port, get(server, "/stritems"))
        assert resp.status == 200 and resp.body == "Hi Hello Wörld".encode()
    deadline = time.monotonic() + 5
    while server.output.count("returned a str body") < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.output.count("returned a str body") == 2  # once for each app
    assert "hello_str " in server.output and "hello_str_items " in server.output


def test_expect_100_continue_only_for_a_body_within_the_apps_limits(
        server: ServerProcess) -> None:
    sock = server.connect()
    reader = Reader(sock)
    sock.sendall(b"POST /limited HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\n"
                 b"Content-Length: 500\r\nExpect: 100-continue\r\n\r\n")
    resp = reader.response()
    assert resp.status == 413  # at once, and no 100 before it
    sock.close()
    sock = server.connect()
    reader = Reader(sock)
    sock.sendall(b"POST /limited HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\n"
                 b"Content-Length: 5\r\nExpect: 100-continue\r\n\r\n")
    assert reader.response().status == 100
    sock.sendall(b"hello")
    resp = reader.response()
    assert resp.status == 200 and resp.body == b"stored 5"
    sock.close()
