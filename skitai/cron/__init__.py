"""The cron scheduler package, and ``skitai.cron(spec, command)`` from app.py.

``skitai.cron`` must be both this package and the README's function.  Importing a
submodule (``skitai.cron.schedule``) rebinds the attribute ``skitai.cron`` to the package,
so the package itself is made callable: calling it records a job in app.py's draft.
"""

from __future__ import annotations

import sys
import types
from typing import Any


class _CallableModule(types.ModuleType):
    def __call__(self, spec: str, command: str, **options: Any) -> None:
        from skitai import api

        api.cron(spec, command, _depth=2, **options)


sys.modules[__name__].__class__ = _CallableModule
