"""Where a ``was`` call goes: an ``@alias`` (its members) or a server written in the
call, and which member(s) answer (``.lb`` one by weight and load, ``.map`` all).

Aliases are the ones ``skitai.alias()`` and ``[@name]`` sections declared, parsed once
by ``skitai.config.aliases``: the worker hands its frozen config's tuple to
``configure()``; outside a worker (a script) the aliases the app side declared to
``runtime.declare()`` so far (``app.py``'s draft) are used.
A server written in the call (``was.postgresql("127.0.0.1:5432", "mydb")``) is parsed by
the same ``aliases.parse_member``.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import quote

from skitai.config import aliases as aliases_mod
from skitai.config.aliases import Member
from skitai.upstream import balancer as upstream_balancer
from skitai.was import runtime

T = TypeVar("T")

_configured: tuple[aliases_mod.Alias, ...] | None = None
_http2 = True  # set_backend_http2, from the worker's config (configure)
# A member that refused a connection is tried last for this long.
DOWN_FOR = 10.0


# In a worker (aliases fixed) a call site's database target, resolved once: the same few
# are asked for on every request.  Bounded in case an app writes ever new server strings.
_resolved_db: dict[tuple[str, str | None, str | None, str | None, str | None], Target] = {}
RESOLVED_MAX = 1024
# Outside a worker: the same, each with the declared aliases it was resolved from.
_draft_db: dict[tuple[str, str | None, str | None, str | None, str | None],
                tuple[tuple[aliases_mod.Alias, ...], Target]] = {}


def configure(aliases: tuple[aliases_mod.Alias, ...] | None, backend_http2: bool = True) -> None:
    global _configured, _http2
    _configured = aliases
    _http2 = backend_http2
    _resolved_db.clear()
    _draft_db.clear()


def backend_http2() -> bool:
    """``set_backend_http2``'s choice (an alias's ``http2=`` wins over it): the worker's
    config, or outside a worker what the app side declared, as for the aliases."""
    if _configured is not None:
        return _http2
    return runtime.declared_backend_http2()


def known_aliases() -> tuple[aliases_mod.Alias, ...]:
    if _configured is not None:
        return _configured
    return runtime.declared_aliases()


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
    key = (server, kind, database, user, password)
    if _configured is None:
        # The draft may still change: a target is kept with the aliases it was resolved
        # from and used while they are the same (a pointer compare per alias).
        declared = runtime.declared_aliases()
        seen = _draft_db.get(key)
        if seen is not None and seen[0] == declared:
            return seen[1]
        target = _resolve_db(server, kind, database, user, password)
        if len(_draft_db) >= RESOLVED_MAX:
            _draft_db.clear()
        _draft_db[key] = (declared, target)
        return target
    found = _resolved_db.get(key)
    if found is None:
        found = _resolve_db(server, kind, database, user, password)
        if len(_resolved_db) >= RESOLVED_MAX:
            _resolved_db.clear()
        _resolved_db[key] = found
    return found


def _resolve_db(server: str, kind: str | None, database: str | None,
                user: str | None, password: str | None) -> Target:
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


class Balancers:
    """``.lb`` for database members, on the upstream client's ``Balancer`` (weight and
    outstanding calls, two random choices): one per member set, on the loop thread.
    A member that refused a connection is skipped for ``DOWN_FOR`` seconds, then tried
    again (the HTTP pools have health checks; a database member has none)."""

    def __init__(self) -> None:
        self._by_members: dict[tuple[Member, ...], upstream_balancer.Balancer] = {}
        # The same members tuple (an alias's) comes back on every call: found by identity
        # first, as hashing it hashes every field of every member.  The entry keeps the
        # tuple alive, so its id is not reused while it is here.
        self._by_id: dict[int, tuple[tuple[Member, ...], upstream_balancer.Balancer]] = {}

    def of(self, members: tuple[Member, ...]) -> upstream_balancer.Balancer:
        seen = self._by_id.get(id(members))
        if seen is not None and seen[0] is members:
            return seen[1]
        found = self._by_members.get(members)
        if found is None:
            found = self._by_members[members] = upstream_balancer.Balancer(members)
        if len(self._by_id) < 1024:  # bounded: a server written in a call is a new tuple
            self._by_id[id(members)] = (members, found)
        return found

    async def one(self, members: tuple[Member, ...], call: Callable[..., Awaitable[T]],
                  connect_errors: tuple[type[BaseException], ...], *args: object) -> T:
        """``call(member, *args)`` on the member the balancer picks; on a connection
        failure, another."""
        balancer = self.of(members)
        states = balancer.states
        if len(states) == 1:
            # One member (the usual database alias): nothing to pick, no other to try;
            # counted as below (``was.status()``), its down state kept for the display.
            only = states[0]
            only.outstanding += 1
            try:
                result = await call(only.member, *args)
            except connect_errors:
                only.failures += 1
                only.down, only.down_since = True, time.monotonic()
                raise
            finally:
                only.outstanding -= 1
            only.served += 1
            only.down = False
            return result
        now = time.monotonic()
        for member_state in states:
            if member_state.down and now - member_state.down_since > DOWN_FOR:
                member_state.down = False
        tried: set[int] = set()
        error: BaseException | None = None
        while (state := balancer.pick(tried)) is not None:
            tried.add(state.index)
            state.outstanding += 1
            try:
                result = await call(state.member, *args)
            except connect_errors as exc:
                state.failures += 1
                state.down, state.down_since = True, time.monotonic()
                error = exc
                continue
            finally:
                state.outstanding -= 1
            state.served += 1
            state.down = False
            return result
        assert error is not None
        raise error

    def stats(self) -> dict[str, dict[str, object]]:
        return {s.member.label: s.snapshot() for b in self._by_members.values() for s in b.states}

    def runner(self, members: tuple[Member, ...],
               make: Callable[[Member], Callable[[], Awaitable[T]]],
               connect_errors: tuple[type[BaseException], ...] = (OSError,),
               ) -> Callable[[], Awaitable[T]]:
        """A call's runner for ``.lb``: ``make(member)()`` on the member picked."""
        async def run() -> T:
            async def attempt(member: Member) -> T:
                return await make(member)()
            return await self.one(members, attempt, connect_errors)
        return run


balancer = Balancers()
