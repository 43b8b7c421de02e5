"""How long a ``was.setlu`` on one host takes to be visible on another (issue 17: "within
100 ms"): two hosts (two masters on this machine, one Redis); write on A over HTTP, poll B's
``getlu`` over a kept-alive connection until it shows A's stamp.

    python3 bench/cluster_setlu.py [--samples 200]

The latency includes A's HTTP answer and B's polling (every 0.5 ms), so it is an upper
bound.  Servers, client and Redis share the machine.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster_fanout import HERE, PY, ROOT, free_port, start, stop  # noqa: E402


def get(conn: http.client.HTTPConnection, path: str) -> float:
    conn.request("GET", path)
    return float(json.loads(conn.getresponse().read())["lu"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=200)
    args = ap.parse_args()
    var = tempfile.mkdtemp(prefix="skitai-setlu-")
    name = "bench" + uuid.uuid4().hex[:8]
    procs, ports = [], []
    try:
        for i in range(2):
            port = free_port()
            env = {"PYTHONPATH": ROOT, "SKITAI_PORT": str(port), "SKITAI_WORKERS": "1",
                   "SKITAI_VARPATH": os.path.join(var, f"h{i}"), "CLUSTER_NAME": name}
            procs.append(start([PY, os.path.join(HERE, "cluster_setlu_app.py")], env, port))
            ports.append(port)
        time.sleep(3)  # the cluster daemons join
        a = http.client.HTTPConnection("127.0.0.1", ports[0], timeout=10)
        b = http.client.HTTPConnection("127.0.0.1", ports[1], timeout=10)
        lat = []
        for _ in range(args.samples):
            t0 = time.perf_counter()
            stamp = get(a, "/set")
            while get(b, "/get") < stamp:
                if time.perf_counter() - t0 > 10:
                    raise RuntimeError("a setlu did not arrive in 10 s")
                time.sleep(0.0005)
            lat.append((time.perf_counter() - t0) * 1000)
            time.sleep(0.01)
        lat.sort()
        print(f"\n## setlu visible on another host: {args.samples} samples\n")
        print("| median ms | p90 ms | p99 ms | max ms |")
        print("|---:|---:|---:|---:|")
        print(f"| {statistics.median(lat):.2f} | {lat[int(len(lat) * 0.9)]:.2f} | "
              f"{lat[min(len(lat) - 1, int(len(lat) * 0.99))]:.2f} | {lat[-1]:.2f} |")
    finally:
        for proc in procs:
            stop(proc)


if __name__ == "__main__":
    main()
