"""How a server stops and fails, as its user sees it (issue 10 items 10, 11, 13)."""

from __future__ import annotations

import socket
from pathlib import Path

APP = """
import skitai

def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]

skitai.mount("/", app)
skitai.run(workers=1)
"""


def test_a_bind_failure_logs_the_exit_status_it_exits_with(serve, tmp_path: Path) -> None:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    try:
        port = holder.getsockname()[1]
        server = serve(APP, env={"SKITAI_PORT": str(port)}, wait=False)
        code = server.proc.wait(60)
        server.stop()
    finally:
        holder.close()
    assert code == 3, server.output
    assert "master stopped (exit status 3)" in server.output, server.output
    assert "exit status 0" not in server.output
