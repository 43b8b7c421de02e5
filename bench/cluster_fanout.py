"""Cross-host fan-out (issue 17): one sender, a room of 100 WebSocket members spread over
three hosts (three processes on this machine, one Redis), skitai's cluster vs Django
Channels with channels_redis (uvicorn, three processes, the same Redis, the same members).

    python3 bench/cluster_fanout.py [--rounds 3] [--members 100] [--burst 500] [--paced 200]

Per round and server: the members connect (member i to host i % 3; member 0 also sends);
a warm-up message must reach all of them.  Burst: the sender sends ``burst`` messages as
fast as it can; deliveries/s = members x burst / (last delivery - first send).  Paced:
``paced`` messages at 100/s; p99 of (receive time - send time) over every delivery.
Rounds alternate the servers; the table shows medians and the ratio to Channels.  Servers,
client and Redis share the machine (and other work may be running on it).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from websocket_echo import start, stop  # noqa: E402  (one way to run and end a server)

ROOT = os.path.dirname(HERE)
PY = sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def servers(var: str, name: str) -> dict[str, list[tuple[subprocess.Popen[bytes], str]]]:
    out: dict[str, list[tuple[subprocess.Popen[bytes], str]]] = {"skitai": [], "channels": []}
    for i in range(3):
        port = free_port()
        env = {"PYTHONPATH": ROOT, "SKITAI_PORT": str(port), "SKITAI_WORKERS": "1",
               "SKITAI_THREADS": "0", "SKITAI_VARPATH": os.path.join(var, f"h{i}"),
               "CLUSTER_NAME": f"{name}-skitai"}
        out["skitai"].append((start([PY, os.path.join(HERE, "cluster_fanout_app.py")], env, port),
                              f"ws://127.0.0.1:{port}/chat?room=r"))
    for _ in range(3):
        port = free_port()
        env = {"PYTHONPATH": HERE, "CLUSTER_NAME": f"{name}-channels"}
        cmd = [PY, "-m", "uvicorn", "--workers", "1", "--loop", "uvloop", "--ws", "websockets",
               "--no-access-log", "--log-level", "warning", "--port", str(port),
               "cluster_fanout_channels:application"]
        out["channels"].append((start(cmd, env, port), f"ws://127.0.0.1:{port}/chat"))
    return out


async def run_round(urls: list[str], members: int, burst: int, paced: int) -> tuple[float, float, float]:
    from websockets.asyncio.client import connect

    conns = [await connect(urls[i % len(urls)], max_queue=None, close_timeout=1, compression=None)
             for i in range(members)]
    loop = asyncio.get_running_loop()
    got: list[list[tuple[float, str]]] = [[] for _ in conns]

    async def reader(i: int) -> None:
        try:
            async for msg in conns[i]:
                got[i].append((loop.time(), str(msg)))
        except Exception:  # noqa: BLE001 - closed at the end
            return

    readers = [asyncio.create_task(reader(i)) for i in range(members)]

    async def all_have(pred, timeout: float) -> bool:
        end = loop.time() + timeout
        while loop.time() < end:
            if all(pred(g) for g in got):
                return True
            await asyncio.sleep(0.01)
        return False

    # Warm-up: until every member gets a message (Channels' group_add is asynchronous).
    for attempt in range(50):
        tag = f"warm{attempt}"
        await conns[0].send(tag)
        if await all_have(lambda g, t=tag: any(m == t for _, m in g), 2.0):
            break
    else:
        raise RuntimeError("the room never reached every member")
    await asyncio.sleep(0.5)
    for g in got:
        g.clear()
    # Burst.
    t0 = loop.time()
    for n in range(burst):
        await conns[0].send(f"b{n}:{loop.time()!r}")
    if not await all_have(lambda g: sum(1 for _, m in g if m.startswith("b")) >= burst, 120.0):
        lost = members * burst - sum(sum(1 for _, m in g if m.startswith("b")) for g in got)
        raise RuntimeError(f"burst: {lost} deliveries missing after 120s")
    last = max(g[-1][0] for g in got)
    rate = members * burst / (last - t0)
    burst_lat = sorted(t - float(m.split(":", 1)[1]) for g in got for t, m in g if m.startswith("b"))
    for g in got:
        g.clear()
    # Paced: 100 messages/s.
    for n in range(paced):
        await conns[0].send(f"p{n}:{loop.time()!r}")
        await asyncio.sleep(0.01)
    await all_have(lambda g: sum(1 for _, m in g if m.startswith("p")) >= paced, 60.0)
    lat = sorted(t - float(m.split(":", 1)[1]) for g in got for t, m in g if m.startswith("p"))
    delivered = len(lat)
    if delivered < members * paced:
        raise RuntimeError(f"paced: {members * paced - delivered} deliveries missing")
    for c in conns:
        await c.close()
    for r in readers:
        r.cancel()
    return rate, p99(burst_lat) * 1000, p99(lat) * 1000


def p99(values: list[float]) -> float:
    return values[min(len(values) - 1, int(len(values) * 0.99))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--members", type=int, default=100)
    ap.add_argument("--burst", type=int, default=500)
    ap.add_argument("--paced", type=int, default=200)
    args = ap.parse_args()
    var = tempfile.mkdtemp(prefix="skitai-fanout-")
    name = "bench" + uuid.uuid4().hex[:8]
    table = servers(var, name)
    results: dict[str, list[tuple[float, float, float]]] = {k: [] for k in table}
    try:
        time.sleep(3)  # the cluster daemons join
        for r in range(args.rounds):
            order = list(table) if r % 2 == 0 else list(reversed(table))
            for key in order:
                urls = [u for _, u in table[key]]
                results[key].append(asyncio.run(run_round(urls, args.members, args.burst, args.paced)))
                print(f"round {r + 1} {key}: {results[key][-1][0]:.0f} deliveries/s, "
                      f"burst p99 {results[key][-1][1]:.1f} ms, paced p99 {results[key][-1][2]:.1f} ms",
                      file=sys.stderr)
    finally:
        for procs in table.values():
            for proc, _ in procs:
                stop(proc)
    base = statistics.median(x[0] for x in results["channels"])
    base_p = statistics.median(x[2] for x in results["channels"])
    print(f"\n## cross-host fan-out: {args.members} members on 3 hosts, one sender, "
          f"burst {args.burst} + paced {args.paced} at 100/s, {args.rounds} rounds (median)\n")
    print("| server | deliveries/s | ratio | burst p99 ms | paced p99 ms | paced p99 ratio |")
    print("|---|---:|---:|---:|---:|---:|")
    for key in ("skitai", "channels"):
        rate = statistics.median(x[0] for x in results[key])
        bp = statistics.median(x[1] for x in results[key])
        pp = statistics.median(x[2] for x in results[key])
        print(f"| {key} | {rate:.0f} | {rate / base:.2f} | {bp:.1f} | {pp:.1f} | {pp / base_p:.2f} |")


if __name__ == "__main__":
    main()
