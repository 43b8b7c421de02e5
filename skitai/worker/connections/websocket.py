"""One WebSocket connection after its 101: bytes <-> adapter <-> app calls.

Theory.  A sink's ``accept_websocket`` (``open_session``) sends the handshake answer and
makes this object the transport's protocol (``transport.set_protocol``; over HTTP/2 the
"transport" is the stream, ``websocket_h2._TunnelTransport``); it takes the place of the
HTTP connection in ``Server.connections``: the server's one-second sweep calls
``check_timeouts`` and a graceful stop calls ``shutdown`` (close 1001, then the peer's
close ends it).

- Input: ``data_received`` feeds the sans-IO adapter (``protocols/websocket.py``);
  every complete message becomes an app call.  Calls run one at a time in arrival order
  (a connection is a conversation); while more than ``QUEUE_HIGH`` bytes of messages
  wait, reading pauses, so a fast sender cannot make the worker buffer without bound.
- Output: the next call waits while the transport is paused (the peer reads slowly);
  sends from other threads are posted to the loop; a peer that lets more than
  ``WRITE_HARD_LIMIT`` bytes pile up (group chat fan-out to a stalled reader) is dropped
  so it never holds memory for the others.
- Keep-alive: after ``timeout`` idle seconds (from ``websocket.config``) a ping goes out;
  no answer within ``PONG_WAIT`` closes with 1011.  A close handshake that the peer does
  not finish within ``CLOSE_WAIT`` aborts the connection.
- After a protocol failure (1002/1007/1009) our close frame goes out, then a FIN
  (``write_eof``), and the socket closes when the peer closes: closing at once with
  unread input would send RST, which can destroy the close frame in flight.
"""

from __future__ import annotations

import asyncio
import collections
import io
import json
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from skitai.constants import WS_EVT_CLOSE, WS_EVT_OPEN, WS_GROUPCHAT, WS_THREADSAFE
from skitai.worker.connections.base import BaseConnection
from skitai.worker.protocols import websocket as wsa
from skitai.worker.websocket_app import (
    Accepted,
    Reply,
    WebSocket,
    bind_message,
    call_app,
    encode,
    outgoing,
)

if TYPE_CHECKING:
    from skitai.worker.server import Server
    from skitai.worker.stream import Stream

log = logging.getLogger("skitai.app")

QUEUE_HIGH = 1 << 20  # bytes of received messages waiting for the app before reads pause
QUEUE_LOW = 256 * 1024
WRITE_HARD_LIMIT = 16 << 20  # bytes queued to one slow peer before it is dropped
PONG_WAIT = 20.0
CLOSE_WAIT = 5.0
SEND_WAIT = 60.0  # longest a WS_THREADSAFE send() waits for a slow peer


Switch = Callable[[Callable[[Any, bytes], asyncio.BaseProtocol]], None]


def open_session(server: Server, stream: Stream, accepted: Accepted, switch: Switch) -> bool:
    """What every sink's ``accept_websocket`` does: the handshake answer on ``stream``,
    then ``switch(factory)`` hands the transport to a new session.  False while the
    server stops."""
    if server.stopping:
        return False
    session = WebSocketSession(server, accepted)
    try:
        stream.send_head(accepted.status, accepted.headers)
    except Exception:  # noqa: BLE001 - the connection cannot switch (a bug, or it is gone)
        log.exception("cannot switch %s to a WebSocket", stream.request.target)
        stream.sink.stream_abort(stream.stream_id)
        return True
    switch(session.attach_transport)
    return True


class WebSocketSession(BaseConnection):
    """One open WebSocket (see the module docstring)."""

    def __init__(self, server: Server, accepted: Accepted) -> None:
        super().__init__(server)
        self.app = accepted.app
        self.executor = accepted.executor
        self.client_id = accepted.client_id
        self.config = config = accepted.config
        self.registry = accepted.registry
        self.debug = accepted.debug
        self.adapter = wsa.WebSocketAdapter(extensions=accepted.extensions,
                                            max_message_size=accepted.max_message_size)
        self.websocket = WebSocket(self)
        self.environ = environ = accepted.environ
        environ["websocket"] = self.websocket
        environ["websocket.client"] = self.client_id
        self.base_query: str = environ.get("QUERY_STRING", "")
        self.room: str | None = None
        if config.spec == WS_GROUPCHAT:
            path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
            self.room = path + ("?" + self.base_query if self.base_query else "")
        self.ended = False  # the WebSocket is over (the CLOSE call may still be due)
        self.opened = False
        self._calls: collections.deque[tuple[str | None, Any]] = collections.deque()
        self._queued = 0
        self._busy = False
        self._pumping = False
        self._read_paused = False
        self._drained: list[asyncio.Future[bool]] = []
        self._loop_thread = 0
        self.last_recv = 0.0
        self._ping_at = 0.0
        self._closing_at = 0.0
        self._flush_queued = False  # queued with Server.write_soon

    # --- wiring ----------------------------------------------------------------------------------
    def attach_transport(self, transport: Any, trailing: bytes) -> WebSocketSession:
        """Called by the switch (``open_session``) on the loop, right after the 101."""
        self.transport = transport
        self._loop_thread = threading.get_ident()
        self.last_recv = self.server.clock
        self.server.connections.add(self)
        self.registry.add(self)
        self.opened = True
        self._enqueue(WS_EVT_OPEN, "")
        if trailing:
            self.loop.call_soon(self.data_received, trailing)
        return self

    # --- asyncio.Protocol --------------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        self.last_recv = self.server.clock
        self._ping_at = 0.0
        for event in self.adapter.feed(data):
            if type(event) is wsa.Message:
                self._enqueue(None, event.data)
            elif type(event) is wsa.Closed:
                if not event.by_peer:
                    log.info("websocket %s closed %d: %s", self.client_id,
                             event.code, event.reason)
                self._end()
        self._after_io()

    def eof_received(self) -> bool | None:
        self.adapter.eof()
        self._end()
        return False  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self.adapter.eof()
        self._end()

    def resume_writing(self) -> None:
        super().resume_writing()
        self._wake_senders(True)
        self._pump()

    # --- the Server's view of a connection ---------------------------------------------------------
    def check_timeouts(self, now: float) -> None:
        state = self.adapter.state
        if state is wsa.State.OPEN:
            if self._ping_at:
                if now - self._ping_at > min(PONG_WAIT, max(1.0, self.config.timeout)):
                    log.info("websocket %s: no pong, closing", self.client_id)
                    self.start_close(wsa.INTERNAL_ERROR, "keepalive ping timeout")
            elif now - self.last_recv > self.config.timeout:
                self._ping_at = now
                self.adapter.ping(b"skitai")
                self.flush()
        elif state is not wsa.State.CLOSED and self._closing_at \
                and now - self._closing_at > CLOSE_WAIT:
            self.abort()

    def shutdown(self) -> None:
        self.start_close(wsa.GOING_AWAY, "server shutting down")

    def abort(self) -> None:
        super().abort()
        self._end()

    # --- sending -------------------------------------------------------------------------------------
    def send_now(self, payload: str | bytes) -> None:
        """On the loop: one message to this peer (dropped once closing)."""
        if self.ended or self.adapter.state is not wsa.State.OPEN:
            return
        self.adapter.send_message(payload)
        self._flush_soon()

    def send_from_app(self, message: Any, client_id: int | None) -> bool:
        """``environ['websocket'].send()``: from any thread."""
        payload = encode(message, self.config.json)
        if payload is None:
            return not self.ended
        if client_id is not None and client_id != self.client_id:
            self.registry.publish(None, client_id, payload)
            return True
        if client_id is None and self.room is not None:
            self.registry.publish(self.room, None, payload)
            return True
        if self.ended:
            return False
        if threading.get_ident() == self._loop_thread:
            self.send_now(payload)
            return True
        if self.config.spec == WS_THREADSAFE:
            # A producer thread waits while the peer is slow, instead of piling up bytes.
            fut = asyncio.run_coroutine_threadsafe(self._send_drained(payload), self.loop)
            try:  # bounded: a worker that stops must not hang the app's thread for good
                return fut.result(max(SEND_WAIT, self.config.timeout))
            except (TimeoutError, asyncio.CancelledError):
                fut.cancel()
                return False
        self.loop.call_soon_threadsafe(self.send_now, payload)
        return True

    async def _send_drained(self, payload: str | bytes) -> bool:
        self.send_now(payload)
        if self._write_paused and not self.ended:
            fut: asyncio.Future[bool] = self.loop.create_future()
            self._drained.append(fut)
            return await fut
        return not self.ended

    def start_close(self, code: int = wsa.NORMAL, reason: str = "") -> None:
        """On the loop: start the close handshake."""
        if self.adapter.state is wsa.State.OPEN:
            self.adapter.close(code, reason)
            self._closing_at = self.server.clock
            self._after_io()

    def close_threadsafe(self, code: int, reason: str) -> None:
        if threading.get_ident() == self._loop_thread:
            self.start_close(code, reason)
        else:
            self.loop.call_soon_threadsafe(self.start_close, code, reason)

    def room_members(self) -> dict[int, Any]:
        if self.room is None:
            return {}
        return {cid: s.websocket for cid, s in self.registry.rooms.get(self.room, {}).items()}

    def _flush_soon(self) -> None:
        """Write at the end of the loop turn, with the other connections' output
        (``Server.write_soon``): a reply sent from inside ``data_received`` no longer
        wakes its client in the middle of the loop's batch of reads."""
        if not self._flush_queued:
            self._flush_queued = True
            self.server.write_soon(self)

    def flush(self) -> None:
        self._flush_queued = False
        data = self.adapter.data_to_send()
        transport = self.transport
        if data and transport is not None and not transport.is_closing():
            transport.write(data)
            if transport.get_write_buffer_size() > WRITE_HARD_LIMIT:
                log.warning("websocket %s reads too slowly; dropping it", self.client_id)
                self.abort()

    def _after_io(self) -> None:
        state = self.adapter.state
        if state is wsa.State.OPEN:
            self._flush_soon()  # replies and pongs: at the end of the turn
            return
        self.flush()  # a close frame goes out before the transport closes
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if state is wsa.State.CLOSED:
            transport.close()  # the server closes TCP first (RFC 6455 7.1.1)
        elif state is wsa.State.FAILED and not self._closing_at:
            self._closing_at = self.server.clock
            if transport.can_write_eof():
                transport.write_eof()
            if self._read_paused:
                self._read_paused = False
                transport.resume_reading()  # read (and drop) until the peer closes

    def _wake_senders(self, value: bool) -> None:
        waiters, self._drained = self._drained, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(value)

    def _end(self) -> None:
        if self.ended:
            return
        self.ended = True
        self.registry.remove(self)
        self._wake_senders(False)
        if self.opened:
            self._enqueue(WS_EVT_CLOSE, "")

    # --- app calls -------------------------------------------------------------------------------------
    def _enqueue(self, event: str | None, message: str | bytes) -> None:
        self._calls.append((event, message))
        self._queued += len(message)
        if self._queued > QUEUE_HIGH and not self._read_paused and self.transport is not None:
            self._read_paused = True
            self.transport.pause_reading()
        self._pump()

    def _pump(self) -> None:
        if self._pumping:
            return
        self._pumping = True
        try:
            while not self._busy and self._calls:
                if self._write_paused and not self.ended:
                    return  # resume_writing() pumps again
                event, message = self._calls.popleft()
                self._queued -= len(message)
                if self._read_paused and self._queued < QUEUE_LOW and self.transport is not None:
                    self._read_paused = False
                    self.transport.resume_reading()
                environ = self._environ_for(event, message)
                if environ is None:
                    continue
                self._busy = True
                if self.executor is None:
                    self._on_reply(event, call_app(self.app, environ))
                else:
                    self.executor.submit(self._in_thread, event, environ)
        finally:
            self._pumping = False

    def _in_thread(self, event: str | None, environ: dict[str, Any]) -> None:
        reply = call_app(self.app, environ)
        try:
            assert self.executor is not None
            self.executor.complete(self._reply_and_pump, event, reply)
        except RuntimeError:
            pass  # the loop is closed: the worker is gone

    def _reply_and_pump(self, event: str | None, reply: Reply) -> None:
        self._on_reply(event, reply)
        self._pump()

    def _environ_for(self, event: str | None, message: str | bytes) -> dict[str, Any] | None:
        value: Any = message
        if event is None and self.config.json:
            try:
                value = json.loads(message)
            except ValueError as exc:
                log.info("websocket %s sent invalid JSON: %s", self.client_id, exc)
                self.start_close(wsa.INVALID_DATA, "invalid JSON")
                return None
        environ = dict(self.environ)
        environ["websocket.event"] = event
        environ["websocket.message"] = value
        environ["QUERY_STRING"] = bind_message(self.base_query, self.config.varnames, message)
        environ["wsgi.input"] = io.BytesIO(b"")
        return environ

    def _on_reply(self, event: str | None, reply: Reply) -> None:
        self._busy = False
        try:
            frames, close_code = outgoing(reply, self.config.json)
        except TypeError as exc:
            frames, close_code = [], wsa.INTERNAL_ERROR
            reply.error = str(exc)
        if close_code is not None:
            what = reply.error or f"status {reply.status}"
            log.error("websocket app error (client %s, event %s)\n%s", self.client_id, event,
                      what.rstrip())
            if event != WS_EVT_CLOSE:
                self.start_close(close_code, "internal error")
            return
        if reply.status >= 400:
            log.warning("websocket app answered %d to a message of client %s", reply.status,
                        self.client_id)
        for payload, target in frames:
            if target is not None and target != self.client_id:
                self.registry.publish(None, target, payload)
            elif target is None and self.room is not None:
                self.registry.publish(self.room, None, payload)
            else:
                self.send_now(payload)
