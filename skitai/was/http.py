"""``was.get/post/put/patch/delete/options/head`` and the ``*json``/``*xml`` shortcuts.

Arguments as the seed's (aquests) calls took them::

    was.get(url, params=None, headers=None, auth=None)        # params: a dict -> query
    was.post(url, data=None, headers=None, auth=None)         # dict data: a form
    was.postjson(url, data)                                   # data as JSON, JSON accepted
    was.postxml(url, data)                                    # an XML text body

``url`` is ``http(s)://host[:port]/path`` or ``@alias/path``.  Without ``.lb``/``.map`` an
alias with several members is used as ``.lb`` (one member by weight and load, another
one when a connect fails); ``.map`` sends the request to every member.  Each call
carries the request's transaction ids (``X-Gtxn-Id``, ``X-Ltxn-Id``, ``traceparent``).

The connections are the upstream client's (``skitai.upstream``), shared with the
reverse proxy: per member keep-alive pools (``skitai.set_backend_keep_alive``),
fail-over and health checks.  A GET whose answer says ``Cache-Control: max-age=N``
(and not ``no-store``/``no-cache``/``private``) is cached for N seconds unless the call
says ``use_cache=False``.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlencode

from skitai import __version__
from skitai.config import aliases as aliases_mod
from skitai.upstream import cachecontrol
from skitai.was import bridge, context, handle, rcache, targets
from skitai.was.result import DONE, Headers, Result

USER_AGENT = f"skitai-was/{__version__}".encode()
_FORMATS: dict[str | None, tuple[bytes, bytes | None]] = {
    # format: (Accept, request Content-Type)
    None: (b"*/*", None),
    "json": (b"application/json", b"application/json; charset=utf-8"),
    "xml": (b"text/xml, application/xml", b"text/xml; charset=utf-8"),
}
_pools: dict[tuple[str, int], Any] = {}

HeadersIn = Mapping[str, str] | list[tuple[str, str]] | None
Auth = tuple[str, str] | str | None


def pool_for(target: targets.Target, alias_name: str | None) -> Any:
    """The upstream pool of an alias (the worker's registry, shared with the reverse
    proxy) or of a URL's host (one per host and loop).  ``.map`` sends to each member of
    this same pool (``AliasPool.request(member=i)``), so it reuses the alias's keep-alive
    connections."""
    from skitai.upstream import pool as pool_mod
    from skitai.upstream import registry

    loop = bridge.get().loop
    if alias_name is not None:
        try:
            reg = registry.current()
        except RuntimeError:
            reg = None
        if reg is not None and reg.loop is loop:
            return reg.get(alias_name)
    key = (alias_name or target.name, id(loop))
    found = _pools.get(key)
    if found is not None and found.alias.members != target.members:
        # The alias was declared again with other members (a script, a test): a member
        # index (``.map``) must mean the same member in the pool as in the target.
        _pools.pop(key).close()
        found = None
    if found is None:
        from skitai.was import runtime

        alias = (targets.find_alias(alias_name) if alias_name is not None else
                 aliases_mod.Alias(name=target.name, type=target.kind, members=target.members))
        found = _pools[key] = pool_mod.AliasPool(
            alias, loop, keep_alive=float(runtime.setting("backend_keep_alive", 10.0)),
            http2=targets.backend_http2() if alias.http2 is None else alias.http2)
    return found


def encode_body(data: Any, fmt: str | None) -> tuple[bytes | None, bytes | None]:
    """(body, its Content-Type)."""
    if data is None:
        return None, None
    if isinstance(data, bytes | bytearray):  # encoded already (an RPC body, a file)
        return bytes(data), _FORMATS[fmt][1] or b"application/octet-stream"
    if fmt == "json":
        return json.dumps(data).encode(), _FORMATS["json"][1]
    if isinstance(data, str):
        return data.encode(), _FORMATS[fmt][1] or b"text/plain; charset=utf-8"
    if isinstance(data, Mapping) or isinstance(data, list | tuple):
        return urlencode(data, doseq=True).encode(), b"application/x-www-form-urlencoded"
    raise TypeError(f"cannot send {type(data).__name__} as a request body: give a dict "
                    "(a form), str or bytes, or use the *json shortcut")


def build_headers(headers: HeadersIn, auth: Auth, fmt: str | None,
                  content_type: bytes | None) -> list[tuple[bytes, bytes]]:
    accept, _ = _FORMATS[fmt]
    out: list[tuple[bytes, bytes]] = [(b"user-agent", USER_AGENT), (b"accept", accept)]
    if content_type is not None:
        out.append((b"content-type", content_type))
    if auth is not None:
        if isinstance(auth, tuple):
            pair = f"{auth[0]}:{auth[1]}".encode()
            out.append((b"authorization", b"Basic " + base64.b64encode(pair)))
        else:
            out.append((b"authorization", auth.encode("latin-1")))
    items = headers.items() if isinstance(headers, Mapping) else (headers or [])
    for name, value in items:
        if "\r" in name or "\n" in name or "\r" in str(value) or "\n" in str(value):
            raise ValueError(f"invalid characters in header {name!r}")
        key = name.lower().encode("latin-1")
        out = [(n, v) for n, v in out if n != key]
        out.append((key, str(value).encode("latin-1")))
    return out


def cache_ttl(result: Result) -> float:
    """Seconds the answer may be kept by its own Cache-Control (0: not at all)."""
    if result.status_code != 200:
        return 0.0
    return cachecontrol.private_ttl(result.headers.get("cache-control"))


class Method:
    """``was.get`` and its kin: call it; ``.lb(...)`` / ``.map(...)`` are the same method
    in those modes."""

    def __init__(self, method: str, fmt: str | None = None, body_in_query: bool = False,
                 mode: str = "one") -> None:
        self.method = method
        self.fmt = fmt
        self.body_in_query = body_in_query
        self.mode = mode
        if mode == "one":
            self.lb = Method(method, fmt, body_in_query, "lb")
            self.map = Method(method, fmt, body_in_query, "map")

    def __repr__(self) -> str:
        return f"<was.{self.method.lower()}{self.fmt or ''}>"

    def __call__(self, url: str, data: Any = None, headers: HeadersIn = None, auth: Auth = None,
                 *, use_cache: rcache.UseCache = True, timeout: float = handle.DEFAULT_TIMEOUT,
                 meta: dict[str, Any] | None = None,
                 callback: Callable[[Result], Any] | None = None
                 ) -> handle.Call | handle.MapCall:
        return self._start(self.mode, url, data, headers, auth, use_cache, timeout, meta,
                           callback)

    def _start(self, mode: str, url: str, data: Any, headers: HeadersIn, auth: Auth,
               use_cache: rcache.UseCache, timeout: float, meta: dict[str, Any] | None,
               callback: Callable[[Result], Any] | None,
               decode: Callable[[Result], Result] | None = None,
               ) -> handle.Call | handle.MapCall:
        """``decode`` (RPC) turns a done HTTP result into the call's result, on the loop."""
        if not isinstance(url, str):
            raise TypeError("the first argument is a URL or an '@alias/path'")
        use_cache = rcache.check_use_cache(use_cache)
        target = targets.resolve_http(url)
        alias_name = target.name if url.startswith("@") else None
        path = target.path
        if self.body_in_query and data is not None:
            query = urlencode(data, doseq=True) if not isinstance(data, str) else data
            path += ("&" if "?" in path else "?") + query
            body, content_type = None, None
        else:
            body, content_type = encode_body(data, self.fmt)
        base = build_headers(headers, auth, self.fmt, content_type)
        method = self.method.encode()
        key = ("http", self.method, self.fmt, target.members, mode, path, body, repr(base[2:]))
        label = f"{self.method} {url}"
        cacheable = self.method in ("GET", "HEAD") and decode is None
        txn = context.txn()

        def runner(member: int | None) -> tuple[Callable[[], Any], tuple[str, int]]:
            ltxid, ids = txn.next_call()  # numbered in the order the app made the calls

            async def run() -> Result:
                pool = pool_for(target, alias_name)
                result = await _send(pool, method, path, base + ids, body, timeout, label,
                                     ltxid, member)
                return decode(result) if decode is not None else result
            return run, (txn.gtxid, ltxid)

        def make(run_ids: tuple[Callable[[], Any], tuple[str, int]], cache_key: Any
                 ) -> handle.Call:
            run, ids = run_ids
            callbacks: list[Callable[[Result], Any]] = \
                [_auto_cache] if cacheable and use_cache is not False else []
            if callback is not None:
                callbacks.append(callback)
            return handle.Call(run, target=label, timeout=timeout, cache_key=cache_key,
                               use_cache=use_cache, meta=dict(meta or {}), ids=ids,
                               callbacks=callbacks or None)

        if mode == "map":
            return handle.MapCall(
                lambda: [make(runner(i), None) for i in range(len(target.members))],
                target=label, cache_key=key, use_cache=use_cache)
        return make(runner(None), key)


async def _send(pool: Any, method: bytes, path: str, headers: list[tuple[bytes, bytes]],
                body: bytes | None, timeout: float, label: str, ltxid: int,
                member: int | None = None) -> Result:
    """``member``: that member of the pool only (``.map``), else the pool picks one."""
    from skitai.upstream.connection import UpstreamTimeout

    try:
        response = await pool.request(method, path.encode("latin-1"), headers, body, timeout,
                                      member=member)
    except UpstreamTimeout as exc:
        raise TimeoutError(str(exc)) from exc
    out = Headers()
    for name, value in response.headers:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        out[key] = f"{out[key]}, {text}" if key in out else text
    return Result(status=DONE, status_code=response.status, reason=response.reason,
                  headers=out, content=response.body, target=label, ltxid=ltxid)


def _auto_cache(result: Result) -> None:
    ttl = cache_ttl(result)
    if ttl > 0:
        result.cache(ttl)


async def close_all() -> None:
    """At the worker's stop: close the pools this loop made."""
    here = id(asyncio.get_running_loop())
    for key in [k for k in _pools if k[1] == here]:
        _pools.pop(key).close()


get = Method("GET", body_in_query=True)
delete = Method("DELETE", body_in_query=True)
options = Method("OPTIONS", body_in_query=True)
head = Method("HEAD", body_in_query=True)
post = Method("POST")
put = Method("PUT")
patch = Method("PATCH")
getjson = Method("GET", "json", body_in_query=True)
deletejson = Method("DELETE", "json", body_in_query=True)
postjson = Method("POST", "json")
putjson = Method("PUT", "json")
patchjson = Method("PATCH", "json")
getxml = Method("GET", "xml", body_in_query=True)
deletexml = Method("DELETE", "xml", body_in_query=True)
postxml = Method("POST", "xml")
putxml = Method("PUT", "xml")
patchxml = Method("PATCH", "xml")
