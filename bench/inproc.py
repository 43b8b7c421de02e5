"""Per-request CPU cost of the HTTP/1.1 path, in process, without sockets.

A fake transport feeds keep-alive GET requests one at a time into skitai's
``Connection`` (threads=0, the hello-world app mounted at /) and into uvicorn's
``HttpToolsProtocol`` (the ASGI hello world), on one uvloop loop, interleaved rounds.
What it measures is the server's own Python per request: parse, route, environ, app,
serialise, write.  No kernel, no wrk: the numbers are repeatable where wrk's are not.

    python bench/inproc.py [requests-per-round] [rounds]
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
SHARED = os.environ.get("BENCH_SHARED", os.path.join(HERE, "..", "..", "shared", "bench"))
sys.path.insert(0, SHARED)

REQUEST = (b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: wrk\r\n"
           b"Accept: */*\r\n\r\n")


class FakeTransport:
    def __init__(self) -> None:
        self.out = 0
        self.closed = False

    def write(self, data: bytes) -> None:
        self.out += 1

    def writelines(self, lines: list[bytes]) -> None:
        self.out += 1

    def get_extra_info(self, name: str, default: object = None) -> object:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8080)}.get(name, default)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def pause_reading(self) -> None: ...
    def resume_reading(self) -> None: ...
    def set_protocol(self, p: object) -> None: ...
    def get_write_buffer_size(self) -> int:
        return 0


def skitai_conn(loop: asyncio.AbstractEventLoop):  # type: ignore[no-untyped-def]
    from hello_wsgi import app

    from skitai import log as logmod
    from skitai.config.model import MountSpec, ServerConfig
    from skitai.worker import main as wmain
    from skitai.worker.connections.http1 import Http1Connection
    from skitai.worker.server import Server

    cfg = ServerConfig(threads=0, mounts=[MountSpec("/", "app", "", obj=app)], log_off=["/"])
    router = wmain.build_router(cfg, loop, None)
    server = Server(cfg, router, logmod.Logs(None, False), loop=loop)
    from skitai.worker.connections import http2
    http2.install(server)
    # Supervised, as every worker under the master is: the per-request write of the
    # request into the worker's shared-memory cell (no channel: nothing is sent).
    from skitai.ipc.context import ChildContext
    from skitai.ipc.lu import LuMemory
    from skitai.worker import child

    sup = child.Supervision(cfg, ChildContext("worker", lu=LuMemory(2), cell=0))
    sup.server = server
    server.on_request = sup.on_request
    conn = Http1Connection(server)
    t = FakeTransport()
    conn.connection_made(t)
    return conn, t


def uvicorn_conn(loop: asyncio.AbstractEventLoop):  # type: ignore[no-untyped-def]
    from hello_asgi import app
    from uvicorn.config import Config
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    from uvicorn.server import ServerState

    cfg = Config(app, http="httptools", loop="uvloop", access_log=False, lifespan="off")
    cfg.load()
    proto = HttpToolsProtocol(cfg, ServerState(), app_state={}, _loop=loop)
    t = FakeTransport()
    proto.connection_made(t)  # type: ignore[arg-type]
    return proto, t


async def run(proto, t, n: int) -> float:  # type: ignore[no-untyped-def]
    feed = proto.data_received
    start = time.perf_counter()
    for _ in range(n):
        before = t.out
        feed(REQUEST)
        while t.out == before:  # uvicorn answers from a task: let it run
            await asyncio.sleep(0)
    return (time.perf_counter() - start) / n * 1e6


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    import uvloop

    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    makers = {"skitai-t0": skitai_conn, "uvicorn": uvicorn_conn}
    which = os.environ.get("INPROC_ONLY")
    peers = {k: make(loop) for k, make in makers.items() if not which or k == which}
    times: dict[str, list[float]] = {k: [] for k in peers}
    for _ in range(rounds):
        for name in times:
            proto, t = peers[name]
            times[name].append(loop.run_until_complete(run(proto, t, n)))
    base = statistics.median(times["skitai-t0"]) if "skitai-t0" in times else None
    for name, ts in times.items():
        med = statistics.median(ts)
        ratio = f"  x{base / med:.2f} of skitai's speed" if base else ""
        print(f"{name:10s} {med:6.2f} us/request  (rounds: {', '.join(f'{x:.2f}' for x in ts)}){ratio}")


if __name__ == "__main__":
    main()
