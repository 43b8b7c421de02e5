"""The gRPC benchmark's servers: route_guide GetFeature, by Saddle under skitai and by
grpcio's own asyncio server.  Stubs are generated into BENCH_STUBS first (saddle_grpc.py).

    BENCH_STUBS=/tmp/stubs SKITAI_PORT=8001 SKITAI_WORKERS=1 python3 bench/grpc_apps.py
    BENCH_STUBS=/tmp/stubs BENCH_SERVER=grpc-aio BENCH_PORT=8002 python3 bench/grpc_apps.py
"""

import asyncio
import os
import sys

sys.path.insert(0, os.environ["BENCH_STUBS"])

import route_guide_pb2  # noqa: E402
import route_guide_pb2_grpc  # noqa: E402

FEATURE = route_guide_pb2.Feature(
    name="Berkshire Valley Management Area Trail",
    location=route_guide_pb2.Point(latitude=409146138, longitude=-746188906))


def get_feature(point):
    if FEATURE.location == point:
        return FEATURE
    return route_guide_pb2.Feature(name="", location=point)


def make_saddle():
    from skitai.saddle import Saddle

    app = Saddle(__name__)

    @app.route("/GetFeature")
    def GetFeature(was, point):  # noqa: N802 - the method's name
        return get_feature(point)

    return app


class Servicer(route_guide_pb2_grpc.RouteGuideServicer):
    async def GetFeature(self, request, context):  # noqa: N802
        return get_feature(request)


async def serve_aio(port: int) -> None:
    import grpc

    server = grpc.aio.server()
    route_guide_pb2_grpc.add_RouteGuideServicer_to_server(Servicer(), server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


if __name__ == "__main__":
    if os.environ.get("BENCH_SERVER") == "grpc-aio":
        asyncio.run(serve_aio(int(os.environ["BENCH_PORT"])))
    else:
        import skitai

        skitai.mount("/routeguide.RouteGuide", make_saddle())
        skitai.log_off("/")
        skitai.run()
