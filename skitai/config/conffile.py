"""Reading ``~/.skitai.conf``: INI sections whose every value remembers its line.

``configparser`` forgets where a value came from, and a bad key must be reported as
``file:line``, so this small reader keeps ``(value, line)`` per key.  Format (the
original README's): ``[common]``, ``[smtpda]``, ``[cron]`` with ``key = value`` lines,
``#``/``;`` comments, and ``[:crontab]`` whose lines are raw crontab entries.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from skitai.errors import ConfigError

RAW_SECTION_PREFIX = ":"


@dataclass(frozen=True)
class Entry:
    key: str
    value: str
    line: int


@dataclass
class ConfFile:
    path: str
    sections: dict[str, dict[str, Entry]] = field(default_factory=dict)
    # Raw sections ([:crontab]): the lines as written, with their line numbers.
    raw: dict[str, list[tuple[str, int]]] = field(default_factory=dict)

    def section(self, name: str) -> dict[str, Entry]:
        return self.sections.get(name, {})

    def where(self, entry: Entry) -> str:
        return f"{self.path}:{entry.line}"

    def get(self, section: str, key: str) -> Entry | None:
        return self.section(section).get(normalize_key(key))


def normalize_key(key: str) -> str:
    """``max_retry`` and ``max-retry`` are the same key (the original read one and
    wrote the other, so ``max-retry`` in the file was silently ignored)."""
    return key.strip().lower().replace("_", "-")


def default_path() -> str:
    return os.path.expanduser("~/.skitai.conf")


def parse_text(text: str, path: str = "<string>") -> ConfFile:
    conf = ConfFile(path)
    current: str | None = None
    raw = False
    for lineno, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            current = stripped[1:-1].strip()
            raw = current.startswith(RAW_SECTION_PREFIX)
            if raw:
                conf.raw.setdefault(current[1:], [])
            else:
                conf.sections.setdefault(current, {})
            continue
        if not stripped or stripped[0] in "#;":
            continue
        if current is None:
            raise ConfigError(f"{path}:{lineno}: a value outside any [section]: {stripped!r}")
        if raw:
            conf.raw[current[1:]].append((stripped, lineno))
            continue
        sep = min((i for i in (line.find("="), line.find(":")) if i > 0), default=-1)
        if sep < 0:
            raise ConfigError(f"{path}:{lineno}: expected 'key = value' in [{current}], got {stripped!r}")
        key = normalize_key(line[:sep])
        value = line[sep + 1 :].strip()
        if key in conf.sections[current]:
            first = conf.sections[current][key].line
            raise ConfigError(f"{path}:{lineno}: {key!r} repeats [{current}] line {first}")
        conf.sections[current][key] = Entry(key, value, lineno)
    return conf


def read(path: str) -> ConfFile:
    path = os.path.abspath(os.path.expanduser(path))
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    return parse_text(text, path)


def check_keys(conf: ConfFile, section: str, known: set[str]) -> None:
    """Raise ``ConfigError`` naming file and line for the first unknown key."""
    for entry in conf.section(section).values():
        if entry.key not in known:
            choices = ", ".join(sorted(known))
            raise ConfigError(
                f"{conf.where(entry)}: unknown key {entry.key!r} in [{section}] (known: {choices})",
                key=entry.key, source=None,
            )
