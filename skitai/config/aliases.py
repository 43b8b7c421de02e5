"""``skitai.alias()`` and ``[@alias]`` sections: backend members parsed once, into the
frozen config (layer 1: standard library only).

A member string is the seed's ``[user[:password]@]host[:port][/database] [weight]``
(``%40`` for an ``@`` in a password; the DB slash form ``host:port/db/user/password``),
plus what the seed could not say: IPv6 ``[::1]:5000``, URLs (``https://host:8443/api``),
unix sockets (``unix:/run/app.sock``) and SQLite file paths.  Secrets never need argv:
``${NAME}`` in a password reads the environment, and an ``[@alias]`` section's
``password`` (in a file nobody else can read) fills members written without one.

The ``weight`` is the member's capacity (the original's meaning): the balancer sends a
member work in proportion to it.
"""

from __future__ import annotations

import dataclasses
import functools
import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import unquote, urlsplit

from skitai.config import conffile
from skitai.errors import ConfigError

# Types, by every spelling the seed and its examples use (skitai.PROTO_HTTP is "http").
HTTP_TYPES: Final = frozenset({"http", "https", "ws", "wss"})
DB_TYPES: Final = frozenset({"postgresql", "sqlite3", "redis", "mongodb"})
_TYPE_NAMES: Final = {
    "http": "http", "https": "https", "ws": "ws", "wss": "wss",
    "postgresql": "postgresql", "postgres": "postgresql", "pgsql": "postgresql",
    "sqlite3": "sqlite3", "sqlite": "sqlite3", "redis": "redis",
    "mongodb": "mongodb", "mongo": "mongodb",
}
DEFAULT_PORTS: Final = {"http": 80, "https": 443, "ws": 80, "wss": 443,
                        "postgresql": 5432, "redis": 6379, "mongodb": 27017}
_SECURE: Final = {"https", "wss"}
_ENV_REF = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")
_WEIGHT = re.compile(r"^(.*?)\s+(\d+)$")


@dataclass(frozen=True)
class Member:
    """One backend of an alias.  ``host`` is bare (no IPv6 brackets); ``unix`` is a socket
    path for HTTP members; ``path`` is the file of a SQLite member."""

    type: str
    host: str = ""
    port: int = 0
    weight: int = 1
    ssl: bool = False
    unix: str | None = None
    path: str | None = None
    prefix: str = ""  # a URL member's path ("https://h/api" -> "/api")
    database: str | None = None
    user: str | None = None
    password: str | None = dataclasses.field(default=None, repr=False)

    @functools.cached_property  # (asked per proxied request: computed once)
    def netloc(self) -> str:
        """``host:port`` as a Host header or URL writes it (IPv6 bracketed)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = DEFAULT_PORTS.get("https" if self.ssl else "http")
        if self.type in HTTP_TYPES and self.port == default:
            return host
        return f"{host}:{self.port}"

    @functools.cached_property  # (in every proxied request's log field: computed once)
    def label(self) -> str:
        """How logs and ``skitai status`` name the member (never with a password)."""
        if self.unix:
            return f"unix:{self.unix}"
        if self.path is not None:
            return self.path
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


@dataclass(frozen=True)
class Alias:
    """``skitai.alias(name, type, servers, role, source, ssl)``, parsed."""

    name: str  # without the leading "@"
    type: str
    members: tuple[Member, ...]
    roles: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()  # CIDR networks, normalised (IPv4 and IPv6)
    ssl: bool = False
    where: str = ""  # the call or file:line that declared it, for later errors
    http2: bool | None = None  # offer h2 to https members; None: set_backend_http2's

    @property
    def is_http(self) -> bool:
        return self.type in HTTP_TYPES

    @functools.cached_property
    def networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        return tuple(ipaddress.ip_network(net) for net in self.sources)

    def allows(self, address: str) -> bool:
        """Is a client address inside ``source=``?  (No list: every address is.)"""
        return not self.sources or in_networks(address, self.networks)


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def in_networks(address: str, networks: tuple[Network, ...]) -> bool:
    """Is ``address`` (IPv4, IPv6 with or without a zone, or IPv4-mapped IPv6) in one of
    ``networks``?  Anything that is not an address (a unix socket peer) is not."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in net for net in networks)


def key(name: str) -> str:
    """``"@members"`` and ``"members"`` name one alias."""
    return name[1:] if name.startswith("@") else name


def find(aliases: tuple[Alias, ...], name: str) -> Alias | None:
    wanted = key(name)
    for alias in aliases:
        if alias.name == wanted:
            return alias
    return None


def alias_type(value: object, where: str) -> str:
    name = _TYPE_NAMES.get(str(value).strip().lower()) if isinstance(value, str) else None
    if name is None:
        known = ", ".join(sorted(_TYPE_NAMES))
        raise ConfigError(f"{where}: unknown alias type {value!r} (known: {known})")
    return name


def make(name: object, type_: object, servers: object, role: object = "", source: object = "",
         ssl: object = False, *, where: str, default_password: str | None = None,
         env: Mapping[str, str] | None = None, http2: object = None) -> Alias:
    """Parse one alias; every mistake is a ``ConfigError`` naming ``where`` and the member."""
    if not isinstance(name, str) or not key(name) or any(c.isspace() for c in name):
        raise ConfigError(f"{where}: the alias name must be a word like '@members'")
    kind = alias_type(type_, where)
    if isinstance(servers, str):
        servers = [servers]
    if not isinstance(servers, list | tuple) or not servers:
        raise ConfigError(f"{where}: servers must be a member string or a non-empty list of them")
    use_ssl = bool(ssl) or kind in _SECURE
    members = tuple(
        parse_member(text, kind, ssl=use_ssl, where=f"{where}: member {i + 1} {_masked(text)!r}",
                     default_password=default_password, env=env)
        for i, text in enumerate(servers))
    if http2 is not None and not isinstance(http2, bool):
        raise ConfigError(f"{where}: http2 is True, False or None")
    return Alias(name=key(name), type=kind, members=members, roles=_roles(role, where),
                 sources=_sources(source, where), ssl=use_ssl, where=where, http2=http2)


def parse_member(text: object, kind: str, *, ssl: bool = False, where: str,
                 default_password: str | None = None,
                 env: Mapping[str, str] | None = None) -> Member:
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(f"{where}: a member is a non-empty string")
    body, weight = _split_weight(text.strip(), where)
    if kind == "sqlite3":
        path = body if body == ":memory:" else os.path.abspath(os.path.expanduser(body))
        return Member(type=kind, path=path, weight=weight)
    if kind in HTTP_TYPES and body.startswith("unix:"):
        sock = body[5:]
        if not sock.startswith("/"):
            raise ConfigError(f"{where}: a unix socket member is 'unix:/absolute/path.sock'")
        return Member(type=kind, unix=sock, weight=weight, ssl=False)
    prefix = ""
    if "://" in body:
        body, prefix, kind, ssl = _from_url(body, kind, ssl, where)
    user = password = None
    creds, at, hostpart = body.rpartition("@")
    if at:
        user_text, _, pw_text = creds.partition(":")
        user = unquote(user_text) or None
        password = _secret(unquote(pw_text), where, env) if pw_text else None
    host, port, rest = _host_port(hostpart, kind, ssl, where)
    database = None
    if kind in DB_TYPES:
        database, user, password = _db_path(rest, user, password, where, env)
    elif rest:
        prefix = prefix or "/" + rest
    if password is None and default_password is not None and user is not None:
        password = default_password
    if kind == "redis" and database is not None and not database.isdigit():
        raise ConfigError(f"{where}: a redis database is a number, got {database!r}")
    return Member(type=kind, host=host, port=port, weight=weight, ssl=ssl, prefix=prefix.rstrip("/"),
                  database=database, user=user, password=password)


def _split_weight(text: str, where: str) -> tuple[str, int]:
    m = _WEIGHT.match(text)
    if not m:
        if any(c.isspace() for c in text):
            raise ConfigError(f"{where}: expected 'address [weight]'")
        return text, 1
    body, weight = m.group(1).strip(), int(m.group(2))
    if any(c.isspace() for c in body):
        raise ConfigError(f"{where}: expected 'address [weight]'")
    if weight < 1:
        raise ConfigError(f"{where}: the weight must be >= 1")
    return body, weight


def _from_url(body: str, kind: str, ssl: bool, where: str) -> tuple[str, str, str, bool]:
    parts = urlsplit(body)
    scheme = parts.scheme.lower()
    if scheme not in HTTP_TYPES or kind not in HTTP_TYPES:
        raise ConfigError(f"{where}: a URL member needs an http/https/ws/wss alias and URL")
    if parts.query or parts.fragment:
        raise ConfigError(f"{where}: a member URL has no query or fragment")
    secure = scheme in _SECURE
    kind = {("http", True): "https", ("ws", True): "wss"}.get((kind, secure), kind)
    return parts.netloc, parts.path, kind, ssl or secure


def _host_port(text: str, kind: str, ssl: bool, where: str) -> tuple[str, int, str]:
    """``host[:port][/rest]`` with IPv6 in brackets; returns the rest after the first '/'."""
    rest = ""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ConfigError(f"{where}: an IPv6 address needs its closing ']'")
        host, tail = text[1:end], text[end + 1:]
        try:
            ipaddress.IPv6Address(host.split("%", 1)[0])
        except ValueError:
            raise ConfigError(f"{where}: {host!r} is not an IPv6 address") from None
    else:
        cut = len(text)
        for ch in ":/":
            i = text.find(ch)
            if 0 <= i < cut:
                cut = i
        host, tail = text[:cut], text[cut:]
        if host.count(":") or not host:
            raise ConfigError(f"{where}: no host (write IPv6 addresses as [::1]:5000)")
    port_text = ""
    if tail.startswith(":"):
        port_text, _, rest = tail[1:].partition("/")
    elif tail.startswith("/"):
        rest = tail[1:]
    elif tail:
        raise ConfigError(f"{where}: unexpected {tail!r} after the host")
    default = DEFAULT_PORTS.get("https" if ssl and kind in HTTP_TYPES else kind, 0)
    try:
        port = int(port_text) if port_text else default
    except ValueError:
        raise ConfigError(f"{where}: the port must be a number, got {port_text!r}") from None
    if not 0 < port < 65536:
        raise ConfigError(f"{where}: the port must be 1..65535, got {port}")
    return host.lower(), port, rest


def _db_path(rest: str, user: str | None, password: str | None, where: str,
             env: Mapping[str, str] | None) -> tuple[str | None, str | None, str | None]:
    """``/db`` or the seed's slash form ``/db/user/password``."""
    if not rest:
        return None, user, password
    parts = rest.split("/")
    if len(parts) == 1:
        return unquote(parts[0]) or None, user, password
    if len(parts) == 3 and user is None:
        return (unquote(parts[0]) or None, unquote(parts[1]) or None,
                _secret(unquote(parts[2]), where, env) or None)
    raise ConfigError(f"{where}: expected '/database' or '/database/user/password' after the port")


def _secret(text: str, where: str, env: Mapping[str, str] | None) -> str:
    m = _ENV_REF.match(text)
    if not m:
        return text
    source = os.environ if env is None else env
    value = source.get(m.group(1))
    if value is None:
        raise ConfigError(f"{where}: the environment variable {m.group(1)} is not set")
    return value


def _roles(role: object, where: str) -> tuple[str, ...]:
    if role is None or role == "":
        return ()
    items = role.split(",") if isinstance(role, str) else role
    if not isinstance(items, list | tuple) or not all(isinstance(r, str) for r in items):
        raise ConfigError(f"{where}: role is a comma-separated string or a list of names")
    return tuple(r.strip() for r in items if r.strip())


def _sources(source: object, where: str) -> tuple[str, ...]:
    if source is None or source == "":
        return ()
    items = source.split(",") if isinstance(source, str) else source
    if not isinstance(items, list | tuple):
        raise ConfigError(f"{where}: source is a comma-separated list of networks")
    out = []
    for item in items:
        text = str(item).strip()
        if text:
            out.append(str(_network(text, where)))
    return tuple(out)


def _network(text: str, where: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """CIDR, v4 or v6; the seed's partial dotted form ``192.168.1/24`` is padded."""
    addr, slash, bits = text.partition("/")
    if ":" not in addr and addr.count(".") < 3 and addr.replace(".", "").isdigit():
        addr = ".".join((addr.split(".") + ["0", "0", "0"])[:4])
    try:
        return ipaddress.ip_network(f"{addr}{slash}{bits}", strict=False)
    except ValueError:
        raise ConfigError(f"{where}: {text!r} in source= is not a network like "
                          "'192.168.1.0/24' or 'fd00::/8'") from None


def _masked(text: object) -> str:
    """A member string as errors may show it: the password replaced by ``***``."""
    if not isinstance(text, str):
        return repr(text)
    creds, at, rest = text.rpartition("@")
    if at and ":" in creds:
        creds = creds.split(":", 1)[0] + ":***"
    if not at and rest.count("/") >= 3 and "://" not in rest:
        rest = rest.rsplit("/", 1)[0] + "/***"
    return f"{creds}{at}{rest}"


# --- [@alias] sections of ~/.skitai.conf ------------------------------------------------

SECTION_KEYS: Final = frozenset({"type", "members", "role", "source", "ssl", "password", "http2"})


def split_members(value: str) -> list[str]:
    """``members = a:5001 2, b:5001`` (commas or new lines between members)."""
    return [m.strip() for m in re.split(r"[,\n]", value) if m.strip()]


def from_conf(conf: conffile.ConfFile, env: Mapping[str, str] | None = None) -> list[Alias]:
    """Every ``[@name]`` section, e.g.::

        [@mydb]
        type = postgresql
        members = app@10.0.0.2:5432/main 2, app@10.0.0.3:5432/main
        password = ${DB_PASSWORD}     ; or the secret itself, in a chmod 600 file
    """
    out = []
    for section, entries in conf.sections.items():
        if not section.startswith("@"):
            continue
        conffile.check_keys(conf, section, set(SECTION_KEYS))
        first = min((e.line for e in entries.values()), default=0)
        where = f"{conf.path}:{first}: [{section}]"
        for required in ("type", "members"):
            if required not in entries:
                raise ConfigError(f"{where}: needs a {required!r} key")
        password = entries.get("password")
        secret = None
        if password is not None:
            if not _ENV_REF.match(password.value):
                check_private(conf.path, section)
            secret = _secret(password.value, f"{conf.where(password)}: [{section}] password", env)
        out.append(make(section, entries["type"].value, split_members(entries["members"].value),
                        entries["role"].value if "role" in entries else "",
                        entries["source"].value if "source" in entries else "",
                        _bool(entries.get("ssl")), where=where, default_password=secret,
                        env=env, http2=_bool(entries["http2"]) if "http2" in entries else None))
    return out


def _bool(entry: conffile.Entry | None) -> bool:
    return entry is not None and entry.value.strip().lower() in ("1", "true", "yes", "on")


def check_private(path: str, section: str) -> None:
    """A password written in the file is refused unless nobody else can read the file."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return
    if mode & 0o077:
        raise ConfigError(f"{path}: [{section}] holds a password but the file is readable by "
                          f"group/others (mode {mode & 0o777:o}); chmod 600 it, or write "
                          "password = ${ENV_NAME}")


def merge(declared: list[Alias], from_file: list[Alias]) -> tuple[Alias, ...]:
    """app.py's aliases win over a config file's of the same name (the config direction),
    but a file's ``password`` fills app.py members written without one."""
    by_name = {a.name: a for a in from_file}
    out: dict[str, Alias] = {}
    for alias in declared:
        if alias.name in out:
            raise ConfigError(f"{alias.where}: alias '@{alias.name}' is declared twice "
                              f"(first at {out[alias.name].where})")
        filed = by_name.get(alias.name)
        secret = next((m.password for m in filed.members if m.password), None) if filed else None
        if secret is not None:
            alias = dataclasses.replace(alias, members=tuple(
                dataclasses.replace(m, password=secret) if m.user and m.password is None else m
                for m in alias.members))
        out[alias.name] = alias
    for alias in from_file:
        out.setdefault(alias.name, alias)
    return tuple(out.values())
