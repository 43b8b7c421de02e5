"""Virtual hosts and mount points: which handler serves a request.

Rules (the README's "Mount ..." and "Mounting With Virtual Host" sections):
- a host table per ``host=`` (exact names, and ``.example.com`` which matches
  ``example.com`` and any subdomain; the longest wildcard wins); requests for other hosts
  use the default table (mounts without ``host=``);
- the longest mount point that is a whole-segment prefix of the path wins;
- a static directory and an app on the same point: the file if it exists, else the app.

Matching uses the percent-decoded path (what SCRIPT_NAME + PATH_INFO will hold).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import unquote_to_bytes

if TYPE_CHECKING:
    from skitai.worker.handler import Handler
    from skitai.worker.static import StaticDirectory
    from skitai.worker.stream import Stream


@dataclass
class Route:
    point: str  # "/" or "/sub" (no trailing slash)
    statics: list[StaticDirectory] = field(default_factory=list)  # in mount order
    app: Handler | None = None
    body_limit: int = 0  # the app's max_client_body_size (0: the server's)


Resolved = tuple[Route, str, str, bytes]


class Table:
    """The mount points of one virtual host."""

    def __init__(self, on_change: Callable[[], None] | None = None) -> None:
        self.routes: dict[str, Route] = {}
        self._ordered: list[tuple[bytes, Route]] = []
        self._on_change = on_change

    def add(self, point: str, *, static: StaticDirectory | None = None,
            app: Handler | None = None) -> None:
        route = self.routes.setdefault(point, Route(point))
        if static is not None:
            route.statics.append(static)
        if app is not None:
            route.app = app
            route.body_limit = app.body_limit
        if self._on_change is not None:
            self._on_change()
        # Longest first, so the first whole-segment prefix found is the longest one.
        self._ordered = sorted(
            ((("" if p == "/" else p).encode("latin-1"), r) for p, r in self.routes.items()),
            key=lambda item: len(item[0]),
            reverse=True,
        )

    def match(self, path: bytes) -> tuple[Route, bytes, bytes] | None:
        """(route, script_name, path_info) for a decoded path, or None."""
        for prefix, route in self._ordered:
            if not prefix:
                return route, b"", path
            if path.startswith(prefix) and (len(path) == len(prefix) or path[len(prefix)] == 47):
                return route, prefix, path[len(prefix):]
        return None


# Targets longer than this are routed every time (the cache holds only short ones), and
# the cache starts over when it holds this many entries.
_CACHE_TARGET = 256
_CACHE_ENTRIES = 1024


class ForwardProxy(Protocol):
    """``skitai.gateway.forward.ForwardProxy``: takes the requests a forward proxy serves."""

    def wants(self, target: bytes, method: bytes) -> bool: ...

    def __call__(self, stream: Stream) -> Coroutine[Any, Any, None] | None: ...


class Router:
    def __init__(self) -> None:
        # (Host or None, target) -> what ``resolve`` returns.  Keep-alive clients ask for
        # the same few targets over and over; routing is a pure function of the two.
        self._cache: dict[tuple[bytes | None, bytes], Resolved | None] = {}
        self.default = Table(self._cache.clear)
        self.exact: dict[bytes, Table] = {}
        self.wildcards: list[tuple[bytes, Table]] = []  # (".example.com", table), longest first
        self.virtual_hosts = False  # a table for a host exists: the Host header matters
        # enable_proxy(): absolute-form and CONNECT requests go here, before any mount.
        self.forward_proxy: ForwardProxy | None = None

    def resolve(self, host: bytes | None, target: bytes) -> Resolved | None:
        """(route, SCRIPT_NAME, PATH_INFO, raw query) of a request target, or None when
        no mount matches; ``host`` matters only with virtual hosts."""
        key = (host, target)
        try:
            return self._cache[key]
        except KeyError:
            pass
        path, query = split_target(target)
        match = self.match(host, decode_path(path))
        found = None if match is None else \
            (match[0], match[1].decode("latin-1"), match[2].decode("latin-1"), query)
        if len(target) <= _CACHE_TARGET:
            if len(self._cache) >= _CACHE_ENTRIES:
                self._cache.clear()
            self._cache[key] = found
        return found

    def table_for(self, host: str | None) -> Table:
        if host is None:
            return self.default
        self.virtual_hosts = True
        key = host.lower().encode("idna" if not host.isascii() else "ascii")
        if key.startswith(b"."):
            for suffix, table in self.wildcards:
                if suffix == key:
                    return table
            table = Table(self._cache.clear)
            self.wildcards.append((key, table))
            self.wildcards.sort(key=lambda item: len(item[0]), reverse=True)
            return table
        found = self.exact.get(key)
        if found is None:
            found = self.exact[key] = Table(self._cache.clear)
        return found

    def select(self, host: bytes | None) -> Table:
        if host and (self.exact or self.wildcards):
            name = host.lower()
            if name.startswith(b"["):
                name = name[: name.find(b"]") + 1]
            else:
                name = name.rsplit(b":", 1)[0] if b":" in name else name
            table = self.exact.get(name)
            if table is not None:
                return table
            for suffix, table in self.wildcards:
                if name.endswith(suffix) or name == suffix[1:]:
                    return table
        return self.default

    def match(self, host: bytes | None, path: bytes) -> tuple[Route, bytes, bytes] | None:
        return self.select(host).match(path)


def split_target(target: bytes) -> tuple[bytes, bytes]:
    """(raw path, raw query) of a request target in origin or absolute form."""
    if target[:1] != b"/":
        if target == b"*":
            return b"*", b""
        scheme_end = target.find(b"://")
        if scheme_end > 0:
            slash = target.find(b"/", scheme_end + 3)
            target = target[slash:] if slash >= 0 else b"/"
    path, _, query = target.partition(b"?")
    return path, query


def decode_path(raw: bytes) -> bytes:
    return unquote_to_bytes(raw) if b"%" in raw else raw
