"""was.grpc against a real grpcio server on port 0, through a stub shaped like the
generated ones (channel.unary_unary with serializers; no protobuf needed)."""

from __future__ import annotations

import asyncio
import threading

import pytest

import skitai
from skitai import was
from skitai.was import result

grpc = pytest.importorskip("grpc", reason="grpcio (the 'grpc' extra) is not installed")


class EchoStub:
    """What grpcio-tools generates for ``service Echo { rpc Say (..) returns (..); }``."""

    def __init__(self, channel):
        self.Say = channel.unary_unary("/test.Echo/Say", request_serializer=str.encode,
                                       response_deserializer=bytes.decode)
        self.Fail = channel.unary_unary("/test.Echo/Fail", request_serializer=str.encode,
                                        response_deserializer=bytes.decode)


@pytest.fixture
def server():
    ready = threading.Event()
    holder: dict[str, object] = {}

    async def say(request, context):
        ids = dict(context.invocation_metadata())
        return f"{request}|{ids.get('x-ltxn-id')}"

    def encode(value):
        # grpcio may hand a serializer what it already serialized once: take both.
        return value if isinstance(value, bytes) else value.encode()

    async def fail(request, context):
        await context.abort(grpc.StatusCode.NOT_FOUND, "no such thing")

    async def main():
        srv = grpc.aio.server()
        srv.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("test.Echo", {
            "Say": grpc.unary_unary_rpc_method_handler(
                say, request_deserializer=bytes.decode, response_serializer=encode),
            "Fail": grpc.unary_unary_rpc_method_handler(
                fail, request_deserializer=bytes.decode, response_serializer=encode),
        }),))
        holder["port"] = srv.add_insecure_port("127.0.0.1:0")
        await srv.start()
        holder["loop"] = asyncio.get_running_loop()
        holder["stop"] = asyncio.get_running_loop().create_future()
        ready.set()
        await holder["stop"]
        await srv.stop(None)

    thread = threading.Thread(target=lambda: asyncio.run(main()), daemon=True)
    thread.start()
    assert ready.wait(20)
    yield holder["port"]
    holder["loop"].call_soon_threadsafe(holder["stop"].set_result, None)  # type: ignore[union-attr]
    thread.join(20)


def test_unary_calls_through_the_apps_stub(server):
    skitai.alias("@echo", skitai.PROTO_HTTP, f"127.0.0.1:{server}")
    res = was.grpc("@echo", EchoStub).Say("hi").getwait(10)
    assert res.status == result.DONE and res.data.startswith("hi|")
    assert was.grpc.map("@echo", EchoStub).Say("x").getswait(10).status_code == [200]
    assert was.grpc(f"http://127.0.0.1:{server}", EchoStub).Say("y").getwait(10).data[:2] == "y|"
    failed = was.grpc("@echo", EchoStub).Fail("z").getwait(10)
    assert failed.status == result.EXCEPTION
    assert failed.error.code() == grpc.StatusCode.NOT_FOUND
