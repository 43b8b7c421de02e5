"""The render side of was.promise.  The engine's promise (skitai.was.promise, issue 13) is
not on this branch: a minimal stand-in with its interface (get_data, settle, async
iteration) plays the engine; what is tested is Saddle's part: the promise reaches the
engine as the body (not iterated in the view's thread) and render() uses the app's
templates with the promise's data and was."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from skitai.saddle import Saddle


class EnginePromise:
    def __init__(self, handler: Any, **meta: Any) -> None:
        self.handler = handler
        self.data = dict(meta)
        self.settled: str | None = None

    def get_data(self) -> dict[str, Any]:
        return dict(self.data)

    def __setitem__(self, name: str, value: Any) -> None:
        self.data[name] = value

    def settle(self, content: str) -> None:
        self.settled = content

    def __iter__(self) -> Any:
        raise AssertionError("Saddle must not iterate a promise in the view's thread")

    def __aiter__(self) -> Any:
        return self


class Engine:
    def promise(self, handler: Any, **meta: Any) -> EnginePromise:
        return EnginePromise(handler, **meta)


def test_promise_is_the_body_and_renders_with_app_templates(tmp_path: Path) -> None:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "final.html").write_text(
        "<h1>{{ A }} of {{ B }}</h1><div>{{ C }}</div>{{ was.app.name }}")
    app = Saddle("promise_test")
    app.root = str(tmp_path)
    app.engine_was = Engine()

    @app.route("/promise")
    def view(was):
        return was.promise(lambda p, r: None, A="123", B="456")

    headers: dict[str, Any] = {}

    def start_response(status: str, hdrs: list[tuple[str, str]], exc_info: Any = None) -> None:
        headers.update(status=status, **dict(hdrs))

    body = app({"REQUEST_METHOD": "GET", "PATH_INFO": "/promise", "SCRIPT_NAME": "", "QUERY_STRING": "",
                "wsgi.input": io.BytesIO(), "SERVER_NAME": "t", "SERVER_PORT": "80",
                "wsgi.url_scheme": "http"}, start_response)
    assert isinstance(body, EnginePromise) and headers["status"] == "200 OK"
    assert headers["Content-Type"].startswith("text/html")
    body["C"] = "<b>pypi</b>"  # what the handler stores by request id
    body.settle(body.render("final.html"))  # type: ignore[attr-defined]
    assert body.settled == "<h1>123 of 456</h1><div>&lt;b&gt;pypi&lt;/b&gt;</div>promise_test"
