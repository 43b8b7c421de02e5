"""Saddle views as WebSocket endpoints, over the engine's WebSocket contract (the
environ keys ``websocket.event``, ``websocket.message``, ``websocket.config``,
``websocket`` and ``websocket.client``, documented in ``skitai/worker/websocket_app.py``).

Two spellings from the seed, both served here:

- ``@app.websocket_config(spec, timeout, onopen, onclose, encoding)`` on the route: the
  INIT is accepted here with that configuration, OPEN and CLOSE call ``onopen(was)`` and
  ``onclose(was)``, and each message calls ``view(was, message)``.
- A plain view that asks ``was.wsinit()`` and answers ``was.wsconfig(spec, timeout,
  message_type)``; it is called for every event with ``message`` (``""`` for events).

The message is the view's first argument after ``was`` (with ``WS_MSG_JSON``, the
decoded object; what the view returns is sent, dicts and lists as JSON).  With
``WS_MSG_XMLRPC`` each message is an XML-RPC call of a view of this app (the method name is
its route, as over HTTP) and the reply is the XML-RPC response.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any, Final

from skitai.saddle import extensions, rpc, rpccall
from skitai.saddle.helpers import WebSocketSpec
from skitai.saddle.params import ParameterError

log = logging.getLogger("skitai.app")

# The engine's values (skitai.WS_EVT_*, WS_MSG_*): saddle imports no other skitai module,
# so they are repeated here; tests/unit/saddle/test_websocket.py checks that they agree.
WS_EVT_INIT: Final = "init"
WS_EVT_OPEN: Final = "open"
WS_EVT_CLOSE: Final = "close"
WS_MSG_JSON: Final = 8
WS_MSG_XMLRPC: Final = 16


@dataclass
class _Client:
    """What the handshake (INIT) decided, for the later calls of the connection: each
    gets a fresh copy of the handshake's environ, without what the app added to it."""

    user: Any = None
    xmlrpc: bool = False


_clients: dict[Any, _Client] = {}
_lock = threading.Lock()


def _client(environ: dict[str, Any]) -> _Client:
    key = environ.get("websocket.client")
    with _lock:
        found = _clients.get(key)
        if found is None:
            found = _clients[key] = _Client()
        return found


def _peek(environ: dict[str, Any]) -> _Client | None:
    """The connection's record, if the handshake left one (no entry is made for reads)."""
    return _clients.get(environ.get("websocket.client"))


def _forget(environ: dict[str, Any]) -> None:
    with _lock:
        _clients.pop(environ.get("websocket.client"), None)


def configure(environ: dict[str, Any], spec: int, timeout: float,
              message_type: int | None = None) -> str:
    """Accept the WebSocket (INIT): the engine's ``websocket.config``.  XML-RPC messages
    are decoded here, so the engine carries them as text."""
    encoding = spec | (message_type or 0)
    if encoding & WS_MSG_XMLRPC:
        _client(environ).xmlrpc = True
        encoding &= ~WS_MSG_XMLRPC
    environ["websocket.config"] = (encoding, timeout, None)
    return ""


def _call(was: Any, rule: Any, message: Any) -> Any:
    env = was.env
    client = _peek(env)
    if env.get("websocket.event") is None and client is not None and client.xmlrpc:
        body = message.encode() if isinstance(message, str) else bytes(message)
        # The called views see a plain request (not this WebSocket's events).
        plain = {k: v for k, v in env.items() if not k.startswith("websocket")}
        try:
            answer = rpc.serve_xmlrpc(
                body, rpccall.invoker(was.app, plain), "/",
                lambda exc: log.error("WebSocket XML-RPC call failed", exc_info=exc))
        except rpc.Answered:  # a gate refused the method (authentication): a fault
            answer = rpc.fault(403, "refused")
        return answer.body.decode("utf-8")
    return rule.view(was, message, **_arguments(was, rule))


def _arguments(was: Any, rule: Any) -> dict[str, Any]:
    """The URL parameters and the handshake's query parameters the view names (the seed:
    "for getting another args, just add args behind message arg", ``?client_name=...``);
    the message is the view's first argument after ``was``.  A missing one is a 400."""
    kwargs = dict(was._params or {})
    binder = rule.binder
    first = binder.positional[0] if binder.positional else None
    if was.env.get("QUERY_STRING") and binder.takes_query:
        for k, v in was.request.query.items():
            if k != first and (binder.varkw or k in binder.names):
                kwargs.setdefault(k, v)
    missing = [n for n in binder.required if n != first and n not in kwargs]
    if missing:
        raise ParameterError("missing parameter(s): " + ", ".join(missing))
    return kwargs


def dispatch(was: Any, rule: Any) -> Any:
    """The WebSocket call of a route, or None for plain HTTP."""
    env = was.env
    if "websocket.event" not in env:
        return None
    event = env["websocket.event"]
    if event == WS_EVT_INIT:
        request = was.__dict__.get("request")
        if request is not None and request.user is not None:  # authenticated at the handshake
            _client(env).user = request.user
    else:
        client = _peek(env)
        if client is not None and client.user is not None:
            was.request.user = client.user
    try:
        content = _answer(was, rule, env, event)
    finally:
        if event == WS_EVT_CLOSE or (event == WS_EVT_INIT and "websocket.config" not in env):
            _forget(env)
    return "" if content is None else content


def _answer(was: Any, rule: Any, env: dict[str, Any], event: str | None) -> Any:
    spec: WebSocketSpec | None = getattr(rule.view, "websocket_spec", None)
    if spec is None:  # the view answers the events itself (was.wsinit()...)
        return _call(was, rule, env.get("websocket.message", ""))
    if event == WS_EVT_INIT:
        return configure(env, spec.spec, spec.timeout, spec.encoding)
    if event in (WS_EVT_OPEN, WS_EVT_CLOSE):
        handler = spec.onopen if event == WS_EVT_OPEN else spec.onclose
        if handler is not None:
            handler(was)
        return ""
    return _call(was, rule, env.get("websocket.message"))


def install() -> None:
    extensions.was_attribute("websocket", lambda was: was.env.get("websocket"))
    extensions.was_attribute(
        "wsconfig", lambda was: lambda spec, timeout=60, message_type=None:
        configure(was.env, spec, timeout, message_type))
    extensions.was_attribute("wsinit", lambda was: lambda: was.env.get("websocket.event") == WS_EVT_INIT)
    extensions.was_attribute("wsopened", lambda was: lambda: was.env.get("websocket.event") == WS_EVT_OPEN)
    extensions.was_attribute("wsclosed", lambda was: lambda: was.env.get("websocket.event") == WS_EVT_CLOSE)
    extensions.was_attribute("wshasevent", lambda was: lambda: was.env.get("websocket.event") is not None)
    extensions.was_attribute("wsclient", lambda was: lambda: was.env.get("websocket.client"))
