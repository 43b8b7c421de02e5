"""The upstream pool to a TLS member: HTTP/2 (one multiplexed connection) against
HTTP/1.1 keep-alive (a connection per concurrent request), same member, same run.

    flock /work/wt/bench.lock python bench/upstream_h2.py [requests] [concurrency]
    bash bench/upstream_h2_instr.sh [N]    # instructions per request (callgrind)

The member is a skitai server with TLS (tests/integration/apps_http2.py, threads=0 off:
4 threads) started here; the client is one AliasPool on this process's loop.  Prints
requests/s and the client's CPU seconds per 1000 requests for each protocol, alternating
rounds so load changes hit both.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from skitai.config import aliases  # noqa: E402
from skitai.upstream.pool import AliasPool  # noqa: E402
from tests.conftest import start_app  # noqa: E402
from tests.integration.test_http2 import prepare  # noqa: E402
from tests.integration.test_tls import make_cert  # noqa: E402


async def round_(port: int, cafile: str, alpn: list[str], total: int, conc: int
                 ) -> tuple[float, float]:
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.set_alpn_protocols(alpn)
    alias = aliases.Alias(name="b", type="https", members=(
        aliases.parse_member(f"https://127.0.0.1:{port}", "https", where="bench"),))
    pool = AliasPool(alias, asyncio.get_running_loop(), ssl_context=ctx, max_idle=conc)
    await asyncio.gather(*[pool.request("GET", "/echo/warm") for _ in range(conc)])
    left = total

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            answer = await pool.request("GET", "/echo/x")
            assert answer.status == 200

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*[worker() for _ in range(conc)])
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    pool.close()
    return total / wall, cpu / total * 1000


def client(port: int, cafile: str, proto: str, total: int) -> None:
    """One round on a fresh loop (the callgrind script counts this process only)."""
    loop = asyncio.new_event_loop()
    loop.run_until_complete(round_(port, cafile, [proto], total, 32))
    loop.close()


def member() -> None:
    """A TLS member until SIGTERM; prints ``port cafile``."""
    import signal

    tmp = Path(tempfile.mkdtemp())
    cert, key = make_cert(tmp, "m")
    srv = start_app(tmp, prepare(tmp), env={"TEST_CERT": str(cert), "TEST_KEY": str(key),
                                            "SKITAI_VARPATH": str(tmp / "var")})
    print(srv.port, cert, flush=True)
    signal.signal(signal.SIGTERM, lambda *_: (srv.stop(), sys.exit(0)))
    while True:
        time.sleep(1)


def main() -> None:
    if sys.argv[1:2] == ["--member"]:
        member()
        return
    if sys.argv[1:2] == ["--client"]:
        client(int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5]))
        return
    total = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    conc = int(sys.argv[2]) if len(sys.argv) > 2 else 32
    tmp = Path(tempfile.mkdtemp())
    cert, key = make_cert(tmp, "m")
    srv = start_app(tmp, prepare(tmp), env={"TEST_CERT": str(cert), "TEST_KEY": str(key),
                                            "SKITAI_VARPATH": str(tmp / "var")})
    try:
        results: dict[str, list[tuple[float, float]]] = {"h2": [], "http/1.1": []}
        loop = asyncio.new_event_loop()
        for _ in range(3):
            for proto in ("h2", "http/1.1"):
                results[proto].append(loop.run_until_complete(
                    round_(srv.port, str(cert), [proto], total, conc)))
        loop.close()
        print(f"{total} GETs, {conc} concurrent, load {os.getloadavg()[0]:.1f}")
        for proto, runs in results.items():
            best = max(runs)
            print(f"  {proto:9} {best[0]:8.0f} req/s (best of 3)   client CPU "
                  f"{min(r[1] for r in runs):.3f} s/1000 req")
    finally:
        srv.stop()


if __name__ == "__main__":
    main()
