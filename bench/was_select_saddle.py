"""SELECT 1 per request under skitai with a Saddle view (bench/was.sh's SELECT table):
the same query as was_fanout_skitai.py's Flask /select1, through skitai's own framework,
so the table shows what Flask's own cost is in that row.  SKITAI_PORT, SKITAI_WORKERS,
SKITAI_THREADS as usual; WAS_PG (default the local test database)."""

import os

import skitai
from skitai.saddle import Saddle

app = Saddle(__name__)


@app.route("/select1")
def select1(was):
    return was.response.api(one=was.postgresql("@pg").execute("SELECT 1 AS one").getwait(5).data[0].one)


if __name__ == "__main__":
    skitai.alias("@pg", skitai.DB_PGSQL, os.environ.get("WAS_PG", "postgres@127.0.0.1:5432/test"))
    skitai.mount("/", app)
    skitai.log_off("/")
    skitai.run()
