"""Per-app request body limits: the seed's ``pref.config`` keys, checked as the body arrives.

``pref.max_client_body_size`` (the whole body, any request) is the connection's limit.
The seed's finer keys ("Setting POST Body Size Limitation") are the app's:

- ``max_post_body_size``: a body that is not ``multipart/form-data``;
- ``max_multipart_body_size``: a ``multipart/form-data`` body;
- ``max_upload_file_size``: each file part of a ``multipart/form-data`` body (a part
  whose ``Content-Disposition`` has a ``filename``).

A body over a limit is refused with 413 (``stream.BodyRefused``): at once when its
Content-Length says so, else when the byte that breaks it arrives.  File parts are found
by scanning the body as it arrives with ``python-multipart``'s streaming parser (only
when ``max_upload_file_size`` is set); a body that is not valid multipart is left to the
app (it gets the bytes and answers as it sees fit).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from skitai.config import parse
from skitai.worker import events
from skitai.worker.stream import BodyRefused

__all__ = ["BodyLimits", "from_pref"]


@dataclass(frozen=True)
class BodyLimits:
    """0: no limit of that kind."""

    post: int = 0
    multipart: int = 0
    upload: int = 0

    def checker(self, request: events.Request) -> Callable[[bytes], None] | None:
        """The check for this request's body chunks (None: nothing to check); raises
        ``BodyRefused`` at once when the declared Content-Length is already too large."""
        boundary = _boundary(request)
        limit = self.multipart if boundary is not None else self.post
        cl = request.content_length
        if limit and cl is not None and cl > limit:
            raise BodyRefused(f"request body of {cl} bytes over the app's limit of {limit}")
        scanner = _FileParts(boundary, self.upload) if boundary and self.upload else None
        if cl is not None:
            limit = 0  # the declared length is within it, and the connection holds it to that
        if not limit and scanner is None:
            return None
        return _Check(limit, scanner)


class _Check:
    __slots__ = ("limit", "seen", "scanner")

    def __init__(self, limit: int, scanner: _FileParts | None) -> None:
        self.limit = limit
        self.seen = 0
        self.scanner = scanner

    def __call__(self, data: bytes) -> None:
        self.seen += len(data)
        if self.limit and self.seen > self.limit:
            raise BodyRefused(f"request body over the app's limit of {self.limit} bytes")
        if self.scanner is not None:
            self.scanner.feed(data)


class _FileParts:
    """Counts the bytes of each file part of a multipart body as it streams by."""

    def __init__(self, boundary: bytes, limit: int) -> None:
        from python_multipart.multipart import MultipartParser

        self.limit = limit
        self._size = 0
        self._is_file = False
        self._field = b""
        self._value = b""
        self._failed = False
        self._parser = MultipartParser(boundary, {
            "on_part_begin": self._part_begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value,
            "on_header_end": self._header_end,
            "on_part_data": self._part_data,
        })

    def feed(self, data: bytes) -> None:
        if self._failed:
            return
        try:
            self._parser.write(data)
        except BodyRefused:
            raise
        except Exception:  # noqa: BLE001 - not valid multipart: the app will say so
            self._failed = True

    # parser callbacks (data[start:end] is the piece)
    def _part_begin(self) -> None:
        self._size = 0
        self._is_file = False
        self._field = self._value = b""

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _header_end(self) -> None:
        if self._field.lower() == b"content-disposition":
            from python_multipart.multipart import parse_options_header

            _, params = parse_options_header(self._value)
            self._is_file = b"filename" in params or b"filename*" in params
        self._field = self._value = b""

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._is_file:
            self._size += end - start
            if self._size > self.limit:
                raise BodyRefused(f"uploaded file over the app's limit of {self.limit} bytes")


def _boundary(request: events.Request) -> bytes | None:
    """The boundary of a ``multipart/form-data`` body, else None."""
    for name, value in request.headers:
        if name == b"content-type":
            kind, _, params = value.partition(b";")
            if kind.strip().lower() != b"multipart/form-data":
                return None
            for param in params.split(b";"):
                key, _, val = param.strip().partition(b"=")
                if key.strip().lower() == b"boundary":
                    return val.strip().strip(b'"') or None
            return None
    return None


def from_pref(pref: Any) -> BodyLimits | None:
    """The limits in ``pref.config`` (None when it sets none); sizes as ``parse.size``
    reads them (``2 << 32``, ``"10MB"``); a bad one raises ValueError naming its key."""
    config = getattr(pref, "config", None) or {}
    sizes = []
    for key in ("max_post_body_size", "max_multipart_body_size", "max_upload_file_size"):
        try:
            sizes.append(parse.size(config.get(key) or 0))
        except ValueError as exc:
            raise ValueError(f"pref.config.{key}: {exc}") from None
    limits = BodyLimits(*sizes)
    return limits if limits != BodyLimits() else None
