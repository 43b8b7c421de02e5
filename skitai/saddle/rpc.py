"""Saddle views served over XML-RPC and JSON-RPC 2.0 (the seed's "Implementing XMLRPC
Service": a view is also an RPC method if what it returns can be marshalled).

Which view: the method name is a route under the path the call was posted to, dots as
slashes: ``ServerProxy("http://host/rpc").math.add(2, 3)`` posted to the app mounted at
``/rpc`` calls the view routed at ``/math/add`` with ``(was, 2, 3)``.  ``method_path``
computes that path; the app looks the route up and calls the view.

Which requests: a POST whose body is an XML-RPC ``<methodCall>`` (Content-Type
``text/xml``), or a JSON body with ``"jsonrpc": "2.0"`` (an object, or a batch array).
Any other POST goes to the route as usual.

Errors are protocol answers, never HTTP 500s: XML-RPC faults (``faultCode``: 404 no such
method, 400 bad arguments, 500 the view raised), JSON-RPC error objects with the spec's
codes (-32700 parse, -32600 invalid request, -32601 no method, -32602 bad params, -32603
internal).  The traceback goes to the app's log, not to the caller.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

JSONRPC_PARSE_ERROR: Final = -32700
JSONRPC_INVALID_REQUEST: Final = -32600
JSONRPC_METHOD_NOT_FOUND: Final = -32601
JSONRPC_INVALID_PARAMS: Final = -32602
JSONRPC_INTERNAL_ERROR: Final = -32603

XMLRPC_CONTENT_TYPE: Final = "text/xml; charset=utf-8"
JSONRPC_CONTENT_TYPE: Final = "application/json"


class MethodNotFound(LookupError):
    pass


class InvalidParams(TypeError):
    pass


class Answered(Exception):  # noqa: N818 - not an error: an answer
    """Not a method's result but the HTTP answer to the whole call (a 401 from a gate)."""

    def __init__(self, content: Any) -> None:
        super().__init__("answered")
        self.content = content


# An invoker runs the view at ``path`` with positional and keyword arguments and returns
# what the view returned (the app's router and ``was`` live behind it).
Invoker = Callable[[str, list[Any], dict[str, Any]], Any]


def method_path(path_info: str, method: str) -> str:
    """The route a method name addresses, under the path the call was posted to."""
    base = path_info.rstrip("/")
    return f"{base}/{method.replace('.', '/')}"


def kind_of(content_type: str, body: bytes) -> str | None:
    """``"xmlrpc"``, ``"jsonrpc"`` or ``None`` (a plain POST) for a request body."""
    ctype = content_type.split(";", 1)[0].strip().lower()
    head = body[:256].lstrip()
    if ctype in ("text/xml", "application/xml") and b"<methodCall" in body[:512]:
        return "xmlrpc"
    if ctype in ("application/json", "application/json-rpc") and head[:1] in (b"{", b"[") \
            and b'"jsonrpc"' in body:
        return "jsonrpc"
    return None


# -- XML-RPC --------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RpcAnswer:
    status: int
    content_type: str
    body: bytes


def serve_xmlrpc(body: bytes, invoke: Invoker, path_info: str,
                 on_error: Callable[[BaseException], None]) -> RpcAnswer:
    import xmlrpc.client  # here: most apps never serve XML-RPC
    from xml.parsers.expat import ExpatError

    try:
        params, method = xmlrpc.client.loads(body, use_builtin_types=True)
    except (ExpatError, xmlrpc.client.ResponseError, ValueError, TypeError) as exc:
        return fault(400, f"malformed XML-RPC request: {exc}")
    if not method:
        return fault(400, "XML-RPC request without a methodName")
    try:
        result = invoke(method_path(path_info, method), list(params), {})
    except MethodNotFound:
        return fault(404, f"no method {method!r}")
    except InvalidParams as exc:
        return fault(400, f"bad arguments for {method!r}: {exc}")
    except Answered:
        raise
    except Exception as exc:  # noqa: BLE001 - a view's failure becomes a fault
        on_error(exc)
        return fault(500, f"{method!r} failed: {type(exc).__name__}")
    try:
        out = xmlrpc.client.dumps((result,), methodresponse=True, allow_none=True, encoding="utf-8")
    except (TypeError, OverflowError) as exc:
        return fault(500, f"{method!r} returned a value XML-RPC cannot carry: {exc}")
    return RpcAnswer(200, XMLRPC_CONTENT_TYPE, out.encode("utf-8"))


def fault(code: int, message: str) -> RpcAnswer:
    import xmlrpc.client

    out = xmlrpc.client.dumps(xmlrpc.client.Fault(code, message), methodresponse=True, encoding="utf-8")
    return RpcAnswer(200, XMLRPC_CONTENT_TYPE, out.encode("utf-8"))


# -- JSON-RPC 2.0 -----------------------------------------------------------------------
def _error(ident: Any, code: int, message: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "error": {"code": code, "message": message}, "id": ident}


def _one(call: Any, invoke: Invoker, path_info: str,
         on_error: Callable[[BaseException], None]) -> dict[str, Any] | None:
    if not isinstance(call, dict) or call.get("jsonrpc") != "2.0" \
            or not isinstance(call.get("method"), str):
        return _error(None, JSONRPC_INVALID_REQUEST, "invalid request")
    notification = "id" not in call
    ident = call.get("id")
    params = call.get("params", [])
    if isinstance(params, list):
        args, kwargs = params, {}
    elif isinstance(params, dict):
        args, kwargs = [], params
    else:
        return _error(ident, JSONRPC_INVALID_REQUEST, "params must be an array or an object")
    try:
        result = invoke(method_path(path_info, call["method"]), args, kwargs)
    except MethodNotFound:
        answer = _error(ident, JSONRPC_METHOD_NOT_FOUND, f"no method {call['method']!r}")
    except InvalidParams as exc:
        answer = _error(ident, JSONRPC_INVALID_PARAMS, str(exc))
    except Answered:
        raise
    except Exception as exc:  # noqa: BLE001 - a view's failure becomes an error object
        on_error(exc)
        answer = _error(ident, JSONRPC_INTERNAL_ERROR, f"{type(exc).__name__}")
    else:
        answer = {"jsonrpc": "2.0", "result": result, "id": ident}
    return None if notification else answer


def serve_jsonrpc(body: bytes, invoke: Invoker, path_info: str,
                  on_error: Callable[[BaseException], None]) -> RpcAnswer:
    try:
        request = json.loads(body)
    except ValueError:
        return _json(_error(None, JSONRPC_PARSE_ERROR, "parse error"))
    if isinstance(request, list):
        if not request:
            return _json(_error(None, JSONRPC_INVALID_REQUEST, "empty batch"))
        answers = [a for a in (_one(c, invoke, path_info, on_error) for c in request) if a]
        return _json(answers) if answers else RpcAnswer(204, JSONRPC_CONTENT_TYPE, b"")
    answer = _one(request, invoke, path_info, on_error)
    return _json(answer) if answer else RpcAnswer(204, JSONRPC_CONTENT_TYPE, b"")


def _json(value: Any) -> RpcAnswer:
    try:
        out = json.dumps(value, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        ident = value.get("id") if isinstance(value, dict) else None
        out = json.dumps(_error(ident, JSONRPC_INTERNAL_ERROR, f"result is not JSON: {exc}"))
    return RpcAnswer(200, JSONRPC_CONTENT_TYPE, out.encode())
