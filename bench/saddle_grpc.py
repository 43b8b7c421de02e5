"""gRPC unary calls/s: Saddle under skitai (1 worker) vs grpcio's asyncio server (1 process).

    python3 bench/saddle_grpc.py [--rounds 3] [--requests 20000] [--clients 8] [--streams 10]

Both serve route_guide's GetFeature (bench/grpc_apps.py).  The load is h2load over h2c
with a real gRPC request (``content-type: application/grpc``, ``te: trailers``, one
length-prefixed Point), interleaved rounds, medians; every response is checked to be a
200 (h2load counts them) and one call per server is checked with grpcio's client.  The
load generator shares the machine with the servers.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import statistics
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from procs import free_port, stop  # noqa: E402

PROTO = os.path.join(HERE, "..", "tests", "fixtures", "grpc", "route_guide.proto")
PY = sys.executable


def check(port: int, stubs: str) -> bool:
    sys.path.insert(0, stubs)
    import grpc
    import route_guide_pb2 as pb
    import route_guide_pb2_grpc

    with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
        try:
            f = route_guide_pb2_grpc.RouteGuideStub(ch).GetFeature(
                pb.Point(latitude=409146138, longitude=-746188906), timeout=2)
        except grpc.RpcError:
            return False
    return f.name.startswith("Berkshire")


def h2load(port: int, body: str, args: argparse.Namespace) -> float:
    out = subprocess.run(
        ["h2load", "-n", str(args.requests), "-c", str(args.clients), "-m", str(args.streams),
         "-t", "2", "-d", body, "-H", "content-type: application/grpc", "-H", "te: trailers",
         f"http://127.0.0.1:{port}/routeguide.RouteGuide/GetFeature"],
        capture_output=True, text=True, check=True).stdout
    m = re.search(r"status codes: (\d+) 2xx", out)
    if m is None or int(m.group(1)) != args.requests:
        raise SystemExit(f"failed requests on port {port}:\n{out}")
    return float(re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", out).group(1))  # type: ignore[union-attr]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--requests", type=int, default=20000)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--streams", type=int, default=10)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="grpcbench-")
    subprocess.run([PY, "-m", "grpc_tools.protoc", f"-I{os.path.dirname(PROTO)}", f"--python_out={tmp}",
                    f"--grpc_python_out={tmp}", PROTO], check=True)
    sys.path.insert(0, tmp)
    import route_guide_pb2

    point = route_guide_pb2.Point(latitude=409146138, longitude=-746188906).SerializeToString()
    body = os.path.join(tmp, "point.bin")
    with open(body, "wb") as f:
        f.write(struct.pack(">?I", False, len(point)) + point)
    env = f"env BENCH_STUBS={tmp}"
    servers = [
        ("saddle-skitai-w1-t4", f"{env} SKITAI_WORKERS=1 SKITAI_THREADS=4 SKITAI_PORT={{port}} "
                                f"SKITAI_VARPATH={tmp}/var1 {PY} {HERE}/grpc_apps.py"),
        ("saddle-skitai-w1-t0", f"{env} SKITAI_WORKERS=1 SKITAI_THREADS=0 SKITAI_PORT={{port}} "
                                f"SKITAI_VARPATH={tmp}/var0 {PY} {HERE}/grpc_apps.py"),
        ("grpc-aio-1proc", f"{env} BENCH_SERVER=grpc-aio BENCH_PORT={{port}} {PY} {HERE}/grpc_apps.py"),
    ]
    running = []
    try:
        for name, cmd in servers:
            port = free_port()
            log = open(os.path.join(tmp, f"{name}.log"), "wb")  # noqa: SIM115
            proc = subprocess.Popen(shlex.split(cmd.format(port=port)), stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)
            deadline = time.time() + 60
            while not check(port, tmp):
                if time.time() > deadline:
                    raise SystemExit(f"{name} did not answer (log in {tmp})")
                time.sleep(0.5)
            running.append((name, port, proc))
        results: dict[str, list[float]] = {name: [] for name, *_ in running}
        for _name, port, _ in running:  # warm-up
            h2load(port, body, argparse.Namespace(requests=2000, clients=4, streams=4))
        for r in range(args.rounds):
            order = running[r % len(running):] + running[: r % len(running)]
            for name, port, _ in order:
                results[name].append(h2load(port, body, args))
    finally:
        for _, _, proc in running:
            stop(proc)
    base = statistics.median(results[running[-1][0]])
    print(f"gRPC unary GetFeature, h2load -n{args.requests} -c{args.clients} -m{args.streams} (h2c), "
          f"{args.rounds} interleaved rounds, medians (shared machine)\n")
    print("| server | calls/s | vs grpc.aio |")
    print("|---|---:|---:|")
    for name, *_ in running:
        rps = statistics.median(results[name])
        print(f"| {name} | {rps:,.0f} | {rps / base:.2f}x |")


if __name__ == "__main__":
    main()
