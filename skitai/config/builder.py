"""The draft ``Builder``: every source writes into it, ``freeze()`` makes the ``ServerConfig``.

Precedence, lowest first: field defaults < config file ``[common]`` < ``app.py`` calls <
``SKITAI_*`` environment < command-line overrides.  Each value remembers its source, so a
bad one is reported as ``app.py:12: skitai.run(port='x'): expected an integer`` or
``/home/u/.skitai.conf:4: [common] port: ...``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from skitai.config import aliases, conffile, daemons, daemonspec, model
from skitai.config import cluster as cluster_mod
from skitai.config.daemons import CronJob, SmtpdaConfig
from skitai.errors import ConfigError

_FIELDS: dict[str, dataclasses.Field[Any]] = {f.name: f for f in model.settings()}
_CONF_KEYS: dict[str, str] = {
    f.metadata["conf"]: f.name for f in model.settings() if f.metadata.get("conf")
}
_ENV_KEYS: dict[str, str] = {
    f.metadata["env"]: f.name for f in model.settings() if f.metadata.get("env")
}
# [common] keys other modules read (the daemons), accepted here so they are not "unknown".
_COMMON_EXTRA: set[str] = set()


def convert(name: str, value: Any, source: str) -> Any:
    """Parse ``value`` for the field ``name`` or raise a ``ConfigError`` naming ``source``."""
    field = _FIELDS.get(name)
    if field is None:
        raise ConfigError(f"{source}: unknown setting {name!r}", key=name, source=None)
    parser = field.metadata.get("parse")
    if parser is None or value is None:
        return value
    try:
        return parser(value)
    except ValueError as exc:
        raise ConfigError(f"{source}: {exc}", key=name) from None


class Builder:
    """Collects the draft configuration; one per ``app.py`` (module-level in ``skitai``)."""

    def __init__(self) -> None:
        self._app: dict[str, tuple[Any, str]] = {}
        self.mounts: list[model.MountSpec] = []
        self.max_ages: list[tuple[str, int]] = []
        self.log_off: list[str] = []
        self.lu_keys: list[str] = []
        self.crons: list[CronJob] = []
        self.smtpda: SmtpdaConfig | None = None
        # enable_daemon() calls as given: (name, entry or command, options, source); built
        # at freeze, over the [daemon:NAME] section of the same name.
        self.daemons: dict[str, tuple[Any, dict[str, Any], str]] = {}
        self.aliases: list[aliases.Alias] = []
        # The name when no source gives one (app.py's folder/stem), and whether run() has
        # frozen the draft (see skitai.api._open).
        self.default_name: str | None = None
        self.closed = False
        self.cluster: cluster_mod.ClusterConfig | None = None  # enable_cluster()
        self.cluster_given: tuple[str, ...] = ()  # the fields it named (they beat [cluster])

    # --- app.py side ------------------------------------------------------------
    def set(self, name: str, value: Any, source: str) -> None:
        """Record an app.py value after checking it (errors surface at the call)."""
        self._app[name] = (convert(name, value, source), source)

    def get(self, name: str) -> Any:
        if name in self._app:
            return self._app[name][0]
        return _FIELDS[name].default

    # --- freezing ------------------------------------------------------------------
    def freeze(
        self,
        *,
        conf: conffile.ConfFile | None = None,
        env: Mapping[str, str] | None = None,
        overrides: Mapping[str, Any] | None = None,
        crontab: Callable[[conffile.ConfFile], Iterable[CronJob]] | None = None,
    ) -> model.ServerConfig:
        """The frozen config.  ``crontab`` parses the config file's ``[:crontab]`` into
        jobs (``cron.schedule.crontab_jobs``, passed in by the caller: the cron layer sits
        above this one); without it that section is left to a standalone ``skitai cron``."""
        values: dict[str, Any] = {}
        if conf is not None:
            values.update(_from_conf(conf))
            values["conf_file"] = conf.path
        values.update({name: v for name, (v, _src) in self._app.items()})
        values.update(_from_env(os.environ if env is None else env))
        for name, value in (overrides or {}).items():
            values[name] = convert(name, value, f"command line --{name.replace('_', '-')}")
        if values.get("instance"):  # --name / SKITAI_NAME: the instance and its titles
            values["name"] = values["instance"]
        elif "name" not in values and self.default_name:
            values["name"] = self.default_name
        values["mounts"] = tuple(self.mounts)
        values["max_ages"] = tuple(self.max_ages)
        values["log_off"] = tuple(self.log_off)
        values["lu_keys"] = tuple(dict.fromkeys(self.lu_keys))
        if self.crons or "crons" not in values:
            values["crons"] = tuple(values.get("crons", ())) + tuple(self.crons)
        if crontab is not None and conf is not None and conf.raw.get("crontab"):
            # [:crontab] jobs run under the master too (after the app's skitai.cron() ones);
            # parsed here so a bad line stops the start with its file:line.
            values["crons"] = tuple(values["crons"]) + tuple(crontab(conf))
        if self.smtpda is not None:
            values["smtpda"] = self.smtpda
            if conf is not None and (conf.section("smtpda") or conf.get("common", "var-path")):
                # [smtpda] fills what enable_smtpda() left at its default (the password
                # belongs in the 0600 file, not in app.py); what app.py set wins, as
                # everywhere.  Worker and daemon then agree on one spool.
                default = SmtpdaConfig()
                values["smtpda"] = dataclasses.replace(
                    daemons.config_from_conf(conf, base=default),
                    **{f.name: getattr(self.smtpda, f.name) for f in dataclasses.fields(default)
                       if getattr(self.smtpda, f.name) != getattr(default, f.name)})
        cluster = self.cluster
        if conf is not None and conf.section("cluster") and (cluster or conf.get("cluster", "url")):
            cluster = cluster_mod.from_conf(conf, cluster or cluster_mod.ClusterConfig(),
                                            self.cluster_given)
        if cluster is not None:
            values["cluster"] = cluster_mod.with_env(cluster, os.environ if env is None else env)
        values["daemons"] = tuple(_daemons(self, conf, values))
        filed = aliases.from_conf(conf, os.environ if env is None else env) if conf else []
        values["aliases"] = aliases.merge(self.aliases, filed)
        config = model.ServerConfig(**values)
        _validate(config)
        return config


def _from_conf(conf: conffile.ConfFile) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for entry in conf.section("common").values():
        name = _CONF_KEYS.get(entry.key)
        if name is None:
            if entry.key in _COMMON_EXTRA:
                continue
            known = ", ".join(sorted(set(_CONF_KEYS) | _COMMON_EXTRA))
            raise ConfigError(
                f"{conf.where(entry)}: unknown key {entry.key!r} in [common] (known: {known})",
                key=entry.key,
            )
        if entry.value == "":
            continue  # "log-path =" means "not set", as in the README's example
        values[name] = convert(name, entry.value, f"{conf.where(entry)}: [common] {entry.key}")
    return values


def _daemons(builder: Builder, conf: conffile.ConfFile | None,
             values: Mapping[str, Any]) -> list[daemonspec.DaemonSpec]:
    """Every daemon, one model: ``[daemon:NAME]`` sections, ``enable_daemon()`` calls over
    them (app.py wins key by key), then smtpda and cron when their features are on and
    not declared already; in start order (``after=``)."""
    sections: dict[str, dict[str, Any]] = {}
    where: dict[str, str] = {}
    if conf is not None:
        for title, entries in conf.sections.items():
            kind, sep, name = title.partition(":")
            if sep and kind.strip() == "daemon":
                name = name.strip()
                sections[name] = {e.key: e.value for e in entries.values()}
                first = min((e.line for e in entries.values()), default=0)
                where[name] = f"{conf.path}:{first} [daemon:{name}]"
    def build(name: str, target: Any, options: dict[str, Any], source: str) -> daemonspec.DaemonSpec:
        try:
            return daemonspec.build(name, target, options, source, daemonspec.installed)
        except ConfigError as exc:  # a bad key of a section: name its own line
            entry = conf.get(f"daemon:{name}", exc.key) if conf is not None and exc.key else None
            if entry is None or name not in where or source != where[name]:
                raise
            line = f"{conf.path}:{entry.line} [daemon:{name}]" if conf is not None else source
            raise ConfigError(str(exc).replace(source, line, 1), key=exc.key) from None

    specs: dict[str, daemonspec.DaemonSpec] = {}
    for name, options in sections.items():
        if name not in builder.daemons:
            specs[name] = build(name, None, options, where[name])
    for name, (target, options, source) in builder.daemons.items():
        merged = dict(sections.get(name, {}))
        if target is not None:  # app.py's entry or command replaces the section's
            merged.pop("entry", None)
            merged.pop("command", None)
        merged.update({k.replace("_", "-"): v for k, v in options.items()})
        specs[name] = build(name, target, merged, source)
    implied = (("smtpda", values.get("smtpda") is not None), ("cron", bool(values.get("crons"))),
               ("cluster", values.get("cluster") is not None))
    for name, wanted in implied:
        if wanted and name not in specs:
            specs[name] = build(name, None, {}, f"enable_{name}")
    return daemonspec.order(list(specs.values()))


def _from_env(env: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, name in _ENV_KEYS.items():
        if key in env and env[key] != "":
            values[name] = convert(name, env[key], f"environment {key}")
    return values


def _validate(config: model.ServerConfig) -> None:
    seen: set[tuple[str | None, str, str]] = set()
    for m in config.mounts:
        key = (m.host, m.point, m.kind)
        if key in seen and m.kind != "static":
            raise ConfigError(f"two apps are mounted on {m.point!r} (host {m.host or 'default'})")
        seen.add(key)
        if m.kind == "alias":
            found = aliases.find(config.aliases, m.target)
            if found is None:
                known = ", ".join("@" + a.name for a in config.aliases) or "none"
                raise ConfigError(f"mount({m.point!r}, {m.target!r}): no such alias "
                                  f"(declared: {known})")
            if not found.is_http:
                raise ConfigError(f"mount({m.point!r}, {m.target!r}): a {found.type} alias "
                                  "cannot be proxied; mount http/https/ws/wss aliases")
