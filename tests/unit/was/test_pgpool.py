"""pgpool.Pool opening connections: a few at a time for a burst, one error for every
waiter when the server is unreachable, and service again once it is back.  Against this
machine's PostgreSQL (a closed port on 127.0.0.1 for the server that is down)."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid

import pytest

import skitai
from skitai import was
from skitai.was import bridge, databases, pg, pgpool, result, targets
from tests.unit.was.services import need_pg
from tests.unit.was.test_loop import run

asyncpg = pytest.importorskip("asyncpg")


@pytest.fixture(autouse=True)
def forget_loop():
    """Each test's own loop is the one was attaches to (as a worker's loop is)."""
    bridge.detach()
    yield
    bridge.detach()


def closed_port() -> int:
    """A port nothing listens on (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Opens:
    """A pool's ``connect``: this machine's PostgreSQL (or a port; ``then`` the port of
    every open after the first), counting the opens running at once."""

    def __init__(self, port: int = 5432, database: str = "test", then: int | None = None,
                 slow: float = 0.0) -> None:
        self.port, self.database, self.then, self.slow = port, database, then, slow
        self.attempts = self.now = self.most = 0

    async def __call__(self):
        port = self.port if self.then is None or not self.attempts else self.then
        self.attempts += 1
        self.now += 1
        self.most = max(self.most, self.now)
        try:
            await asyncio.sleep(self.slow)  # (a handshake that takes its time)
            return await asyncpg.connect(host="127.0.0.1", port=port, user="postgres",
                                         database=self.database, ssl=False)
        finally:
            self.now -= 1


async def query(pool: pgpool.Pool, i: int) -> int:
    conn = await pool.acquire(5)
    try:
        return int(await conn.fetchval("SELECT $1::int FROM pg_sleep(0.02)", i))
    finally:
        pool.release(conn)


def test_a_cold_pool_opens_a_few_connections_at_a_time_and_serves_the_whole_burst():
    need_pg()
    opens = Opens()

    async def main():
        pool = pgpool.Pool(opens, 16, "cold")
        try:
            got = await asyncio.gather(*(query(pool, i) for i in range(100)))
            return got, pool.get_size(), pool.get_idle_size()
        finally:
            await pool.close()

    got, size, idle = run(main())
    assert got == list(range(100))
    assert opens.most <= pgpool.OPENING_MAX  # never all sixteen handshakes at once
    # The burst made it grow (not one connection for a hundred calls), within its bound;
    # every connection is back, idle.
    assert 2 <= size <= 16 and idle == size
    assert opens.attempts == size


def test_a_failed_open_fails_every_waiter_at_once_and_leaks_no_slot():
    opens = Opens(port=closed_port())

    async def main():
        pool = pgpool.Pool(opens, 16, "down")
        started = time.monotonic()
        got = await asyncio.gather(*(pool.acquire(5) for _ in range(50)),
                                   return_exceptions=True)
        return got, time.monotonic() - started, pool.get_size()

    got, took, size = run(main())
    assert all(isinstance(e, ConnectionRefusedError) for e in got), got
    assert "Connect call failed" in str(got[0])
    # One or two attempts answered all fifty (not one each), long before the waiters'
    # own 5 s; no slot is left counted.
    assert opens.attempts <= pgpool.OPENING_MAX
    assert took < 2.5
    assert size == 0


def test_a_server_refusing_the_login_fails_every_waiter_with_its_error():
    need_pg()
    missing = "no_such_db_" + uuid.uuid4().hex[:8]
    opens = Opens(database=missing)

    async def main():
        pool = pgpool.Pool(opens, 16, "refused")
        got = await asyncio.gather(*(pool.acquire(5) for _ in range(20)),
                                   return_exceptions=True)
        return got, pool.get_size()

    got, size = run(main())
    assert all(isinstance(e, asyncpg.InvalidCatalogNameError) for e in got), got
    assert missing in str(got[0])
    assert opens.attempts <= pgpool.OPENING_MAX and size == 0


def test_with_a_connection_open_the_waiters_stay_for_it_when_an_open_fails():
    need_pg()
    opens = Opens(then=closed_port())  # the server stops taking new connections

    async def main():
        pool = pgpool.Pool(opens, 4, "full")
        held = await pool.acquire(5)
        waiting = [asyncio.create_task(query(pool, i)) for i in range(5)]
        await asyncio.sleep(0.2)  # the opens for them failed meanwhile
        assert not any(t.done() for t in waiting)
        pool.release(held)  # served one after the other by that connection
        got = await asyncio.gather(*waiting)
        size = pool.get_size()
        await pool.close()
        return got, size

    got, size = run(main())
    assert got == list(range(5)) and size == 1
    assert opens.attempts == 1 + pgpool.OPENING_MAX


def test_a_waiter_that_times_out_is_told_why_the_pool_did_not_grow():
    need_pg()
    opens = Opens(then=closed_port())

    async def main():
        pool = pgpool.Pool(opens, 4, "full")
        held = await pool.acquire(5)
        try:
            with pytest.raises(pgpool.PoolExhausted) as caught:
                await pool.acquire(0.3)
        finally:
            pool.release(held)
            await pool.close()
        return str(caught.value)

    message = run(main())
    assert message.startswith("full: no connection free in 0.3s (1 of 4 open, busy, none "
                              "opening)")
    assert "the last open failed: ConnectionRefusedError" in message


def test_a_slow_open_is_waited_for_not_taken_for_an_exhausted_pool():
    # The pool's wait bounds the wait for a busy pool's connections; an open is bounded
    # by the connect's own timeout and the call's, as when each caller opened its own (a
    # cold first call under callgrind takes 4-8 s to open: it would fail as "exhausted").
    need_pg()
    opens = Opens(slow=0.5)

    async def main():
        pool = pgpool.Pool(opens, 4, "slow")
        try:
            conn = await pool.acquire(0.1)
            pool.release(conn)
            return pool.get_size()
        finally:
            await pool.close()

    assert run(main()) == 1


def test_closing_the_pool_ends_the_opens_and_their_waiters():
    # A server that takes the TCP connection and never answers: the open hangs.
    with socket.socket() as mute:
        mute.bind(("127.0.0.1", 0))
        mute.listen()
        opens = Opens(port=mute.getsockname()[1])

        async def main():
            pool = pgpool.Pool(opens, 4, "mute")
            waiting = asyncio.gather(*(pool.acquire(30) for _ in range(3)),
                                     return_exceptions=True)
            await asyncio.sleep(0.1)
            assert pool.get_size() == pgpool.OPENING_MAX
            started = time.monotonic()
            await pool.close()
            return await waiting, time.monotonic() - started, pool.get_size()

        got, took, size = run(main())
    assert all(isinstance(e, ConnectionAbortedError) and "closed" in str(e) for e in got)
    assert took < 2.5 and size == 0


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


def test_calls_fail_while_the_server_is_down_and_succeed_once_it_is_back():
    need_pg()
    port = closed_port()
    skitai.alias("@later", skitai.DB_PGSQL, f"postgres@127.0.0.1:{port}/test")

    async def forward(reader, writer):
        # The server "comes back" on that port: a relay to this machine's PostgreSQL.
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", 5432)
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    async def burst():
        calls = [was.backend("@later").execute("SELECT %s::int AS i", (i,)) for i in range(30)]
        return await asyncio.gather(*calls)

    async def main():
        started = time.monotonic()
        down = await burst()
        took = time.monotonic() - started
        drv = [d for d in databases.drivers().values() if isinstance(d, pg.Driver)][0]
        pool = drv.pool(targets.resolve_db("@later", None).members[0])
        size_down = pool.get_size()
        server = await asyncio.start_server(forward, "127.0.0.1", port)
        try:
            up = await burst()
            size_up = pool.get_size()
            await drv.close()  # its connections, before the relay goes
        finally:
            server.close()
            await server.wait_closed()
        return down, took, size_down, up, size_up

    down, took, size_down, up, size_up = run(main())
    assert all(r.status == result.EXCEPTION and isinstance(r.error, ConnectionRefusedError)
               for r in down), [r.error for r in down]
    assert took < 2.5 and size_down == 0
    # The same pool serves once the server answers: no state to reset.
    assert [r.status for r in up] == [result.DONE] * 30
    assert [r.data[0].i for r in up] == list(range(30))
    assert 1 <= size_up <= pg.POOL_MAX
