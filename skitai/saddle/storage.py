"""``app.storage``: values an app keeps for every request of this worker process.

The seed's README fills it from ``@app.mounted`` callbacks (``app.storage.set("STATENAMES",
d)``) and reads it in views; its changelog calls it removed "officially" yet kept, so ported
apps still use it.  Per process (each worker has its own), thread-safe: a callback sets it
on the worker's loop while pool threads read it.
"""

from __future__ import annotations

import threading
from typing import Any


class Storage:
    def __init__(self) -> None:
        self._values: dict[str, Any] = {}
        self._lock = threading.Lock()

    def set(self, key: str, value: Any) -> None:
        with self._lock:
            self._values[key] = value

    def get(self, key: str, default: Any = None) -> Any:
        with self._lock:
            return self._values.get(key, default)

    def remove(self, key: str) -> Any:
        with self._lock:
            return self._values.pop(key, None)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._values
