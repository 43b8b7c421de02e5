"""The request log of a real server (issue 10 item 13: Basic-auth users in the user field)."""

from __future__ import annotations

import time
import urllib.request
from pathlib import Path


def test_basic_auth_user_is_in_the_request_log(serve, tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    server = serve(f"""
        import skitai

        def app(environ, start_response):
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"ok"]

        skitai.mount("/", app)
        skitai.run(workers=1, logpath={str(logs)!r})
    """)
    req = urllib.request.Request(server.url("/private"),
                                 headers={"Authorization": "Basic YWxpY2U6czNjcjN0"})
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 200
    deadline = time.monotonic() + 20
    lines: list[str] = []
    while time.monotonic() < deadline:
        path = logs / "request.log"
        lines = [x for x in path.read_text().splitlines() if "/private" in x] if path.exists() else []
        if lines:
            break
        time.sleep(0.1)
    assert lines, "no request line"
    fields = lines[0].split(" ")
    assert fields[12] == '"alice"', lines[0]
    assert "s3cr3t" not in lines[0] and "YWxpY2U6czNjcjN0" not in lines[0]
