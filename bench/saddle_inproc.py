"""Per-request CPU cost of a Saddle app through skitai's HTTP/1.1 path, in process
(bench/inproc.py's fake transport, threads=0): the plain WSGI hello world, Saddle's
/hello and /items (bench/saddle_bench.py) and Flask's (bench/flask_bench.py).  The
difference to the plain app is what the framework adds; the rest is the engine.

    python bench/saddle_inproc.py [requests-per-round] [rounds]
"""

from __future__ import annotations

import asyncio
import statistics
import sys
from typing import Any

import inproc  # bench/inproc.py: FakeTransport, run()


def conn(loop: asyncio.AbstractEventLoop, app: Any) -> Any:
    from skitai import log as logmod
    from skitai.config.model import MountSpec, ServerConfig
    from skitai.worker import main as wmain
    from skitai.worker.server import Connection, Server

    cfg = ServerConfig(threads=0, mounts=[MountSpec("/", "app", "", obj=app)], log_off=["/"])
    server = Server(cfg, wmain.build_router(cfg, loop, None), logmod.Logs(None, False), loop=loop)
    c = Connection(server)
    t = inproc.FakeTransport()
    c.connection_made(t)
    return c, t


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    import flask_bench
    import saddle_bench
    import uvloop
    from hello_wsgi import app as hello

    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    cases = {"wsgi-hello": (hello, b"/"), "saddle-hello": (saddle_bench.app, b"/hello"),
             "flask-hello": (flask_bench.app, b"/hello"), "saddle-items": (saddle_bench.app, b"/items"),
             "flask-items": (flask_bench.app, b"/items")}
    peers = {k: (conn(loop, app), path) for k, (app, path) in cases.items()}
    times: dict[str, list[float]] = {k: [] for k in peers}
    for _ in range(rounds):
        for name, ((proto, t), path) in peers.items():
            inproc.REQUEST = (b"GET " + path + b" HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"
                              b"User-Agent: wrk\r\nAccept: */*\r\n\r\n")
            times[name].append(loop.run_until_complete(inproc.run(proto, t, n)))
    for name, ts in times.items():
        print(f"{name:13s} {statistics.median(ts):7.2f} us/request")


if __name__ == "__main__":
    main()
