"""Instructions per proxied request of skitai's reverse proxy, counted by callgrind.

    python bench/proxy_instr.py [N] [--keep]

Starts one granian member (outside valgrind) and ``bench/skitai_proxy.py`` (one worker,
threads=0, ``mount("/", "@members")``) under ``valgrind --tool=callgrind
--trace-children=yes --instr-atstart=no``, sends a warm-up of 300 keep-alive ``GET /``,
switches instrumentation on (``callgrind_control -i on`` for the processes it started),
sends N more, switches it off again
and prints instructions / N for the process that did the most work (the
worker).  User-space instructions only, the same on a busy machine as on an idle one.
``--keep``: print the callgrind file (``callgrind_annotate`` it: only the N requests
are in it, so its functions are the per-request costs).

Environment: BENCH_ROOT (the skitai tree to run, default this one), GRANIAN (the granian
command), BENCH_CONNS (client connections used in turn, default 1: with several, the
requests on them are sent together, as wrk's concurrency batches them).
"""

from __future__ import annotations

import glob
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SHARED = os.environ.get("BENCH_SHARED") or next(
    (p for p in (os.path.join(ROOT, "..", "shared", "bench"), "/work/shared/bench")
     if os.path.isdir(p)), "/work/shared/bench")
TREE = os.environ.get("BENCH_ROOT", ROOT)
GRANIAN = os.environ.get("GRANIAN") or os.path.join(os.path.dirname(sys.executable), "granian")
REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: wrk\r\nAccept: */*\r\n\r\n"
CONNS = int(os.environ.get("BENCH_CONNS", "1"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _one_response(sock: socket.socket, got: bytes) -> bytes:
    """Read until one whole response is in ``got``; returns what follows it."""
    while True:
        head, sep, body = got.partition(b"\r\n\r\n")
        if sep:
            m = re.search(rb"(?i)content-length: *(\d+)", head)
            length = int(m.group(1)) if m else 0
            if len(body) >= length:
                return body[length:]
        chunk = sock.recv(262144)
        if not chunk:
            raise ConnectionError("server closed")
        got += chunk


def load(port: int, n: int, conns: int = 1) -> None:
    socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(conns)]
    try:
        rest = [b""] * conns
        for _ in range(0, n, conns):
            for s in socks:
                s.sendall(REQUEST)
            for i, s in enumerate(socks):
                rest[i] = _one_response(s, rest[i])
    finally:
        for s in socks:
            s.close()


def wait_up(port: int, deadline: float) -> None:
    while True:
        try:
            load(port, 1)
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def count(member_port: int, n: int, keep: bool) -> tuple[int, str]:
    out = tempfile.mkdtemp(prefix="cg-proxy-")
    port = free_port()
    env = dict(os.environ, PYTHONHASHSEED="0", SKITAI_PORT=str(port), SKITAI_WORKERS="1",
               SKITAI_VARPATH=out + "/var", PYTHONPATH=TREE,
               BENCH_MEMBERS=f"127.0.0.1:{member_port}")
    cmd = ["valgrind", "--tool=callgrind", "--trace-children=yes", "--instr-atstart=no",
           f"--callgrind-out-file={out}/cg.%p", sys.executable,
           os.path.join(TREE, "bench", "skitai_proxy.py")]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        wait_up(port, time.monotonic() + 180)
        load(port, 300, CONNS)  # warm-up: member connections, caches, specialisation
        pids = subprocess.run(["pgrep", "-g", str(proc.pid)], capture_output=True,
                              text=True).stdout.split()
        for pid in pids:  # only the processes started here
            subprocess.run(["callgrind_control", "-i", "on", pid], capture_output=True)
        load(port, n, CONNS)
        for pid in pids:  # the stop (imports, teardown) is not a request's cost
            subprocess.run(["callgrind_control", "-i", "off", pid], capture_output=True)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(120)
    best, best_path = 0, ""
    for path in glob.glob(f"{out}/cg.*"):
        with open(path, errors="replace") as f:
            text = f.read()
        m = re.search(r"^totals: (\d+)", text, re.M) or re.search(r"^summary: (\d+)", text, re.M)
        if m and int(m.group(1)) > best:
            best, best_path = int(m.group(1)), path
    return best, best_path


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    keep = "--keep" in sys.argv
    n = int(args[0]) if args else 2000
    member_port = free_port()
    member = subprocess.Popen(
        [GRANIAN, "--interface", "wsgi", "--host", "127.0.0.1", "--port", str(member_port),
         "--workers", "1", "--no-ws", "hello_wsgi:app"], cwd=SHARED,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_up(member_port, time.monotonic() + 30)
        total, path = count(member_port, n, keep)
    finally:
        os.killpg(member.pid, signal.SIGTERM)
        member.wait(30)
    how = f"HTTP/1.1 keep-alive, {CONNS} client connection(s)"
    print(f"skitai proxy: {total // n} instructions/request ({how}; callgrind)")
    if keep:
        print(f"callgrind file: {path}")


if __name__ == "__main__":
    main()
