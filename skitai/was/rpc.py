"""``was.rpc(url)`` (XML-RPC) and ``was.jsonrpc(url)`` (JSON-RPC 2.0): proxies whose
method calls are ``was`` calls::

    s = was.rpc.lb("@mysearch/rpc2").search("Mozart")
    result = s.getwait(5)          # result.data: the decoded return value

A fault (or a JSON-RPC error) gives status 2 with the fault as ``error`` (``reraise``
raises it).  ``.lb`` and ``.map`` as for HTTP calls; marshalling is the standard
library's ``xmlrpc.client`` and ``json``.
"""

from __future__ import annotations

import json
import xmlrpc.client
from collections.abc import Callable
from typing import Any

from skitai.was import handle, http, rcache
from skitai.was.result import DONE, EXCEPTION, Result


class JsonRpcError(Exception):
    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.data = data


def _xml_decode(result: Result) -> Result:
    if result.status != DONE or result.status_code != 200:
        return result
    try:
        values, _ = xmlrpc.client.loads(result.content or b"", use_builtin_types=True)
    except xmlrpc.client.Fault as fault:
        return Result(status=EXCEPTION, status_code=result.status_code, reason=result.reason,
                      headers=result.headers, content=result.content, error=fault,
                      target=result.target, ltxid=result.ltxid)
    return Result(status=DONE, status_code=200, reason=result.reason, headers=result.headers,
                  content=result.content, data=values[0] if len(values) == 1 else values,
                  target=result.target, ltxid=result.ltxid)


def _json_decode(result: Result) -> Result:
    if result.status != DONE or result.status_code != 200:
        return result
    reply = json.loads(result.content or b"null")
    if isinstance(reply, dict) and reply.get("error") is not None:
        err = reply["error"]
        return Result(status=EXCEPTION, status_code=200, reason=result.reason,
                      headers=result.headers, content=result.content,
                      error=JsonRpcError(int(err.get("code", 0)), str(err.get("message", "")),
                                         err.get("data")),
                      target=result.target, ltxid=result.ltxid)
    return Result(status=DONE, status_code=200, reason=result.reason, headers=result.headers,
                  content=result.content, data=reply.get("result") if isinstance(reply, dict)
                  else reply, target=result.target, ltxid=result.ltxid)


class _Proxy:
    def __init__(self, kind: str, mode: str, url: str, options: dict[str, Any],
                 name: str = "") -> None:
        self._kind = kind
        self._mode = mode
        self._url = url
        self._options = options
        self._name = name

    def __getattr__(self, name: str) -> _Proxy:
        if name.startswith("_"):
            raise AttributeError(name)
        full = f"{self._name}.{name}" if self._name else name
        return _Proxy(self._kind, self._mode, self._url, self._options, full)

    def __call__(self, *args: Any, **kwargs: Any) -> handle.Call | handle.MapCall:
        if not self._name:
            raise TypeError("call a remote method: was.rpc(url).method(args)")
        if self._kind == "xml":
            if kwargs:
                raise TypeError("XML-RPC takes positional arguments only")
            body: bytes = xmlrpc.client.dumps(args, self._name, allow_none=True).encode()
            decode = _xml_decode
            fmt = "xml"
        else:
            params: Any = kwargs if kwargs else list(args)
            if args and kwargs:
                raise TypeError("JSON-RPC takes positional or keyword arguments, not both")
            # One request per HTTP exchange: a constant id (and an identical call keeps
            # an identical body, so result.cache() can answer it).
            body = json.dumps({"jsonrpc": "2.0", "method": self._name, "params": params,
                               "id": 1}).encode()
            decode = _json_decode
            fmt = "json"
        method = http.Method("POST", fmt)
        opts = self._options
        # The body is already encoded: sent as bytes with the format's content type.
        return method._start(self._mode, self._url, body, opts.get("headers"), opts.get("auth"),
                             opts.get("use_cache", True), opts.get("timeout", handle.DEFAULT_TIMEOUT),
                             opts.get("meta"), opts.get("callback"), decode)


class Service:
    """``was.rpc`` / ``was.jsonrpc``: call it, or ``.lb(...)`` / ``.map(...)``."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def __call__(self, url: str, *, headers: http.HeadersIn = None, auth: http.Auth = None,
                 use_cache: rcache.UseCache = True, timeout: float = handle.DEFAULT_TIMEOUT,
                 meta: dict[str, Any] | None = None,
                 callback: Callable[[Result], Any] | None = None) -> _Proxy:
        return _Proxy(self.kind, "one", url, dict(headers=headers, auth=auth, use_cache=use_cache,
                                                   timeout=timeout, meta=meta, callback=callback))

    def lb(self, url: str, **options: Any) -> _Proxy:
        return _Proxy(self.kind, "lb", url, options)

    def map(self, url: str, **options: Any) -> _Proxy:
        return _Proxy(self.kind, "map", url, options)


rpc = Service("xml")
jsonrpc = Service("json")
