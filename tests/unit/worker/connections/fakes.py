"""Connections without sockets: a fake transport (uvicorn's ``MockTransport`` style), a
``Server`` on a private event loop, and handlers that are plain coroutines.

A test feeds bytes with ``conn.data_received`` and reads what the connection wrote from
``transport.written``; ``site.turn()`` runs the loop until the end-of-turn writes and
the handlers' tasks have run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import h2.config
import h2.connection
import h2.events

from skitai import log as logmod
from skitai.config.model import ServerConfig
from skitai.worker import environ as environ_mod
from skitai.worker import wsgi
from skitai.worker.connections import http2
from skitai.worker.connections.http1 import Http1Connection
from skitai.worker.routing import Router
from skitai.worker.server import Server
from skitai.worker.stream import Stream


class FakeTransport(asyncio.Transport):
    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        super().__init__()
        self.loop = loop  # where connection_lost is delivered (None: at once)
        self.written = bytearray()
        self.closed = False
        self.aborted = False
        self.eof_written = False
        self.reading = True
        self.protocol: asyncio.BaseProtocol | None = None
        self.buffered = 0  # what get_write_buffer_size() reports

    # --- what the tests read -------------------------------------------------------
    def take(self) -> bytes:
        data = bytes(self.written)
        self.written.clear()
        return data

    # --- asyncio.Transport -----------------------------------------------------------
    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self.closed:
            return
        self.written += data

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        info: dict[str, Any] = {"peername": ("127.0.0.1", 50000),
                                "sockname": ("127.0.0.1", 8080)}
        return info.get(name, default)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self._lose()

    def abort(self) -> None:
        self.aborted = True
        self._lose()

    def _lose(self) -> None:
        """As asyncio's transports do: connection_lost on a later loop turn."""
        if not self.closed:
            self.closed = True
            if self.protocol is None:
                return
            if self.loop is None or self.loop.is_closed():
                self.protocol.connection_lost(None)
            else:
                self.loop.call_soon(self.protocol.connection_lost, None)

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.eof_written = True

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def is_reading(self) -> bool:
        return self.reading

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self.protocol = protocol

    def get_protocol(self) -> asyncio.BaseProtocol:
        assert self.protocol is not None
        return self.protocol

    def get_write_buffer_size(self) -> int:
        return self.buffered


Handle = Callable[[Stream], Coroutine[Any, Any, None]]


class CoroutineHandler:
    """A mounted ``Handler`` made of an async function of the stream."""

    def __init__(self, fn: Handle, body_limit: int = 0) -> None:
        self.fn = fn
        self.body_limit = body_limit

    def __call__(self, stream: Stream) -> Coroutine[Any, Any, None]:
        return self.fn(stream)


class Site:
    """A ``Server`` with one mount, on its own loop."""

    def __init__(self, handler: Handle | None, *, body_limit: int = 0,
                 loop: asyncio.AbstractEventLoop | None = None, **config: Any) -> None:
        self.loop = loop if loop is not None else asyncio.new_event_loop()
        self.router = router = Router()
        if handler is not None:
            router.default.add("/", app=CoroutineHandler(handler, body_limit))
        self.config = ServerConfig(log_off=["/"], **config)
        self.server = Server(self.config, router, logmod.Logs(None, False), loop=self.loop)
        http2.install(self.server)

    def mount_wsgi(self, app: Callable[..., Any], point: str = "/") -> None:
        """Mount a WSGI app (inline: no thread pool) as the worker would."""
        base = environ_mod.base_environ(multithread=False, multiprocess=False,
                                        file_wrapper=wsgi.FileWrapper)
        self.router.default.add(point, app=wsgi.WsgiHandler(app, loop=self.loop, executor=None,
                                                            base=base))

    def close(self) -> None:
        """Stop the handlers still waiting (as a worker's stop does), then the loop."""
        for conn in list(self.server.connections):
            conn.abort()
        pending = asyncio.all_tasks(self.loop)
        for task in pending:
            task.cancel()
        if pending:
            self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        self.loop.close()

    def turn(self, times: int = 5) -> None:
        """Run the loop a few turns: the end-of-turn writes and ready tasks run."""
        for _ in range(times):
            self.loop.run_until_complete(asyncio.sleep(0))

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` inside the running loop (as a protocol callback is), then a turn."""
        async def inside() -> Any:
            return fn(*args)

        result = self.loop.run_until_complete(inside())
        self.turn()
        return result

    def run(self, seconds: float) -> None:
        self.loop.run_until_complete(asyncio.sleep(seconds))

    def http1(self) -> tuple[Http1Connection, FakeTransport]:
        conn = Http1Connection(self.server)
        transport = FakeTransport(self.loop)
        transport.protocol = conn
        self.call(conn.connection_made, transport)
        return conn, transport


class H2Peer:
    """An HTTP/2 client (the h2 library) talking to a connection over a FakeTransport,
    entered by prior knowledge through the HTTP/1.1 connection as on a real port."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self.h1, self.transport = site.http1()
        self.client = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding=None))
        self.client.initiate_connection()
        self.conn: asyncio.BaseProtocol = self.h1
        self.responses: dict[int, dict[str, Any]] = {}
        self.send()

    def send(self) -> None:
        data = self.client.data_to_send()
        if data:
            protocol = self.transport.protocol or self.h1
            self.site.call(protocol.data_received, data)  # type: ignore[attr-defined]
            self.conn = protocol

    def receive(self) -> list[h2.events.Event]:
        self.site.turn()
        events = self.client.receive_data(self.transport.take())
        for ev in events:
            sid = getattr(ev, "stream_id", 0)
            reply = self.responses.setdefault(sid, {"headers": {}, "data": b"", "ended": False,
                                                    "reset": None})
            if isinstance(ev, h2.events.ResponseReceived):
                reply["headers"] = dict(ev.headers)
            elif isinstance(ev, h2.events.DataReceived):
                reply["data"] += ev.data
                self.client.acknowledge_received_data(ev.flow_controlled_length, sid)
            elif isinstance(ev, h2.events.StreamEnded):
                reply["ended"] = True
            elif isinstance(ev, h2.events.StreamReset):
                reply["reset"] = ev.error_code
        self.send()
        return events

    def request(self, path: str, method: str = "GET", body: bytes = b"",
                headers: list[tuple[bytes, bytes]] | None = None, end: bool = True) -> int:
        sid: int = self.client.get_next_available_stream_id()
        fields = [(b":method", method.encode()), (b":scheme", b"http"),
                  (b":authority", b"test"), (b":path", path.encode()), *(headers or [])]
        self.client.send_headers(sid, fields, end_stream=end and not body)
        if body:
            self.client.send_data(sid, body, end_stream=end)
        self.send()
        return sid
