"""Routing a new stream and starting its handler: one copy for every protocol.

Theory.  A connection (HTTP/1.1, HTTP/2, WebSocket over HTTP/2) makes a ``Stream`` for
each request and calls ``dispatch``: the router (``routing.py``) finds the mount, the
request body limit is checked before any body is read (413), ``Expect: 100-continue`` is
answered, and the mount's ``Handler`` (``handler.py``) is called; an awaitable it returns
runs as a task that the connection watches.  A static directory mounted with an app on the
same point serves the file if it exists, else the app.

What this needs of the server is the ``Site`` protocol below, not ``server.Server``:
the forward listener and tests bring their own.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Protocol

from skitai.worker import eager, events, websocket_app
from skitai.worker.handler import ContinueRelay
from skitai.worker.static import Refusal
from skitai.worker.stream import NO_LINKS, BodyBuffer, BodyRefused, ClientDisconnected, Stream

if TYPE_CHECKING:
    from skitai.worker.handler import Handler
    from skitai.worker.routing import Resolved, Route, Router

log = logging.getLogger("skitai.server")

SERVER_HEADER = b"skitai"

Respond = Callable[[Stream, int], None]
HintPromise = Callable[["Pusher", Stream, str], None]


class Site(Protocol):
    """What routing and the response head need of the server a connection belongs to."""

    loop: asyncio.AbstractEventLoop
    loop_thread: int
    date_header: bytes
    body_limit: int
    hint_promise: HintPromise | None

    def count_request(self, request: events.Request) -> None: ...


class Pusher(Protocol):
    """The connection a ``hint_promise`` is bound to (HTTP/2 may also push)."""

    @property
    def loop(self) -> asyncio.AbstractEventLoop: ...

    @property
    def server(self) -> Site: ...

    def push(self, parent: Stream, uri: str) -> bool: ...


def route_stream(site: Site, router: Router, stream: Stream,
                 found: Resolved | None = None) -> Route | None:
    """Count a new request and find its mount (None: no mount matches); sets the
    stream's ``script_name``, ``path_info`` and ``query``.  ``found``: what
    ``router.resolve`` answered for it, when the connection asked already."""
    request = stream.request
    site.count_request(request)
    if found is None:
        host = None
        if router.virtual_hosts:
            for name, value in request.headers:
                if name == b"host":
                    host = value
                    break
        found = router.resolve(host, request.target)
        if found is None:
            return None
    route, stream.script_name, stream.path_info, stream.query = found
    return route


def set_hint_promise(site: Site, conn: Pusher, stream: Stream) -> None:
    """Give the stream's WSGI environ ``skitai.hint_promise`` (when the server has one).
    A dotted key: PEP 3333 (and wsgiref.validate) want un-dotted keys to be CGI strings."""
    hint = site.hint_promise
    if hint is not None:
        stream.environ_extra = {"skitai.hint_promise": partial(hint, conn, stream)}


def dispatch(site: Site, router: Router, stream: Stream, respond: Respond,
             websocket: bool = False, found: Resolved | None = None) -> asyncio.Future[None] | None:
    """Route a new stream and start its handler.

    Gives the stream's body the route's size limit (``BodyBuffer.feed`` refuses past it)
    and returns the task running the handler's awaitable (None when the handler returned
    without one, e.g. a WSGI app submitted to the pool, or when ``respond(stream, status)``
    already answered).
    ``websocket``: the connection saw a WebSocket upgrade request (an app may take it).
    ``found``: ``router.resolve``'s answer for the request, when the connection asked
    already (HTTP/1.1: its static-file fast path); the forward proxy never gets one.
    """
    request = stream.request
    forward = router.forward_proxy
    if forward is not None and forward.wants(request.target, request.method):
        # enable_proxy(): absolute-form and CONNECT requests (skitai.gateway.forward)
        site.count_request(request)
        body = stream.body
        if type(body) is BodyBuffer:  # (NO_BODY: nothing will be fed)
            body.limit = site.body_limit
        try:
            proxied = forward(stream)
        except Exception:  # noqa: BLE001 - a proxy bug must not kill the connection loop
            log.exception("forward proxy failed for %s", request.target)
            respond(stream, 500)
            return None
        return eager.start(site.loop, proxied) if proxied is not None else None
    route = route_stream(site, router, stream, found)
    if route is None:
        respond(stream, 404)
        return None
    limit = route.body_limit or site.body_limit
    if request.content_length is not None and request.content_length > limit:
        respond(stream, 413)
        return None
    body = stream.body
    if type(body) is BodyBuffer:
        body.limit = limit  # BodyBuffer.feed refuses past it
    handler = pick_handler(route, stream, respond)
    if handler is None:
        return None
    # (An upgrade request with a body is served as plain HTTP by the adapter: never ours.)
    if websocket and handler is route.app and not request.has_body:
        if websocket_app.wants(handler):  # a WSGI app: it is asked (INIT) to take it
            websocket_app.start(stream, handler)
            return None
    try:
        result = handler(stream)
        task = eager.start(site.loop, result) if result is not None else None
    except BodyRefused as exc:  # the declared body breaks the handler's own limits
        respond(stream, exc.status)
        return None
    except Exception:  # noqa: BLE001 - a handler bug must not kill the connection loop
        log.exception("handler failed for %s", request.target)
        respond(stream, 500)
        return None
    if request.expect_continue and not stream.headers_sent and not stream.closed \
            and not (isinstance(handler, ContinueRelay) and handler.relays_continue()):
        # Only now: the handler has accepted the declared body (its limits passed).  A
        # ``ContinueRelay`` (the reverse proxy) asks its member instead.
        stream.send_informational(100)
    return task


def pick_handler(route: Route, stream: Stream, respond: Respond) -> Handler | None:
    """The handler: a static file if one exists, else the app, else 404."""
    for static in route.statics:
        found = static.resolve(stream)
        if found is None:
            continue
        if isinstance(found, Refusal):
            respond(stream, found.status)
            return None
        return partial(static.serve, resolved=found)  # type: ignore[return-value]  # a partial has no body_limit; dispatch reads the route's
    if route.app is not None:
        return route.app
    respond(stream, 404)
    return None


def response_headers(site: Site, stream: Stream | None,
                     headers: events.Headers) -> events.Headers:
    """A new list: the app's headers plus Date and Server (unless the app set them) and
    the stream's preload Link headers; marks the stream's first byte for the log."""
    if stream is not None:
        stream.first_byte = site.loop.time()
    extra = [(b"date", site.date_header), (b"server", SERVER_HEADER)]
    for name, _ in headers:
        if name == b"server" or name == b"date":
            extra = [h for h in extra if h[0] != name]
    if stream is not None and stream.link_headers:
        extra += stream.link_headers
    return headers + extra


# --- hint_promise ------------------------------------------------------------------------------------


def hint_promise(conn: Pusher, stream: Stream, uri: str) -> None:
    """``environ["skitai.hint_promise"](uri)`` (README "HTTP/2.0 Server Push"), bound to
    its connection and stream with ``functools.partial`` (no object of our own per
    request): tell the client early about a resource the response will need.  Every
    protocol: a ``Link: <uri>; rel=preload`` header on the response and a 103 Early Hints
    before it; on HTTP/2 with push allowed, also a PUSH_PROMISE and the resource served
    on the promised stream.  Callable from the app's thread; it takes effect only before
    the response head."""
    if not isinstance(uri, str) or not uri.startswith("/") or len(uri) > 2048 \
            or any(c in uri for c in "<>\"' ,;\r\n\t\\") or not uri.isprintable():
        raise ValueError(f"hint_promise: expected a path like '/images/a.png', got {uri!r}")
    try:
        link = b"<%s>; rel=preload" % uri.encode("ascii")
    except UnicodeEncodeError:
        raise ValueError(f"hint_promise: percent-encode the path {uri!r}") from None
    if stream.link_headers is NO_LINKS:
        stream.link_headers = []
    stream.link_headers.append((b"link", link))
    if threading.get_ident() == conn.server.loop_thread:
        _early_hint(conn, stream, uri, link)
    else:
        conn.loop.call_soon_threadsafe(_early_hint, conn, stream, uri, link)


def _early_hint(conn: Pusher, stream: Stream, uri: str, link: bytes) -> None:
    if stream.closed or stream.headers_sent or stream.ended:
        return
    try:
        stream.send_informational(103, [(b"link", link)])
    except (ClientDisconnected, RuntimeError):
        return
    conn.push(stream, uri)
