"""Saddle views served as gRPC methods (the seed's "Implementing gRPC Service").

The app is mounted at the service's path (``skitai.mount("/routeguide.RouteGuide",
app)``) and each method is a route (``@app.route("/GetFeature")``) whose view takes the
request message after ``was`` and returns the response message::

    @app.route("/GetFeature")
    def GetFeature(was, point):          # point: route_guide_pb2.Point
        return route_guide_pb2.Feature(name="", location=point)

Messages are found in protobuf's default descriptor pool by the full method name
(``/routeguide.RouteGuide/GetFeature``): the app imports its ``*_pb2`` modules and that
is all.  Streaming follows the method's descriptor: a client-streaming view gets an
iterator of messages; a server-streaming view returns (or yields) several.

Wire (the gRPC over HTTP/2 protocol): request and response bodies are length-prefixed
messages (1 byte compressed flag, 4 bytes big-endian length); the status travels in the
trailers (``grpc-status``, ``grpc-message``), which the engine sends from
``environ["skitai.trailers"]``.  A failure is a 200 with an error status: UNIMPLEMENTED
(12) for an unknown method or an unknown message compression (gzip and deflate are
read), INVALID_ARGUMENT (3) for a body
that does not parse, UNKNOWN (2) when the view raises, UNAUTHENTICATED (16) or
PERMISSION_DENIED (7) when a gate (WWW-Authenticate, login) answers 401/403.

Streams: a client stream is read from ``wsgi.input`` as it arrives and a server stream
is sent message by message (``environ["skitai.unbuffered"]``), so with a thread pool a
bidirectional view answers each message before the next one comes.  With
``threads=0`` the engine reads a request body whole before calling the app: a
bidirectional call then answers after the client half-closes.
"""

from __future__ import annotations

import importlib
import logging
import struct
import zlib
from collections.abc import Iterable, Iterator
from typing import Any, Final
from urllib.parse import quote

from skitai.saddle import rpc, rpccall
from skitai.saddle.was import Was

log = logging.getLogger("skitai.app")

OK: Final = 0
UNKNOWN: Final = 2
INVALID_ARGUMENT: Final = 3
PERMISSION_DENIED: Final = 7
RESOURCE_EXHAUSTED: Final = 8
UNIMPLEMENTED: Final = 12
INTERNAL: Final = 13
UNAUTHENTICATED: Final = 16
_PREFIX: Final = struct.Struct(">?I")
MAX_MESSAGE: Final = 4 << 20  # gRPC's default receive limit


class GrpcError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def _protobuf(name: str) -> Any:
    return importlib.import_module(f"google.protobuf.{name}")


def split_frames(body: bytes, encoding: str = "identity") -> list[bytes]:
    """The length-prefixed messages of a gRPC body; a compressed one is inflated when the
    request's ``grpc-encoding`` is gzip or deflate (answers are sent uncompressed)."""
    out: list[bytes] = []
    pos = 0
    while pos < len(body):
        if pos + 5 > len(body):
            raise GrpcError(INVALID_ARGUMENT, "truncated message prefix")
        compressed, length = _PREFIX.unpack_from(body, pos)
        pos += 5
        if pos + length > len(body):
            raise GrpcError(INVALID_ARGUMENT, "truncated message")
        data = body[pos:pos + length]
        if compressed:
            data = _inflate(data, encoding)
        out.append(data)
        pos += length
    return out


def _inflate(data: bytes, encoding: str) -> bytes:
    """A compressed message, inflated up to ``MAX_MESSAGE`` (a small gzip body must not
    become gigabytes in memory)."""
    wbits = {"gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}.get(encoding)
    if wbits is None:
        raise GrpcError(UNIMPLEMENTED, f"message compression {encoding!r} is not supported (gzip, deflate)")
    inflater = zlib.decompressobj(wbits)
    try:
        out = inflater.decompress(data, MAX_MESSAGE + 1)
    except zlib.error as exc:
        raise GrpcError(INTERNAL, f"cannot decompress a {encoding} message: {exc}") from None
    if len(out) > MAX_MESSAGE:
        raise GrpcError(RESOURCE_EXHAUSTED, f"a message inflates past {MAX_MESSAGE} bytes")
    if not inflater.eof:
        raise GrpcError(INTERNAL, f"truncated {encoding} message")
    return out


def _read_exact(stream: Any, n: int) -> bytes:
    data = b""
    while len(data) < n:
        piece = stream.read(n - len(data))
        if not piece:
            break
        data += piece
    return data


def read_frames(stream: Any, encoding: str = "identity") -> Iterator[bytes]:
    """The messages of a request body, read from ``wsgi.input`` one at a time."""
    while True:
        head = _read_exact(stream, 5)
        if not head:
            return
        if len(head) < 5:
            raise GrpcError(INVALID_ARGUMENT, "truncated message prefix")
        compressed, length = _PREFIX.unpack(head)
        if length > MAX_MESSAGE:
            raise GrpcError(RESOURCE_EXHAUSTED, f"a message of {length} bytes is past {MAX_MESSAGE}")
        data = _read_exact(stream, length)
        if len(data) < length:
            raise GrpcError(INVALID_ARGUMENT, "truncated message")
        yield _inflate(data, encoding) if compressed else data


def _parsed(frames: Iterable[bytes], request_class: Any, method: Any) -> Iterator[Any]:
    for data in frames:
        try:
            yield request_class.FromString(data)
        except Exception as exc:  # noqa: BLE001 - protobuf's DecodeError and friends
            raise GrpcError(INVALID_ARGUMENT,
                            f"cannot parse {method.input_type.full_name}: {exc}") from None


def frame(message: Any) -> bytes:
    data = message.SerializeToString()
    return _PREFIX.pack(False, len(data)) + bytes(data)


_methods: dict[str, tuple[Any, Any]] = {}


def _method(full_path: str) -> tuple[Any, Any]:
    """The protobuf MethodDescriptor of ``/package.Service/Method`` and its request class
    (looked up once per path: the descriptor pool does not change under a running app)."""
    found = _methods.get(full_path)
    if found is None:
        method = _find_method(full_path)
        found = _methods[full_path] = (method, _message_class(method.input_type))
    return found


def _find_method(full_path: str) -> Any:
    service, _, name = full_path.strip("/").rpartition("/")
    try:
        found = _protobuf("descriptor_pool").Default().FindServiceByName(service)
    except KeyError:
        raise GrpcError(UNIMPLEMENTED, f"unknown service {service!r} (is its _pb2 imported?)") from None
    method = found.methods_by_name.get(name)
    if method is None:
        raise GrpcError(UNIMPLEMENTED, f"unknown method {name!r} of {service}")
    return method


def _message_class(descriptor: Any) -> Any:
    return _protobuf("message_factory").GetMessageClass(descriptor)


def _status_of(content: Any) -> GrpcError:
    code = getattr(content, "code", None)
    if isinstance(content, str) or code is None:
        return GrpcError(PERMISSION_DENIED, "refused")
    return GrpcError({401: UNAUTHENTICATED, 403: PERMISSION_DENIED}.get(code, UNKNOWN),
                     str(getattr(content, "status", "refused")))


def serve(app: Any, environ: dict[str, Any], start_response: Any) -> Any:
    """Answer one gRPC call (a POST with ``Content-Type: application/grpc``)."""
    was = Was(app, environ)
    trailers: list[tuple[str, str]] = []
    environ["skitai.trailers"] = trailers
    path_info = environ.get("PATH_INFO") or "/"
    try:
        method, request_class = _method(str(environ.get("SCRIPT_NAME", "")) + path_info)
        match = app.router.match(path_info, "POST")
        if match.rule is None:
            raise GrpcError(UNIMPLEMENTED, f"no view routed at {path_info}")
        encoding = str(environ.get("HTTP_GRPC_ENCODING") or "identity").lower()
        if method.client_streaming:
            # Read as the client sends (a pool thread's wsgi.input waits for the bytes):
            # a bidirectional view answers each message before the next one arrives.
            argument: Any = _parsed(read_frames(environ["wsgi.input"], encoding),
                                    request_class, method)
        else:
            messages = list(_parsed(split_frames(was.request.get_body(), encoding),
                                    request_class, method))
            if len(messages) != 1:
                raise GrpcError(INVALID_ARGUMENT, f"expected one message, got {len(messages)}")
            argument = messages[0]
        if method.server_streaming:
            environ["skitai.unbuffered"] = True  # each message leaves as the view yields it
        try:
            result = rpccall.call_view(app, environ, match.rule, [argument], dict(match.params or {}))
        except rpc.Answered as gate:
            raise _status_of(gate.content) from None
        except rpc.InvalidParams as exc:
            raise GrpcError(INVALID_ARGUMENT, str(exc)) from None
        if method.server_streaming:
            body: Iterable[bytes] = _stream(result, trailers)
        else:
            body = [frame(result)]
            trailers.append(("grpc-status", str(OK)))
    except GrpcError as err:
        body = []
        _fail(trailers, err)
    except Exception as exc:  # noqa: BLE001 - a view's failure is a status, not a 500
        was.traceback()
        body = []
        _fail(trailers, GrpcError(UNKNOWN, f"{type(exc).__name__}: {exc}"))
    start_response("200 OK", [("Content-Type", "application/grpc+proto")])
    return body


def _fail(trailers: list[tuple[str, str]], err: GrpcError) -> None:
    trailers.append(("grpc-status", str(err.code)))
    # grpc-message is percent-encoded (gRPC over HTTP/2, "Responses")
    trailers.append(("grpc-message", quote(str(err), safe=" !\"#$&'()*+,-./:;<=>?@[\\]^_`{|}~")))


def _stream(result: Any, trailers: list[tuple[str, str]]) -> Iterator[bytes]:
    """The messages of a server-streaming view; the status is known when it ends."""
    try:
        for message in result:
            yield frame(message)
    except GrpcError as err:  # a bad message from the client, met while streaming
        _fail(trailers, err)
        return
    except Exception as exc:  # noqa: BLE001 - a failing stream ends with a status
        log.exception("gRPC stream failed")
        _fail(trailers, GrpcError(UNKNOWN, f"{type(exc).__name__}: {exc}"))
        return
    trailers.append(("grpc-status", str(OK)))


def before_routing(app: Any, environ: dict[str, Any], start_response: Any) -> Any:
    """The routing hook: gRPC calls (POST, ``application/grpc``) go to ``serve``."""
    if str(environ.get("CONTENT_TYPE", "")).startswith("application/grpc"):
        return serve(app, environ, start_response)
    return None


__all__ = ["serve", "before_routing", "split_frames", "frame", "GrpcError"]
