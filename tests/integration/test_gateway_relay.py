"""What the reverse proxy relays between client and member beyond the body: request
trailers (HTTP/1.1 chunked and HTTP/2), ``Expect: 100-continue`` answered by the member
(and sent to another member when the first drops it before its 100), and the ``Host`` a
member sees (``mount(..., proxy_host=)``).  Members: a raw-socket server that records the
exact bytes it got, and a real skitai member."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ServerProcess
from tests.fixtures.members import start_skitai_member
from tests.integration.h2client import H2Client
from tests.integration.test_gateway_proxy import get, start_gateway


class RawMember:
    """An HTTP/1.1 member on 127.0.0.1:0 written on sockets, so a test sees the bytes.

    ``/expect-reject...``: answers 413 to the head alone and records any byte that
    follows it.  ``/expect-accept...``: sends its own ``100 Continue`` (with a marker
    header), reads the Content-Length body and echoes it.  Anything else: reads the
    body (Content-Length or chunked, with its trailer section) and answers 200.
    ``requests`` keeps (head, body-and-trailer bytes) per request."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.requests: list[tuple[bytes, bytes]] = []
        self.after_reject: list[bytes] = []
        self.rejected = threading.Event()  # set once after_reject has its entry
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def stop(self) -> None:
        self.sock.close()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        f = conn.makefile("rb")
        try:
            while True:
                head = b""
                while not head.endswith(b"\r\n\r\n"):
                    line = f.readline()
                    if not line:
                        return
                    head += line
                lower = head.lower()
                target = head.split(b" ", 2)[1]
                length = 0
                for line in lower.split(b"\r\n"):
                    if line.startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                if target.startswith(b"/expect-reject"):
                    conn.sendall(b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 8\r\n"
                                 b"Connection: close\r\n\r\ntoo big!")
                    conn.settimeout(2)
                    try:
                        extra = conn.recv(65536)
                    except OSError:
                        extra = b""
                    with self.lock:
                        self.requests.append((head, b""))
                        self.after_reject.append(extra)
                    self.rejected.set()
                    return
                if target.startswith(b"/expect-accept"):
                    conn.sendall(b"HTTP/1.1 100 Continue\r\nX-From: member\r\n\r\n")
                    body = f.read(length)
                else:
                    body = f.read(length) if b"chunked" not in lower else _chunked(f)
                with self.lock:
                    self.requests.append((head, body))
                answer = json.dumps({"head": head.decode("latin-1"),
                                     "body": body.decode("latin-1")}).encode()
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             b"Content-Length: %d\r\n\r\n%b" % (len(answer), answer))
        except OSError:
            return
        finally:
            conn.close()


def _chunked(f) -> bytes:  # type: ignore[no-untyped-def]
    """A chunked body as it came, through the end of its trailer section."""
    raw = b""
    while True:
        size_line = f.readline()
        raw += size_line
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            while True:
                line = f.readline()
                raw += line
                if line in (b"\r\n", b""):
                    return raw
        raw += f.read(size + 2)


@pytest.fixture
def raw_member() -> Iterator[RawMember]:
    member = RawMember()
    yield member
    member.stop()


@pytest.fixture
def gateway(tmp_path: Path, raw_member: RawMember) -> Iterator[ServerProcess]:
    gw = start_gateway(tmp_path, [f"127.0.0.1:{raw_member.port}"])
    yield gw
    gw.stop()


def _exchange(gw: ServerProcess, data: bytes) -> tuple[socket.socket, bytes]:
    s = socket.create_connection((gw.host, gw.port), timeout=20)
    s.sendall(data)
    return s, _read_response(s)


def _read_response(s: socket.socket) -> bytes:
    """One response (head and a Content-Length body), or an interim head alone."""
    data = b""
    while b"\r\n\r\n" not in data:
        more = s.recv(65536)
        if not more:
            return data
        data += more
    head, _, rest = data.partition(b"\r\n\r\n")
    if head.startswith(b"HTTP/1.1 1"):
        return data
    length = 0
    for line in head.lower().split(b"\r\n"):
        if line.startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    while len(rest) < length:
        more = s.recv(65536)
        if not more:
            break
        rest += more
    return head + b"\r\n\r\n" + rest


# --- request trailers ----------------------------------------------------------------------


def test_http1_request_trailers_reach_the_member(gateway: ServerProcess,
                                                 raw_member: RawMember) -> None:
    s, answer = _exchange(gateway, (
        b"POST /members/up HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n"
        b"Trailer: X-Checksum\r\n\r\n"
        b"5\r\nhello\r\n6\r\n world\r\n0\r\nX-Checksum: abc123\r\nX-Other: 2\r\n\r\n"))
    s.close()
    assert answer.startswith(b"HTTP/1.1 200"), answer
    head, body = raw_member.requests[-1]
    assert b"transfer-encoding: chunked" in head.lower()
    assert b"trailer: x-checksum" in head.lower()  # the announcement goes along
    assert body.endswith(b"0\r\nx-checksum: abc123\r\nx-other: 2\r\n\r\n"), body
    assert b"hello" in body and b" world" in body


def test_a_request_without_trailers_ends_plainly(gateway: ServerProcess,
                                                 raw_member: RawMember) -> None:
    s, answer = _exchange(gateway, (
        b"POST /members/up HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n0\r\n\r\n"))
    s.close()
    assert answer.startswith(b"HTTP/1.1 200"), answer
    assert raw_member.requests[-1][1] == b"3\r\nabc\r\n0\r\n\r\n"


def test_http2_request_trailers_reach_the_member(gateway: ServerProcess,
                                                 raw_member: RawMember) -> None:
    client = H2Client.connect(gateway.host, gateway.port)
    try:
        sid = client.request("/members/grpcish", "POST", [(b"te", b"trailers"),
                                                           (b"content-length", b"6")],
                             body=b"abcdef", end=False)
        client.conn.send_headers(sid, [(b"grpc-timeout", b"1S"), (b"x-sum", b"99")],
                                 end_stream=True)
        client.flush()
        reply = client.replies[sid]
        client.wait(lambda: reply.ended or reply.reset is not None)
        assert reply.status == 200
    finally:
        client.close()
    head, body = raw_member.requests[-1]
    # A length-framed HTTP/2 body that may end in trailers goes chunked to the member.
    assert b"transfer-encoding: chunked" in head.lower() and b"content-length" not in head.lower()
    assert body == b"6\r\nabcdef\r\n0\r\ngrpc-timeout: 1S\r\nx-sum: 99\r\n\r\n"


# --- Expect: 100-continue ------------------------------------------------------------------


def test_expect_refused_by_the_member_reaches_the_client_without_the_body(
        gateway: ServerProcess, raw_member: RawMember) -> None:
    s = socket.create_connection((gateway.host, gateway.port), timeout=20)
    s.sendall(b"PUT /members/expect-reject HTTP/1.1\r\nHost: gw\r\nContent-Length: 1000000\r\n"
              b"Expect: 100-continue\r\n\r\n")
    answer = _read_response(s)  # the body is never sent: only the member's word counts
    assert answer.startswith(b"HTTP/1.1 413"), answer  # not our 100 Continue
    assert answer.endswith(b"too big!")
    s.close()
    assert raw_member.rejected.wait(20)  # the member watched its socket for 2 s after the 413
    head, _ = raw_member.requests[-1]
    assert b"expect: 100-continue" in head.lower()
    assert b"content-length: 1000000" in head.lower()
    assert raw_member.after_reject == [b""]  # the proxy sent no byte of the body


def test_expect_continue_comes_from_the_member(gateway: ServerProcess,
                                               raw_member: RawMember) -> None:
    s = socket.create_connection((gateway.host, gateway.port), timeout=20)
    s.sendall(b"POST /members/expect-accept HTTP/1.1\r\nHost: gw\r\nContent-Length: 5\r\n"
              b"Expect: 100-continue\r\n\r\n")
    interim = _read_response(s)
    assert interim.startswith(b"HTTP/1.1 100"), interim
    s.sendall(b"12345")
    final = _read_response(s)
    s.close()
    assert final.startswith(b"HTTP/1.1 200"), final
    seen = json.loads(final.partition(b"\r\n\r\n")[2])
    assert seen["body"] == "12345" and "expect: 100-continue" in seen["head"].lower()


def test_expect_over_http2(gateway: ServerProcess, raw_member: RawMember) -> None:
    """An HTTP/2 client's Expect: the member's 413 ends the stream before any DATA; the
    member's 100 arrives as an informational HEADERS frame."""
    client = H2Client.connect(gateway.host, gateway.port)
    try:
        sid = client.request("/members/expect-reject", "PUT", [
            (b"expect", b"100-continue"), (b"content-length", b"1000000")], end=False)
        reply = client.replies[sid]
        client.wait(lambda: reply.ended or reply.reset is not None)
        assert reply.status == 413 and bytes(reply.data) == b"too big!"
        assert reply.informational == []
        sid = client.request("/members/expect-accept", "POST", [
            (b"expect", b"100-continue"), (b"content-length", b"3")], end=False)
        reply = client.replies[sid]
        client.wait(lambda: bool(reply.informational))
        assert reply.informational[0][0] == (b":status", b"100")
        client.send_body(sid, b"xyz")
        client.wait(lambda: reply.ended or reply.reset is not None)
        assert reply.status == 200 and json.loads(bytes(reply.data))["body"] == "xyz"
    finally:
        client.close()
    assert raw_member.rejected.wait(20)
    assert raw_member.after_reject == [b""]


def test_expect_continue_through_a_skitai_member(tmp_path: Path) -> None:
    """A real member: its own dispatcher's 100 is what the client gets."""
    member = start_skitai_member(tmp_path, "member")
    gw = start_gateway(tmp_path, [f"127.0.0.1:{member.port}"])
    try:
        s = socket.create_connection((gw.host, gw.port), timeout=20)
        s.sendall(b"POST /members/upload HTTP/1.1\r\nHost: gw\r\nContent-Length: 4\r\n"
                  b"Expect: 100-continue\r\n\r\n")
        assert _read_response(s).startswith(b"HTTP/1.1 100")
        s.sendall(b"data")
        final = _read_response(s)
        s.close()
        assert final.startswith(b"HTTP/1.1 200")
        assert json.loads(final.partition(b"\r\n\r\n")[2])["size"] == 4
    finally:
        gw.stop()
        member.stop()


# --- Host ----------------------------------------------------------------------------------


def test_host_per_mount(tmp_path: Path) -> None:
    member = start_skitai_member(tmp_path, "member")
    where = f"127.0.0.1:{member.port}"
    gw = start_gateway(tmp_path, [where], extra=f'''
        skitai.alias("@same", skitai.PROTO_HTTP, ["{where}"])
        skitai.mount("/client", "@same", proxy_host="$host")
        skitai.mount("/own", "@same", proxy_host="$proxy_host")
        skitai.mount("/fixed", "@same", proxy_host="api.internal:8080")
        ''')
    try:
        def host(path: str) -> str:
            status, _, body = get(gw, path, headers={"Host": "www.example.com"})
            assert status == 200, body
            return str(json.loads(body)["headers"]["host"])
        assert host("/members/") == "www.example.com"  # default: an address member
        assert host("/client/") == "www.example.com"
        assert host("/own/") == where
        assert host("/fixed/") == "api.internal:8080"
        # X-Forwarded-Host still says what the client asked
        _, _, body = get(gw, "/fixed/", headers={"Host": "www.example.com"})
        assert json.loads(body)["headers"]["x-forwarded-host"] == "www.example.com"
    finally:
        gw.stop()
        member.stop()


# --- Expect: 100-continue and fail-over ----------------------------------------------------


class ExpectDropper:
    """A member on 127.0.0.1:0 that reads a request head and, when it says ``Expect:
    100-continue``, closes the connection without a word (no 100, no answer)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.heads: list[bytes] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def stop(self) -> None:
        self.sock.close()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                head = b""
                try:
                    while b"\r\n\r\n" not in head:
                        more = conn.recv(65536)
                        if not more:
                            break
                        head += more
                except OSError:
                    continue
                self.heads.append(head)
                if b"expect: 100-continue" not in head.lower():
                    conn.sendall(b"HTTP/1.1 204 No Content\r\n\r\n")


def _expect_exchange(gw: ServerProcess, method: bytes, body: bytes) -> bytes:
    """A request with ``Expect: 100-continue`` whose body goes after the 100 only; the
    final answer (or what came instead of the 100)."""
    s = socket.create_connection((gw.host, gw.port), timeout=20)
    try:
        s.sendall(method + b" /members/expect-accept HTTP/1.1\r\nHost: gw\r\n"
                  b"Content-Length: %d\r\nExpect: 100-continue\r\n\r\n" % len(body))
        interim = _read_response(s)
        if not interim.startswith(b"HTTP/1.1 100"):
            return interim
        s.sendall(body)
        return _read_response(s)
    finally:
        s.close()


def test_expect_request_goes_to_another_member_when_the_first_drops_it(tmp_path: Path) -> None:
    """The member picked first (weight 1000 to 1) closes on the Expect head, before its
    100: no byte of the body was read from the client, so an idempotent request (PUT)
    goes to the other member, whose 100 the client gets.  A POST is not sent twice (its
    head reached the first member): 502."""
    dropper = ExpectDropper()
    good = RawMember()
    gw = start_gateway(tmp_path, [f"127.0.0.1:{dropper.port} 1000", f"127.0.0.1:{good.port} 1"])
    try:
        final = _expect_exchange(gw, b"PUT", b"12345")
        assert final.startswith(b"HTTP/1.1 200"), final
        seen = json.loads(final.partition(b"\r\n\r\n")[2])
        assert seen["body"] == "12345" and "expect: 100-continue" in seen["head"].lower()
        assert len(dropper.heads) == 1 and dropper.heads[0].startswith(b"PUT ")
        final = _expect_exchange(gw, b"POST", b"12345")
        assert final.startswith(b"HTTP/1.1 502"), final
        assert len(dropper.heads) == 2 and len(good.requests) == 1
    finally:
        gw.stop()
        dropper.stop()
        good.stop()


def test_expect_request_goes_to_another_member_when_the_first_refuses_the_connect(
        tmp_path: Path) -> None:
    """A refused connect: nothing reached that member, so any method (a POST here) goes
    to the next one, and the client gets that member's 100."""
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    refused_port = closed.getsockname()[1]  # bound, never listening: connects are refused
    good = RawMember()
    gw = start_gateway(tmp_path, [f"127.0.0.1:{refused_port} 1000", f"127.0.0.1:{good.port} 1"])
    try:
        final = _expect_exchange(gw, b"POST", b"abcde")
        assert final.startswith(b"HTTP/1.1 200"), final
        assert json.loads(final.partition(b"\r\n\r\n")[2])["body"] == "abcde"
        assert len(good.requests) == 1
    finally:
        gw.stop()
        good.stop()
        closed.close()
