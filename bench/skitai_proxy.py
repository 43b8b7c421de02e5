"""Skitai as a load-balancing reverse proxy: ``mount("/", "@members")`` to the members
on BENCH_MEMBERS ("127.0.0.1:18101,127.0.0.1:18102"), one worker, threads=0.

    SKITAI_PORT=18110 BENCH_MEMBERS=127.0.0.1:18101,127.0.0.1:18102 python3 bench/skitai_proxy.py

The request log is off, as nginx's access_log is in the comparison.
"""

import os

import skitai

if __name__ == "__main__":
    members = os.environ.get("BENCH_MEMBERS", "127.0.0.1:18101,127.0.0.1:18102").split(",")
    skitai.alias("@members", skitai.PROTO_HTTP, members)
    skitai.mount("/", "@members")
    if os.environ.get("BENCH_ACCESS_LOG") != "1":
        skitai.log_off("/")
    skitai.run(threads=0, workers=1)
