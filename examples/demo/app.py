"""The Skitai demo: a static site, a plain WSGI page, a JSON endpoint, a Saddle app under
/saddle (examples/saddle) and, when Flask is installed, a Flask app under /flask.
Run it:  python examples/demo/app.py
"""

import json
import os
import time

import skitai


def hello(environ, start_response):
    """A plain WSGI page."""
    body = (
        "<h1>Hello from Skitai</h1>"
        f"<p>path: {environ['SCRIPT_NAME']}{environ['PATH_INFO']} "
        f"served by pid {os.getpid()}</p>"
    ).encode()
    start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
    return [body]


def api(environ, start_response):
    """A small JSON endpoint: GET /api/time, POST /api/echo."""
    if environ["REQUEST_METHOD"] == "POST":
        size = int(environ.get("CONTENT_LENGTH") or 0)
        data = environ["wsgi.input"].read(size)
        payload = {"echo": data.decode("utf-8", "replace"), "bytes": len(data)}
    else:
        payload = {"time": time.time(), "path": environ["PATH_INFO"]}
    body = json.dumps(payload).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]


if __name__ == "__main__":
    skitai.mount("/", "static")
    skitai.mount("/hello", hello)
    skitai.mount("/api", api)
    skitai.mount("/saddle", "../saddle/app.py", "app")  # a Saddle app: templates and an API
    skitai.mount("/saddle/static", "../saddle/static")
    try:
        from flaskapp import app as flask_app  # noqa: F401  (only when Flask is installed)
    except ImportError:
        pass
    else:
        skitai.mount("/flask", "flaskapp.py", "app")
    skitai.set_max_age("/css", 300)
    skitai.log_off("*.css")
    skitai.run(address="127.0.0.1", port=5000, threads=4)
