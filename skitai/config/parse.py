"""Pure value parsers.  Each raises ``ValueError`` with a short reason; the builder adds
the key and the source to make a ``ConfigError``."""

from __future__ import annotations

import re
from typing import Any

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return bool(value)
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"expected a boolean (true/false), got {value!r}")


def integer(value: Any, *, minimum: int | None = None) -> int:
    if isinstance(value, bool):
        raise ValueError(f"expected an integer, got {value!r}")
    try:
        number = int(str(value).strip(), 0) if isinstance(value, str) else int(value)
    except (TypeError, ValueError):
        raise ValueError(f"expected an integer, got {value!r}") from None
    if minimum is not None and number < minimum:
        raise ValueError(f"must be >= {minimum}, got {number}")
    return number


def positive_int(value: Any) -> int:
    return integer(value, minimum=1)


def non_negative_int(value: Any) -> int:
    return integer(value, minimum=0)


def seconds(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError(f"expected seconds, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"expected a number of seconds, got {value!r}") from None
    if number < 0:
        raise ValueError(f"must be >= 0, got {number}")
    return number


def port(value: Any) -> int:
    number = integer(value, minimum=0)
    if number > 65535:
        raise ValueError(f"port must be 0..65535, got {number}")
    return number


_SIZE = re.compile(r"^\s*(\d+)\s*([kmgt]?i?b?)?\s*$", re.I)
_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def size(value: Any) -> int:
    """Bytes: an int, or text like ``"10MB"``/``"512k"`` (binary units)."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"size must be >= 0, got {value}")
        return value
    m = _SIZE.match(str(value))
    if not m:
        raise ValueError(f"expected a size like 1048576 or '10MB', got {value!r}")
    unit = (m.group(2) or "").lower()[:1]
    return int(m.group(1)) * _UNITS[unit]


def percent(value: Any) -> float:
    number = seconds(value)
    if number > 100 * 1024:
        raise ValueError(f"expected a CPU percent, got {number}")
    return number
