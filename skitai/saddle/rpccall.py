"""Calling a view as an RPC method (XML-RPC, JSON-RPC, WebSocket ``WS_MSG_XMLRPC``).

The method name is a route (``rpc.method_path``); the view is called as
``view(was, *args, **kwargs)`` after the dispatch gates (authentication, CORS) and the
app's ``before_request`` hooks, so an RPC call cannot skip what an HTTP request to the
same route must pass.  A gate's answer (a 401) stops the whole call (``rpc.Answered``).
"""

from __future__ import annotations

import functools
import inspect
from typing import Any

from skitai.saddle import extensions, rpc
from skitai.saddle.was import Was


@functools.lru_cache(maxsize=1024)
def _signature(view: Any) -> inspect.Signature:
    return inspect.signature(view)


def call_view(app: Any, environ: dict[str, Any], rule: Any, args: list[Any],
              kwargs: dict[str, Any]) -> Any:
    if rule.is_async:
        raise rpc.InvalidParams(f"{rule.endpoint} is an async view: not served over RPC")
    was = Was(app, environ, rule, kwargs)
    try:
        _signature(rule.view).bind(was, *args, **kwargs)
    except TypeError as exc:
        raise rpc.InvalidParams(str(exc)) from None
    for hook in extensions.dispatch_hooks:
        content = hook(was, rule)
        if content is not None:
            raise rpc.Answered(content)
    for hook in app.hooks["before_request"]:
        content = hook(was)
        if content is not None:
            raise rpc.Answered(content)
    return rule.view(was, *args, **kwargs)


def invoker(app: Any, environ: dict[str, Any]) -> rpc.Invoker:
    """``invoke(path, args, kwargs)`` for the views of ``app`` (POST routes first)."""

    def invoke(path: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
        match = app.router.match(path, "POST")
        if match.rule is None:
            match = app.router.match(path, "GET")
        if match.rule is None:
            raise rpc.MethodNotFound(path)
        return call_view(app, environ, match.rule, args, {**(match.params or {}), **kwargs})

    return invoke
