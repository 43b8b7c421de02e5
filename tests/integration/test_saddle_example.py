"""examples/saddle through the README's demo (examples/demo/app.py mounts it at /saddle)."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx

from tests.conftest import start_app

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_demo_mounts_the_saddle_example(tmp_path: Path) -> None:
    for name in ("demo", "saddle"):
        shutil.copytree(EXAMPLES / name, tmp_path / name)
    server = start_app(tmp_path / "demo", (tmp_path / "demo" / "app.py").read_text())
    try:
        with httpx.Client(base_url=server.url("").rstrip("/"), timeout=20) as c:
            page = c.get("/saddle/")
            assert page.status_code == 200
            assert '<a href="/saddle/items/1">saddle</a> 120 coins' in page.text
            assert 'href="/saddle/static/style.css"' in page.text
            css = c.get("/saddle/static/style.css")
            assert css.status_code == 200 and "font-family" in css.text
            r = c.post("/saddle/api/items", json={"name": "stirrup", "price": 30})
            assert r.status_code == 201 and r.headers["location"] == "/saddle/api/items/3"
            assert r.json() == {"id": 3, "name": "stirrup", "price": 30}
            r = c.post("/saddle/api/items", data={"name": "girth", "price": "x"})
            assert r.status_code == 400 and r.json()["code"] == 40001
            assert [i["name"] for i in c.get("/saddle/api/items", params={"q": "stir"}).json()] == ["stirrup"]
            assert c.get("/saddle/api/items/3").json()["name"] == "stirrup"
            r = c.get("/saddle/api/items/99", headers={"Accept": "application/json"})
            assert r.status_code == 404 and r.json() == {"code": 404, "message": "Not Found",
                                                         "detail": "no item 99"}
            r = c.get("/saddle/items/99")
            assert r.status_code == 404 and "URL: /saddle/items/99" in r.text
            assert c.get("/saddle/stats").json() == {"items": 3, "added": ["stirrup"]}
            assert c.get("/hello").status_code == 200  # the demo's other mounts still serve
    finally:
        server.stop()
