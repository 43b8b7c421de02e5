"""``DaemonSpec``: one service daemon as the config describes it (supervisord's
``[program:x]``, circus's watcher), whichever way it came in.

Three ways in, one model: ``skitai.enable_daemon(name, entry_or_command, **options)`` in
app.py, a ``[daemon:NAME]`` section of the config file, and an installed package's
``skitai.daemons`` entry point enabled by name.  The built-ins (smtpda, cron, the
spooler, the metrics exporter) are declared the same way; the master turns each spec into
a ProcessSpec without knowing any daemon by name.

A daemon is either a Python entry (``"package.module:main"``, called in its own process
with a ``skitai.daemons.DaemonContext``) or an external command (argv, run with
``env``/``cwd``; its output goes to the log folder with rotation).  The supervision
options (``SUPERVISION``) are the same for both; every other key of the section is the
daemon's own configuration, handed to it frozen as ``ctx.config``.
"""

from __future__ import annotations

import os
import shlex
import signal
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from skitai.config import parse
from skitai.errors import ConfigError

RESTART_POLICIES: Final = ("always", "on-failure", "never")
# Where an entry point of an installed package declares a daemon.
ENTRY_POINT_GROUP: Final = "skitai.daemons"


@dataclass(frozen=True)
class DaemonSpec:
    name: str
    entry: str | None = None  # "package.module:function", called as function(ctx) -> int
    command: tuple[str, ...] = ()  # an external program's argv
    count: int = 1
    restart: str = "always"  # always | on-failure | never
    startsecs: float = 1.0  # up this long: RUNNING (and a later exit is not a start failure)
    startretries: int = 3  # failed starts in a row before FATAL
    after: tuple[str, ...] = ()  # daemons started before this one (stopped after it)
    stop_signal: str = "TERM"
    stop_timeout: float = 10.0  # seconds after the stop signal before SIGKILL
    env: tuple[tuple[str, str], ...] = ()
    cwd: str | None = None
    stdout_log: str | None = None  # default <logpath>/<name>.log when logpath is set
    stderr_log: str | None = None  # default: the stdout log
    log_max_bytes: int = 10 << 20
    log_backups: int = 5
    max_rss: int = 0  # bytes; 0: no ceiling
    max_cpu: float = 0.0  # percent over cpu_samples samples of cpu_interval s; 0: none
    cpu_samples: int = 3
    cpu_interval: float = 20.0
    heartbeat: float = 0.0  # seconds without ctx.heartbeat() before SIGABRT; 0: not watched
    options: tuple[tuple[str, Any], ...] = ()  # the daemon's own section, frozen
    source: str = ""  # "app.py:12" or "file:line", for error messages

    @property
    def kind(self) -> str:
        return "python" if self.entry else "command"

    def option(self, key: str, default: Any = None) -> Any:
        for k, v in self.options:
            if k == key:
                return v
        return default

    def config(self) -> dict[str, Any]:
        return dict(self.options)


# name in DaemonSpec: (conf key, parser)
def _signal_name(value: Any) -> str:
    text = str(value).strip().upper()
    text = text[3:] if text.startswith("SIG") else text
    if not hasattr(signal, "SIG" + text) or text.startswith(("IGN", "DFL")):
        raise ValueError(f"unknown signal {value!r}")
    return text


def _restart(value: Any) -> str:
    text = str(value).strip().lower()
    aliases = {"true": "always", "false": "never", "unexpected": "on-failure"}
    text = aliases.get(text, text)
    if text not in RESTART_POLICIES:
        raise ValueError(f"restart is one of {', '.join(RESTART_POLICIES)}, got {value!r}")
    return text


def _names(value: Any) -> tuple[str, ...]:
    items = value.replace(",", " ").split() if isinstance(value, str) else list(value)
    return tuple(str(v) for v in items)


def _env(value: Any) -> tuple[tuple[str, str], ...]:
    if isinstance(value, Mapping):
        return tuple((str(k), str(v)) for k, v in value.items())
    pairs = []
    for item in shlex.split(str(value).replace(",", " ")) if isinstance(value, str) else value:
        key, sep, val = str(item).partition("=")
        if not sep or not key:
            raise ValueError(f"environment is KEY=VALUE pairs, got {item!r}")
        pairs.append((key, val))
    return tuple(pairs)


def _command(value: Any) -> tuple[str, ...]:
    argv = shlex.split(value) if isinstance(value, str) else [str(v) for v in value]
    if not argv:
        raise ValueError("an empty command")
    return tuple(argv)


def _path(value: Any) -> str:
    return os.path.abspath(os.path.expanduser(str(value)))


SUPERVISION: Final[dict[str, tuple[str, Callable[[Any], Any]]]] = {
    "entry": ("entry", str),
    "command": ("command", _command),
    "count": ("count", parse.positive_int),
    "restart": ("restart", _restart),
    "startsecs": ("startsecs", parse.seconds),
    "startretries": ("startretries", parse.non_negative_int),
    "after": ("after", _names),
    "stop-signal": ("stop_signal", _signal_name),
    "stop-timeout": ("stop_timeout", parse.seconds),
    "environment": ("env", _env),
    "env": ("env", _env),
    "cwd": ("cwd", _path),
    "directory": ("cwd", _path),
    "stdout-log": ("stdout_log", _path),
    "stderr-log": ("stderr_log", _path),
    "log-max-bytes": ("log_max_bytes", parse.size),
    "log-backups": ("log_backups", parse.non_negative_int),
    "max-rss": ("max_rss", parse.size),
    "max-cpu": ("max_cpu", parse.percent),
    "cpu-samples": ("cpu_samples", parse.positive_int),
    "cpu-interval": ("cpu_interval", parse.seconds),
    "heartbeat": ("heartbeat", parse.seconds),
}


def build(name: str, target: Any, options: Mapping[str, Any], source: str,
          resolve: Callable[[str], str | None] | None = None) -> DaemonSpec:
    """A spec from ``enable_daemon(name, target, **options)`` or a ``[daemon:NAME]``
    section (``target`` None: ``entry``/``command`` among the options, else the
    installed daemon of that name).  Keys are ``stop_timeout`` or ``stop-timeout``;
    unknown keys become the daemon's own ``options``.  Raises ``ConfigError`` naming
    ``source`` and the key."""
    if not isinstance(name, str) or not name or not all(c.isalnum() or c in "-_." for c in name):
        raise ConfigError(f"{source}: a daemon name is letters, digits, '-', '_' or '.', got {name!r}")
    values: dict[str, Any] = {"name": name, "source": source}
    own: dict[str, Any] = {}
    for raw_key, value in options.items():
        key = raw_key.strip().lower().replace("_", "-")
        if key not in SUPERVISION:
            own[key.replace("-", "_")] = value
            continue
        field, parser = SUPERVISION[key]
        try:
            values[field] = parser(value)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{source}: daemon {name!r}: bad {key}: {exc}", key=key) from None
    if target is not None:
        if isinstance(target, str) and ":" in target and " " not in target.strip():
            values["entry"] = target.strip()
        else:
            try:
                values["command"] = _command(target)
            except (ValueError, TypeError) as exc:
                raise ConfigError(f"{source}: daemon {name!r}: bad command: {exc}") from None
    if not values.get("entry") and not values.get("command"):
        found = resolve(name) if resolve is not None else None
        if found is None:
            raise ConfigError(f"{source}: daemon {name!r} has no entry or command, and no "
                              f"installed package declares one (entry point group "
                              f"{ENTRY_POINT_GROUP!r})")
        values["entry"] = found
    if values.get("entry") and values.get("command"):
        raise ConfigError(f"{source}: daemon {name!r}: give an entry or a command, not both")
    entry = values.get("entry")
    if entry is not None:
        module, sep, func = entry.partition(":")
        if not sep or not module or not func:
            raise ConfigError(f"{source}: daemon {name!r}: an entry is 'package.module:function', "
                              f"got {entry!r}")
    values["options"] = tuple(sorted(own.items()))
    return DaemonSpec(**values)


def order(specs: tuple[DaemonSpec, ...] | list[DaemonSpec]) -> list[DaemonSpec]:
    """Start order: every daemon after those it names in ``after`` (declaration order
    otherwise).  An unknown name or a cycle is a ``ConfigError``."""
    by_name = {s.name: s for s in specs}
    out: list[DaemonSpec] = []
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(spec: DaemonSpec, path: tuple[str, ...]) -> None:
        if state.get(spec.name) == 2:
            return
        if state.get(spec.name) == 1:
            raise ConfigError(f"{spec.source}: daemons start after each other in a cycle: "
                              f"{' -> '.join((*path, spec.name))}")
        state[spec.name] = 1
        for dep in spec.after:
            if dep not in by_name:
                raise ConfigError(f"{spec.source}: daemon {spec.name!r} starts after {dep!r}, "
                                  f"which is not enabled (enabled: {', '.join(by_name) or 'none'})")
            visit(by_name[dep], (*path, spec.name))
        state[spec.name] = 2
        out.append(spec)

    for spec in specs:
        visit(spec, ())
    return out


def rank(specs: list[DaemonSpec]) -> dict[str, int]:
    """Depth in the ``after`` graph: 0 for a daemon that waits for none.  Stopping goes
    from the highest rank down (reverse start order)."""
    by_name = {s.name: s for s in specs}
    ranks: dict[str, int] = {}
    for spec in order(specs):
        ranks[spec.name] = 1 + max((ranks[d] for d in spec.after if d in by_name), default=-1)
    return ranks


# --- names: the built-ins and installed packages --------------------------------------------
# The daemons skitai ships, found by name like an installed package's (no name of these
# appears in the master).
BUILTIN: Final[dict[str, str]] = {
    "smtpda": "skitai.smtpda.daemon:main",
    "cron": "skitai.cron.daemon:main",
    "spooler": "skitai.spooler.daemon:main",
    "metrics": "skitai.metrics.daemon:main",
    "cluster": "skitai.cluster.daemon:main",
}


def installed(name: str) -> str | None:
    """The entry of a daemon by name: a built-in, else an entry point of the
    ``skitai.daemons`` group (``[project.entry-points."skitai.daemons"] mypkg-exporter =
    "mypkg.exporter:main"``)."""
    if name in BUILTIN:
        return BUILTIN[name]
    from importlib import metadata

    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            return str(ep.value)
    return None


def from_conf_sections(sections: Mapping[str, Mapping[str, Any]], where: Callable[[str, str], str]
                       ) -> list[DaemonSpec]:
    """``[daemon:NAME]`` sections (``sections`` maps NAME to its key -> value), each
    built with ``where(NAME, key)`` naming the file and line for errors."""
    out = []
    for name, section in sections.items():
        out.append(build(name, None, section, where(name, ""), installed))
    return out
