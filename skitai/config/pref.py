"""``skitai.pref()``: the runtime app preference the README describes.

Attribute-style on purpose (``pref.debug = True``, ``pref.config.urlfile = ...``,
``pref.config["prefA"] = 1``).  A fresh one per call: the original shared one default
object between every mount that omitted ``pref``.
"""

from __future__ import annotations

import copy
from typing import Any


class AttrDict(dict[str, Any]):
    """A dict whose keys are also attributes (``config.prefB = 2``)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __delattr__(self, name: str) -> None:
        try:
            del self[name]
        except KeyError:
            raise AttributeError(name) from None


class Pref:
    """Preferences applied to a mounted app: every attribute is set on the app, and
    ``config`` entries are merged into ``app.config`` when the app has one."""

    config: AttrDict  # set first, by __init__

    def __init__(self, **attrs: Any) -> None:
        object.__setattr__(self, "config", AttrDict())
        for name, value in attrs.items():
            setattr(self, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "config" and not isinstance(value, AttrDict):
            value = AttrDict(value)
        object.__setattr__(self, name, value)

    def attributes(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if k != "config"}

    def snapshot(self) -> Pref:
        """A deep copy, taken at mount time so later edits of the draft do not leak."""
        return copy.deepcopy(self)

    def __repr__(self) -> str:
        return f"Pref({self.attributes()!r}, config={dict(self.config)!r})"
