"""``was.mbox``: the seed's flash messages, carried in a sealed cookie across requests.

A message is ``(message_id, category, created, valid, msg, extra)``.  ``valid=0`` (the
default) shows it once: a request that reads it with ``get()`` and finishes without an
error deletes it; one that does not read it leaves it for the next request (the redirect
case).  ``valid=60`` shows it on every ``get()`` for 60 seconds.  Messages live in their
own cookie (``MBOX``, or ``MBOX_<name>`` for ``was.mbox.mount(name, ...)``), so a redirect
carries them without touching the session's expiry.
"""

from __future__ import annotations

import time
from typing import Any, Final

from skitai.saddle import cookies as cookies_mod
from skitai.saddle.sealedcookie import CookieSpec, Mounts, SealedCookie, Secret

DEFAULT_NAME: Final = "MBOX"
Message = tuple[int, str, float, int, Any, dict[str, Any]]


class MessageBox(SealedCookie):
    purpose = b"mbox:"

    def __init__(
        self,
        jar: cookies_mod.Cookies,
        securekey: Secret | None,
        spec: CookieSpec,
        remote_addr: str | None = None,
    ) -> None:
        super().__init__(jar, securekey, spec, remote_addr)
        self._seen: set[int] = set()

    def _messages(self) -> list[list[Any]]:
        now = time.time()
        messages: list[list[Any]] = self.payload.setdefault("m", [])
        live = [m for m in messages if not m[3] or m[2] + m[3] > now]
        if len(live) == len(messages):
            return messages
        self.payload["m"] = live
        self.changed()
        return live

    def send(self, msg: Any, category: str = "info", valid: int = 0, **extra: Any) -> int:
        """Queue a message; returns its id."""
        payload = self.payload
        message_id = int(payload.get("n", 0)) + 1
        payload["n"] = message_id
        self._messages().append([message_id, category, time.time(), int(valid), msg, extra])
        self.payload["a"] = self.remote_addr
        self.changed()
        return message_id

    def get(self, key: str | None = None, val: Any = None) -> list[Message]:
        """All messages; ``get(category)``; ``get(key, val)`` filters on ``extra[key]``.
        One-shot messages returned here are deleted when the request succeeds."""
        found: list[Message] = []
        for m in self._messages():
            if key is not None and (m[1] != key if val is None else m[5].get(key) != val):
                continue
            found.append((m[0], m[1], m[2], m[3], m[4], m[5]))
            if not m[3]:
                self._seen.add(m[0])
        return found

    def getv(self, key: str | None = None, val: Any = None) -> list[Message]:
        return self.get(key, val) if self.source_verified() else []

    def source_verified(self) -> bool:
        return bool(self.payload) and self.payload.get("a") == self.remote_addr

    def search(self, key: str, val: Any = None) -> list[int]:
        """Ids of messages whose ``extra[key] == val``, or whose category is ``key``."""
        if val is None:
            return [m[0] for m in self._messages() if m[1] == key]
        return [m[0] for m in self._messages() if m[5].get(key) == val]

    def remove(self, message_id: int) -> None:
        messages = self._messages()
        kept = [m for m in messages if m[0] != message_id]
        if len(kept) != len(messages):
            self.payload["m"] = kept
            self.changed()

    def __len__(self) -> int:
        return len(self._messages())

    def cookie_expires(self) -> int | float | str | None:
        # Kept until the longest-lived message ends; one-shot ones: until the browser closes.
        ends = [m[2] + m[3] for m in self.payload.get("m", []) if m[3]]
        return max(1, int(max(ends) - time.time())) if ends else None

    def finish(self, ok: bool) -> None:
        """End of request: drop the one-shot messages this request read (if it succeeded)."""
        if ok and self._seen:
            self.payload["m"] = [m for m in self.payload.get("m", []) if m[0] not in self._seen]
            self._seen.clear()
            self.changed()
        if self._dirty and not self.payload.get("m"):
            self.payload.clear()
        self.commit()


class MboxMounts(Mounts[MessageBox]):
    """``was.mbox``: the current message box, ``mount(name, securekey, path, ...)``."""

    def __init__(
        self,
        jar: cookies_mod.Cookies,
        securekey: Secret | None,
        remote_addr: str | None = None,
        spec: CookieSpec | None = None,
    ) -> None:
        super().__init__(jar, securekey, remote_addr, spec or CookieSpec(DEFAULT_NAME))

    def _build(self, spec: CookieSpec, securekey: Secret | None, **extra: Any) -> MessageBox:
        if extra:
            raise TypeError(f"was.mbox.mount() got unexpected arguments {sorted(extra)}")
        return MessageBox(self._jar, securekey, spec, self._remote_addr)

    def send(self, msg: Any, category: str = "info", valid: int = 0, **extra: Any) -> int:
        return self.current.send(msg, category, valid, **extra)

    push = send  # the seed's "App Decorating" example: was.mbox.push(msg, category, icon=...)

    def get(self, key: str | None = None, val: Any = None) -> list[Message]:
        return self.current.get(key, val)

    def getv(self, key: str | None = None, val: Any = None) -> list[Message]:
        return self.current.getv(key, val)

    def source_verified(self) -> bool:
        return self.current.source_verified()

    def search(self, key: str, val: Any = None) -> list[int]:
        return self.current.search(key, val)

    def remove(self, message_id: int) -> None:
        self.current.remove(message_id)

    def __len__(self) -> int:
        return len(self.current)

    def finish(self, ok: bool) -> None:
        for one in self._mounted.values():
            one.finish(ok)
