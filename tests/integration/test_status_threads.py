"""A web worker's thread pool in ``skitai status`` (``python app.py status``, text and
``--json``) and in ``was.status()``, from a real server with threads=3, max_threads=5: a
view blocked in app code shows up as running, a view waiting on a ``was.get`` as waiting
(its place lent), the rest idle; a daemon shows zeros."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from skitai.ipc.lu import ThreadCounts
from tests.fixtures.master import wait_for
from tests.fixtures.web import WebApp

WEBAPP = """
import json
import os
import time

from skitai import was

FLAG = os.path.join(os.environ["TEST_VAR"], "release")


def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/block":  # app code running until the test creates the flag file
        deadline = time.monotonic() + 60
        while not os.path.exists(FLAG) and time.monotonic() < deadline:
            time.sleep(0.02)
        body = {"released": os.path.exists(FLAG)}
    elif path == "/call":  # a was call to a member that answers when the test says so
        res = was.get(os.environ["TEST_MEMBER"]).getwait(60)
        body = {"status": res.status, "code": res.status_code}
    elif path == "/status.html":
        data = was.status().encode()
        start_response("200 OK", [("Content-Type", "text/html")])
        return [data]
    else:
        body = was.status(format="dict")
    data = json.dumps(body).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(data)))])
    return [data]
"""

POOL = ThreadCounts._fields


class Member:
    """An HTTP member on 127.0.0.1:0 whose answers wait for ``release``."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.arrived = threading.Event()
        release, arrived = self.release, self.arrived

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                arrived.set()
                release.wait(60)
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/slow"

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def member() -> Iterator[Member]:
    m = Member()
    yield m
    m.close()


def _pool(row: dict[str, Any]) -> dict[str, int]:
    return {k: row[k] for k in POOL}


def _wait_pool(w: WebApp, **want: int) -> dict[str, int]:
    """The worker's pool numbers once they show ``want`` with threads=3, max_threads=5
    (written by its heartbeat, once a second).  How many threads were started is the
    pool's choice: a thread woken but not yet running after ``pool.STALL`` (a loaded
    machine) is taken for stuck and another one started, so only the sum is bounded."""
    seen: list[dict[str, int]] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        seen.append(_pool(w.rows("worker")[0]))
        got = seen[-1]
        if all(got[k] == v for k, v in want.items()) and (got["threads"], got["max_threads"]) == (3, 5):
            assert got["threads_running"] + got["threads_waiting"] + got["threads_idle"] <= 5, got
            return got
        time.sleep(0.05)
    raise AssertionError(f"not {want} within 30s; last seen {seen[-3:]}")


def test_status_shows_the_thread_pool_of_each_worker(tmp_path: Path, member: Member) -> None:
    w = WebApp(tmp_path, run_args="workers=1, threads=3, max_threads=5",
               setup='skitai.enable_daemon("sleeper", ["sleep", "3600"], stop_timeout=5)',
               webapp=WEBAPP, env={"TEST_MEMBER": member.url})
    answers: dict[str, tuple[int, dict[str, Any]]] = {}
    clients: list[threading.Thread] = []
    try:
        worker = wait_for(lambda: w.rows("worker"), timeout=30)[0]
        wait_for(lambda: w.rows("sleeper"), timeout=30)
        # Configured numbers from the start (threads start at the first request).
        idle = wait_for(lambda: [r for r in w.rows("worker") if r["threads"]], timeout=30)[0]
        assert _pool(idle) == {"threads": 3, "max_threads": 5, "threads_running": 0,
                               "threads_waiting": 0, "threads_idle": 0, "requests_queued": 0}
        assert _pool(w.rows("sleeper")[0]) == dict.fromkeys(POOL, 0)

        for path in ("/block", "/call"):
            def fetch(path: str = path) -> None:
                answers[path] = w.get(path, timeout=90)
            clients.append(threading.Thread(target=fetch, daemon=True))
            clients[-1].start()
        assert member.arrived.wait(30)
        # One thread in app code, one parked on the was call, the others (one, or more
        # on a loaded machine) asleep.
        busy = _wait_pool(w, threads_running=1, threads_waiting=1, requests_queued=0)
        assert busy["threads_idle"] >= 1

        # python app.py status: the pool table, and --json with the same numbers.
        text = w.cli("status")
        assert text.returncode == 0, text.stderr
        lines = text.stdout.splitlines()
        head = next(i for i, line in enumerate(lines) if line.startswith("WORKER"))
        assert lines[head].split() == ["WORKER", "PID", "THREADS", "MAX", "THREADS", "RUNNING",
                                       "WAITING", "IDLE", "QUEUED"]
        assert lines[head + 1].split() == ["#0", str(worker["pid"]), "3", "5", "1", "1",
                                           str(busy["threads_idle"]), "0"]
        assert not any(line.startswith("#") for line in lines[head + 2:])  # no daemon row
        data = json.loads(w.cli("status", "--json").stdout)
        rows = {p["role"]: p for p in data["processes"]}
        assert _pool(rows["worker"]) == busy
        assert _pool(rows["sleeper"]) == dict.fromkeys(POOL, 0)

        # was.status() from a view (its own thread may be running at the heartbeat too).
        code, snap = w.get("/status", timeout=30)
        assert code == 200
        mine = next(p for p in snap["processes"] if p["role"] == "worker")
        assert (mine["threads"], mine["max_threads"], mine["threads_waiting"],
                mine["requests_queued"]) == (3, 5, 1, 0)
        assert mine["threads_running"] >= 1
        assert mine["threads_running"] + mine["threads_idle"] >= 1 + busy["threads_idle"]
        daemon = next(p for p in snap["processes"] if p["role"] == "sleeper")
        assert _pool(daemon) == dict.fromkeys(POOL, 0)
        code, page = w.get("/status.html", timeout=30)
        assert code == 200
        assert "<th>max_threads</th>" in page["raw"] and "<th>threads_waiting</th>" in page["raw"]

        # Released: both answer, and every started thread is idle again.
        (w.var / "release").touch()
        member.release.set()
        for client in clients:
            client.join(60)
        assert answers["/block"] == (200, {"released": True})
        assert answers["/call"] == (200, {"status": 3, "code": 200})
        after = _wait_pool(w, threads_running=0, threads_waiting=0, requests_queued=0)
        assert after["threads_idle"] >= 3
    finally:
        (w.var / "release").touch()
        member.release.set()
        w.stop()
