"""What a ``was`` call gives back: ``Result`` (one call) and ``Results`` (``.map``).

``status`` says how the call went, not what the backend answered (README "Async
Requests"): 0 not finished, 1 timed out, 2 failed (``error`` holds the exception), 3
done.  ``status_code`` is the backend's answer: the HTTP status, 200 for a database call
that ran, ``None`` when nothing answered.  ``data`` is the decoded payload: JSON and XML
bodies parsed, text as ``str``, rows as ``Row`` objects, a Redis reply as is.
"""

from __future__ import annotations

import json as json_mod
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from skitai.was import rcache

INITIAL: Final = 0
TIMEOUT: Final = 1
EXCEPTION: Final = 2
DONE: Final = 3

_UNSET: Any = object()


class CallError(Exception):
    """A call did not finish (``status`` 1 or 2); raised by ``wait()`` and by
    ``getwait(reraise=True)``.  ``result`` is the failed ``Result``."""

    def __init__(self, message: str, result: Result) -> None:
        super().__init__(message)
        self.result = result


class CallTimeout(CallError, TimeoutError):
    """The call had no answer within its timeout (status 1)."""


class Headers(dict[str, str]):
    """Response headers, looked up without regard to case (the names are stored
    lower-cased)."""

    def __getitem__(self, name: str) -> str:
        return super().__getitem__(name.lower())

    def get(self, name: str, default: Any = None) -> Any:
        return super().get(name.lower(), default)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and super().__contains__(name.lower())


class Result:
    """One call's outcome."""

    __slots__ = ("status", "status_code", "reason", "headers", "content", "error", "meta",
                 "id", "target", "ltxid", "cached", "started", "_data", "_cache_key", "_rcache")

    def __init__(self, *, status: int = INITIAL, status_code: int | None = None,
                 reason: str = "", headers: Headers | None = None, content: bytes | None = None,
                 data: Any = _UNSET, error: BaseException | None = None,
                 meta: dict[str, Any] | None = None, id: str | None = None,
                 target: str = "", ltxid: int = 0) -> None:
        self.status = status
        self.status_code = status_code
        self.reason = reason
        self.headers = headers if headers is not None else Headers()
        self.content = content
        self.error = error
        self.meta = meta if meta is not None else {}
        self.id = id
        self.target = target
        self.ltxid = ltxid
        self.cached = False
        self.started = time.time()
        self._data = data
        self._cache_key: Any = None
        self._rcache: rcache.ResultCache | None = None

    def __repr__(self) -> str:
        what = self.status_code if self.status == DONE else _STATUS_NAMES.get(self.status)
        return f"<Result {self.target} {what}>"

    # --- the payload --------------------------------------------------------------------
    @property
    def data(self) -> Any:
        if self._data is _UNSET:
            self._data = _decode(self.content, self.headers.get("content-type", ""))
        return self._data

    @property
    def text(self) -> str:
        content = self.content
        if content is None:
            data = self.data
            return data if isinstance(data, str) else ("" if data is None else str(data))
        return content.decode(_charset(self.headers.get("content-type", "")), "replace")

    def json(self) -> Any:
        if self.content is None:
            return self.data
        return json_mod.loads(self.content)

    @property
    def ok(self) -> bool:
        return self.status == DONE and (self.status_code is None or self.status_code < 400)

    # --- failure ------------------------------------------------------------------------
    def reraise(self) -> Result:
        """Raise when the call did not finish (status 1 or 2); else return self."""
        if self.status == DONE:
            return self
        if self.status == TIMEOUT:
            raise CallTimeout(f"{self.target}: no answer in time", self) from self.error
        if self.error is not None:
            raise CallError(f"{self.target}: {type(self.error).__name__}: {self.error}",
                            self) from self.error
        raise CallError(f"{self.target}: not finished (status {self.status})", self)

    def raise_for_status(self) -> Result:
        """Also raise for an HTTP error answer (4xx, 5xx)."""
        self.reraise()
        if self.status_code is not None and self.status_code >= 400:
            raise CallError(f"{self.target}: {self.status_code} {self.reason}", self)
        return self

    # --- caching ------------------------------------------------------------------------
    def cache(self, timeout: float = 60) -> None:
        """Keep this result for ``timeout`` seconds: the same call is then answered from
        memory (README "Caching Result").  Ignored unless the call finished (status 3),
        and for a result that came from the cache."""
        if self.status != DONE or self.cached or self._rcache is None or self._cache_key is None:
            return
        self._rcache.put(self._cache_key, self, timeout, self.started)

    def set_cache_key(self, key: Any, cache: rcache.ResultCache | None, started: float) -> None:
        """Where ``cache()`` stores; ``started`` is when the call began, so an update
        (``setlu``) made while it ran still makes the entry stale."""
        self._cache_key = key
        self._rcache = cache
        self.started = started


class Results:
    """The results of a ``.map`` call, one per member, iterable; ``status_code`` is
    the list of their codes."""

    def __init__(self, results: list[Result]) -> None:
        self.results = results
        self.cached = False
        self.status = DONE if results and all(r.status == DONE for r in results) else (
            max((r.status for r in results if r.status != DONE), default=INITIAL))
        self._cache_key: Any = None
        self._rcache: rcache.ResultCache | None = None
        self.started = time.time()

    def __iter__(self) -> Iterator[Result]:
        return iter(self.results)

    def __len__(self) -> int:
        return len(self.results)

    def __getitem__(self, index: int) -> Result:
        return self.results[index]

    def __repr__(self) -> str:
        return f"<Results {self.status_code}>"

    @property
    def status_code(self) -> list[int | None]:
        return [r.status_code for r in self.results]

    @property
    def data(self) -> list[Any]:
        return [r.data for r in self.results]

    def reraise(self) -> Results:
        for r in self.results:
            r.reraise()
        return self

    def cache(self, timeout: float = 60) -> None:
        if self.status != DONE or self.cached or self._rcache is None or self._cache_key is None:
            return
        self._rcache.put(self._cache_key, self, timeout, self.started)

    def set_cache_key(self, key: Any, cache: rcache.ResultCache | None, started: float) -> None:
        self._cache_key = key
        self._rcache = cache
        self.started = started


_STATUS_NAMES: Final = {INITIAL: "pending", TIMEOUT: "timeout", EXCEPTION: "error", DONE: "done"}


def _charset(content_type: str) -> str:
    for part in content_type.split(";")[1:]:
        name, _, value = part.strip().partition("=")
        if name.lower() == "charset" and value:
            return value.strip('"') or "utf-8"
    return "utf-8"


def _decode(content: bytes | None, content_type: str) -> Any:
    """A body as the app wants it: parsed JSON, an XML element, text, or bytes."""
    if content is None:
        return None
    mime = content_type.split(";", 1)[0].strip().lower()
    if mime == "application/json" or mime.endswith("+json"):
        if not content:
            return None
        return json_mod.loads(content)
    if mime in ("text/xml", "application/xml") or mime.endswith("+xml"):
        from xml.etree import ElementTree

        return ElementTree.fromstring(content)
    if mime.startswith("text/") or mime in ("application/javascript", "application/x-www-form-urlencoded"):
        return content.decode(_charset(content_type), "replace")
    return content
