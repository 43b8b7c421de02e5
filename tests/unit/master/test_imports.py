"""The master stays light: importing it pulls in no asyncio and no web stack."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
FORBIDDEN = ["asyncio", "h2", "httptools", "jinja2", "asyncpg", "uvloop", "skitai.worker",
             "skitai.worker.server", "flask", "django"]


def _modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys, json\n"
                          "print(json.dumps(sorted(sys.modules)))"],
                         cwd=ROOT, capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout))


def test_arbiter_imports_no_asyncio_and_no_web_stack() -> None:
    loaded = _modules_after("import skitai.master.arbiter")
    assert "skitai.master.arbiter" in loaded
    assert not loaded & set(FORBIDDEN), loaded & set(FORBIDDEN)


def test_the_cli_module_is_light_too() -> None:
    loaded = _modules_after("import skitai.cli, skitai.master.control, skitai.master.report")
    assert not loaded & set(FORBIDDEN), loaded & set(FORBIDDEN)
    assert "click" not in loaded  # only the skitai command needs click
