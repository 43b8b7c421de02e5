"""The seam between the worker's connections and what is mounted on it.

A ``Handler`` serves one ``Stream`` (``stream.py``): the WSGI adapter (``wsgi.py``), a
static directory (``static.py``), the forward listener's redirect (``forward.py``), and the
reverse proxy and Saddle to come.  ``routing.Route`` holds handlers; ``dispatch.py`` picks
one and calls it.  A handler returns an awaitable when it has more to do on the loop (the
dispatcher runs it as a task and answers 500 if it fails), or None when it is done or has
handed the request elsewhere (a WSGI app submitted to the thread pool).
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from skitai.worker.stream import Stream


class Handler(Protocol):
    """What every mounted thing implements."""

    @property
    def body_limit(self) -> int:
        """The largest request body it accepts (0: the server's ``max_client_body_size``)."""
        ...

    def __call__(self, stream: Stream) -> Coroutine[Any, Any, None] | None: ...


@runtime_checkable
class ContinueRelay(Protocol):
    """A handler that answers ``Expect: 100-continue`` itself: the reverse proxy relays its
    member's 100 or final answer.  The dispatcher sends the 100 for every other handler
    once it accepted the request (only then is this checked: the check is not per request).
    """

    def relays_continue(self) -> bool: ...


@runtime_checkable
class WebSocketTunnel(Protocol):
    """A handler that carries a WebSocket itself (the reverse proxy): an HTTP/2 extended
    CONNECT for it is handed to ``websocket(stream)`` (the stream's request reads as the
    GET of RFC 8441 4) instead of the WSGI WebSocket contract."""

    def websocket(self, stream: Stream) -> Coroutine[Any, Any, None]: ...
