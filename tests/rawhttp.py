"""A tiny raw HTTP/1.1 client for tests that need exact bytes on the wire."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field


@dataclass
class RawResponse:
    version: str
    status: int
    reason: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None


class Reader:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""

    def _more(self) -> bool:
        data = self.sock.recv(65536)
        if not data:
            return False
        self.buf += data
        return True

    def line(self) -> bytes:
        while b"\r\n" not in self.buf:
            if not self._more():
                raise ConnectionError(f"closed while reading a line: {self.buf!r}")
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def exactly(self, n: int) -> bytes:
        while len(self.buf) < n:
            if not self._more():
                raise ConnectionError("closed inside a body")
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def rest(self) -> bytes:
        while self._more():
            pass
        data, self.buf = self.buf, b""
        return data

    def closed(self) -> bool:
        """True when the peer closed the connection (EOF) with nothing more to read."""
        if self.buf:
            return False
        try:
            return not self._more()
        except (ConnectionResetError, TimeoutError):
            return True

    def response(self, head: bool = False) -> RawResponse:
        status_line = self.line()
        while status_line == b"":
            status_line = self.line()
        version, status, *reason = status_line.decode("latin-1").split(" ", 2)
        resp = RawResponse(version, int(status), reason[0] if reason else "")
        while True:
            line = self.line()
            if not line:
                break
            k, _, v = line.decode("latin-1").partition(":")
            resp.headers.append((k.strip(), v.strip()))
        if head or resp.status in (204, 304) or 100 <= resp.status < 200:
            return resp
        te = (resp.header("transfer-encoding") or "").lower()
        if te == "chunked":
            chunks = []
            while True:
                size = int(self.line().split(b";")[0], 16)
                if size == 0:
                    while self.line():
                        pass
                    break
                chunks.append(self.exactly(size))
                self.line()
            resp.body = b"".join(chunks)
        elif resp.header("content-length") is not None:
            resp.body = self.exactly(int(resp.header("content-length") or 0))
        else:
            resp.body = self.rest()
        return resp


def exchange(host: str, port: int, data: bytes, count: int = 1, head: bool = False,
             timeout: float = 10) -> tuple[list[RawResponse], Reader]:
    sock = socket.create_connection((host, port), timeout=timeout)
    sock.sendall(data)
    reader = Reader(sock)
    return [reader.response(head) for _ in range(count)], reader
