"""Where a ``was`` call goes: an ``@alias`` (its members) or a server written in the
call, and which member(s) answer (``.lb`` one by weight and load, ``.map`` all).

Aliases are the ones ``skitai.alias()`` and ``[@name]`` sections declared, parsed once
by ``skitai.config.aliases``: the worker hands its frozen config's tuple to
``configure()``; outside a worker (a script) the draft ``app.py`` built so far is used.
A server written in the call (``was.postgresql("127.0.0.1:5432", "mydb")``) is parsed by
the same ``aliases.parse_member``.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import quote

from skitai.config import aliases as aliases_mod
from skitai.config.aliases import Member

T = TypeVar("T")

_configured: tuple[aliases_mod.Alias, ...] | None = None
# A member that refused a connection is tried last for this long.
DOWN_FOR = 10.0


def configure(aliases: tuple[aliases_mod.Alias, ...] | None) -> None:
    global _configured
    _configured = aliases


def known_aliases() -> tuple[aliases_mod.Alias, ...]:
    if _configured is not None:
        return _configured
    from skitai import api

    return tuple(api.draft().aliases)


@dataclass(frozen=True)
class Target:
    kind: str  # the alias type: "http", "postgresql", "redis", ...
    members: tuple[Member, ...]
    name: str  # "@alias" or the server as written (never with a password)
    path: str = ""  # HTTP: what follows the alias or the host ("/api/x?y=1")


def find_alias(name: str) -> aliases_mod.Alias:
    found = aliases_mod.find(known_aliases(), name)
    if found is None:
        known = ", ".join("@" + a.name for a in known_aliases()) or "none"
        raise LookupError(f"no alias {name!r} (declared: {known}); "
                          "declare it with skitai.alias() before skitai.run()")
    return found


def resolve_db(server: str, kind: str | None, database: str | None = None,
               user: str | None = None, password: str | None = None) -> Target:
    """``@alias`` or a server string for a database ``kind`` (None: the alias's own)."""
    if server.startswith("@"):
        alias = find_alias(server)
        if kind is not None and alias.type != kind:
            raise TypeError(f"alias {server} is {alias.type}, not {kind}")
        if alias.type in aliases_mod.HTTP_TYPES:
            raise TypeError(f"alias {server} is {alias.type}: use was.get/post/rpc, not a "
                            "database call")
        return Target(alias.type, alias.members, server)
    if kind is None:
        raise TypeError("was.backend() takes an '@alias'; name the engine for a server "
                        "(was.postgresql, was.redis, was.sqlite3, was.mongodb)")
    text = server
    if kind != "sqlite3":
        if database and "/" not in server.rpartition("@")[2]:
            text = f"{text}/{database}"
        if user and "@" not in server:
            creds = quote(user, safe="") + (":" + quote(password, safe="") if password else "")
            text = f"{creds}@{text}"
    member = aliases_mod.parse_member(text, kind, where=f"was.{kind}({server!r})")
    return Target(kind, (member,), member.label)


def resolve_http(url: str) -> Target:
    """``@alias/path?query`` or ``http(s)://host[:port]/path``."""
    if url.startswith("@"):
        name, slash, rest = url.partition("/")
        alias = find_alias(name)
        if alias.type not in aliases_mod.HTTP_TYPES:
            raise TypeError(f"alias {name} is {alias.type}: use was.backend(), not an HTTP call")
        return Target(alias.type, alias.members, name, "/" + rest if slash else "/")
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in aliases_mod.HTTP_TYPES:
        raise ValueError(f"expected an http(s):// URL or an @alias, got {url!r}")
    hostport, slash, path = rest.partition("/")
    query = ""
    if "?" in hostport:
        hostport, _, query = hostport.partition("?")
        query = "?" + query
    member = aliases_mod.parse_member(f"{scheme.lower()}://{hostport}", scheme.lower(),
                                      where=f"was call to {url!r}")
    return Target(member.type, (member,), f"{scheme}://{hostport}",
                  ("/" + path if slash else "/") + query)


class Balancer:
    """Picks members by weight and load (calls in flight per unit of weight), and
    remembers which refused a connection so fail-over tries them last."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.inflight: dict[Member, int] = {}
        self.down_until: dict[Member, float] = {}
        self.calls: dict[Member, int] = {}
        self.failures: dict[Member, int] = {}

    def order(self, members: tuple[Member, ...]) -> list[Member]:
        """Every member, best first."""
        if len(members) == 1:
            return list(members)
        now = time.monotonic()
        with self._lock:
            scored = [((self.down_until.get(m, 0.0) > now),
                       (self.inflight.get(m, 0) + 1) / max(m.weight, 1),
                       random.random(), i) for i, m in enumerate(members)]
        return [members[s[3]] for s in sorted(scored)]

    def begin(self, member: Member) -> None:
        with self._lock:
            self.inflight[member] = self.inflight.get(member, 0) + 1
            self.calls[member] = self.calls.get(member, 0) + 1

    def end(self, member: Member, failed: bool = False) -> None:
        with self._lock:
            self.inflight[member] = self.inflight.get(member, 1) - 1
            if failed:
                self.failures[member] = self.failures.get(member, 0) + 1
                self.down_until[member] = time.monotonic() + DOWN_FOR
            else:
                self.down_until.pop(member, None)

    async def one(self, members: tuple[Member, ...], call: Callable[[Member], Awaitable[T]],
                  connect_errors: tuple[type[BaseException], ...]) -> T:
        """``call`` on the best member; on a connection failure, on the next one."""
        error: BaseException | None = None
        for member in self.order(members):
            self.begin(member)
            failed = False
            try:
                return await call(member)
            except connect_errors as exc:
                failed = True
                error = exc
            finally:
                self.end(member, failed)
        assert error is not None
        raise error

    def stats(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {m.label: {"calls": n, "inflight": self.inflight.get(m, 0),
                              "failures": self.failures.get(m, 0)} for m, n in self.calls.items()}


balancer = Balancer()
