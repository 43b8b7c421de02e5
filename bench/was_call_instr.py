"""Issue 13: instructions per ``was`` database call from an app thread, vs asyncpg alone.

``was.postgresql("@pg").execute("SELECT 1 AS one").getwait(5).data[0].one`` from the
main thread, against a uvloop loop run by another thread attached with ``bridge.attach``
(as a web worker's pool thread and loop), outside a request; ``asyncpg`` mode is
``await conn.fetch("SELECT 1 AS one")`` on the loop itself: the floor.  Counted by
callgrind over two runs of N and 3N calls (the difference over 2N removes start-up), so
a busy machine does not change the number.  PostgreSQL on 127.0.0.1:5432, database
``test``, user ``postgres`` (``PG_DSN`` overrides the alias's member).

    python bench/was_call_instr.py was 500        # instructions/call (needs valgrind)
    python bench/was_call_instr.py asyncpg 500
    python bench/was_call_instr.py --run was 2000 # the loop alone (us/call on stderr)
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # this tree
DSN = os.environ.get("PG_DSN", "postgres@127.0.0.1:5432/test")


def run(mode: str, n: int) -> None:
    import uvloop

    if mode == "was":
        import skitai
        from skitai import was
        from skitai.was import bridge

        skitai.alias("@pg", skitai.DB_PGSQL, DSN)
        loop = uvloop.new_event_loop()
        ready = threading.Event()

        def serve() -> None:
            asyncio.set_event_loop(loop)
            bridge.attach(loop)
            ready.set()
            loop.run_forever()

        threading.Thread(target=serve, daemon=True).start()
        ready.wait()

        def one() -> object:
            return was.postgresql("@pg").execute("SELECT 1 AS one").getwait(5).data[0].one

        # The first call opens the connection: under callgrind (and with others running)
        # that takes seconds, past one() call's getwait(5).
        was.postgresql("@pg").execute("SELECT 1 AS one").getwait(120)
        for _ in range(200):
            one()
        started = time.perf_counter()
        for _ in range(n):
            one()
        print((time.perf_counter() - started) / n * 1e6, "us/call", file=sys.stderr)
    elif mode == "asyncpg":
        import asyncpg

        user, _, rest = DSN.partition("@")
        hostport, _, database = rest.partition("/")
        host, _, port = hostport.partition(":")

        async def main() -> None:
            conn = await asyncpg.connect(host=host, port=int(port or 5432), user=user,
                                         database=database, ssl=False)
            for _ in range(200):
                await conn.fetch("SELECT 1 AS one")
            started = time.perf_counter()
            for _ in range(n):
                (await conn.fetch("SELECT 1 AS one"))[0]["one"]
            print((time.perf_counter() - started) / n * 1e6, "us/call", file=sys.stderr)

        uvloop.run(main())
    else:
        raise SystemExit(f"mode is 'was' or 'asyncpg', not {mode!r}")


def count(mode: str, n: int) -> int:
    """Instructions of a whole run of ``n`` calls (every thread), by callgrind."""
    env = dict(os.environ, PYTHONHASHSEED="0")
    out = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable,
         __file__, "--run", mode, str(n)], env=env, capture_output=True, text=True)
    found = [int(x) for x in re.findall(r"Collected : *(\d+)", out.stderr)]
    if out.returncode or not found:
        raise SystemExit(out.stderr[-3000:])
    return max(found)


def main() -> None:
    args = sys.argv[1:]
    if args and args[0] == "--run":
        run(args[1], int(args[2]))
        return
    mode = args[0] if args else "was"
    n = int(args[1]) if len(args) > 1 else 500
    a, b = count(mode, n), count(mode, 3 * n)
    print(f"{mode}: {(b - a) // (2 * n)} instructions/call")


if __name__ == "__main__":
    main()
