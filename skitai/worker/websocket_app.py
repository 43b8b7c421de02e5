"""The README's WebSocket contract for any WSGI app ("HTML5 Websocket").

Theory.  An ``Upgrade: websocket`` request routed to an app mount is handed here by
``dispatch.dispatch`` (``start()``), before any HTTP response; over HTTP/2 an RFC 8441
extended CONNECT arrives the same way through ``websocket_h2.take``:

1. *INIT.*  The app is called like for a GET, with ``environ['websocket.event'] =
   WS_EVT_INIT``.  It accepts by setting ``environ['websocket.config'] = (spec, timeout,
   varnames)``.  If it does not, its HTTP response is sent as it is (the upgrade is
   declined: a plain app keeps working).  Then the handshake is checked (400/426 on a bad
   one) and a 101 (HTTP/2: 200) goes out; the connection is switched to a
   ``WebSocketSession`` (``connections/websocket.py``) with the bytes already read past the
   request head.  ``Upgrade``/``Connection`` are removed from the app's environ: they are
   hop-by-hop, and Werkzeug answers 400 to them on routes not declared ``websocket=True``.
2. *OPEN*, each *message*, and *CLOSE* call the app again with the same environ (a copy
   per call): the message is ``environ['websocket.message']`` (str or bytes; with
   ``WS_MSG_JSON`` the decoded object) and, for Flask-style apps, a query argument named
   ``varnames[0]`` placed first in ``QUERY_STRING``.
3. *Replies.*  What a call returns is sent: a ``str`` as a text frame, ``bytes`` as
   binary, ``(message, client_id)`` to one client, nothing for ``None``/empty.  A WSGI
   body (what Flask returns) is text when it is UTF-8 (binary if not, or if its
   Content-Type is ``application/octet-stream``); a 4xx is logged and not sent, a 5xx or
   an exception closes with 1011.  With ``WS_MSG_JSON`` other objects are ``json.dumps``ed.

Calls of one connection run one at a time, in order, on the worker's WSGI thread pool
(``threads > 0``) or inline on the loop (``threads = 0``), exactly as ``wsgi.py`` runs
requests; ``environ['websocket'].send()`` may be called from any thread.

Specs (``skitai.WS_*``, defined in ``skitai/constants.py``):

- ``WS_SIMPLE``: request/response through the pool; ``send()`` is posted to the loop.
- ``WS_THREADSAFE``: the same, and ``send()`` from another thread also waits while the
  peer is slow (backpressure for producer threads) and returns False once it is closed.
- ``WS_GROUPCHAT``: the connection joins the room named by its path and query; replies
  and ``send()`` reach every member in every worker of the server, through
  ``was.broadcast`` (the master relays it to all web workers).  ``send(msg, client_id)``
  reaches one client in whichever worker holds it; ``websocket.clients`` lists the room's
  members in this worker.

Message size limit: the mount's request body limit (``max_client_body_size``, or the
pref's); beyond it the connection closes with 1009.
- ``WS_MSG_JSON`` (or-ed into the spec, or as the 3rd/4th config item): JSON both ways.
"""

from __future__ import annotations

import asyncio
import base64
import io
import itertools
import json
import logging
import os
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeGuard
from urllib.parse import quote, quote_plus

from skitai.constants import (
    WS_EVT_INIT,
    WS_GROUPCHAT,
    WS_MSG_JSON,
    WS_MSG_XMLRPC,
    WS_SIMPLE,
    WS_THREADSAFE,
)
from skitai.worker import errorpage
from skitai.worker.pool import ThreadPool
from skitai.worker.protocols import websocket as wsproto_adapter
from skitai.worker.wsgi import WsgiHandler, _convert_headers

if TYPE_CHECKING:
    from skitai.worker.stream import Stream

log = logging.getLogger("skitai.app")


class Session(Protocol):
    """What this module asks of an open WebSocket (``connections/websocket.py``)."""

    client_id: int
    room: str | None
    loop: asyncio.AbstractEventLoop

    @property
    def ended(self) -> bool: ...
    @property
    def websocket(self) -> WebSocket: ...
    def room_members(self) -> dict[int, Any]: ...
    def send_from_app(self, message: Any, client_id: int | None) -> bool: ...
    def close_threadsafe(self, code: int, reason: str) -> None: ...
    def send_now(self, payload: str | bytes) -> None: ...


@dataclass(frozen=True, slots=True)
class Accepted:
    """A WebSocket its app accepted (INIT): the handshake answer and what the session
    needs.  The connection (``StreamSink.accept_websocket``) sends the head and switches."""

    status: int  # 101 over HTTP/1.1, 200 on an HTTP/2 extended CONNECT
    headers: list[tuple[bytes, bytes]]
    app: Callable[..., Any]
    executor: ThreadPool | None
    environ: dict[str, Any]
    client_id: int
    config: WsConfig
    max_message_size: int
    extensions: list[Any]
    registry: Registry
    debug: bool


RELAY_EVENT = "skitai:websocket"
_SPECS = (WS_SIMPLE, WS_GROUPCHAT, WS_THREADSAFE)
_ids = itertools.count(1)
# Hosts of a cluster (skitai.enable_cluster) share rooms, and two hosts can run workers of
# the same pid (containers): a random salt per worker process keeps ids apart across hosts.
_salt: int | None = None


def new_client_id() -> int:
    """A numeric id unique across the workers of a host, and (by a random salt above the
    pid's 22 bits) across the hosts of a cluster (the README prints it with %d)."""
    global _salt
    if _salt is None:
        import secrets

        _salt = secrets.randbits(16)
    return (_salt << 54) | (os.getpid() << 32) | next(_ids)


# --- configuration ---------------------------------------------------------------------------------
class WebSocketConfigError(ValueError):
    """``environ['websocket.config']`` is not ``(spec, timeout[, varnames[, encoding]])``."""


@dataclass(frozen=True, slots=True)
class WsConfig:
    spec: int  # WS_SIMPLE, WS_GROUPCHAT or WS_THREADSAFE
    timeout: float  # keep-alive: idle seconds before a ping
    varnames: tuple[str, ...]
    json: bool

    @classmethod
    def parse(cls, value: Any) -> WsConfig:
        if not isinstance(value, tuple | list) or not 2 <= len(value) <= 4:
            raise WebSocketConfigError(
                f"websocket.config must be (spec, timeout, varnames), got {value!r}")
        spec, timeout, *rest = value
        if not isinstance(spec, int) or isinstance(spec, bool):
            raise WebSocketConfigError(f"websocket spec must be a skitai.WS_* int, got {spec!r}")
        encoding = spec & (WS_MSG_JSON | WS_MSG_XMLRPC)
        varnames: tuple[str, ...] = ()
        for item in rest:
            if item is None:
                continue
            if isinstance(item, int) and not isinstance(item, bool):
                encoding |= item  # Saddle-style wsconfig(spec, timeout, message_type)
            elif isinstance(item, str):
                varnames = (item,)
            elif isinstance(item, tuple | list) and all(isinstance(v, str) for v in item):
                varnames = tuple(item)
            else:
                raise WebSocketConfigError(f"websocket varnames must be a tuple of str, got {item!r}")
        if encoding & WS_MSG_XMLRPC:
            raise WebSocketConfigError("WS_MSG_XMLRPC is not supported (use WS_MSG_JSON)")
        if encoding & ~WS_MSG_JSON:
            raise WebSocketConfigError(f"unknown websocket message encoding {encoding!r}")
        base = spec & ~(WS_MSG_JSON | WS_MSG_XMLRPC)
        if base not in _SPECS:
            raise WebSocketConfigError(
                f"websocket spec must be WS_SIMPLE, WS_THREADSAFE or WS_GROUPCHAT, got {spec!r}")
        if not isinstance(timeout, int | float) or isinstance(timeout, bool) or timeout <= 0:
            raise WebSocketConfigError(f"websocket timeout must be positive seconds, got {timeout!r}")
        return cls(base, float(timeout), varnames, bool(encoding & WS_MSG_JSON))


# --- the object apps get as environ['websocket'] ----------------------------------------------------
class WebSocket:
    """``environ['websocket']``: one per connection (so ``id()`` of it is a stable key)."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self.client_id = session.client_id

    @property
    def closed(self) -> bool:
        return self._session.ended

    @property
    def clients(self) -> dict[int, Any]:
        """The members of this connection's room in this worker (WS_GROUPCHAT), by id."""
        return self._session.room_members()

    def send(self, message: Any, client_id: int | None = None) -> bool:
        """Send to this client (or the room, for WS_GROUPCHAT), or to ``client_id``.
        Callable from any thread; False if this connection is already closed."""
        return self._session.send_from_app(message, client_id)

    def close(self, code: int = 1000, reason: str = "") -> None:
        self._session.close_threadsafe(code, reason)


# --- calling the app ------------------------------------------------------------------------------
@dataclass(slots=True)
class Reply:
    """What one app call produced (computed in the calling thread)."""

    value: Any = None  # a direct return (str, bytes, object, (msg, client_id))
    status: int = 0  # >0: a WSGI response
    reason: bytes = b""
    headers: list[tuple[bytes, bytes]] | None = None
    body: bytes = b""
    error: str | None = None  # a traceback: the app raised


def call_app(app: Callable[..., Any], environ: dict[str, Any]) -> Reply:
    """Run the app once and collect its answer; never raises (errors go in the Reply)."""
    reply = Reply()

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        reply.status, reply.reason, reply.headers, _ = _convert_headers(status, headers)
        return chunks.append

    chunks: list[bytes] = []
    result: Any = None
    try:
        result = app(environ, start_response)
        if reply.status and result is not None and not isinstance(result, str | bytes | bytearray):
            for chunk in result:
                if not isinstance(chunk, bytes | bytearray):
                    raise TypeError(f"WSGI body must be bytes, got {type(chunk).__name__}")
                chunks.append(bytes(chunk))
            reply.body = b"".join(chunks)
        else:
            reply.value = result
    except Exception:  # noqa: BLE001 - an app error closes this socket only
        reply.error = traceback.format_exc()
    finally:
        close = getattr(result, "close", None)
        if close is not None and reply.status:
            try:
                close()
            except Exception:  # noqa: BLE001
                log.exception("close() of the app's iterable failed")
    return reply


def outgoing(reply: Reply, json_mode: bool) -> tuple[list[tuple[Any, int | None]], int | None]:
    """([(frame payload: str|bytes, target client id or None)], close code or None)."""
    if reply.error is not None:
        return [], wsproto_adapter.INTERNAL_ERROR
    if reply.status:
        if reply.status >= 500:
            return [], wsproto_adapter.INTERNAL_ERROR
        if reply.status >= 400 or not reply.body:
            return [], None
        ctype = b""
        for name, value in reply.headers or []:
            if name == b"content-type":
                ctype = value.split(b";", 1)[0].strip().lower()
        if ctype == b"application/octet-stream":
            return [(reply.body, None)], None
        try:
            return [(reply.body.decode("utf-8"), None)], None
        except UnicodeDecodeError:
            return [(reply.body, None)], None
    value = reply.value
    target = None
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], int) \
            and not isinstance(value[1], bool):
        value, target = value
    frame = encode(value, json_mode)
    return ([(frame, target)] if frame is not None else []), None


def encode(value: Any, json_mode: bool) -> str | bytes | None:
    """A message to send as a frame payload, or None for "send nothing"."""
    if value is None:
        return None
    if isinstance(value, bytes | bytearray):
        return bytes(value) if value else None
    if json_mode:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if isinstance(value, str):
        return value or None
    raise TypeError(f"a websocket reply must be str or bytes (or JSON with WS_MSG_JSON), "
                    f"got {type(value).__name__}")


def bind_message(base_query: str, varnames: tuple[str, ...], message: str | bytes) -> str:
    """QUERY_STRING with the message as the first argument ``varnames[0]`` (Flask reads
    ``request.args.get(name)``: the first value wins over one the client put there)."""
    if not varnames:
        return base_query
    arg = quote(varnames[0], safe="") + "=" + quote_plus(message)
    return arg + "&" + base_query if base_query else arg


# --- rooms and the relay between workers -----------------------------------------------------------
class Registry:
    """This worker's WebSocket sessions, by client id and by room; the relay endpoint."""

    def __init__(self) -> None:
        self.clients: dict[int, Session] = {}
        self.rooms: dict[str, dict[int, Session]] = {}
        self.loop: asyncio.AbstractEventLoop | None = None
        self._hooked_pid = 0
        self._lock = threading.Lock()

    def add(self, session: Session) -> None:
        self.loop = session.loop
        self._hook()
        self.clients[session.client_id] = session
        if session.room is not None:
            self.rooms.setdefault(session.room, {})[session.client_id] = session

    def remove(self, session: Session) -> None:
        self.clients.pop(session.client_id, None)
        if session.room is not None:
            members = self.rooms.get(session.room)
            if members is not None:
                members.pop(session.client_id, None)
                if not members:
                    del self.rooms[session.room]

    def _hook(self) -> None:
        pid = os.getpid()
        with self._lock:
            if self._hooked_pid == pid:
                return
            self._hooked_pid = pid
        from skitai.was import process as was_process

        was_process.add_handler(RELAY_EVENT, self._on_relay)

    def publish(self, room: str | None, target: int | None, payload: str | bytes) -> None:
        """To every member of ``room`` (or to client ``target``) in every worker.  Any
        thread.  Goes through the master even for members in this worker, so all workers
        see the messages of a room in one order."""
        kind, data = ("t", payload) if isinstance(payload, str) \
            else ("b", base64.b64encode(payload).decode("ascii"))
        from skitai.was import process as was_process

        try:
            was_process.broadcast(RELAY_EVENT, room, target, kind, data)
        except ValueError as exc:  # larger than a control frame: this worker only
            log.warning("websocket relay: %s; delivered in this worker only", exc)
            self._on_relay(room, target, kind, data)

    def _on_relay(self, room: str | None, target: int | None, kind: str, data: str) -> None:
        # Standalone, broadcast() runs this in the sender's thread; under a master, on the
        # loop.  Either way the sessions are only touched on the loop.
        loop = self.loop
        if loop is None or loop.is_closed():
            return
        payload: str | bytes = data if kind == "t" else base64.b64decode(data)
        loop.call_soon_threadsafe(self._deliver, room, target, payload)

    def _deliver(self, room: str | None, target: int | None, payload: str | bytes) -> None:
        if target is not None:
            session = self.clients.get(target)
            if session is not None:
                session.send_now(payload)
            return
        for session in list(self.rooms.get(room or "", {}).values()):
            session.send_now(payload)


registry = Registry()


# --- the upgrade (on the loop, called by dispatch) -------------------------------------------------
def wants(route_app: object) -> TypeGuard[WsgiHandler]:
    """Is the mount a WSGI app that can be asked to take a WebSocket?"""
    return isinstance(route_app, WsgiHandler)


def start(stream: Stream, handler: WsgiHandler) -> None:
    """Ask the app (INIT); then switch the connection to a WebSocket, or answer over HTTP
    (``stream.sink.accept_websocket`` does the switch)."""
    environ = handler.environ_for(stream, io.BytesIO(b""))
    # Upgrade and Connection are hop-by-hop and the server handles them.  Werkzeug would
    # also answer 400 (WebsocketMismatch) to them on any route not declared websocket=True,
    # which is every route of the README's Flask examples.
    environ.pop("HTTP_UPGRADE", None)
    environ.pop("HTTP_CONNECTION", None)
    environ.pop("HTTP_:PROTOCOL", None)  # RFC 8441's pseudo-header, over HTTP/2
    client_id = new_client_id()
    environ["websocket.event"] = WS_EVT_INIT
    environ["websocket.client"] = client_id
    environ["websocket.message"] = ""
    pristine = dict(environ)  # the app (Werkzeug) stores its objects in the one it gets

    def done(reply: Reply) -> None:
        _init_done(stream, handler, environ, pristine, client_id, reply)

    executor = handler.executor
    if executor is None:
        done(call_app(handler.app, environ))
        return

    def in_thread() -> None:
        reply = call_app(handler.app, environ)
        executor.complete(done, reply)

    executor.submit(in_thread)


def _init_done(stream: Stream, handler: WsgiHandler, environ: dict[str, Any],
               pristine: dict[str, Any], client_id: int, reply: Reply) -> None:
    if stream.closed:
        return
    raw = environ.get("websocket.config")
    if reply.error is not None:
        log.error("app error in websocket INIT of %s\n%s", stream.request.target.decode("latin-1"),
                  reply.error.rstrip())
        _respond(stream, 500)
        return
    if raw is None:
        # Not a WebSocket endpoint: the app's own answer goes out over HTTP.
        if reply.status:
            headers = [h for h in reply.headers or [] if h[0] != b"content-length"]
            headers.append((b"content-length", str(len(reply.body)).encode()))
            _send(stream, reply.status, headers, reply.body, reply.reason)
        else:
            _respond(stream, 400, "This resource does not accept WebSocket connections.")
        return
    try:
        config = WsConfig.parse(raw)
    except WebSocketConfigError as exc:
        log.error("%s: %s", stream.request.target.decode("latin-1"), exc)
        _respond(stream, 500)
        return
    limit = handler.body_limit or wsproto_adapter.DEFAULT_MAX_MESSAGE
    try:
        headers, extensions = wsproto_adapter.accept(stream.request, max_message_size=limit)
    except wsproto_adapter.HandshakeError as exc:
        log.info("bad websocket handshake from %s: %s", stream.client, exc.reason)
        _respond(stream, exc.status, exc.reason, exc.headers)
        return
    accepted = Accepted(
        # 101 Switching Protocols over HTTP/1.1; 200 on an HTTP/2 extended CONNECT (RFC 8441).
        status=200 if stream.request.http_version == b"2" else 101, headers=headers,
        app=handler.app, executor=handler.executor,
        environ={**pristine, "websocket.config": raw},
        client_id=client_id, config=config, max_message_size=limit, extensions=extensions,
        registry=registry, debug=handler.debug,
    )
    if not stream.sink.accept_websocket(stream, accepted):
        # A graceful stop is under way: no new long-lived connection (the client retries).
        _respond(stream, 503)


def _respond(stream: Stream, status: int, detail: str = "",
             extra: list[tuple[bytes, bytes]] | None = None) -> None:
    headers, body = errorpage.page(status, detail)
    _send(stream, status, headers + (extra or []), body)


def _send(stream: Stream, status: int, headers: list[tuple[bytes, bytes]], body: bytes,
          reason: bytes = b"") -> None:
    stream.send_head(status, headers, reason)
    stream.send_data_nowait(body)
    stream.end()
