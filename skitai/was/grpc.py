"""``was.grpc(url, Stub)``: unary gRPC calls through the app's generated stubs, on a
``grpc.aio`` channel per member (grpcio, the ``grpc`` extra)::

    from route_guide_pb2_grpc import RouteGuideStub
    feature = was.grpc("@routes", RouteGuideStub).GetFeature(point).getwait(5).data

``url`` is ``@alias`` or ``http(s)://host:port`` (``https``: TLS with the system CAs).
A method that streams its answer gives the list of messages.  A gRPC error gives status
2 with the ``grpc.aio.AioRpcError`` (``.code()``, ``.details()``) as ``error``.  Each call
sends the request's transaction ids as ``x-gtxn-id``/``x-ltxn-id`` metadata.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable
from typing import Any

from skitai.config.aliases import Member
from skitai.was import context, handle, targets
from skitai.was.result import DONE, Result

_channels: dict[tuple[Member, int], Any] = {}


def _channel(member: Member) -> Any:
    loop = asyncio.get_running_loop()
    key = (member, id(loop))
    found = _channels.get(key)
    if found is None:
        grpc: Any = importlib.import_module("grpc")
        address = f"[{member.host}]:{member.port}" if ":" in member.host else \
            f"{member.host}:{member.port}"
        if member.ssl:
            found = grpc.aio.secure_channel(address, grpc.ssl_channel_credentials())
        else:
            found = grpc.aio.insecure_channel(address)
        _channels[key] = found
    return found


async def _invoke(member: Member, stub_class: Any, method: str, request: Any,
                  metadata: tuple[tuple[str, str], ...], timeout: float, label: str,
                  ltxid: int) -> Result:
    call = getattr(stub_class(_channel(member)), method)
    answer = call(request, metadata=metadata, timeout=timeout)
    if hasattr(answer, "__aiter__"):  # a server-streaming method
        data: Any = [message async for message in answer]
    else:
        data = await answer
    return Result(status=DONE, status_code=200, reason="OK", data=data, target=label,
                  ltxid=ltxid)


class _Stub:
    def __init__(self, url: str, stub_class: Any, mode: str, timeout: float,
                 meta: dict[str, Any] | None, callback: Callable[[Result], Any] | None) -> None:
        if url.startswith("@"):
            self._target = targets.resolve_http(url + ("" if "/" in url else "/"))
        else:
            self._target = targets.resolve_http(url)
        self._stub_class = stub_class
        self._mode = mode
        self._timeout = timeout
        self._meta = meta
        self._callback = callback

    def __getattr__(self, method: str) -> Callable[[Any], handle.Call | handle.MapCall]:
        if method.startswith("_"):
            raise AttributeError(method)
        target, stub_class, timeout = self._target, self._stub_class, self._timeout
        label = f"gRPC {target.name} {method}"

        def start(request: Any) -> handle.Call | handle.MapCall:
            txn = context.txn()

            def make(member: Member | None) -> handle.Call:
                ltxid, ids = txn.next_call()
                metadata = tuple((n.decode().lower(), v.decode()) for n, v in ids)

                def runner(member: Member) -> Callable[[], Any]:
                    return lambda: _invoke(member, stub_class, method, request, metadata,
                                           timeout, label, ltxid)

                run = runner(member) if member is not None else \
                    targets.balancer.runner(target.members, runner)
                return handle.Call(run, target=label, timeout=timeout,
                                   meta=dict(self._meta or {}), ids=(txn.gtxid, ltxid),
                                   callbacks=None if self._callback is None
                                   else [self._callback])

            if self._mode == "map":
                return handle.MapCall(lambda: [make(m) for m in target.members], target=label)
            return make(None)

        return start


class Service:
    """``was.grpc(url, Stub)``, ``.lb(...)``, ``.map(...)``."""

    def __call__(self, url: str, stub_class: Any, *, timeout: float = handle.DEFAULT_TIMEOUT,
                 meta: dict[str, Any] | None = None,
                 callback: Callable[[Result], Any] | None = None) -> _Stub:
        return _Stub(url, stub_class, "one", timeout, meta, callback)

    def lb(self, url: str, stub_class: Any, **options: Any) -> _Stub:
        return _Stub(url, stub_class, "lb", options.get("timeout", handle.DEFAULT_TIMEOUT),
                     options.get("meta"), options.get("callback"))

    def map(self, url: str, stub_class: Any, **options: Any) -> _Stub:
        return _Stub(url, stub_class, "map", options.get("timeout", handle.DEFAULT_TIMEOUT),
                     options.get("meta"), options.get("callback"))


async def close_all() -> None:
    here = id(asyncio.get_running_loop())
    for key in [k for k in _channels if k[1] == here]:
        await _channels.pop(key).close()


grpc = Service()
