"""``was.promise(handler, **meta)``: a response that is written when backend calls
come back, without a thread waiting for them (README "Async Promise Response").

::

    def handler(promise, response):
        promise[response.id] = response.data
        if promise.fulfilled():
            promise.settle(promise.render("page.html"))

    def app(environ, start_response):           # any WSGI app, threads=0 too
        promise = was.promise(handler, title="Hello")
        promise.get("pypi", "@pypi/simple/skitai/")
        promise.backend("rows", "@pg").execute("SELECT ...")
        start_response("200 OK", [("Content-Type", "text/html")])
        return promise

The app returns the promise as its body.  The worker sees an async iterable and sends
what it yields from the loop, so no thread waits (``threads=0`` works).  ``handler``
runs on the loop thread once per call as each finishes (a call that finishes before the
app has returned the promise, which the body's first read shows, is held until then: the
app may still be making calls, and ``fulfilled()`` must not see the first alone), with
``response.id`` the request name given first; ``send(chunk)`` writes part of the body now, ``settle(chunk)``
writes the last part and ends the response, ``reject(chunk)`` ends it and ignores the
calls still out.  A promise nobody settles ends after ``timeout`` seconds.  Iterated
synchronously (a framework that wraps the body), it blocks its thread the same way.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from skitai.was import bridge, databases, http
from skitai.was import handle as handle_mod
from skitai.was.result import Result

log = logging.getLogger("skitai.app")
Handler = Callable[["Promise", Result], Any]
DEFAULT_TIMEOUT = 60.0


class Promise:
    def __init__(self, handler: Handler, prolog: str | bytes | None = None,
                 epilog: str | bytes | None = None, *, timeout: float = DEFAULT_TIMEOUT,
                 **meta: Any) -> None:
        if not callable(handler):
            raise TypeError("was.promise() takes the handler first: handler(promise, response)")
        self.handler = handler
        self.epilog = epilog
        self.timeout = timeout
        self._data: dict[str, Any] = dict(meta)
        self._requests = 0
        self._responses = 0
        self._settled = False
        self._rejected = False
        self._chunks: collections.deque[bytes] = collections.deque()
        self._cond = threading.Condition()
        self._waker: tuple[asyncio.AbstractEventLoop, asyncio.Event] | None = None
        self._armed = False  # the body is being read: the app has made its calls
        self._early: list[Result] = []  # responses held until then (see the docstring)
        if prolog:
            self._chunks.append(_bytes(prolog))

    # --- the data a handler keeps -----------------------------------------------------------
    def __getitem__(self, name: str) -> Any:
        return self._data[name]

    def __setitem__(self, name: str, value: Any) -> None:
        self._data[name] = value

    def __contains__(self, name: object) -> bool:
        return name in self._data

    def get_data(self) -> dict[str, Any]:
        return dict(self._data)

    def set(self, name: str, data: Any) -> None:
        self._data[name] = data

    # --- calls ---------------------------------------------------------------------------------
    def __getattr__(self, name: str) -> Callable[..., Any]:
        """``promise.get(reqid, url, ...)`` and every HTTP method of ``was``."""
        method = getattr(http, name, None) if not name.startswith("_") else None
        if not isinstance(method, http.Method):
            raise AttributeError(f"a promise has no {name!r}")

        def call(reqid: str, url: str, *args: Any, **kwargs: Any) -> handle_mod.Call:
            started: handle_mod.Call = self._track(reqid, method, url, *args, **kwargs)
            return started

        return call

    def _track(self, reqid: str, starter: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        # The seed says a request name SHOULD be an identifier (a template variable) and
        # then names one 'req-0' itself: any non-empty string is taken.
        if not isinstance(reqid, str) or not reqid:
            raise ValueError(f"a request name is a non-empty string, got {reqid!r}")
        kwargs["callback"] = self._on_response(reqid)
        with self._cond:
            self._requests += 1
        return starter(*args, **kwargs)

    def _on_response(self, reqid: str) -> Callable[[Result], None]:
        def done(result: Result) -> None:  # (on the loop thread)
            result.id = reqid
            with self._cond:
                if not self._armed or self._early:
                    self._early.append(result)  # before the app returned (or behind those)
                    return
            self._handle(result)
        return done

    def _handle(self, result: Result) -> None:
        with self._cond:
            self._responses += 1
            if self._rejected or self._settled:
                return
        try:
            self.handler(self, result)
        except Exception:  # noqa: BLE001 - the app's handler: end the response, say why
            log.exception("promise handler failed for %r", result.id)
            self.reject()

    def _arm(self) -> None:
        """The body's first read: the app returned the promise, its calls are made; the
        responses held meanwhile go to the handler, in order, on the loop thread."""
        with self._cond:
            if self._armed:
                return
            self._armed = True
            if not self._early:
                return
        try:
            bridge.get().loop.call_soon_threadsafe(self._replay)
        except RuntimeError:  # the loop is closed: nothing more will be handled
            pass

    def _replay(self) -> None:
        while True:
            with self._cond:
                if not self._early:
                    return
                result = self._early.pop(0)
            self._handle(result)

    def backend(self, reqid: str, server: str, *args: Any, **kwargs: Any) -> Any:
        return _DbStarter(self, reqid, databases.backend, server, args, kwargs)

    def postgresql(self, reqid: str, server: str, *args: Any, **kwargs: Any) -> Any:
        return _DbStarter(self, reqid, databases.postgresql, server, args, kwargs)

    def sqlite3(self, reqid: str, server: str, *args: Any, **kwargs: Any) -> Any:
        return _DbStarter(self, reqid, databases.sqlite3, server, args, kwargs)

    def redis(self, reqid: str, server: str, *args: Any, **kwargs: Any) -> Any:
        return _DbStarter(self, reqid, databases.redis, server, args, kwargs)

    # --- state ------------------------------------------------------------------------------------
    def pending(self) -> bool:
        return self._responses < self._requests

    def fulfilled(self) -> bool:
        return self._responses >= self._requests

    def settled(self) -> bool:
        return self._settled

    def rejected(self) -> bool:
        return self._rejected

    # --- output ------------------------------------------------------------------------------------
    def render(self, template: str, _data: dict[str, Any] | None = None, **kwargs: Any) -> str:
        """A Jinja2 template from ``templates/`` beside app.py (or the working
        directory), with the promise's data and the arguments."""
        values = dict(self._data)
        values.update(_data or {})
        values.update(kwargs)
        text: str = _templates().get_template(template).render(**values)
        return text

    def send(self, content: str | bytes) -> None:
        if content:
            self._push(_bytes(content), end=False)

    def settle(self, content: str | bytes | None = None) -> None:
        if self._settled:
            return
        self._settled = True
        self._push(_bytes(content) if content else b"", end=True)

    def reject(self, content: str | bytes | None = None) -> None:
        if self._settled:
            return
        self._rejected = self._settled = True
        self._push(_bytes(content) if content else b"", end=True)

    def _push(self, chunk: bytes, end: bool) -> None:
        with self._cond:
            if chunk:
                self._chunks.append(chunk)
            if end and self.epilog:
                self._chunks.append(_bytes(self.epilog))
            self._cond.notify_all()
            waker = self._waker
        if waker is not None:
            loop, event = waker
            try:
                if _on_thread_of(loop):
                    event.set()
                else:
                    loop.call_soon_threadsafe(event.set)
            except RuntimeError:
                pass

    # --- the body the worker sends -----------------------------------------------------------------
    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._drain()

    async def _drain(self) -> AsyncIterator[bytes]:
        self._arm()
        loop = asyncio.get_running_loop()
        event = asyncio.Event()
        with self._cond:
            self._waker = (loop, event)
        deadline = loop.time() + self.timeout
        while True:
            with self._cond:
                chunks = list(self._chunks)
                self._chunks.clear()
                done = self._settled
                event.clear()
            for chunk in chunks:
                yield chunk
            if done:
                return
            try:
                await asyncio.wait_for(event.wait(), max(0.0, deadline - loop.time()))
            except TimeoutError:
                log.warning("a promise was not settled within %gs; ending its response",
                            self.timeout)
                self._rejected = self._settled = True
                return

    def __iter__(self) -> Iterator[bytes]:
        self._arm()
        deadline = time.monotonic() + self.timeout
        while True:
            with self._cond:
                while not self._chunks and not self._settled:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        self._rejected = self._settled = True
                        break
                    self._cond.wait(left)
                chunks = list(self._chunks)
                self._chunks.clear()
                done = self._settled
            yield from chunks
            if done:
                return


class _DbStarter:
    """``promise.backend(reqid, "@pg").execute(...)``."""

    def __init__(self, promise: Promise, reqid: str, engine: databases.Engine, server: str,
                 args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self._promise = promise
        self._reqid = reqid
        self._engine = engine
        self._server = server
        self._args = args
        self._kwargs = kwargs

    def __getattr__(self, name: str) -> Callable[..., Any]:
        def start(*args: Any, **kwargs: Any) -> Any:
            def begin(**cb: Any) -> Any:
                proxy = self._engine(self._server, *self._args, **{**self._kwargs, **cb})
                return getattr(proxy, name)(*args, **kwargs)
            return self._promise._track(self._reqid, begin)
        return start


def _bytes(content: str | bytes) -> bytes:
    return content.encode("utf-8") if isinstance(content, str) else bytes(content)


def _on_thread_of(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


_env: Any = None


def _templates() -> Any:
    global _env
    if _env is None:
        import jinja2

        from skitai.was import runtime

        dirs = [os.path.join(runtime.swd(), "templates"), os.path.join(os.getcwd(), "templates")]
        _env = jinja2.Environment(loader=jinja2.FileSystemLoader(dirs), autoescape=True)
    return _env


def promise(handler: Handler, prolog: str | bytes | None = None,
            epilog: str | bytes | None = None, **meta: Any) -> Promise:
    return Promise(handler, prolog, epilog, **meta)
