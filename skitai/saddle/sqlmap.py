"""``was.sqlmap``: SQL built with SQLPhile (the seed's "Using SQL Map with SQLPhile").

``was.sqlmap.ops`` is SQLPhile's builder (``ops.select("rc_file").get("id", "name")
.filter(id=4)`` -> ``SELECT id, name FROM rc_file WHERE id = 4``); ``was.sqlmap.<file>``
is the SQL map ``sqlmaps/<file>.sql`` beside the app (``<sql name="...">`` templates).
``app.config.sqlmap_engine`` is ``"postgresql"`` (default) or ``"sqlite3"``.

SQLPhile is optional (``pip install skitai[sqlmap]``): it is unmaintained and brings
its author's ``rs4`` utility package; it quotes values into the SQL text itself, so
prefer the database client's parameters for anything a user typed.
"""

from __future__ import annotations

import importlib
import os
from typing import Any


class SqlMap:
    def __init__(self, engine: str, directory: str, auto_reload: bool = False) -> None:
        try:
            self._sqlphile = importlib.import_module("sqlphile")
        except ImportError:
            raise RuntimeError("was.sqlmap needs SQLPhile: pip install 'skitai[sqlmap]'") from None
        self.engine = engine
        self.ops = self._sqlphile.Template(engine)
        self._maps = (self._sqlphile.Template(engine, directory, auto_reload)
                      if os.path.isdir(directory) else None)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or self._maps is None:
            raise AttributeError(f"was.sqlmap.{name}: no sqlmaps/{name}.sql")
        found = self._maps._ns.get(name)
        if found is None:
            raise AttributeError(f"was.sqlmap.{name}: no sqlmaps/{name}.sql")
        return found


def for_app(app: Any) -> SqlMap:
    found: SqlMap | None = app.__dict__.get("_sqlmap")
    if found is None:
        engine = str(app.config.get("sqlmap_engine", "postgresql"))
        found = SqlMap(engine, os.path.join(app.root, "sqlmaps"), bool(app.use_reloader))
        app.__dict__["_sqlmap"] = found
    return found
