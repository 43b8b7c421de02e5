"""The session benchmark's apps: one view that reads and writes the session per request.

- ``saddle_app``: Saddle, ``was.session`` (AES-GCM sealed cookie).
- ``flask_app``: Flask's default session (itsdangerous HMAC-SHA1 signed cookie).

    SKITAI_PORT=8001 SKITAI_WORKERS=2 BENCH_APP=saddle|flask python3 bench/session_apps.py
    gunicorn -w 2 -k gthread --threads 4 --chdir bench session_apps:flask_app
"""

import os

from flask import Flask, session

flask_app = Flask(__name__)
flask_app.secret_key = "bench-secret-key-0123456789"


@flask_app.route("/")
def flask_view():
    n = session.get("n", 0) + 1
    session["n"] = n
    return f"n={n}"


def make_saddle():
    from skitai.saddle import Saddle

    app = Saddle(__name__)
    app.securekey = "bench-secret-key-0123456789"

    @app.route("/")
    def index(was):
        n = (was.session.get("n") or 0) + 1
        was.session.set("n", n)
        return f"n={n}"

    return app


if __name__ == "__main__":
    import skitai

    which = os.environ.get("BENCH_APP", "saddle")
    skitai.mount("/", make_saddle() if which == "saddle" else flask_app)
    if os.environ.get("BENCH_ACCESS_LOG") != "1":
        skitai.log_off("/")
    skitai.run()
