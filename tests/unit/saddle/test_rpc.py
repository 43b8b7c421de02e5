from __future__ import annotations

import json
import xmlrpc.client
from typing import Any

from skitai.saddle import rpc

ROUTES = {"/add": lambda a, b: a + b, "/math/neg": lambda a: -a, "/boom": lambda: 1 / 0,
          "/obj": lambda: object()}
errors: list[BaseException] = []


def invoke(path: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
    view = ROUTES.get(path)
    if view is None:
        raise rpc.MethodNotFound(path)
    try:
        return view(*args, **kwargs)
    except TypeError as exc:
        raise rpc.InvalidParams(str(exc)) from exc


def xml_call(method: str, *params: Any) -> Any:
    body = xmlrpc.client.dumps(params, method).encode()
    assert rpc.kind_of("text/xml", body) == "xmlrpc"
    answer = rpc.serve_xmlrpc(body, invoke, "/", errors.append)
    assert answer.status == 200
    return xmlrpc.client.loads(answer.body)[0][0]


def test_method_path():
    assert rpc.method_path("/", "add") == "/add"
    assert rpc.method_path("", "math.neg") == "/math/neg"
    assert rpc.method_path("/api/", "x") == "/api/x"


def test_xmlrpc_calls_and_faults():
    assert xml_call("add", 2, 3) == 5
    assert xml_call("math.neg", 4) == -4
    for method, args, code in (("nope", (), 404), ("add", (1,), 400), ("boom", (), 500), ("obj", (), 500)):
        try:
            xml_call(method, *args)
        except xmlrpc.client.Fault as fault:
            assert fault.faultCode == code
        else:
            raise AssertionError(method)
    assert isinstance(errors[-1], ZeroDivisionError)
    answer = rpc.serve_xmlrpc(b"<methodCall><bad", invoke, "/", errors.append)
    assert b"faultCode" in answer.body


def test_jsonrpc_single_batch_notification_errors():
    def call(body: Any) -> rpc.RpcAnswer:
        raw = json.dumps(body).encode() if not isinstance(body, bytes) else body
        return rpc.serve_jsonrpc(raw, invoke, "/", errors.append)

    assert json.loads(call({"jsonrpc": "2.0", "method": "add", "params": [1, 2], "id": 1}).body) == \
        {"jsonrpc": "2.0", "result": 3, "id": 1}
    assert json.loads(call({"jsonrpc": "2.0", "method": "add", "params": {"a": 1, "b": 2}, "id": "x"}).body)["result"] == 3
    assert call({"jsonrpc": "2.0", "method": "add", "params": [1, 2]}).status == 204
    batch = json.loads(call([
        {"jsonrpc": "2.0", "method": "add", "params": [1, 1], "id": 1},
        {"jsonrpc": "2.0", "method": "missing", "id": 2},
        {"jsonrpc": "2.0", "method": "add", "params": [1], "id": 3},
        {"jsonrpc": "2.0", "method": "boom", "id": 4},
        {"foo": 1},
    ]).body)
    assert [a.get("error", {}).get("code") for a in batch] == [None, -32601, -32602, -32603, -32600]
    assert json.loads(call(b"{bad").body)["error"]["code"] == -32700
    assert json.loads(call([]).body)["error"]["code"] == -32600


def test_kind_of():
    assert rpc.kind_of("application/json", b'{"jsonrpc": "2.0"}') == "jsonrpc"
    assert rpc.kind_of("application/json", b'{"a": 1}') is None
    assert rpc.kind_of("text/plain", b"<methodCall>") is None
