"""The seams other Saddle modules plug into (part 2: cookies, sessions, mbox, CSRF, auth,
CORS, RPC).  Process-wide registries, filled at import time of the module that adds a
feature; the request path pays only for what a request touches.

- ``was_attribute(name, factory, on_response=None)``: ``was.<name>`` is made by
  ``factory(was)`` on first access in a request and cached on that ``was``.  If given,
  ``on_response(value, was, response)`` runs before the response starts, only for
  requests that touched ``was.<name>`` (a session that was read or changed writes its
  ``Set-Cookie`` there).  ``response`` is ``was.response`` (``append_header``,
  ``set_header``, ``status``).
- ``before_dispatch(hook)``: ``hook(was, rule)`` runs after routing and before the app's
  ``before_request`` hooks, for every request to a route; a non-None return is the
  response (CORS preflight, authentication).  ``rule.options`` holds the route's extra
  keywords (``@app.route("/x", authenticate=True, access_control_allow_origin=[...])``);
  app-wide settings are plain attributes of ``was.app``.
- ``before_routing(hook)``: ``hook(app, environ, start_response)`` runs before the router
  for every request; a non-None return is the WSGI response (RPC calls posted to the
  mount URL, CORS preflights to routes that do not list OPTIONS).  Keep it cheap: test
  the method first.
- ``result_converter(test, convert)``: a view's return value for which ``test(value)``
  is true becomes ``convert(was, value)`` (a ``Response`` or content), before Saddle's
  own conversions (XML-RPC results).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Factory = Callable[[Any], Any]
OnResponse = Callable[[Any, Any, Any], None]
DispatchHook = Callable[[Any, Any], Any]

factories: dict[str, Factory] = {}
response_hooks: dict[str, OnResponse] = {}
dispatch_hooks: list[DispatchHook] = []
routing_hooks: list[Callable[[Any, Any, Any], Any]] = []
converters: list[tuple[Callable[[Any], bool], Callable[[Any, Any], Any]]] = []


def was_attribute(name: str, factory: Factory, on_response: OnResponse | None = None) -> None:
    if not name.isidentifier() or name.startswith("_"):
        raise ValueError(f"was.{name}: a public identifier is needed")
    factories[name] = factory
    if on_response is not None:
        response_hooks[name] = on_response
    else:
        response_hooks.pop(name, None)


def before_dispatch(hook: DispatchHook) -> DispatchHook:
    if hook not in dispatch_hooks:
        dispatch_hooks.append(hook)
    return hook


def before_routing(hook: Callable[[Any, Any, Any], Any]) -> Callable[[Any, Any, Any], Any]:
    if hook not in routing_hooks:
        routing_hooks.append(hook)
    return hook


def result_converter(test: Callable[[Any], bool], convert: Callable[[Any, Any], Any]) -> None:
    converters.append((test, convert))
