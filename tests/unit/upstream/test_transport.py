"""``skitai.transport.TransportConnection`` as the upstream connection uses it, on real
sockets: a member that stops reading pauses the writer, ``wait_writable`` gives up after
its timeout with the upstream's own exception (a 504), and fails when the member goes."""

from __future__ import annotations

import asyncio
import socket

import pytest

from skitai.config import aliases
from skitai.upstream.connection import UpstreamConnection, UpstreamError, UpstreamTimeout


async def _paused_connection() -> tuple[UpstreamConnection, socket.socket, socket.socket]:
    """An upstream connection to a listener whose accepted socket never reads, written
    to until its transport pauses."""
    loop = asyncio.get_running_loop()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    member = aliases.make("@t", "http", [f"127.0.0.1:{port}"], where="test").members[0]
    _, conn = await loop.create_connection(lambda: UpstreamConnection(member, loop),
                                           "127.0.0.1", port)
    accepted, _ = listener.accept()
    accepted.setblocking(False)
    chunk = b"x" * 65536
    for _ in range(10000):
        if conn._write_paused:
            break
        conn.write(chunk)
        await asyncio.sleep(0)
    assert conn._write_paused, "the transport never paused"
    return conn, listener, accepted


def test_wait_writable_times_out_with_an_upstream_timeout() -> None:
    async def main() -> None:
        conn, listener, accepted = await _paused_connection()
        try:
            with pytest.raises(UpstreamTimeout) as info:
                await conn.wait_writable(0.2)
            assert info.value.status_hint == 504
        finally:
            conn.close()
            accepted.close()
            listener.close()

    asyncio.run(main())


def test_wait_writable_fails_when_the_member_goes_and_resumes_when_it_reads() -> None:
    async def main() -> None:
        conn, listener, accepted = await _paused_connection()
        try:
            waiter = asyncio.ensure_future(conn.wait_writable(30))
            await asyncio.sleep(0.05)
            assert not waiter.done()
            while conn._write_paused:  # the member reads: the writer may go on
                try:
                    while accepted.recv(1 << 20):
                        pass
                except BlockingIOError:
                    await asyncio.sleep(0.001)
            await asyncio.wait_for(waiter, 30)
            for _ in range(100):
                while not conn._write_paused:
                    conn.write(b"x" * 65536)
                    await asyncio.sleep(0)
                waiter = asyncio.ensure_future(conn.wait_writable(30))
                await asyncio.sleep(0.05)
                if not waiter.done():
                    break
                # The kernel took more meanwhile (the member's receive buffer grew):
                # the writer went on, as it should; fill it again.
                await waiter
            assert not waiter.done()
            accepted.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
            accepted.close()  # a RST: the member is gone
            with pytest.raises(UpstreamError) as info:
                await asyncio.wait_for(waiter, 30)
            assert not isinstance(info.value, UpstreamTimeout)
            assert conn.closed
            with pytest.raises(UpstreamError):
                conn.write(b"more")
        finally:
            conn.close()
            listener.close()

    asyncio.run(main())
