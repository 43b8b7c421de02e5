"""WebSocket echo round trips per second: skitai vs uvicorn, the same client, interleaved.

    python3 bench/websocket_echo.py [--rounds 3] [--duration 5] [--connections 1,32]

Each server runs in its own process group (one worker).  The client (one process, uvloop)
opens C connections without compression and, on each, sends a 32-byte masked text frame
and waits for its echo, as fast as it can, for D seconds; round trips per second are
summed over the connections.  The client is raw asyncio (handshake, pre-masked frames)
so it costs far less than either server.  Rounds rotate the server order; the table shows
medians and every server's ratio to the first one.  Server and client share the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PY = sys.executable
PAYLOAD = b"x" * 32


def servers(base: int, var: str) -> list[tuple[str, int, list[str], dict[str, str]]]:
    skitai_app = os.path.join(HERE, "websocket_echo_app.py")
    env = {"PYTHONPATH": ROOT}
    # Two skitai instances of one app need their own var dirs (pid file, control socket).
    t0 = {"SKITAI_VARPATH": os.path.join(var, "t0")}
    t4 = {"SKITAI_VARPATH": os.path.join(var, "t4")}
    uv = [PY, "-m", "uvicorn", "--workers", "1", "--loop", "uvloop", "--http", "httptools",
          "--no-access-log", "--log-level", "warning", "--app-dir", HERE]
    return [
        ("skitai-t0", base, [PY, skitai_app], {**env, **t0, "SKITAI_PORT": str(base),
                                               "SKITAI_THREADS": "0", "SKITAI_WORKERS": "1"}),
        ("skitai-t4", base + 1, [PY, skitai_app], {**env, **t4, "SKITAI_PORT": str(base + 1),
                                                   "SKITAI_THREADS": "4", "SKITAI_WORKERS": "1"}),
        ("uvicorn-websockets", base + 2,
         [*uv, "--ws", "websockets", "--port", str(base + 2), "websocket_echo_asgi:app"], env),
        ("uvicorn-wsproto", base + 3,
         [*uv, "--ws", "wsproto", "--port", str(base + 3), "websocket_echo_asgi:app"], env),
    ]


def start(cmd: list[str], env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(cmd, env={**os.environ, **env}, cwd=HERE, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc
        except OSError:
            time.sleep(0.1)
    stop(proc)
    raise RuntimeError(f"{cmd} did not listen on {port}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(15)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(5)


def masked_text(payload: bytes) -> bytes:
    key = os.urandom(4)
    return bytes([0x81, 0x80 | len(payload)]) + key + bytes(
        b ^ key[i % 4] for i, b in enumerate(payload))


async def one_connection(port: int, stop_at: float, counts: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16))
    writer.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                 b"Connection: Upgrade\r\nSec-WebSocket-Key: " + key +
                 b"\r\nSec-WebSocket-Version: 13\r\n\r\n")
    head = await reader.readuntil(b"\r\n\r\n")
    if b" 101 " not in head.split(b"\r\n", 1)[0]:
        raise RuntimeError(f"no 101: {head!r}")
    frame = masked_text(PAYLOAD)
    expect = 2 + len(PAYLOAD)
    n = 0
    loop = asyncio.get_running_loop()
    while loop.time() < stop_at:
        writer.write(frame)
        data = await reader.readexactly(expect)
        if data[2:] != PAYLOAD:
            raise RuntimeError(f"bad echo {data!r}")
        n += 1
    counts.append(n)
    writer.write(bytes([0x88, 0x82]) + b"\0\0\0\0" + b"\x03\xe8")
    try:
        await asyncio.wait_for(reader.read(), 2)
    except (TimeoutError, ConnectionError):
        pass
    writer.close()


async def measure(port: int, connections: int, duration: float) -> float:
    loop = asyncio.get_running_loop()
    counts: list[int] = []
    t0 = loop.time()
    await asyncio.gather(*(one_connection(port, t0 + duration, counts)
                           for _ in range(connections)))
    return sum(counts) / duration


def client(port: int, connections: int, duration: float) -> float:
    try:
        import uvloop

        return uvloop.run(measure(port, connections, duration))
    except ImportError:
        return asyncio.run(measure(port, connections, duration))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=float, default=5.0)
    ap.add_argument("--connections", default="1,32")
    ap.add_argument("--port", type=int, default=18700)
    args = ap.parse_args()
    var = tempfile.mkdtemp(prefix="skitai-wsbench-")
    table = servers(args.port, var)
    procs = {}
    try:
        for name, port, cmd, env in table:
            procs[name] = start(cmd, env, port)
        for conns in [int(c) for c in args.connections.split(",")]:
            results: dict[str, list[float]] = {name: [] for name, *_ in table}
            for _name, port, *_ in table:  # warm-up
                client(port, conns, 1.0)
            for r in range(args.rounds):
                order = table[r % len(table):] + table[:r % len(table)]
                for name, port, *_ in order:
                    results[name].append(client(port, conns, args.duration))
            base = statistics.median(results[table[0][0]])
            print(f"\n## echo round trips/s, {conns} connection(s), 32-byte text, "
                  f"{args.rounds} rounds x {args.duration:g}s (median)\n")
            print("| server | round trips/s | ratio to skitai-t0 | rounds |")
            print("|---|---:|---:|---|")
            for name, *_ in table:
                med = statistics.median(results[name])
                rounds = ", ".join(f"{v:.0f}" for v in results[name])
                print(f"| {name} | {med:.0f} | {med / base:.2f} | {rounds} |")
    finally:
        for proc in procs.values():
            stop(proc)


if __name__ == "__main__":
    main()
