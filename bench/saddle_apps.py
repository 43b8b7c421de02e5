"""bench/saddle.sh's skitai runner: mounts saddle_bench.py or flask_bench.py (BENCH_FRAMEWORK
saddle|flask) at / with SKITAI_WORKERS/SKITAI_THREADS, the request log off (as gunicorn's
default).  Each app is its own module, so a worker imports only its framework."""

import os

import skitai

if __name__ == "__main__":
    framework = os.environ.get("BENCH_FRAMEWORK", "saddle")
    skitai.mount("/", f"{framework}_bench.py", "app")
    skitai.log_off("/")
    skitai.run()
