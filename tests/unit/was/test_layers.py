"""``was`` and ``upstream`` are layer 3: no import of ``skitai.api``, ``skitai.gateway``
or ``skitai.worker`` anywhere in their code (the app side hands ``was`` its aliases and
working directory through ``was.runtime.declare``/``start``).  ``transport.py``, the
base of the server's and the upstream client's connections, sits under both: it imports
no other ``skitai`` module.  Read from the source, since importing ``skitai`` itself
loads the API layer first."""

from __future__ import annotations

import ast
import pathlib

import skitai

ROOT = pathlib.Path(skitai.__file__).parent
UPPER = ("skitai.api", "skitai.gateway", "skitai.worker")
# Known and left for its owner (reported): was.set_auth_handler reaches the gateway.
ALLOWED = {("was/__init__.py", "skitai.gateway"), ("was/__init__.py", "skitai.gateway.auth")}


def _imports(path: pathlib.Path) -> list[str]:
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.append(node.module)
            out += [f"{node.module}.{a.name}" for a in node.names]
    return out


def test_was_and_upstream_import_no_upper_layer() -> None:
    found = []
    for folder in ("was", "upstream"):
        for path in sorted((ROOT / folder).glob("*.py")):
            rel = f"{folder}/{path.name}"
            for name in _imports(path):
                if name.startswith(UPPER) and (rel, name) not in ALLOWED:
                    found.append((rel, name))
    assert found == []


def test_transport_imports_nothing_of_skitai() -> None:
    found = [name for name in _imports(ROOT / "transport.py") if name.startswith("skitai")]
    assert found == []


def test_server_and_upstream_connections_share_the_transport_base() -> None:
    from skitai.transport import TransportConnection
    from skitai.upstream.connection import UpstreamConnection
    from skitai.upstream.h2connection import H2UpstreamConnection
    from skitai.worker.connections.base import BaseConnection

    for cls in (BaseConnection, UpstreamConnection, H2UpstreamConnection):
        assert issubclass(cls, TransportConnection), cls
