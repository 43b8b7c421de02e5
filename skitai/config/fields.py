"""``setting()``: a dataclass field carrying its docs, env name and CLI flag (gunicorn's
``Setting`` declarations, done with dataclass metadata instead of a metaclass)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any


def setting(
    default: Any,
    *,
    doc: str,
    parse: Callable[[Any], Any] | None = None,
    env: str | None = None,
    cli: str | None = None,
    conf: str | None = None,
    factory: Callable[[], Any] | None = None,
) -> Any:
    """Declare one config field.  ``conf`` is its key in ``[common]`` of ~/.skitai.conf."""
    meta = {"doc": doc, "parse": parse, "env": env, "cli": cli, "conf": conf}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def meta(f: dataclasses.Field[Any]) -> dict[str, Any]:
    return dict(f.metadata)
