"""What runs between routing and the view (``extensions.before_dispatch``), and before
routing (``extensions.before_routing``): CORS, WWW-Authenticate, WebSocket events and
RPC calls.  Each returns ``None`` to go on, or the response that answers the request.

Order for a routed request: CORS first (a preflight carries no credentials, so it must
be answered before authentication asks for them), then WWW-Authenticate, then the
WebSocket events of a ``@app.websocket_config`` route.
"""

from __future__ import annotations

import logging
from typing import Any, Final

from skitai.saddle import cors, extensions, rpc, wwwauth
from skitai.saddle.helpers import WebSocketSpec

log = logging.getLogger("skitai.app")

# The engine's WebSocket contract (skitai.WS_EVT_*, WS_MSG_*): saddle imports no other
# skitai module, so the values are repeated here; a test checks they agree.
WS_EVT_INIT: Final = "init"
WS_EVT_OPEN: Final = "open"
WS_EVT_CLOSE: Final = "close"
WS_MSG_XMLRPC: Final = 16


# -- CORS ---------------------------------------------------------------------------------
def _policy(app: Any, rule: Any) -> cors.Policy | None:
    options = rule.options if rule is not None else {}
    origin = options.get("access_control_allow_origin", app.access_control_allow_origin)
    if not origin:
        return None
    settings = (
        origin if isinstance(origin, str) else tuple(origin),
        options.get("access_control_max_age", app.access_control_max_age),
        options.get("access_control_allow_credentials", app.access_control_allow_credentials),
    )
    cache: dict[Any, cors.Policy | None] = app.__dict__.setdefault("_cors_policies", {})
    policy = cache.get(settings)
    if policy is None:
        policy = cache[settings] = cors.Policy.make(*settings)
    return policy


def _cors(was: Any, rule: Any, allowed: Any) -> Any:
    env = was.env
    origin = env.get("HTTP_ORIGIN")
    if not origin:
        return None
    policy = _policy(was.app, rule)
    if policy is None:
        return None
    if cors.is_preflight(env["REQUEST_METHOD"], origin, env.get("HTTP_ACCESS_CONTROL_REQUEST_METHOD")):
        status, headers = policy.preflight(
            origin, env["HTTP_ACCESS_CONTROL_REQUEST_METHOD"],
            env.get("HTTP_ACCESS_CONTROL_REQUEST_HEADERS"), allowed)
        return was.response(status, "", headers)
    for name, value in policy.actual(origin):
        was.response.append_header(name, value)
    return None


def _allowed_methods(rule: Any) -> list[str]:
    methods = rule.methods
    return sorted(methods) if methods else ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]


# -- WWW-Authenticate -------------------------------------------------------------------------
def _authenticator(app: Any) -> wwwauth.Authenticator:
    secret = app.securekey
    if isinstance(secret, list | tuple):
        secret = secret[0] if secret else None
    key = (app.authorization, app.realm, id(app.users), secret)
    found = app.__dict__.get("_authenticator")
    if found is None or found[0] != key:
        raw = secret.encode() if isinstance(secret, str) else (secret or b"")
        found = (key, wwwauth.Authenticator(app.authorization, app.realm, app.users, raw))
        app.__dict__["_authenticator"] = found
    return found[1]  # type: ignore[no-any-return]


def _authenticate(was: Any, rule: Any) -> Any:
    wanted = rule.options.get("authenticate") if rule is not None else None
    if not (was.app.authenticate if wanted is None else wanted):
        return None
    env = was.env
    auth = _authenticator(was.app)
    uri = env.get("RAW_URI") or env.get("REQUEST_URI") or env.get("PATH_INFO", "/")
    user, stale = auth.check(env.get("HTTP_AUTHORIZATION"), env["REQUEST_METHOD"], uri)
    if user is None:
        headers = [("WWW-Authenticate", c) for c in auth.challenges(stale)]
        return was.response(401, "Authorization required", headers)
    was.request.user = user
    env["REMOTE_USER"] = user.name  # the access log names the user
    return None


# -- WebSocket events ----------------------------------------------------------------------------
def _websocket(was: Any, rule: Any) -> Any:
    event = was.env.get("websocket.event")
    if event is None or rule is None:
        return None
    spec: WebSocketSpec | None = getattr(rule.view, "websocket_spec", None)
    if spec is None:
        return None
    if event == WS_EVT_INIT:
        binder = getattr(rule, "binder", None)
        names = tuple(getattr(binder, "names", ()) or ())
        encoding = spec.encoding or 0
        if (spec.spec | encoding) & WS_MSG_XMLRPC:
            return was.response(500, "WS_MSG_XMLRPC is not supported; use WS_MSG_JSON")
        was.env["websocket.config"] = (spec.spec | encoding, spec.timeout, names[:1] or None)
        return was.response(200, "")
    if event in (WS_EVT_OPEN, WS_EVT_CLOSE):
        handler = spec.onopen if event == WS_EVT_OPEN else spec.onclose
        if handler is not None:
            handler(was)
        return was.response(200, "")
    return None


def before_dispatch(was: Any, rule: Any) -> Any:
    answer = _cors(was, rule, _allowed_methods(rule))
    if answer is None:
        answer = _authenticate(was, rule)
        if answer is None:
            answer = _websocket(was, rule)
    return answer


# -- before routing: RPC calls and preflights to routes without OPTIONS ---------------------------
def _rpc(was: Any) -> Any:
    env = was.env
    kind = None
    if env["REQUEST_METHOD"] == "POST":
        ctype = env.get("CONTENT_TYPE") or ""
        if ctype.startswith(("text/xml", "application/xml", "application/json")):
            kind = rpc.kind_of(ctype, was.request.get_body())
    if kind is None:
        return None
    app = was.app
    path_info = env.get("PATH_INFO") or "/"

    def invoke(path: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
        match = app.router.match(path, "POST")
        if match.rule is None:
            match = app.router.match(path, "GET")
        if match.rule is None:
            raise rpc.MethodNotFound(path)
        return app.call_view(was, match.rule, args, {**(match.params or {}), **kwargs})

    def on_error(exc: BaseException) -> None:
        log.error("RPC call failed at %s", path_info, exc_info=exc)

    serve = rpc.serve_xmlrpc if kind == "xmlrpc" else rpc.serve_jsonrpc
    answer = serve(was.request.get_body(), invoke, path_info, on_error)
    return was.response(answer.status, answer.body, [("Content-Type", answer.content_type)])


def _preflight_unrouted(was: Any) -> Any:
    env = was.env
    if env["REQUEST_METHOD"] != "OPTIONS" or not env.get("HTTP_ORIGIN"):
        return None
    requested = env.get("HTTP_ACCESS_CONTROL_REQUEST_METHOD")
    if not requested:
        return None
    app = was.app
    match = app.router.match(env.get("PATH_INFO") or "/", requested.upper())
    if match.rule is None or (match.rule.methods and "OPTIONS" in match.rule.methods):
        return None  # no such route (404 as usual), or the route takes OPTIONS: dispatch
    return _cors(was, match.rule, _allowed_methods(match.rule))


def before_routing(was: Any) -> Any:
    return _preflight_unrouted(was) or _rpc(was)


def install() -> None:
    extensions.before_dispatch(before_dispatch)
    if hasattr(extensions, "before_routing"):
        extensions.before_routing(before_routing)
