"""Slow clients cannot hold the thread pool (issue 11, item 8).

2 workers x 4 threads; 200 connections trickle a request head or a request body one byte
at a time for 20 s, while a probe GET to a WSGI app (which needs a pool thread) is made
every second on a new connection.  Each probe must be answered within a generous 1 s
(they take a few milliseconds; the measured latencies are printed, run with ``-s``), and
one more after the trickling clients go.  Before request bodies were buffered, 8 such
POSTs held all 8 threads and every other request waited for the request timeout.
"""

from __future__ import annotations

import socket
import statistics
import threading
import time
from pathlib import Path

from tests.conftest import start_app
from tests.rawhttp import Reader

HERE = Path(__file__).parent
CONNECTIONS = 200
DURATION = 20.0
PROBE_BOUND = 1.0  # seconds: generous; a probe takes milliseconds


def _probe(host: str, port: int) -> float:
    started = time.monotonic()
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(b"GET /sleepy?0 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        resp = Reader(sock).response()
    assert resp.status == 200 and resp.body == b"slept"
    return time.monotonic() - started


def test_trickling_heads_and_bodies_do_not_starve_the_pool(tmp_path: Path) -> None:
    (tmp_path / "marks").mkdir()
    srv = start_app(tmp_path, (HERE / "apps_hardening.py").read_text(),
                    env={"TEST_WORKERS": "2", "SKITAI_THREADS": "4",
                         "TEST_MARKS": str(tmp_path / "marks")})
    socks: list[socket.socket] = []
    stop = threading.Event()
    try:
        for i in range(CONNECTIONS):
            s = socket.create_connection((srv.host, srv.port), timeout=10)
            if i % 2:
                s.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\nx")
            else:
                s.sendall(b"GET /echo HTTP/1.1\r\nHost: t\r\nX-Slow: x")
            socks.append(s)

        def trickle() -> None:
            while not stop.wait(0.5):
                for s in socks:
                    try:
                        s.sendall(b"y")
                    except OSError:
                        pass

        trickler = threading.Thread(target=trickle, daemon=True)
        trickler.start()
        latencies = []
        deadline = time.monotonic() + DURATION
        while time.monotonic() < deadline:
            latencies.append(_probe(srv.host, srv.port))
            time.sleep(1.0)
        stop.set()
        trickler.join(5)
        print(f"\nprobe latencies under {CONNECTIONS} trickling connections (ms): "
              + " ".join(f"{x * 1000:.1f}" for x in latencies)
              + f"\nmedian {statistics.median(latencies) * 1000:.1f} ms, "
              f"max {max(latencies) * 1000:.1f} ms")
        assert len(latencies) >= 15
        assert max(latencies) < PROBE_BOUND, latencies
        # the trickling clients were all still connected (none was cut off as a side effect)
        alive = 0
        for s in socks:
            s.setblocking(False)
            try:
                alive += s.recv(1) != b""
            except BlockingIOError:
                alive += 1
            except OSError:
                pass
        assert alive == CONNECTIONS
    finally:
        stop.set()
        for s in socks:
            s.close()
    try:
        after = _probe(srv.host, srv.port)
        print(f"after they went: {after * 1000:.1f} ms")
        assert after < PROBE_BOUND
    finally:
        srv.stop()
