"""Saddle is layer 2: importing it pulls in no other skitai module, and no template or
multipart library until an app renders or parses one."""

from __future__ import annotations

import json
import subprocess
import sys

CODE = """
import json, sys
import skitai
before = set(sys.modules)
import skitai.saddle
from skitai.saddle import Saddle
app = Saddle("x")
new = sorted(m for m in set(sys.modules) - before)
print(json.dumps(new))
"""


def test_saddle_imports_no_other_skitai_module_and_nothing_heavy() -> None:
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, check=True)
    new = json.loads(out.stdout)
    foreign = [m for m in new if m.startswith("skitai.") and not m.startswith("skitai.saddle")]
    assert foreign == []
    for heavy in ("jinja2", "python_multipart", "chameleon", "asyncio"):
        assert heavy not in new, heavy
