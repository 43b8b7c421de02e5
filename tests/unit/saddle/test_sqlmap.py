"""was.sqlmap with SQLPhile: the builder and a sqlmaps/ file, run against real SQLite."""

from __future__ import annotations

import io
import json
import sqlite3
from pathlib import Path

import pytest

pytest.importorskip("sqlphile", reason="SQLPhile is in the test extras (the sqlmap extra)")

from skitai.saddle import Saddle  # noqa: E402


def call(app: Saddle, path: str) -> tuple[str, bytes]:
    out: dict[str, str] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: object = None) -> None:
        out["status"] = status

    body = b"".join(app({"REQUEST_METHOD": "GET", "PATH_INFO": path, "SCRIPT_NAME": "",
                         "QUERY_STRING": "", "wsgi.input": io.BytesIO(), "SERVER_NAME": "t",
                         "SERVER_PORT": "80", "wsgi.url_scheme": "http"}, start_response))
    return out["status"], body


def test_builder_and_sqlmap_file_against_sqlite(tmp_path: Path) -> None:
    (tmp_path / "sqlmaps").mkdir()
    (tmp_path / "sqlmaps" / "files.sql").write_text(
        '<sqlmap version="1.0">\n<sql name="by_name">\nSELECT id FROM rc_file WHERE {_filters}\n</sql>\n')
    db = sqlite3.connect(":memory:", check_same_thread=False)
    db.executescript("CREATE TABLE rc_file (id INTEGER, name TEXT);"
                     "INSERT INTO rc_file VALUES (4, 'four'), (5, 'it''s');")
    app = Saddle("sqlmap_test")
    app.root = str(tmp_path)
    app.config.sqlmap_engine = "sqlite3"

    @app.route("/")
    def index(was):
        q = was.sqlmap.ops.select("rc_file").get("id", "name")
        q.filter(id=4)
        named = was.sqlmap.files.by_name.filter(name="it's")
        return {"sql": str(q), "rows": db.execute(str(q)).fetchall(),
                "named": db.execute(str(named)).fetchall()}

    status, body = call(app, "/")
    assert status.startswith("200"), body
    data = json.loads(body)
    assert data["sql"].split() == "SELECT id, name FROM rc_file WHERE id = 4".split()
    assert data["rows"] == [[4, "four"]] and data["named"] == [[5]]
