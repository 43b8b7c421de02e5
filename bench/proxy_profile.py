"""cProfile of the reverse proxy's worker: which Python functions run per proxied request.

    BENCH_MEMBERS=127.0.0.1:18101 SKITAI_PORT=18111 BENCH_PROFILE=OUT.prof python bench/proxy_profile.py

Runs ``bench/skitai_proxy.py``'s setup with the worker's entry (``skitai.worker.main.run``)
wrapped in a profiler (the worker is forked, so the wrapper set here is what it runs);
the stats are written to BENCH_PROFILE when the worker stops.  Load it with wrk or
``bench/proxy_instr.py``'s client, then read it with ``pstats`` (ncalls / requests).
"""

from __future__ import annotations

import cProfile
import os

import skitai
from skitai.worker import main as worker_main

OUT = os.environ.get("BENCH_PROFILE", "/tmp/proxy.prof")
_run = worker_main.run


def profiled(config, ctx):  # type: ignore[no-untyped-def]
    prof = cProfile.Profile()
    prof.enable()
    try:
        return _run(config, ctx)
    finally:
        prof.disable()
        prof.dump_stats(OUT)


worker_main.run = profiled  # type: ignore[assignment]

if __name__ == "__main__":
    members = os.environ.get("BENCH_MEMBERS", "127.0.0.1:18101").split(",")
    skitai.alias("@members", skitai.PROTO_HTTP, members)
    skitai.mount("/", "@members")
    skitai.log_off("/")
    skitai.run(threads=0, workers=1)
