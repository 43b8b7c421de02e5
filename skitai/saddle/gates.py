"""What runs between routing and the view (``extensions.before_dispatch``), and before
routing (``extensions.before_routing``).  Each returns ``None`` to go on, or the answer.

- Routed requests: CORS first (a preflight carries no credentials, so it is answered
  before authentication asks for them), then WWW-Authenticate.  WebSocket calls are
  authenticated at the handshake and go to ``websocket.dispatch``.
- Before routing (POST and OPTIONS only, so a GET pays one comparison): gRPC calls,
  XML-RPC/JSON-RPC bodies posted to the mount URL, and preflights to routes that do not
  list OPTIONS (the router would answer them with its own 200/405).
"""

from __future__ import annotations

import io
import logging
from typing import Any, Final

from skitai.saddle import cors, dispatch, extensions, forms, grpc, rpc, rpccall, websocket, wwwauth
from skitai.saddle.was import Was

log = logging.getLogger("skitai.app")


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


def _cors(was: Any, rule: Any) -> Any:
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
            env.get("HTTP_ACCESS_CONTROL_REQUEST_HEADERS"), _allowed_methods(rule))
        response = was.response(status, "")
        for name, value in headers:
            response.append_header(name, value)
        return response
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
        response = was.response(401, "Authorization required")
        for challenge in auth.challenges(stale):  # one field per algorithm: append, not set
            response.append_header("WWW-Authenticate", challenge)
        return response
    was.request.user = user
    env["REMOTE_USER"] = user.name  # the access log names the user
    return None


def before_dispatch(was: Any, rule: Any) -> Any:
    env = was.env
    if "websocket.event" in env:
        # WebSocket calls: authenticated once, at the handshake (INIT); later calls reuse
        # its environ (a digest nonce count cannot be checked again).  No CORS for them.
        if env["websocket.event"] == websocket.WS_EVT_INIT:
            answer = _authenticate(was, rule)
            if answer is not None:
                return answer
        return websocket.dispatch(was, rule)
    answer = _cors(was, rule)
    if answer is None:
        answer = _authenticate(was, rule)
    return answer


# -- before routing: RPC calls and preflights to routes without OPTIONS ---------------------------
def _rpc(app: Any, environ: dict[str, Any], start_response: Any) -> Any:
    ctype = environ.get("CONTENT_TYPE") or ""
    if not ctype.startswith(("text/xml", "application/xml", "application/json")):
        return None
    was = Was(app, environ)
    try:
        body = was.request.get_body()
    except (forms.BodyTooLarge, forms.BadBody) as exc:
        return dispatch.finish(app, was, dispatch.failure(app, was, exc), start_response)
    kind = rpc.kind_of(ctype, body)
    if kind is None:
        environ["wsgi.input"] = io.BytesIO(body)  # read here: the route reads it again
        environ["CONTENT_LENGTH"] = str(len(body))
        return None
    path_info = environ.get("PATH_INFO") or "/"
    if path_info == "/RPC2" and app.router.match(path_info, "POST").rule is None:
        path_info = "/"  # xmlrpc.client's path for a URL without one: the mount point
    invoke = rpccall.invoker(app, environ)

    def on_error(exc: BaseException) -> None:
        log.error("RPC call at %s failed", path_info, exc_info=exc)

    serve = rpc.serve_xmlrpc if kind == "xmlrpc" else rpc.serve_jsonrpc
    try:
        answer = serve(body, invoke, path_info, on_error)
    except rpc.Answered as gate:
        return dispatch.finish(app, was, gate.content, start_response)
    content = was.response(answer.status, answer.body, [("Content-Type", answer.content_type)])
    return dispatch.finish(app, was, content, start_response)


_PROBE_METHODS: Final = ("GET", "POST", "PUT", "PATCH", "DELETE")


def _preflight(app: Any, environ: dict[str, Any], start_response: Any) -> Any:
    requested = environ.get("HTTP_ACCESS_CONTROL_REQUEST_METHOD")
    if not requested or not environ.get("HTTP_ORIGIN"):
        return None
    path = environ.get("PATH_INFO") or "/"
    match = app.router.match(path, requested.upper())
    if match.rule is None:
        # The method is not the route's: any rule of the path decides the (403) answer.
        for method in _PROBE_METHODS:
            match = app.router.match(path, method)
            if match.rule is not None:
                break
    if match.rule is None or (match.rule.methods and "OPTIONS" in match.rule.methods):
        return None  # no such route (404 as usual), or the route takes OPTIONS: dispatch
    was = Was(app, environ, match.rule, match.params)
    content = _cors(was, match.rule)
    return None if content is None else dispatch.finish(app, was, content, start_response)


def before_routing(app: Any, environ: dict[str, Any], start_response: Any) -> Any:
    method = environ["REQUEST_METHOD"]
    if method == "POST":
        if str(environ.get("CONTENT_TYPE", "")).startswith("application/grpc"):
            return grpc.serve(app, environ, start_response)
        return _rpc(app, environ, start_response)
    if method == "OPTIONS":
        return _preflight(app, environ, start_response)
    return None


def install() -> None:
    extensions.before_dispatch(before_dispatch)
    extensions.before_routing(before_routing)
