"""Fan-out view under skitai: a Flask view making 3 concurrent was.get calls to the
20 ms member (WAS_MEMBER=host:port).  SKITAI_PORT, SKITAI_WORKERS, SKITAI_THREADS as usual.
Also /select1: one was.postgresql "SELECT 1" (WAS_PG, default the local test database)."""

import os

from flask import Flask, jsonify

import skitai
from skitai import was

app = Flask(__name__)


@app.route("/fanout")
def fanout():
    calls = [was.get("@member/") for _ in range(3)]
    return jsonify([c.getwait(5).data for c in calls])


@app.route("/select1")
def select1():
    return jsonify(was.postgresql("@pg").execute("SELECT 1 AS one").getwait(5).data[0].one)


if __name__ == "__main__":
    skitai.alias("@member", skitai.PROTO_HTTP, os.environ.get("WAS_MEMBER", "127.0.0.1:23100"))
    skitai.alias("@pg", skitai.DB_PGSQL, os.environ.get("WAS_PG", "postgres@127.0.0.1:5432/test"))
    skitai.mount("/", app)
    skitai.log_off("/")
    skitai.run()
