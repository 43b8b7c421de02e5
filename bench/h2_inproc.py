"""Per-request CPU cost of the h2c path, in process, without sockets.

The client's bytes (preface, SETTINGS with a large window, then N GET / requests as
HEADERS frames) are made up front with ``h2``; a fake transport feeds them to skitai's
``Connection`` (h2c prior knowledge, threads=0, the hello-world app) ten streams at a
time, as ``h2load -m10`` sends them.  The server's output is counted, not parsed.

    python bench/h2_inproc.py [requests-per-round] [rounds] [--profile]
"""

from __future__ import annotations

import asyncio
import cProfile
import os
import pstats
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, HERE)
from inproc import FakeTransport, skitai_conn  # noqa: E402

BATCH = 10


def client_bytes(n: int) -> tuple[bytes, list[bytes]]:
    import h2.config
    import h2.connection
    import h2.settings

    c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    c.local_settings = h2.settings.Settings(client=True, initial_values={
        h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 2**31 - 1})
    c.initiate_connection()
    c.increment_flow_control_window(2**31 - 1 - 65535)
    first = c.data_to_send()
    batches = []
    headers = [(b":method", b"GET"), (b":path", b"/"), (b":scheme", b"http"),
               (b":authority", b"127.0.0.1:8080"), (b"user-agent", b"h2load"),
               (b"accept", b"*/*")]
    sid = 1
    for _ in range(n // BATCH):
        for _ in range(BATCH):
            c.send_headers(sid, headers, end_stream=True)
            sid += 2
        batches.append(c.data_to_send())
        c.streams.clear()  # they never hear back; keep the client's stream scan short
    return first, batches


async def run(loop: asyncio.AbstractEventLoop, n: int,
              prof: cProfile.Profile | None = None) -> float:
    conn, t = skitai_conn(loop)
    first, batches = client_bytes(n)
    if prof is not None:
        prof.enable()
    conn.data_received(first)
    h2c = t.protocol
    await asyncio.sleep(0)
    start = time.perf_counter()
    for data in batches:
        before = t.out
        h2c.data_received(data)
        while t.out == before:
            await asyncio.sleep(0)
    if prof is not None:
        prof.disable()
    return (time.perf_counter() - start) / n * 1e6


def main() -> None:
    args = [a for a in sys.argv[1:] if a != "--profile"]
    n = int(args[0]) if args else 20000
    rounds = int(args[1]) if len(args) > 1 else 5
    import uvloop

    FakeTransport.set_protocol = lambda self, p: setattr(self, "protocol", p)  # type: ignore[method-assign]
    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    if "--profile" in sys.argv:
        prof = cProfile.Profile()
        loop.run_until_complete(run(loop, n, prof))
        pstats.Stats(prof).sort_stats(os.environ.get("PROF_SORT", "tottime")).print_stats(35)
        return
    times = [loop.run_until_complete(run(loop, n)) for _ in range(rounds)]
    print(f"skitai h2c {statistics.median(times):6.2f} us/request "
          f"(rounds: {', '.join(f'{x:.2f}' for x in times)})")


if __name__ == "__main__":
    main()
