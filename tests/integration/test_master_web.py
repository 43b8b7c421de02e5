"""The master with the real web stack: ``python app.py`` forks real ``skitai.worker``
processes serving a WSGI app mounted by file path.  Real signals, real sockets on port 0,
one new connection per client request (a keep-alive connection the server closes while
idle is the client's retry case, not a lost request)."""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.fixtures.master import Hammer, wait_for
from tests.fixtures.web import WebApp, maps


@pytest.fixture
def web(tmp_path: Path):
    started: list[WebApp] = []

    def start(**kw) -> WebApp:
        w = WebApp(tmp_path, **kw)
        started.append(w)
        return w

    yield start
    for w in started:
        w.stop()


def test_the_master_never_loads_the_web_stack_or_the_app(web) -> None:
    w = web()
    pids = {r["pid"] for r in w.workers()}
    assert len(pids) == 2
    title = " ".join(psutil.Process(w.pid).cmdline())
    assert title.startswith("skitai(proj/app): master")
    assert sorted(" ".join(psutil.Process(p).cmdline()).strip() for p in pids) == \
        ["skitai(proj/app): worker #0", "skitai(proj/app): worker #1"]
    # The mounted file was imported by the workers only, never by the master.
    assert set(w.imported_by()) == pids
    # No asyncio, uvloop or httptools shared object is mapped in the master process.
    master_maps = maps(w.pid)
    for lib in ("_asyncio", "uvloop", "httptools"):
        assert lib not in master_maps, lib
    assert any("uvloop" in maps(p) or "_asyncio" in maps(p) for p in pids)
    assert psutil.Process(w.pid).num_threads() == 1


def test_a_unix_socket_beside_tcp_with_real_workers(web, tmp_path: Path) -> None:
    import http.client

    path = tmp_path / "app.sock"
    w = web(run_args=f"workers=2, unix_socket={str(path)!r}")
    assert w.status()["master"]["listeners"][1] == f"unix:{path}"
    pids = set()
    for _ in range(20):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(str(path))
        conn = http.client.HTTPConnection("localhost", timeout=10)
        conn.sock = sock
        conn.request("GET", "/")
        resp = conn.getresponse()
        assert resp.status == 200
        pids.add(json.loads(resp.read())["pid"])
        conn.close()
    assert pids <= {r["pid"] for r in w.workers()}
    assert w.get("/")[0] == 200
    w.signal(signal.SIGTERM)
    assert w.wait_exit(30) == 0
    assert not path.exists()


def test_kill_9_of_a_worker_under_a_request_loop_is_replaced_within_a_second(web) -> None:
    w = web()
    victim = next(r for r in w.workers() if r["slot"] == 1)
    hammer = Hammer(w)
    wait_for(lambda: hammer.ok > 50, timeout=20)
    killed = time.monotonic()
    os.kill(victim["pid"], signal.SIGKILL)

    def respawned() -> dict | None:
        rows = [r for r in w.status()["processes"]
                if r["slot"] == 1 and r["pid"] not in (None, victim["pid"])]
        return rows[0] if rows else None

    row = wait_for(respawned, timeout=5, every=0.01)
    replaced_after = time.monotonic() - killed
    serving = wait_for(lambda: [r for r in w.workers() if r["slot"] == 1 and r["pid"] == row["pid"]],
                       timeout=10, every=0.02)[0]
    serving_after = time.monotonic() - killed
    before = hammer.ok
    wait_for(lambda: hammer.ok > before + 100 and serving["pid"] in hammer.pids, timeout=20)
    hammer.stop()
    assert replaced_after < 1.0, replaced_after
    assert serving_after < 5.0, serving_after
    assert serving["restarts"] == 1 and serving["last_exit"] == "killed by SIGKILL"
    # Only what the killed worker had accepted can fail; never a refused connection.
    assert len(hammer.failed) <= 2, hammer.failed
    assert not any("refused" in f.lower() for f in hammer.failed)
    # `status` shows it: one line per process with the restart and its reason.
    text = w.cli("status")
    assert text.returncode == 0, text.stderr
    line = next(x for x in text.stdout.splitlines() if x.startswith("worker") and x.split()[1] == "1")
    assert line.split()[2] == str(row["pid"]) and "killed by SIGKILL" in line


def test_hup_under_2000_requests_fails_none_and_the_new_code_answers(web) -> None:
    w = web(run_args="workers=2, threads=4")
    old = {r["pid"] for r in w.workers()}
    assert w.get("/")[1]["version"] == 1
    hammers = [Hammer(w, limit=1000), Hammer(w, limit=1000)]
    wait_for(lambda: sum(h.count for h in hammers) > 300, timeout=30)
    w.set_version(2)
    w.signal(signal.SIGHUP)
    wait_for(lambda: w.status()["master"]["generation"] == 1 and
             not any(r["pid"] in old for r in w.status()["processes"]), timeout=30)
    done_at_reload = sum(h.count for h in hammers)
    for h in hammers:
        h.join(120)
    assert sum(h.count for h in hammers) == 2000
    assert [f for h in hammers for f in h.failed] == []
    assert done_at_reload < 2000, "the reload finished after the load: nothing was tested"
    rows = w.workers()
    assert len(rows) == 2 and {r["generation"] for r in rows} == {1}
    for _ in range(10):
        status, body = w.get("/")
        assert status == 200 and body["version"] == 2
    assert "ok at" in w.status()["master"]["last_reload"]


def test_a_reload_into_broken_code_keeps_the_old_workers_serving(web) -> None:
    w = web()
    old = sorted(r["pid"] for r in w.workers())
    w.set_version(0, "import no_such_module_either\napp = None\n")
    answer = w.cli("reload")
    assert answer.returncode == 1
    assert "reload failed" in answer.stderr and "APP_LOAD_ERROR" in answer.stderr
    assert "failed" in w.status()["master"]["last_reload"]
    wait_for(lambda: sorted(r["pid"] for r in w.workers()) == old and
             len(w.status()["processes"]) == 2, timeout=15)
    assert w.get("/")[1]["version"] == 1
    w.set_version(3)  # fixed: the next reload goes through
    assert w.cli("reload").returncode == 0
    assert w.get("/")[1]["version"] == 3


def test_was_restart_and_was_shutdown_from_a_wsgi_app(web) -> None:
    w = web(run_args="workers=2")
    old = {r["pid"] for r in w.workers()}
    assert w.get("/restart")[0] == 200
    wait_for(lambda: w.status()["master"]["generation"] == 1 and len(w.workers()) == 2 and
             not old & {r["pid"] for r in w.status()["processes"]}, timeout=20)
    assert w.get("/shutdown")[0] == 200
    assert w.wait_exit(30) == 0


def test_term_lets_a_two_second_request_finish_with_two_workers(web) -> None:
    w = web(run_args="workers=2")
    slow = Hammer(w, "/sleep?s=2", limit=1)
    wait_for(lambda: any(r["connections"] >= 1 for r in w.workers()), timeout=5, every=0.02)
    t0 = time.monotonic()
    w.signal(signal.SIGTERM)
    assert w.wait_exit(30) == 0
    slow.join(10)
    assert slow.ok == 1 and slow.failed == []
    assert 0.5 < time.monotonic() - t0 < 15


def test_boot_error_stops_the_master_with_the_reason_and_no_crash_loop(web, tmp_path: Path) -> None:
    w = web(webapp="import no_such_module_here\napp = None\n", wait=False)
    code = w.wait_exit(60)
    w.server._reader.join(10)
    assert code == 4  # ExitCode.APP_LOAD_ERROR
    out = w.output
    assert "could not start (exit 4 (APP_LOAD_ERROR))" in out
    assert "stopping the server" in out
    assert out.count("No module named 'no_such_module_here'") <= 2  # once per slot, no loop
    assert w.imported_by() == []


def test_a_worker_stuck_in_a_request_is_aborted_and_the_log_names_the_request(web) -> None:
    # threads=0: the app runs on the event loop, so a stuck app stops the heartbeat.
    w = web(run_args="workers=1, threads=0", setup="skitai.set_worker_timeout(2)")
    stuck = w.workers()[0]["pid"]
    hang = Hammer(w, "/sleep?s=60&id=42", limit=1)
    wait_for(lambda: "SIGABRT; it was running 'GET /sleep?s=60&id=42'" in w.output, timeout=20)
    row = wait_for(lambda: [r for r in w.workers() if r["pid"] != stuck], timeout=20)[0]
    assert row["last_exit"] in ("killed by SIGABRT", "killed by SIGKILL")
    assert "Fatal Python error: Aborted" in w.output  # faulthandler's dump of every thread
    assert w.get("/")[0] == 200
    hang.join(30)
    assert hang.failed  # the stuck request itself is lost, nothing else


def test_max_requests_recycles_without_a_failed_request(web) -> None:
    w = web(run_args="workers=1", setup="skitai.set_max_requests(100)")
    first = w.workers()[0]["pid"]
    # A successor boots while the old worker keeps serving, so a cycle is more than 100;
    # how many more depends on how fast this machine boots a worker: hammer until the
    # successor answers, not for a fixed count.
    hammer = Hammer(w)
    wait_for(lambda: len(hammer.pids) >= 2 or len(hammer.failed) > 0, timeout=120)
    hammer.stop()
    assert hammer.failed == [] and hammer.count > 100
    assert len(hammer.pids) >= 2, hammer.pids
    assert first not in {r["pid"] for r in w.workers()}
    assert "max_requests 100 reached" in w.output


def test_critical_point_recycles_a_pegged_worker_gracefully(web) -> None:
    w = web(run_args="workers=1",
            setup="skitai.set_worker_critical_point(cpu_percent=50.0, continuous=2, interval=0.5)")
    pegged = w.workers()[0]["pid"]
    spin = Hammer(w, "/spin?s=4", limit=1)
    loop = Hammer(w)
    wait_for(lambda: [r for r in w.workers() if r["pid"] != pegged] and not
             _alive(pegged), timeout=30)
    spin.join(30)
    loop.stop()
    assert spin.ok == 1 and spin.failed == []  # its in-flight request finished
    assert loop.failed == [] and loop.ok > 0
    assert "CPU" in w.output and "critical point 50%" in w.output


def test_setlu_in_one_worker_is_seen_by_the_other_and_model_changed_reaches_both(web) -> None:
    w = web(setup='skitai.addlu("users", "posts")')
    pids = sorted(r["pid"] for r in w.workers())
    stamp = w.get("/setlu?key=users")[1]["lu"]
    assert abs(stamp - time.time()) < 5
    seen: dict[int, float] = {}

    def both() -> bool:
        _, body = w.get("/getlu?key=users")
        seen[body["pid"]] = body["lu"]
        return sorted(seen) == pids

    wait_for(both, timeout=20, every=0)
    assert set(seen.values()) == {stamp}  # at once: the very first read in each worker
    assert w.get("/getlu?key=posts")[1]["lu"] < stamp
    for pid in pids:
        wait_for(lambda p=pid: '"model-changed:users", ["changed"]' in w.events(p))
    w.get("/broadcast?event=hello")
    for pid in pids:
        wait_for(lambda p=pid: '["hello", [1], {"x": 2}]' in w.events(p))
    # A worker killed and replaced still sees the value: the master owns the memory.
    victim = pids[0]
    os.kill(victim, signal.SIGKILL)
    wait_for(lambda: len(w.workers()) == 2 and victim not in {r["pid"] for r in w.workers()},
             timeout=10)
    for _ in range(10):
        assert w.get("/getlu?key=users")[1]["lu"] == stamp


def test_ttin_ttou_and_usr1(web, tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    w = web(run_args=f"workers=2, logpath={str(logs)!r}")
    w.signal(signal.SIGTTIN)
    wait_for(lambda: sorted(r["slot"] for r in w.workers()) == [0, 1, 2], timeout=15)
    assert w.status()["master"]["workers"] == 3
    w.signal(signal.SIGTTOU)
    wait_for(lambda: sorted(r["slot"] for r in w.status()["processes"]) == [0, 1], timeout=15)
    # USR1: every process reopens its log files (logrotate moved them away).
    assert w.get("/")[0] == 200
    wait_for(lambda: (logs / "request.log").exists() and (logs / "server.log").exists())
    os.rename(logs / "request.log", logs / "request.log.1")
    os.rename(logs / "server.log", logs / "server.log.1")
    w.signal(signal.SIGUSR1)
    wait_for(lambda: (logs / "server.log").exists() and
             "log files reopened" in (logs / "server.log").read_text(), timeout=10)
    pids = set()

    def reopened_everywhere() -> bool:
        status, body = w.get("/")
        pids.add(body["pid"])
        path = logs / "request.log"
        return path.exists() and path.read_text().count("GET /") >= 1 and len(pids) == 2

    wait_for(reopened_everywhere, timeout=20, every=0.05)


def test_sd_notify_and_listen_fds_with_real_workers(tmp_path: Path) -> None:
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify"))
    notify.settimeout(30)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    port = listener.getsockname()[1]
    wrapper = ("import os, sys\n"
               "os.dup2(int(sys.argv[1]), 3)\n"
               "os.set_inheritable(3, True)\n"
               "os.environ['LISTEN_FDS'] = '1'\n"
               "os.environ['LISTEN_PID'] = str(os.getpid())\n"
               "os.execv(sys.executable, [sys.executable] + sys.argv[2:])\n")
    import subprocess

    (tmp_path / "proj").mkdir()
    (tmp_path / "var").mkdir()
    from tests.fixtures.web import APP, WEBAPP

    (tmp_path / "proj" / "app.py").write_text(APP.format(setup="", run_args="workers=2, port=1"))
    (tmp_path / "proj" / "webapp.py").write_text(WEBAPP.format(version=1))
    env = dict(os.environ, TEST_VAR=str(tmp_path / "var"), NOTIFY_SOCKET=str(tmp_path / "notify"),
               PYTHONPATH=str(Path(__file__).resolve().parent.parent.parent), PYTHONUNBUFFERED="1")
    env.pop("SKITAI_PORT", None)
    proc = subprocess.Popen([sys.executable, "-c", wrapper, str(listener.fileno()),
                             str(tmp_path / "proj" / "app.py")], cwd=tmp_path / "proj", env=env,
                            pass_fds=(listener.fileno(),), stderr=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, start_new_session=True)
    from tests import conftest

    conftest._spawned.append(proc.pid)
    listener.close()
    try:
        messages = []
        while not any("READY=1" in m for m in messages):
            messages.append(notify.recv(4096).decode())
        assert any("STATUS=2 web workers serving" in m for m in messages), messages
        import http.client

        pids = set()
        for _ in range(30):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", "/")
            resp = conn.getresponse()
            assert resp.status == 200
            pids.add(json.loads(resp.read())["pid"])
            conn.close()
        assert len(pids) >= 1
        proc.send_signal(signal.SIGTERM)
        while not any("STOPPING=1" in m for m in messages):
            messages.append(notify.recv(4096).decode())
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            conftest._kill_tree(proc.pid)
            proc.wait(5)
        notify.close()


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
