"""A proxied GET through the HTTP cache (``cache.py``): served fresh from the cache,
revalidated, or fetched by one request (in one worker, see ``HttpCache.lock_fill``) while
the others that miss the key wait.  A HEAD gets a fresh GET entry's head."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from skitai.gateway.cache import Entry, HttpCache
from skitai.upstream import cachecontrol
from skitai.upstream.connection import UpstreamError
from skitai.worker.stream import Stream

if TYPE_CHECKING:
    from skitai.gateway.proxy import ProxyHandler

_CONDITIONALS = frozenset({b"if-none-match", b"if-modified-since", b"if-match",
                           b"if-unmodified-since", b"if-range"})


async def forward(proxy: ProxyHandler, cache: HttpCache, stream: Stream) -> None:
    request = stream.request
    host = next((v for n, v in request.headers if n == b"host"), b"")
    key = cache.key(host, request.target)
    revalidate = cachecontrol.client_revalidates(request.headers)
    if request.method == b"HEAD":
        # The GET's entry, fresh, answers a HEAD (no body); otherwise the member does
        # (a HEAD fills nothing: its answer has no body to keep).
        entry = cache.lookup(key, request.headers)
        if entry is not None and entry.fresh(time.time()) and not revalidate:
            cache.hits += 1
            serve(stream, entry)
            return
        await proxy.forward(stream)
        return
    waited = False
    while True:
        entry = cache.lookup(key, request.headers)
        if entry is not None and entry.fresh(time.time()) and not revalidate:
            cache.hits += 1
            serve(stream, entry)
            return
        fill = cache.fills.get(key)
        if fill is None or waited:
            break
        waited = True
        await fill  # another request fetches this key: read the cache after it
    fill = cache.fills[key] = proxy.pool.loop.create_future()
    try:
        lock = await cache.lock_fill(key)  # this worker's fill: one across the workers
        try:
            if lock is not None and (lock.waited or entry is not None):
                # Another worker filled (or revalidated) the key meanwhile: the disk has
                # its entry, newer than the stale copy in this worker's memory.
                entry = cache.reload(key, request.headers)
                if entry is not None and entry.fresh(time.time()) and not revalidate \
                        and not stream.closed:
                    cache.hits += 1
                    serve(stream, entry)
                    return
            cache.misses += 1
            await _fetch(proxy, cache, stream, key, entry)
        finally:
            cache.unlock_fill(lock)
    finally:
        del cache.fills[key]
        fill.set_result(None)


async def _fetch(proxy: ProxyHandler, cache: HttpCache, stream: Stream, key: str,
                 entry: Entry | None) -> None:
    headers = proxy.member_headers(stream, stream.txn().next_call()[1])
    headers = [h for h in headers if h[0] not in _CONDITIONALS]
    if entry is not None:
        headers += entry.validators()
    started = time.monotonic()
    try:
        response = await proxy.pool.open(b"GET", proxy.member_target(stream), headers)
    except UpstreamError as exc:
        proxy.fail(stream, exc, started)
        return
    stream.upstream = f"{response.member.label}/{int((time.monotonic() - started) * 1000)}ms"
    try:
        if response.status == 304 and entry is not None:
            await response.body(limit=1 << 16, timeout=proxy.pool.timeout)
            cache.refresh(key, entry, response.headers)
            serve(stream, entry)
            return
        size = _length(response.headers)
        if response.complete or (size is not None and size <= cache.entry_max):
            try:
                body = await response.body(limit=cache.entry_max or None,
                                           timeout=proxy.pool.timeout)
            except UpstreamError as exc:
                proxy.fail(stream, exc, started)
                return
            cache.store(key, stream.request.headers, response.status, response.reason,
                        response.headers, body)
            if not stream.closed:
                proxy.send_whole(stream, response, body)
            return
        await proxy.relay(stream, response)  # too large to keep: streamed, not stored
    finally:
        proxy.pool.release(response)


def serve(stream: Stream, entry: Entry) -> None:
    """An entry as the answer: ``Age`` added; a matching ``If-None-Match`` gets a 304."""
    if stream.closed:
        return
    from skitai.gateway.proxy import client_headers

    headers = client_headers(entry.headers)
    headers = [h for h in headers if h[0] != b"age"]
    headers.append((b"age", str(int(entry.age(time.time()))).encode()))
    etag = next((v for n, v in entry.headers if n == b"etag"), None)
    asked = next((v for n, v in stream.request.headers if n == b"if-none-match"), None)
    if etag is not None and asked is not None and (asked.strip() == b"*" or etag in [
            t.strip() for t in asked.split(b",")]):
        kept = [h for h in headers if h[0] not in (b"content-length", b"content-type")]
        stream.respond(304, kept, b"")
        return
    body = entry.body
    if not any(n == b"content-length" for n, _ in headers):
        headers.append((b"content-length", str(len(body)).encode()))
    if stream.request.method == b"HEAD":
        body = b""  # the GET's headers, Content-Length included, and no body
    stream.respond(entry.status, headers, body, entry.reason)


def _length(headers: list[tuple[bytes, bytes]]) -> int | None:
    for name, value in headers:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
