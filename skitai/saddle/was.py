"""``was``: what a Saddle view gets first.

One ``Was`` per request (and one per mount for the lifecycle hooks, without a request).
Saddle's own parts: ``was.app``, ``was.env``, ``was.request``, ``was.response``, ``was.g``,
``was.render``, ``was.ab``, ``was.emit``, ``was.log``, ``was.traceback``, ``was.apps``,
``was.jstream``, ``was.redirect``; ``request``, ``response`` and ``g`` are made on first
use.  Part 2's attributes come from ``skitai.saddle.extensions.was_attribute``.

Anything else is looked up, in order, in the objects shared with ``wac.register(name,
obj)`` and in the engine's ``was`` (``broadcast``, ``setlu``/``getlu``, ``email``,
``restart``...), which Skitai puts in the WSGI environ as ``skitai.was``.  Under another
WSGI server there is no engine: those names raise ``EngineRequired``, saying so.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import traceback as tb_mod
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from skitai.saddle import applog, extensions
from skitai.saddle.request import Request
from skitai.saddle.response import Response

if TYPE_CHECKING:
    from skitai.saddle.app import Saddle
    from skitai.saddle.router import Rule

log = logging.getLogger("skitai.app")

ENGINE_ONLY = frozenset((
    "broadcast", "setlu", "getlu", "email", "restart", "shutdown", "on_broadcast",
    "get", "post", "put", "patch", "delete", "rpc", "jsonrpc", "grpc", "backend", "db",
    "postgresql", "redis", "sqlite3", "mongodb", "promise", "spool", "gentemp",
))

# Objects shared across apps and requests: wac.register("searcher", obj) -> was.searcher.
_shared: dict[str, Any] = {}
_shared_lock = threading.Lock()
_ids = iter(range(1, 1 << 62))
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING,
           "warning": logging.WARNING, "error": logging.ERROR, "fail": logging.ERROR,
           "critical": logging.CRITICAL, "fatal": logging.CRITICAL}


class EngineRequired(AttributeError):
    """An engine service (``was.broadcast``...) asked of an app under another WSGI server."""


class TxnId(str):
    """``was.txnid``: ``"<global id>/<local id>"``.  Saddle has always read it as a string;
    calling it, ``was.txnid()``, gives ``(global id, local id)`` as the engine's ``was``
    does for any other app, so code written for either works in a Saddle view."""

    gtxid: str
    ltxid: int

    def __new__(cls, gtxid: str, ltxid: int, local: str) -> TxnId:
        self = super().__new__(cls, f"{gtxid}/{local}")
        self.gtxid, self.ltxid = gtxid, ltxid
        return self

    def __call__(self) -> tuple[str, int]:
        return self.gtxid, self.ltxid


class G:
    """``was.g``: a per-request namespace; a missing name reads as ``None`` in templates
    through Jinja's undefined, and as an AttributeError in Python."""

    def get(self, name: str, default: Any = None) -> Any:
        return self.__dict__.get(name, default)

    def __contains__(self, name: str) -> bool:
        return name in self.__dict__

    def __repr__(self) -> str:
        return f"G({self.__dict__!r})"


def _make_request(was: Was) -> Request:
    if was._rule is None and was.env.get("skitai.mount_time"):
        raise AttributeError("was.request: there is no request in a lifecycle hook")
    return Request(was.env, was._rule, was._params or {}, was.app.config)


_BUILTIN: dict[str, Callable[[Was], Any]] = {
    "request": _make_request,
    "response": lambda was: Response(was.env),
    "g": lambda was: G(),
}


class Was:
    env: dict[str, Any]

    def __init__(self, app: Saddle, environ: dict[str, Any], rule: Rule | None = None,
                 params: dict[str, Any] | None = None) -> None:
        self.app = app
        self.env = environ
        self._rule = rule
        self._params = params

    def __getattr__(self, name: str) -> Any:
        """Called only for names not already on this ``was``: lazy parts, shared objects,
        then the engine."""
        factory = _BUILTIN.get(name) or extensions.factories.get(name)
        if factory is not None:
            value = factory(self)
            self.__dict__[name] = value
            return value
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return _shared[name]
        except KeyError:
            pass
        engine = self.env.get("skitai.was") or self.app.engine_was
        if engine is not None:
            try:
                return getattr(engine, name)
            except AttributeError:
                raise AttributeError(f"was.{name}: no such service in Saddle or the engine") from None
        if name in ENGINE_ONLY:
            raise EngineRequired(
                f"was.{name} is a Skitai engine service: run this app with skitai.mount() and "
                f"skitai.run(); under another WSGI server Saddle provides only request, "
                f"response, g, render, ab, emit, log and the app's own services")
        raise AttributeError(f"was.{name}: no such service in Saddle (no engine: not under Skitai)")

    @property
    def handler(self) -> _Handler:
        """The seed's ``wac.handler.set_auth_handler(obj)`` (the gateway's, in the engine)."""
        return _Handler(self)

    # --- routing, rendering ----------------------------------------------------------------------
    @property
    def route(self) -> Rule | None:
        return self._rule

    @property
    def apps(self) -> Any:
        return self.app.apps

    def ab(self, name: str, *args: Any, **kwargs: Any) -> str:
        """The URL of view ``name`` (``"search.query"`` for another app on this host)."""
        return self.app.build_url(name, *args, _script=self.env.get("SCRIPT_NAME"), **kwargs)

    def render(self, template: str, __dict__: dict[str, Any] | None = None, **kwargs: Any) -> str:
        if __dict__ is not None and kwargs:
            raise TypeError("render() takes a dict or keyword arguments, not both")
        return self.app.render(self, template, __dict__ if __dict__ is not None else kwargs)

    def jstream(self, obj: Any, stream_key: str | None = None) -> Response:
        """A JSON response (``was.jstream(rows, "data")`` -> ``{"data": rows}``)."""
        data = {stream_key: obj} if stream_key else obj
        response: Response = self.response
        return response("200 OK", json.dumps(data, default=str),
                             [("Content-Type", "application/json")])

    def redirect(self, url: str, status: int | str = "302 Found",
                 headers: list[tuple[str, str]] | None = None) -> Response:
        response: Response = self.response
        return response(status, "", [("Location", url), *(headers or [])])

    # --- events ---------------------------------------------------------------------------------
    def emit(self, event: str, *args: Any, **kwargs: Any) -> None:
        self.app.emit_with(self, event, *args, **kwargs)

    def emit_after(self, event: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return self.app.emit_after(event)

    def broadcast_after(self, event: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return self.app.broadcast_after(event)

    # --- sharing (the seed's wac.register) ---------------------------------------------------------
    def register(self, name: str, obj: Any) -> None:
        if name in _BUILTIN or hasattr(Was, name) or name in extensions.factories:
            raise ValueError(f"was.{name} is taken by Saddle")
        with _shared_lock:
            _shared[name] = obj

    def unregister(self, name: str) -> Any:
        with _shared_lock:
            return _shared.pop(name, None)

    # --- the seed's wac attributes (lifecycle hooks; any was has them) ---------------------------
    @property
    def logger(self) -> applog.AppLogger:
        """``wac.logger.get("app")`` / ``wac.logger.make_logger("login", "daily")``."""
        return applog.logger

    @property
    def config(self) -> Any:
        """``wac.config``: the app's config (with the mount's ``pref.config``)."""
        return self.app.config

    @property
    def numthreads(self) -> int:
        """``wac.numthreads``: the worker's thread pool size (0: requests on its loop)."""
        return self.app.numthreads

    # --- logging ---------------------------------------------------------------------------------
    @property
    def txnid(self) -> TxnId:
        """Global/local transaction id: the engine's (``skitai.gtxid``/``skitai.ltxid`` in
        the environ) when it gives them, else the ``X-Gtxn-Id`` a gateway sent (or one of
        this process's own) and this request's number in this process.  A string
        (``"GTID-.../1000"``) that can also be called, as the engine's ``was.txnid()``."""
        env = self.env
        value = env.get("skitai.txnid")
        if not isinstance(value, TxnId):
            if env.get("skitai.gtxid"):  # the engine's transaction ids (the gateway's scheme)
                ltxid = str(env.get("skitai.ltxid", ""))
                value = TxnId(str(env["skitai.gtxid"]), int(ltxid) if ltxid.isdigit() else 0,
                              ltxid)
            else:
                gtxid = env.get("HTTP_X_GTXN_ID") or f"{os.getpid():x}-{next(_ids):x}"
                number = next(_ids)
                value = TxnId(str(gtxid), number, f"{number:x}")
            env["skitai.txnid"] = value
        return value

    def log(self, msg: Any, category: str = "info") -> None:
        level = _LEVELS.get(category, logging.INFO)
        tag = "" if category in _LEVELS else f"[{category}] "
        log.log(level, "%s%s (%s)", tag, msg, self.txnid,
                extra={"app": self.app.name, "txnid": self.txnid})

    def traceback(self, id: str = "") -> str:  # noqa: A002 - the seed's name
        """Log the current exception with ``id`` (default: the transaction id); returns it."""
        ident = id or self.txnid
        info = sys.exc_info()
        text = "".join(tb_mod.format_exception(*info)) if info[0] else "(no exception)"
        log.error("[%s] %s", ident, text.rstrip(), extra={"app": self.app.name, "txnid": ident})
        return ident



class _Handler:
    def __init__(self, was: Was) -> None:
        self._was = was

    def set_auth_handler(self, handler: Any) -> None:
        self._was.set_auth_handler(handler)  # the engine's (an EngineRequired elsewhere)
