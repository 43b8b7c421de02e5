"""The peers' WSGI side under gunicorn gthread: Flask + requests (3 calls one after the
other: what a threaded WSGI app does without was) and Flask + a psycopg pool."""

import os
import threading

import requests
from flask import Flask, jsonify

app = Flask(__name__)
MEMBER = "http://" + os.environ.get("WAS_MEMBER", "127.0.0.1:23100") + "/"
_local = threading.local()
_pool = None


def _session():
    session = getattr(_local, "session", None)
    if session is None:
        session = _local.session = requests.Session()  # keep-alive per thread
    return session


@app.route("/fanout")
def fanout():
    s = _session()
    return jsonify([s.get(MEMBER, timeout=5).json() for _ in range(3)])


@app.route("/select1")
def select1():
    global _pool
    if _pool is None:
        from psycopg_pool import ConnectionPool

        _pool = ConnectionPool("host=127.0.0.1 port=5432 user=postgres dbname=test",
                               min_size=1, max_size=4, open=True)
    with _pool.connection() as conn:
        return jsonify(conn.execute("SELECT 1").fetchone()[0])
