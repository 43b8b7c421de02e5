"""``was.response``: the status, headers and body a view sets (the seed's methods), and
``HTTPError`` (``was.response.throw``).

A view usually just returns content; ``was.response`` exists only when it is touched
(``was.response.set_header(...)``, ``return was.response("404 Not Found")``), so a plain
``return "text"`` builds no object here.
"""

from __future__ import annotations

import json
import mimetypes
import os
import sys
import traceback as tb_mod
from http import HTTPStatus
from typing import Any
from urllib.parse import quote


def status_line(status: int | str) -> str:
    """``404`` or ``"404"`` -> ``"404 Not Found"``; a full line is kept as given."""
    if isinstance(status, int) or (isinstance(status, str) and status.strip().isdigit()):
        code = int(status)
        try:
            return f"{code} {HTTPStatus(code).phrase}"
        except ValueError:
            return f"{code} Unknown"
    text = str(status).strip()
    if len(text) < 3 or not text[:3].isdigit():
        raise ValueError(f"an HTTP status is '200 OK' or 200, got {status!r}")
    if len(text) == 3:
        return status_line(int(text))
    return text


class HTTPError(Exception):
    """Stops the request with an error response (``was.response.throw("403 Forbidden")``).
    Templates see ``error.code``, ``error.message``, ``error.detail``, ``error.url``,
    ``error.time`` and, with ``app.debug``, ``error.traceback``."""

    def __init__(self, status: int | str, detail: str = "", headers: list[tuple[str, str]] | None = None,
                 exc_info: Any = None) -> None:
        self.status = status_line(status)
        self.code = int(self.status[:3])
        self.message = self.status[4:]
        self.detail = detail
        self.headers = list(headers or [])
        self.exc_info = exc_info
        self.url = ""
        self.time = ""
        self.traceback: list[str] = []
        super().__init__(self.status + (f": {detail}" if detail else ""))


_HERE = os.path.dirname(os.path.abspath(__file__)) + os.sep


def format_traceback(exc_info: Any) -> list[str]:
    """The seed's compact traceback: the message, then ``in file F at line N, function X``."""
    etype, value, tb = exc_info
    lines = [f"{etype.__name__}: {value}"]
    for frame in tb_mod.extract_tb(tb):
        if frame.filename.startswith(_HERE):
            continue  # Saddle's own frames say nothing about the app's error
        lines.append(f"in file {frame.filename} at line {frame.lineno}, function {frame.name}")
    return lines


def content_disposition(filename: str) -> str:
    """``attachment`` with the name as is when it is plain ASCII, else RFC 6266's
    ``filename*=UTF-8''...`` beside an ASCII fallback."""
    plain = filename.replace("\\", "_").replace('"', "_")
    if plain.isascii() and plain.isprintable():
        return f'attachment; filename="{plain}"'
    fallback = "".join(ch if ch.isascii() and ch.isprintable() else "_" for ch in plain)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


class Response:
    """``was.response``: call it to answer (``was.response("200 OK", body, headers)``), or
    set headers on the response a view's return value becomes."""

    def __init__(self, environ: dict[str, Any]) -> None:
        self._env = environ
        self.status = "200 OK"
        self.headers: list[tuple[str, str]] = []
        self.body: Any = None
        self.exc_info: Any = None
        self.answered = False  # True once called or given a body by file()/api()

    def __call__(self, status: int | str = "200 OK", body: Any = None,
                 headers: list[tuple[str, str]] | None = None, exc_info: Any = None) -> Response:
        self.status = status_line(status)
        self.body = body
        if headers:
            for k, v in headers:
                self.set_header(k, v)
        self.exc_info = exc_info
        self.answered = True
        return self

    # --- status and headers ---------------------------------------------------------------------
    def set_status(self, status: int | str) -> None:
        self.status = status_line(status)

    def get_status(self) -> str:
        return self.status

    @property
    def code(self) -> int:
        return int(self.status[:3])

    def set_headers(self, headers: list[tuple[str, str]]) -> None:
        for k, v in headers:
            self.set_header(k, v)

    def get_headers(self) -> list[tuple[str, str]]:
        return list(self.headers)

    def set_header(self, name: str, value: Any) -> None:
        self.del_header(name)
        self.headers.append((name, str(value)))

    def append_header(self, name: str, value: Any) -> None:
        """Adds one more field (``Set-Cookie``, ``Link``) without replacing the others."""
        self.headers.append((name, str(value)))

    def get_header(self, name: str, default: str | None = None) -> str | None:
        low = name.lower()
        for k, v in self.headers:
            if k.lower() == low:
                return v
        return default

    def del_header(self, name: str) -> None:
        low = name.lower()
        self.headers = [(k, v) for k, v in self.headers if k.lower() != low]

    __setitem__ = set_header
    __delitem__ = del_header

    def __getitem__(self, name: str) -> str | None:
        return self.get_header(name)

    # --- what to send ----------------------------------------------------------------------------
    def throw(self, status: int | str = "500 Internal Server Error", detail: str = "") -> None:
        """Abort the request now with an error response."""
        raise HTTPError(status, detail, self.headers)

    def file(self, path: str, mimetype: str | None = None, filename: str | None = None) -> Response:
        """Send a file (with sendfile under the engine); ``filename`` makes it a download."""
        size = os.path.getsize(path)  # raises for a missing file: a 500 the log names
        self.set_header("Content-Type", mimetype or mimetypes.guess_type(path)[0]
                        or "application/octet-stream")
        self.set_header("Content-Length", size)
        if filename:
            self.set_header("Content-Disposition", content_disposition(filename))
        self.body = open(path, "rb")  # noqa: SIM115 - closed by the server (PEP 3333)
        self.answered = True
        return self

    def api(self, __data_dict__: dict[str, Any] | None = None, **kwargs: Any) -> Response:
        """A JSON API answer: ``was.response.api(data=[1, 2, 3])`` -> ``{"data": [1, 2, 3]}``."""
        data = dict(__data_dict__ or {})
        data.update(kwargs)
        return self._json(data)

    def fault(self, msg: str = "", code: int = 20000, debug: str | None = None,
              more_info: str | None = None, exc_info: Any = None) -> Response:
        data: dict[str, Any] = {"message": msg, "code": code}
        if debug is not None:
            data["debug"] = debug
        if more_info is not None:
            data["more_info"] = more_info
        if exc_info is not None:
            data["traceback"] = format_traceback(exc_info)
        return self._json(data)

    def traceback(self, msg: str = "", code: int = 10001, debug: str = "see traceback",
                  more_info: str | None = None) -> Response:
        """The current exception as an API answer (status stays 200, as the seed says)."""
        info = sys.exc_info()
        return self.fault(msg, code, debug, more_info, info if info[0] is not None else None)

    def for_api(self, status: int | str = "200 OK", *args: Any, **kwargs: Any) -> Response:
        """``api()`` for a 2xx status, else ``fault(*args)`` with that status."""
        line = status_line(status)
        if line.startswith("2"):
            self.api(*args, **kwargs)
        else:
            self.fault(*args, **kwargs)
        self.status = line
        return self

    def _json(self, data: Any) -> Response:
        self.set_header("Content-Type", "application/json")
        self.body = json.dumps(data, default=str)
        self.answered = True
        return self

    def hint_promise(self, uri: str) -> None:
        """HTTP/2 server push / 103 Early Hints under the engine; elsewhere a preload Link."""
        hint = self._env.get("skitai.hint_promise")
        if hint is not None:
            hint(uri)
        else:
            self.append_header("Link", f"<{uri}>; rel=preload")
