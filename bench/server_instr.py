"""Instructions per request of a real server process, counted by callgrind.

    python bench/server_instr.py skitai|uvicorn [N] [--h2]

Environment: BENCH_PATH (default /; e.g. /static/64k.bin with BENCH_STATIC_DIR set),
SKITAI_THREADS (default 0), BENCH_SCRIPT (the skitai app script, default
bench/skitai_hello.py), BENCH_ASGI and BENCH_APP_DIR (uvicorn's app, default
hello_asgi:app in ../shared/bench), BENCH_CONNS (default 1: one connection; K: K keep-alive
connections in lockstep, one request on each, then every response: the batches a
loaded worker sees, where ``threads=4`` hands many jobs over per loop turn), BENCH_ROOT (the skitai tree to run, default this one:
point it at another checkout to compare before and after).

Starts the server under ``valgrind --tool=callgrind --trace-children=yes`` twice, sends
N and then 3N keep-alive GET / requests over one connection (after a warm-up of 200),
stops it, and prints (instructions(3N) - instructions(N)) / 2N for the process that
served them.  User-space instructions only (callgrind does not see the kernel), and the
same on a busy machine as on an idle one: the numbers to compare two servers' own cost
per request, where wall-clock benchmarks drown in noise.  ``--h2``: the requests go over
one h2c connection with 10 streams at a time (h2load), GET / on the same app.
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
# ../shared/bench beside the main checkout; from a worktree, /work/shared/bench
SHARED = os.environ.get("BENCH_SHARED") or next(
    (p for p in (os.path.join(ROOT, "..", "shared", "bench"), "/work/shared/bench")
     if os.path.isdir(p)), "/work/shared/bench")
PATH = os.environ.get("BENCH_PATH", "/").encode()
REQUEST = b"GET " + PATH + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: wrk\r\nAccept: */*\r\n\r\n"
TREE = os.environ.get("BENCH_ROOT", ROOT)
CONNS = int(os.environ.get("BENCH_CONNS", "1"))


def command(who: str, port: int, var: str) -> list[str]:
    py = sys.executable
    if who == "skitai":
        os.environ.update(SKITAI_PORT=str(port), SKITAI_WORKERS="1",
                          SKITAI_THREADS=os.environ.get("SKITAI_THREADS", "0"),
                          SKITAI_VARPATH=var, BENCH_SHARED=SHARED, PYTHONPATH=TREE)
        script = os.environ.get("BENCH_SCRIPT", os.path.join(TREE, "bench", "skitai_hello.py"))
        return [py, script]
    if who == "uvicorn":
        return [py, "-m", "uvicorn", "--http", "httptools", "--loop", "uvloop",
                "--no-access-log", "--port", str(port), "--app-dir",
                os.environ.get("BENCH_APP_DIR", SHARED), os.environ.get("BENCH_ASGI", "hello_asgi:app")]
    raise SystemExit(f"unknown server {who!r}")


def load(port: int, n: int, h2: bool | None = None) -> None:
    if H2 if h2 is None else h2:
        # one h2c connection, 10 streams at a time (h2load runs outside valgrind)
        subprocess.run(["h2load", "-n", str(n), "-c", "1", "-m", "10",
                        f"http://127.0.0.1:{port}/"], check=True, stdout=subprocess.DEVNULL)
        return
    k = CONNS if n > 1 else 1
    socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(k)]
    try:
        for _ in range(n // k):
            for sock in socks:
                sock.sendall(REQUEST)
            for sock in socks:
                read_response(sock)
    finally:
        for sock in socks:
            sock.close()


def read_response(sock: socket.socket) -> None:
    got = b""
    while True:  # one whole response: its head, then Content-Length bytes
        chunk = sock.recv(262144)
        if not chunk:
            raise ConnectionError("server closed")
        got += chunk
        head, sep, body = got.partition(b"\r\n\r\n")
        if sep:
            length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
            if len(body) >= length:
                return


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def count(who: str, n: int) -> int:
    out = tempfile.mkdtemp(prefix="cg-")
    port = free_port()
    cmd = ["valgrind", "--tool=callgrind", "--trace-children=yes",
           f"--callgrind-out-file={out}/cg.%p", *command(who, port, out + "/var")]
    env = dict(os.environ, PYTHONHASHSEED="0")
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                load(port, 1, h2=False)  # up? (h2load says 0 even when it cannot connect)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        load(port, 200)  # warm-up: caches, specialisation
        load(port, n)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(120)
    best = 0
    for path in glob.glob(f"{out}/cg.*"):
        with open(path, errors="replace") as f:
            text = f.read()
        m = re.search(r"^(?:summary|totals): (\d+)", text, re.M)
        if m:
            best = max(best, int(m.group(1)))  # the serving process did the most work
    return best


H2 = "--h2" in sys.argv


def main() -> None:
    args = [a for a in sys.argv[1:] if a != "--h2"]
    who = args[0] if args else "skitai"
    n = int(args[1]) if len(args) > 1 else 2000
    a = count(who, n)
    b = count(who, 3 * n)
    how = "h2c, h2load -c1 -m10" if H2 else "HTTP/1.1 keep-alive"
    if CONNS > 1 and not H2:
        how += f", {CONNS} connections in lockstep"
    print(f"{who}: {(b - a) // (2 * n)} instructions/request ({how}; real server, callgrind)")


if __name__ == "__main__":
    main()
