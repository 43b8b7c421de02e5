"""Request bodies: URL-encoded forms, JSON and multipart uploads (``python-multipart``).

Limits come from ``app.config`` (the seed's names): ``max_post_body_size`` for form and
JSON bodies, ``max_multipart_body_size`` for a whole multipart body and
``max_upload_file_size`` per uploaded file; past one, a ``BodyTooLarge`` (answered 413).
Uploaded files are written to temporary files (``file.path``) and removed at the end of
the request unless the view ``save()``d them.
"""

from __future__ import annotations

import json
import os
import shutil
from typing import IO, Any
from urllib.parse import parse_qsl


class BodyTooLarge(Exception):
    """A body past the app's limit: answered with a 413."""


class BadBody(Exception):
    """A body that does not parse as its Content-Type says: answered with a 400."""


class UploadedFile:
    """A file posted with ``multipart/form-data`` (the seed's attributes)."""

    def __init__(self, path: str, name: str, size: int, mimetype: str) -> None:
        self.path = path  # the temporary file
        self.name = name  # the name the client gave
        self.size = size
        self.mimetype = mimetype
        self._saved = False

    def remove(self) -> None:
        if not self._saved:
            try:
                os.remove(self.path)
            except FileNotFoundError:
                pass

    def save(self, into: str, name: str | None = None, mkdir: bool = False, dup: str = "u") -> str:
        """Move the upload into directory ``into`` as ``name`` (the client's file name
        by default, without any directory part); ``dup="u"`` makes a unique name when
        one exists, ``"o"`` overwrites.  Returns the final path."""
        if dup not in ("u", "o"):
            raise ValueError("dup is 'u' (make unique) or 'o' (overwrite)")
        if mkdir:
            os.makedirs(into, exist_ok=True)
        base = os.path.basename((name or self.name or "upload").replace("\\", "/"))
        if base in ("", ".", ".."):
            base = "upload"
        target = os.path.join(into, base)
        if dup == "u":
            stem, ext = os.path.splitext(base)
            n = 1
            while os.path.exists(target):
                target = os.path.join(into, f"{stem}.{n}{ext}")
                n += 1
        if self._saved:
            shutil.copyfile(self.path, target)
        else:
            shutil.move(self.path, target)
            self.path = target
            self._saved = True
        return target

    def __repr__(self) -> str:
        return f"<UploadedFile {self.name!r} {self.size} bytes {self.mimetype}>"


def add_value(out: dict[str, Any], key: str, value: Any) -> None:
    """Repeated names become lists (the seed: "its value will be set to form of value list")."""
    if key in out:
        old = out[key]
        if isinstance(old, list):
            old.append(value)
        else:
            out[key] = [old, value]
    else:
        out[key] = value


def parse_query(qs: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in parse_qsl(qs, keep_blank_values=True):
        add_value(out, k, v)
    return out


def read_body(stream: IO[bytes], length: int, limit: int) -> bytes:
    if length > limit:
        raise BodyTooLarge(f"request body of {length} bytes is over the limit of {limit}")
    if length >= 0:
        return stream.read(length) if length else b""
    data = stream.read(limit + 1)  # chunked: no length given
    if len(data) > limit:
        raise BodyTooLarge(f"request body is over the limit of {limit} bytes")
    return data


def parse_urlencoded(body: bytes) -> dict[str, Any]:
    try:
        return parse_query(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise BadBody("form body is not UTF-8") from None


def parse_json(body: bytes) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError as exc:
        raise BadBody(f"invalid JSON body: {exc}") from None


def parse_multipart(stream: IO[bytes], content_type: str, length: int, *, body_limit: int,
                    file_limit: int) -> tuple[dict[str, Any], list[UploadedFile]]:
    """Fields and files of a multipart body, files spooled to temporary files."""
    from python_multipart import multipart

    if length > body_limit:
        raise BodyTooLarge(f"multipart body of {length} bytes is over the limit of {body_limit}")
    fields: dict[str, Any] = {}
    files: list[UploadedFile] = []

    def on_field(f: Any) -> None:
        value = f.value.decode("utf-8", "replace") if f.value is not None else ""
        add_value(fields, f.field_name.decode("utf-8", "replace"), value)

    def on_file(f: Any) -> None:
        if f.in_memory:  # (a zero-byte file stays in memory until asked)
            f.flush_to_disk()
        path = f.actual_file_name
        f.close()  # UPLOAD_DELETE_TMP is off: the file stays for the view
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        up = UploadedFile(path, (f.file_name or b"").decode("utf-8", "replace"),
                          f.size, getattr(f, "content_type", None) or "application/octet-stream")
        files.append(up)
        if up.size > file_limit:
            raise BodyTooLarge(f"uploaded file {up.name!r} of {up.size} bytes is over "
                               f"the limit of {file_limit}")
        add_value(fields, f.field_name.decode("utf-8", "replace"), up)

    _, params = multipart.parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if not boundary:
        raise BadBody("multipart body without a boundary")
    parser = multipart.FormParser("multipart/form-data", on_field, on_file, boundary=boundary,
                                  config={"MAX_MEMORY_FILE_SIZE": 0, "UPLOAD_DELETE_TMP": False,
                                          "MAX_BODY_SIZE": body_limit})
    received = 0
    try:
        while True:
            want = 65536 if length < 0 else min(65536, length - received)
            if want <= 0:
                break
            chunk = stream.read(want)
            if not chunk:
                break
            received += len(chunk)
            if received > body_limit:
                raise BodyTooLarge(f"multipart body is over the limit of {body_limit} bytes")
            parser.write(chunk)
        parser.finalize()
    except (BodyTooLarge, BadBody):
        for up in files:
            up.remove()
        raise
    except Exception as exc:  # noqa: BLE001 - python-multipart's parse errors
        for up in files:
            up.remove()
        raise BadBody(f"invalid multipart body: {exc}") from None
    return fields, files
