"""Real HTTP members on 127.0.0.1:0 for the was tests: threads of this process."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Member(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    delay = 0.0

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        time.sleep(self.server.delay)  # type: ignore[attr-defined]
        if self.path.startswith("/cached"):
            extra = [("Cache-Control", "max-age=60")]
        else:
            extra = []
        self.server.hits += 1  # type: ignore[attr-defined]
        if self.path == "/jsonrpc":
            call = json.loads(body)
            reply: dict[str, Any] = {"jsonrpc": "2.0", "id": call["id"]}
            if call["method"] == "add":
                reply["result"] = sum(call["params"])
            else:
                reply["error"] = {"code": -32601, "message": "Method not found"}
            out = json.dumps(reply).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)
            return
        out = json.dumps({
            "port": self.server.server_port, "method": self.command, "path": self.path,
            "body": body.decode(), "type": self.headers.get("Content-Type"),
            "accept": self.headers.get("Accept"), "auth": self.headers.get("Authorization"),
            "gtxn": self.headers.get("X-Gtxn-Id"), "ltxn": self.headers.get("X-Ltxn-Id"),
            "hits": self.server.hits,  # type: ignore[attr-defined]
        }).encode()
        self.send_response(200)
        for name, value in [("Content-Type", "application/json"), *extra]:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _answer

    def log_message(self, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    connections = 0  # TCP connections accepted (keep-alive reuse keeps it low)

    def process_request(self, request: Any, client_address: Any) -> None:
        self.connections += 1
        super().process_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A caller that gave up (a timeout test) closed its end: nothing to report."""


@contextmanager
def members(count: int = 1, delay: float = 0.0) -> Iterator[list[ThreadingHTTPServer]]:
    servers = []
    for _ in range(count):
        srv = _Server(("127.0.0.1", 0), Member)
        srv.delay = delay  # type: ignore[attr-defined]
        srv.hits = 0  # type: ignore[attr-defined]
        srv.daemon_threads = True
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
    try:
        yield servers
    finally:
        for srv in servers:
            srv.shutdown()
            srv.server_close()


def addresses(servers: list[ThreadingHTTPServer]) -> list[str]:
    return [f"127.0.0.1:{s.server_port}" for s in servers]
