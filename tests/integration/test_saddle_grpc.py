"""The seed's gRPC example (route_guide, grpcio-tools stubs) served by Saddle views through
the engine's HTTP/2 (h2c prior knowledge), called with grpcio's own client."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ServerProcess, start_app

grpc = pytest.importorskip("grpc", reason="grpcio is in the test extras")
pytest.importorskip("grpc_tools", reason="grpcio-tools is in the test extras")

PROTO = Path(__file__).parent.parent / "fixtures" / "grpc" / "route_guide.proto"

APP = '''
import route_guide_pb2
from skitai.saddle import Saddle

app = Saddle(__name__)
FEATURES = [route_guide_pb2.Feature(name="Berkshire Valley Management Area Trail",
                                    location=route_guide_pb2.Point(latitude=409146138, longitude=-746188906)),
            route_guide_pb2.Feature(name="Patriots Path",
                                    location=route_guide_pb2.Point(latitude=407838351, longitude=-746143763))]


@app.route("/GetFeature")
def GetFeature(was, point):
    if point.latitude == -1:
        raise ValueError("no such place")
    for feature in FEATURES:
        if feature.location == point:
            return feature
    return route_guide_pb2.Feature(name="", location=point)


@app.route("/ListFeatures")
def ListFeatures(was, rect):
    for feature in FEATURES:
        if rect.lo.latitude <= feature.location.latitude <= rect.hi.latitude:
            yield feature


@app.route("/RecordRoute")
def RecordRoute(was, points):
    points = list(points)
    return route_guide_pb2.RouteSummary(point_count=len(points),
                                        feature_count=sum(1 for p in points if any(f.location == p for f in FEATURES)))


@app.route("/RouteChat")
def RouteChat(was, notes):
    for note in notes:
        yield route_guide_pb2.RouteNote(location=note.location, message="echo " + note.message)

'''

LAUNCH = '''
import os
import skitai
if __name__ == "__main__":
    if os.environ.get("TEST_CERT"):
        skitai.enable_ssl(os.environ["TEST_CERT"], os.environ["TEST_KEY"])
    skitai.mount("/routeguide.RouteGuide", "grpcapp.py", "app")
    skitai.run(workers=1, threads=2)
'''


@pytest.fixture(scope="module")
def stubs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out: Path = tmp_path_factory.mktemp("grpcstubs")
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", f"-I{PROTO.parent}", f"--python_out={out}",
                    f"--grpc_python_out={out}", str(PROTO)], check=True, timeout=120)
    sys.path.insert(0, str(out))
    return out


@pytest.fixture(scope="module")
def srv(stubs: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    workdir: Path = tmp_path_factory.mktemp("grpcapp")
    (workdir / "grpcapp.py").write_text(APP)
    server = start_app(workdir, LAUNCH, env={"PYTHONPATH": f"{stubs}"})
    yield server
    server.stop()


@pytest.fixture()
def stub(srv: ServerProcess) -> Iterator[Any]:
    import route_guide_pb2_grpc

    with grpc.insecure_channel(f"{srv.host}:{srv.port}") as channel:
        yield route_guide_pb2_grpc.RouteGuideStub(channel)


def test_unary(stub: Any) -> None:
    import route_guide_pb2 as pb

    feature = stub.GetFeature(pb.Point(latitude=409146138, longitude=-746188906), timeout=20)
    assert feature.name == "Berkshire Valley Management Area Trail"
    assert stub.GetFeature(pb.Point(latitude=1, longitude=2), timeout=20).name == ""


def test_server_streaming(stub: Any) -> None:
    import route_guide_pb2 as pb

    rect = pb.Rectangle(lo=pb.Point(latitude=400000000, longitude=-750000000),
                        hi=pb.Point(latitude=420000000, longitude=-730000000))
    names = [f.name for f in stub.ListFeatures(rect, timeout=20)]
    assert names == ["Berkshire Valley Management Area Trail", "Patriots Path"]


def test_gzip_compressed_request(srv: ServerProcess) -> None:
    import route_guide_pb2 as pb
    import route_guide_pb2_grpc

    with grpc.insecure_channel(f"{srv.host}:{srv.port}", compression=grpc.Compression.Gzip) as channel:
        feature = route_guide_pb2_grpc.RouteGuideStub(channel).GetFeature(
            pb.Point(latitude=407838351, longitude=-746143763), timeout=20)
    assert feature.name == "Patriots Path"


def test_client_streaming_and_bidi(stub: Any) -> None:
    import route_guide_pb2 as pb

    points = [pb.Point(latitude=409146138, longitude=-746188906), pb.Point(latitude=1, longitude=1)]
    summary = stub.RecordRoute(iter(points), timeout=20)
    assert (summary.point_count, summary.feature_count) == (2, 1)
    notes = [pb.RouteNote(location=p, message=f"n{i}") for i, p in enumerate(points)]
    assert [n.message for n in stub.RouteChat(iter(notes), timeout=20)] == ["echo n0", "echo n1"]


def test_bidi_is_interleaved(stub: Any) -> None:
    """Each note is sent only after the answer to the previous one came back: this only
    finishes if the server reads and answers message by message."""
    import queue

    import route_guide_pb2 as pb

    answered: queue.Queue[str] = queue.Queue()

    def notes() -> Iterator[Any]:
        for i in range(3):
            yield pb.RouteNote(location=pb.Point(latitude=i), message=f"n{i}")
            answered.get(timeout=15)  # the server must answer before the next note

    got = []
    for note in stub.RouteChat(notes(), timeout=30):
        got.append(note.message)
        answered.put(note.message)
    assert got == ["echo n0", "echo n1", "echo n2"]


def test_errors_are_grpc_statuses(srv: ServerProcess) -> None:
    import route_guide_pb2 as pb

    with grpc.insecure_channel(f"{srv.host}:{srv.port}") as channel:
        missing = channel.unary_unary("/routeguide.RouteGuide/Nope",
                                      request_serializer=pb.Point.SerializeToString,
                                      response_deserializer=pb.Feature.FromString)
        with pytest.raises(grpc.RpcError) as err:
            missing(pb.Point(), timeout=20)
        assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED
    import route_guide_pb2_grpc

    with grpc.insecure_channel(f"{srv.host}:{srv.port}") as channel:
        with pytest.raises(grpc.RpcError) as err:
            route_guide_pb2_grpc.RouteGuideStub(channel).GetFeature(pb.Point(latitude=-1), timeout=20)
        assert err.value.code() == grpc.StatusCode.UNKNOWN
        assert "no such place" in (err.value.details() or "")


@pytest.mark.skipif(not shutil.which("openssl"), reason="openssl is not installed")
def test_unary_over_tls(stubs: Path, tmp_path: Path) -> None:
    import route_guide_pb2 as pb
    import route_guide_pb2_grpc

    cert, key = tmp_path / "server.crt", tmp_path / "server.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-days", "2", "-nodes",
                    "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True)
    (tmp_path / "grpcapp.py").write_text(APP)
    server = start_app(tmp_path, LAUNCH, env={"PYTHONPATH": f"{stubs}", "TEST_CERT": str(cert),
                                              "TEST_KEY": str(key)})
    try:
        creds = grpc.ssl_channel_credentials(root_certificates=cert.read_bytes())
        with grpc.secure_channel(f"localhost:{server.port}", creds) as channel:
            feature = route_guide_pb2_grpc.RouteGuideStub(channel).GetFeature(
                pb.Point(latitude=407838351, longitude=-746143763), timeout=20)
        assert feature.name == "Patriots Path"
    finally:
        server.stop()


def test_status_trailer_over_http1(srv: ServerProcess) -> None:
    """The WSGI handler's trailer seam on HTTP/1.1: a chunked body, then the trailer block."""
    import socket
    import struct

    import route_guide_pb2 as pb

    msg = pb.Point(latitude=407838351, longitude=-746143763).SerializeToString()
    body = struct.pack(">?I", False, len(msg)) + msg
    with socket.create_connection((srv.host, srv.port), timeout=20) as s:
        s.sendall(b"POST /routeguide.RouteGuide/GetFeature HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Type: application/grpc\r\nTE: trailers\r\nConnection: close\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(body) + body)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    assert b"transfer-encoding: chunked" in head.lower()
    assert b"Patriots Path" in rest and rest.endswith(b"\r\n0\r\ngrpc-status: 0\r\n\r\n")
