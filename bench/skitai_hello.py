"""Skitai serving the shared benchmark apps (../shared/bench/hello_wsgi.py).

    SKITAI_PORT=8001 SKITAI_THREADS=4 SKITAI_WORKERS=1 python3 bench/skitai_hello.py

Mounts hello_wsgi.app at / and a static directory (BENCH_STATIC_DIR) at /static.
The request log is off, as it is for the peers (gunicorn logs no access by default;
uvicorn runs with --no-access-log in these benchmarks).
"""

import os
import sys

import skitai

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.environ.get("BENCH_SHARED", os.path.join(HERE, "..", "..", "shared", "bench"))
sys.path.insert(0, SHARED)

from hello_wsgi import app  # noqa: E402

if __name__ == "__main__":
    skitai.mount("/", app)
    static = os.environ.get("BENCH_STATIC_DIR")
    if static:
        skitai.mount("/static", static)
    if os.environ.get("BENCH_ACCESS_LOG") != "1":
        skitai.log_off("/")
    skitai.run()
