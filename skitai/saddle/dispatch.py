"""One request through a Saddle app: route, hooks, view, result -> WSGI response.

The hooks run in the seed's order::

    try:
        try:
            content = before_request(was)  (a non-None return answers)
            content = view(was, **params)
        except:
            content = failed_request(was, exc_info)   (None: re-raise)
        else:
            finish_request(was)
    finally:
        teardown_request(was)

``respond`` is a coroutine for every view: a sync view's finishes at the first
``send(None)`` (no loop, no task), an async view's is awaited on the worker's loop
(``threads=0``: the engine awaits what the app returns; in a pool thread: handed to
the loop; under another WSGI server: ``asyncio.run``).
"""

from __future__ import annotations

import datetime
import html
import inspect
import json
import logging
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from skitai.saddle import extensions, forms, router
from skitai.saddle.params import ParameterError
from skitai.saddle.response import HTTPError, Response, format_traceback, status_line
from skitai.saddle.was import Was

if TYPE_CHECKING:
    from skitai.saddle.app import Saddle

log = logging.getLogger("skitai.app")

StartResponse = Callable[..., Any]
_HTML = "text/html; charset=utf-8"
_JSON = "application/json"


async def respond(app: Saddle, was: Was, rule: router.Rule, params: dict[str, Any]) -> Any:
    """The view's content (or what a hook answered), hooks included."""
    hooks = app.hooks
    events = app.events
    try:
        try:
            if events:
                app.emit_with(was, "request_starting")
            if rule.content_types is not None:
                _check_content_type(was, rule)
            for dispatch_hook in extensions.dispatch_hooks:
                content = dispatch_hook(was, rule)
                if content is not None:
                    return content
            for hook in hooks["before_request"]:
                content = hook(was)
                if content is not None:
                    return content
            content = rule.view(was, **_arguments(was, rule, params))
            if rule.is_async:
                content = await content
        except (HTTPError, ParameterError, forms.BodyTooLarge, forms.BadBody):
            raise
        except Exception:
            info = sys.exc_info()
            if events:
                app.emit_with(was, "request_failed", info)
            content = None
            for hook in hooks["failed_request"]:  # all run (they release resources)
                answer = hook(was, info)
                if content is None:
                    content = answer
            if content is None:
                raise
        else:
            for hook in hooks["finish_request"]:
                hook(was)
            if events:
                app.emit_with(was, "request_success")
                app.emit_with(was, "request_finished")
        return content
    finally:
        if events:
            app.emit_with(was, "request_tearing_down")
        for hook in hooks["teardown_request"]:
            hook(was)
        request = was.__dict__.get("request")
        if request is not None and request.files:
            request.cleanup()


def _arguments(was: Was, rule: router.Rule, params: dict[str, Any]) -> dict[str, Any]:
    binder = rule.binder
    qs = was.env.get("QUERY_STRING")
    if not binder.takes_query:
        # A view that names no query or body parameter reads them from was.request.args: the
        # seed's "simplest way" (def hello(was, id): was.request.args.get("topic")).  Only a
        # view that names some is strict about the others (below: 400).
        return params
    request = was.request
    body = request.dict() if request.has_body() else None
    return binder.bind(params, request.query if qs else None, body)  # type: ignore[no-any-return]


def _check_content_type(was: Was, rule: router.Rule) -> None:
    ct = was.request.get_content_type()
    if ct is None and not was.request.has_body():
        return
    if ct not in rule.content_types:  # type: ignore[operator]
        raise HTTPError(415, f"Content-Type {ct or '(none)'} is not one of "
                             f"{', '.join(sorted(rule.content_types or ()))}")


def run_sync(app: Saddle, was: Was, coro: Any) -> Any:
    """Drive a sync view's coroutine: it never awaits, so one send finishes it."""
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value
    except Exception as exc:  # noqa: BLE001 - becomes an error response
        return failure(app, was, exc)
    coro.close()
    raise RuntimeError(f"view {was.route.endpoint if was.route else '?'} awaited outside a loop")


async def settle(app: Saddle, was: Was, coro: Any) -> Any:
    try:
        return await coro
    except Exception as exc:  # noqa: BLE001 - becomes an error response
        return failure(app, was, exc)


async def settle_and_finish(app: Saddle, was: Was, coro: Any, start_response: StartResponse) -> Any:
    return finish(app, was, await settle(app, was, coro), start_response)


def run_async(app: Saddle, was: Was, coro: Any, start_response: StartResponse) -> Any:
    import asyncio  # only apps with async views need it

    env = was.env
    if env.get("skitai.awaitable"):
        # The engine runs this app inline on its loop and awaits what it returns.
        return settle_and_finish(app, was, coro, start_response)
    loop = app.loop
    if loop is not None and loop.is_running():
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is not loop:  # a pool thread: the view runs on the worker's loop
            return finish(app, was, _on_loop(loop, settle(app, was, coro)), start_response)
    return finish(app, was, asyncio.run(settle(app, was, coro)), start_response)


def _on_loop(loop: Any, coro: Any) -> Any:
    """Run ``coro`` on ``loop`` from another thread and wait for it, in a copy of this
    thread's context (``run_coroutine_threadsafe`` would give the task the loop's own:
    context variables the server set for this request would be lost)."""
    import concurrent.futures
    import contextvars

    ctx = contextvars.copy_context()
    done: concurrent.futures.Future[Any] = concurrent.futures.Future()

    def start() -> None:
        task = loop.create_task(coro, context=ctx)

        def copy(t: Any) -> None:
            if t.cancelled():
                done.cancel()
            elif t.exception() is not None:
                done.set_exception(t.exception())
            else:
                done.set_result(t.result())

        task.add_done_callback(copy)

    loop.call_soon_threadsafe(start)
    return done.result()


# --- errors ------------------------------------------------------------------------------------
def failure(app: Saddle, was: Was, exc: Exception) -> Response:
    if isinstance(exc, HTTPError):
        err = exc
    elif isinstance(exc, ParameterError | forms.BadBody):
        err = HTTPError(400, str(exc))
    elif isinstance(exc, forms.BodyTooLarge):
        err = HTTPError(413, str(exc))
    else:
        info = (type(exc), exc, exc.__traceback__)
        ident = was.traceback()  # every view exception is logged, with the transaction id
        err = HTTPError(500, f"see the log: {ident}", exc_info=info)
    return error_response(app, was, err)


def error_response(app: Saddle, was: Was, err: HTTPError) -> Response:
    """What a client gets for an error: the app's handler for the code, its default
    handler, JSON for ``Accept: application/json``, a ``templates/<code>.html``, or a
    small HTML page.  Tracebacks only with ``app.debug``."""
    err.url = was.env.get("SCRIPT_NAME", "") + was.env.get("PATH_INFO", "")
    err.time = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    if err.exc_info is not None and (app.debug or err.code != 500):
        err.traceback = format_traceback(err.exc_info)
    resp = Response(was.env)
    was.__dict__["response"] = resp
    handler = app.error_handlers.get(err.code) or app.error_handlers.get(0)
    content: Any = None
    try:
        if handler is not None:
            content = handler(was, err)
        elif not _wants_json(was.env) and app.has_template(f"{err.code}.html"):
            content = was.render(f"{err.code}.html", error=err)
    except Exception:  # noqa: BLE001 - a failing error page must not hide the error
        was.traceback()
        content = None
    if isinstance(content, Response):
        resp = content
        if not resp.answered:
            resp.status = err.status
    else:
        resp.status = err.status
        resp.body = content if content is not None else _default_error_body(app, was, err, resp)
    for k, v in err.headers:
        if resp.get_header(k) is None:
            resp.set_header(k, v)
    return resp


def _wants_json(environ: dict[str, Any]) -> bool:
    accept = environ.get("HTTP_ACCEPT", "")
    return _JSON in accept and "text/html" not in accept


def _default_error_body(app: Saddle, was: Was, err: HTTPError, resp: Response) -> str:
    if _wants_json(was.env):
        resp.set_header("Content-Type", _JSON)
        data: dict[str, Any] = {"code": err.code, "message": err.message}
        if err.detail:
            data["detail"] = err.detail
        if err.traceback and app.debug:
            data["traceback"] = err.traceback
        return json.dumps(data)
    resp.set_header("Content-Type", _HTML)
    body = f"<h1>{err.status}</h1>"
    if err.detail:
        body += f"<p>{html.escape(err.detail)}</p>"
    if err.traceback and app.debug:
        body += "<pre>" + html.escape("\n".join(err.traceback)) + "</pre>"
    return body


def unrouted(app: Saddle, environ: dict[str, Any], match: router.Match,
             start_response: StartResponse) -> Iterable[bytes]:
    was = Was(app, environ)
    if match.kind == router.REDIRECT:
        location = environ.get("SCRIPT_NAME", "") + match.location
        qs = environ.get("QUERY_STRING")
        resp = Response(environ)("308 Permanent Redirect", "",
                                 [("Location", location + ("?" + qs if qs else ""))])
        return finish(app, was, resp, start_response)
    if match.kind == router.METHOD_NOT_ALLOWED:
        if environ["REQUEST_METHOD"] == "OPTIONS":
            resp = Response(environ)("200 OK", "", [("Allow", match.allow)])
            return finish(app, was, resp, start_response)
        err = HTTPError(405, f"{environ['REQUEST_METHOD']} is not one of {match.allow}",
                        [("Allow", match.allow)])
    else:
        err = HTTPError(404)
    return finish(app, was, error_response(app, was, err), start_response)


# --- results -> WSGI -----------------------------------------------------------------------------
def finish(app: Saddle, was: Was, content: Any, start_response: StartResponse) -> Iterable[bytes]:
    """Turn what a view returned into the WSGI status, headers and body."""
    touched = was.__dict__
    if type(content) is str and "response" not in touched and not _hooked(touched):
        body = content.encode("utf-8")  # the common case: no Response object at all
        start_response("200 OK", [("Content-Type", _HTML), ("Content-Length", str(len(body)))])
        return [body]
    for test, convert in extensions.converters:
        if test(content):
            content = convert(was, content)
            break
    resp = touched.get("response")
    if isinstance(content, Response):
        resp = content
    else:
        if resp is None:
            resp = was.response
        if not resp.answered:
            resp.body = content
    out = _body(app, was, resp)
    for name, hook in extensions.response_hooks.items():
        if name in touched:
            hook(touched[name], was, resp)
    start_response(resp.status, resp.headers)
    return out


def _hooked(touched: dict[str, Any]) -> bool:
    hooks = extensions.response_hooks
    return bool(hooks) and any(name in touched for name in hooks)


def _body(app: Saddle, was: Was, resp: Response) -> Iterable[bytes]:
    content = resp.body
    if content is None:
        if resp.code >= 400 and resp.exc_info is None:
            # "if body is not given, automatically generated with default error template"
            err = error_response(app, was, HTTPError(resp.status, headers=resp.headers))
            resp.headers, content = err.headers, err.body
        elif resp.exc_info is not None:
            lines = format_traceback(resp.exc_info)
            content = f"<h1>{html.escape(resp.status)}</h1><pre>" + \
                html.escape("\n".join(lines)) + "</pre>"
        else:
            content = b""
    if isinstance(content, int | float) and not isinstance(content, bool):
        content = str(content)  # the seed's views return numbers: ``return id``
    if isinstance(content, str):
        content = content.encode("utf-8")
    if isinstance(content, bytes | bytearray):
        _default_type(resp, _HTML)
        resp.set_header("Content-Length", len(content))
        return [bytes(content)]
    if isinstance(content, dict | list):
        data = json.dumps(content, default=str).encode("utf-8")
        _default_type(resp, _JSON)
        resp.set_header("Content-Length", len(data))
        return [data]
    if hasattr(content, "read"):
        _default_type(resp, "application/octet-stream")
        wrapper = was.env.get("wsgi.file_wrapper")
        if wrapper is not None:
            return wrapper(content, 65536)  # type: ignore[no-any-return]
        return _FileIter(content)
    if hasattr(content, "__aiter__"):
        # An async body (was.promise): the engine sends it from its loop; iterating it
        # here would hold this thread until the backend calls come back.
        _default_type(resp, _HTML)
        return content  # type: ignore[no-any-return]
    if isinstance(content, Iterable):
        _default_type(resp, _HTML)
        return _Encoded(iter(content), content)
    raise TypeError(f"a view returned {type(content).__name__}: return str, bytes, dict, list, "
                    "a file, an iterable or was.response(...)")


def _default_type(resp: Response, ctype: str) -> None:
    if resp.get_header("Content-Type") is None:
        resp.headers.append(("Content-Type", ctype))


class _Encoded:
    """A generator's pieces as bytes; ``close()`` reaches the view's generator (PEP 3333:
    the server calls it at the end or when the client went away)."""

    def __init__(self, it: Iterator[Any], source: Any) -> None:
        self._it = it
        self._source = source

    def __iter__(self) -> _Encoded:
        return self

    def __next__(self) -> bytes:
        piece = next(self._it)
        return piece.encode("utf-8") if isinstance(piece, str) else bytes(piece)

    def close(self) -> None:
        close = getattr(self._source, "close", None)
        if close is not None:
            close()


class _FileIter(_Encoded):
    def __init__(self, fileobj: Any) -> None:
        super().__init__(iter(lambda: fileobj.read(65536), b""), fileobj)


def is_async(view: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(inspect.unwrap(view)) or inspect.iscoroutinefunction(view)


__all__ = ["respond", "run_sync", "run_async", "finish", "unrouted", "error_response",
           "failure", "status_line", "is_async"]
