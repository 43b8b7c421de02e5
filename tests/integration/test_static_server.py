"""Static files through a real server: conditional requests, ranges, traversal."""

from __future__ import annotations

import hashlib
import os
import socket
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import ServerProcess, start_app
from tests.rawhttp import Reader, exchange

APP = """
import skitai
if __name__ == "__main__":
    skitai.mount("/", "site")
    skitai.mount("/files", "files")
    skitai.set_max_age("/", 300)
    skitai.set_max_age("/js", 0)
    skitai.run()
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> ServerProcess:
    tmp = tmp_path_factory.mktemp("static")
    site = tmp / "site"
    (site / "js").mkdir(parents=True)
    (site / "docs").mkdir()
    (site / "index.html").write_text("<h1>home</h1>")
    (site / "docs" / "index.html").write_text("<h1>docs</h1>")
    (site / "js" / "app.js").write_text("let x = 1;")
    (site / "blob.weird").write_bytes(b"\x00\x01")
    (site / "data.bin").write_bytes(bytes(range(256)) * 1024)  # 256 KiB
    (site / "large.bin").write_bytes(os.urandom(8 << 20))  # sendfile across many EAGAINs
    (tmp / "secret.txt").write_text("TOP SECRET")
    (tmp / "files").mkdir()
    (tmp / "files" / "ok.txt").write_text("fine")
    (tmp / "files" / "64k.bin").write_bytes(os.urandom(65536))  # sendfile (fast path)
    (tmp / "files" / "4m.bin").write_bytes(os.urandom(4 << 20))  # (fast path, many sends)
    os.symlink(tmp / "secret.txt", site / "link-out.txt")
    srv = start_app(tmp, APP)
    yield srv
    srv.stop()


def get(srv: ServerProcess, target: str, headers: str = "", method: str = "GET"):
    data = f"{method} {target} HTTP/1.1\r\nHost: t\r\n{headers}\r\n".encode()
    resps, _ = exchange(srv.host, srv.port, data, head=method == "HEAD")
    return resps[0]


def test_file_with_validators_and_max_age(server: ServerProcess) -> None:
    r = get(server, "/index.html")
    assert r.status == 200 and r.body == b"<h1>home</h1>"
    assert r.header("etag") and r.header("last-modified")
    assert r.header("cache-control") == "max-age=300" and r.header("expires")
    assert r.header("content-type").startswith("text/html")
    assert get(server, "/js/app.js").header("cache-control") == "no-cache"
    assert get(server, "/blob.weird").header("content-type") == "application/octet-stream"


def test_directory_index_and_head(server: ServerProcess) -> None:
    assert get(server, "/").body == b"<h1>home</h1>"
    assert get(server, "/docs/").body == b"<h1>docs</h1>"
    r = get(server, "/docs")
    assert r.status in (301, 308) and r.header("location").endswith("/docs/")
    r = get(server, "/data.bin", method="HEAD")
    assert r.status == 200 and r.header("content-length") == str(256 * 1024) and r.body == b""


def test_conditional_304(server: ServerProcess) -> None:
    first = get(server, "/index.html")
    r = get(server, "/index.html", f"If-None-Match: {first.header('etag')}\r\n")
    assert r.status == 304 and r.body == b""
    r = get(server, "/index.html", f"If-Modified-Since: {first.header('last-modified')}\r\n")
    assert r.status == 304
    r = get(server, "/index.html", 'If-None-Match: "other"\r\n')
    assert r.status == 200


def test_ranges_206_multipart_and_416(server: ServerProcess) -> None:
    full = bytes(range(256)) * 1024
    r = get(server, "/data.bin", "Range: bytes=100-199\r\n")
    assert r.status == 206 and r.body == full[100:200]
    assert r.header("content-range") == f"bytes 100-199/{len(full)}"
    r = get(server, "/data.bin", "Range: bytes=-10\r\n")
    assert r.status == 206 and r.body == full[-10:]
    r = get(server, "/data.bin", "Range: bytes=0-9,1000-1009\r\n")
    assert r.status == 206 and r.header("content-type").startswith("multipart/byteranges")
    assert full[0:10] in r.body and full[1000:1010] in r.body
    r = get(server, "/data.bin", f"Range: bytes={len(full) + 10}-\r\n")
    assert r.status == 416 and r.header("content-range") == f"bytes */{len(full)}"
    etag = get(server, "/data.bin").header("etag")
    r = get(server, "/data.bin", f"Range: bytes=0-9\r\nIf-Range: {etag}\r\n")
    assert r.status == 206
    r = get(server, "/data.bin", 'Range: bytes=0-9\r\nIf-Range: "stale"\r\n')
    assert r.status == 200 and len(r.body) == len(full)


@pytest.mark.parametrize("target", [
    "/../secret.txt", "/files/../../secret.txt", "/%2e%2e/secret.txt", "/%2E%2e/secret.txt",
    "/files/%2e%2e/%2e%2e/secret.txt", "/..%2fsecret.txt", "/files/..%2F..%2Fsecret.txt",
    "/..%5csecret.txt", "/..\\secret.txt", "/files/ok.txt%00", "/link-out.txt",
    "/%252e%252e/secret.txt", "/files/..;/secret.txt",
])
def test_no_way_out_of_the_root(server: ServerProcess, target: str) -> None:
    r = get(server, target)
    assert r.status in (400, 404), (target, r.status)
    assert b"TOP SECRET" not in r.body


def test_missing_file_is_404_and_server_stays_up(server: ServerProcess) -> None:
    assert get(server, "/nope.html").status == 404
    assert get(server, "/files/ok.txt").body == b"fine"


def test_a_404_keeps_the_keep_alive_connection(server: ServerProcess) -> None:
    data = (b"GET /nope.html HTTP/1.1\r\nHost: t\r\n\r\n"
            b"GET /files/ok.txt HTTP/1.1\r\nHost: t\r\n\r\n")
    resps, _ = exchange(server.host, server.port, data, 2)
    assert [r.status for r in resps] == [404, 200]
    assert resps[0].header("connection") is None and resps[1].body == b"fine"


def test_post_to_static_is_405(server: ServerProcess, tmp_path: Path) -> None:
    r = get(server, "/index.html", "Content-Length: 0\r\n", method="POST")
    assert r.status == 405 and "GET" in (r.header("allow") or "")


def test_slow_reader_of_a_large_file_gets_it_intact_and_blocks_nobody(server: ServerProcess) -> None:
    """sendfile meets a full socket buffer many times over: the file still arrives
    whole and in order while other clients are served."""
    expected = hashlib.sha256((server.workdir / "site" / "large.bin").read_bytes()).hexdigest()
    sock = server.connect()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    sock.sendall(b"GET /large.bin HTTP/1.1\r\nHost: t\r\n\r\n")
    received = bytearray()
    others: list[int] = []

    def other_clients() -> None:
        for _ in range(20):
            others.append(get(server, "/js/app.js").status)

    thread = threading.Thread(target=other_clients)
    started = False
    while True:
        chunk = sock.recv(16384)
        if not chunk:
            break
        received += chunk
        if not started and len(received) > 1 << 20:
            thread.start()  # while the big response is stalled on this slow reader
            started = True
        if len(received) < 4 << 20:
            time.sleep(0.001)
        head, sep, body = bytes(received).partition(b"\r\n\r\n")
        if sep and len(body) >= 8 << 20:
            break
    sock.close()
    thread.join(30)
    head, _, body = bytes(received).partition(b"\r\n\r\n")
    assert b" 200 " in head.split(b"\r\n")[0] and b"content-length: 8388608" in head
    assert hashlib.sha256(body).hexdigest() == expected
    assert others == [200] * 20


def test_the_fast_path_sends_what_the_normal_path_sent(server: ServerProcess) -> None:
    """The first request of a file builds its head (the normal path); the next ones of
    the same keep-alive connection take the fast path (connections/http1.py): the same
    head, byte for byte but the Date, and the same body, through sendfile.  A file that
    changes is seen at the next request."""
    path = server.workdir / "files" / "64k.bin"
    data = path.read_bytes()
    sock = server.connect()
    reader = Reader(sock)

    def ask(method: str) -> tuple[list[tuple[str, str]], bytes]:
        sock.sendall(f"{method} /files/64k.bin HTTP/1.1\r\nHost: t\r\n\r\n".encode())
        r = reader.response(head=method == "HEAD")
        assert r.status == 200
        return [h for h in r.headers if h[0].lower() != "date"], r.body

    try:
        first = [ask("GET"), ask("HEAD")]
        again = [ask("GET"), ask("HEAD"), ask("GET"), ask("HEAD")]
        assert again == first * 2
        assert first[0][1] == data and first[1][1] == b""
        assert ("content-length", "65536") in first[1][0]
        changed = os.urandom(65536)
        path.write_bytes(changed)
        os.utime(path, ns=(1, 10**18))
        for _ in range(2):
            headers, body = ask("GET")
            assert body == changed and headers != first[0][0]
        sock.sendall(b"GET /files/64k.bin HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        r = reader.response()
        assert r.body == changed and r.header("connection") == "close" and reader.closed()
    finally:
        sock.close()


def test_the_fast_path_waits_for_a_slow_reader_and_survives_one_that_leaves(
        server: ServerProcess) -> None:
    """A file the socket takes only part of, on the fast path (the second request of a
    keep-alive connection): the rest is sent as the client reads, and the connection
    goes on; a client that leaves in the middle harms nobody."""
    data = (server.workdir / "files" / "4m.bin").read_bytes()
    request = b"GET /files/4m.bin HTTP/1.1\r\nHost: t\r\n\r\n"
    sock = server.connect()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    reader = Reader(sock)
    try:
        for _ in range(3):
            sock.sendall(request)
            r = reader.response()
            assert r.status == 200 and r.body == data
    finally:
        sock.close()
    for _ in range(2):
        leaving = server.connect()
        leaving.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        leaving.sendall(request)
        assert leaving.recv(16384).startswith(b"HTTP/1.1 200 ")
        leaving.close()  # with most of the file unsent
    r = get(server, "/files/4m.bin")
    assert r.status == 200 and r.body == data
