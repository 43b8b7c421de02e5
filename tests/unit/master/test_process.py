"""The child lifecycle table, backoff, exit descriptions and the specs."""

from __future__ import annotations

import itertools
import os
import signal

import pytest

from skitai.config.builder import Builder
from skitai.config.daemons import CronJob, SmtpdaConfig
from skitai.config.model import ServerConfig
from skitai.errors import InvalidTransition
from skitai.master import process as pm
from skitai.master.specs import ProcessSpec, build_specs, split_entry

SPEC = ProcessSpec("worker", "worker", "x:y", web=True)

# The lifecycle a supervisor promises, as paths through the table.
PATHS = [
    ([pm.Input.SPAWN, pm.Input.READY, pm.Input.EXIT, pm.Input.SPAWN], pm.State.STARTING),
    ([pm.Input.SPAWN, pm.Input.CRASH, pm.Input.SPAWN, pm.Input.READY], pm.State.RUNNING),
    ([pm.Input.SPAWN, pm.Input.FAIL], pm.State.FATAL),
    ([pm.Input.SPAWN, pm.Input.READY, pm.Input.STOP, pm.Input.EXIT], pm.State.EXITED),
    ([pm.Input.SPAWN, pm.Input.STOP, pm.Input.CRASH], pm.State.EXITED),
    ([pm.Input.SPAWN, pm.Input.CRASH, pm.Input.STOP], pm.State.EXITED),
    ([pm.Input.SPAWN, pm.Input.READY, pm.Input.CRASH, pm.Input.FAIL], pm.State.FATAL),
]


@pytest.mark.parametrize("inputs,final", PATHS)
def test_lifecycle_paths(inputs: list[pm.Input], final: pm.State) -> None:
    proc = pm.Process(spec=SPEC, slot=0, generation=0)
    for event in inputs:
        proc.fire(event)
    assert proc.state == final


def test_every_missing_transition_raises_and_goes_fatal() -> None:
    for state, event in itertools.product(pm.State, pm.Input):
        proc = pm.Process(spec=SPEC, slot=0, generation=0, state=state)
        if (state, event) in pm.TRANSITIONS:
            assert proc.fire(event) == pm.TRANSITIONS[(state, event)]
        else:
            with pytest.raises(InvalidTransition, match=f"from {state.value} on {event.value}"):
                proc.fire(event)
            assert proc.state == pm.State.FATAL


def test_fatal_is_terminal_and_stopping_never_respawns() -> None:
    assert {e for (s, e) in pm.TRANSITIONS if s == pm.State.FATAL} == {pm.Input.STOP}
    assert (pm.State.STOPPING, pm.Input.SPAWN) not in pm.TRANSITIONS


def test_backoff_doubles_up_to_a_ceiling() -> None:
    proc = pm.Process(spec=SPEC, slot=0, generation=0)
    delays = []
    for crashes in range(1, 12):
        proc.crashes = crashes
        delays.append(proc.backoff_delay())
    assert delays[:4] == [0.5, 1.0, 2.0, 4.0]
    assert max(delays) == pm.BACKOFF_MAX
    assert delays == sorted(delays)


def _status_of(code: int | None = None, sig: int | None = None) -> int:
    pid = os.fork()
    if pid == 0:
        if sig is not None:
            os.kill(os.getpid(), sig)
        os._exit(code or 0)
    _, status = os.waitpid(pid, 0)
    return status


def test_exit_descriptions_name_codes_and_signals() -> None:
    assert pm.describe_exit(_status_of(4)) == "exit 4 (APP_LOAD_ERROR)"
    assert pm.describe_exit(_status_of(3)) == "exit 3 (BOOT_ERROR)"
    assert pm.describe_exit(_status_of(0)) == "exit 0"
    assert pm.describe_exit(_status_of(17)) == "exit 17"
    assert pm.describe_exit(_status_of(sig=signal.SIGKILL)) == "killed by SIGKILL"


def test_specs_follow_the_config() -> None:
    names = [s.name for s in build_specs(ServerConfig(workers=3))]
    assert names == ["worker"]
    # smtpda and cron are daemons like any other: the builder declares them, the specs
    # only copy the declarations (one entry, the daemon host, for all).
    b = Builder()
    b.smtpda = SmtpdaConfig()
    b.crons.append(CronJob("* * * * *", "true"))
    b.daemons["ticker"] = ("tickd:main", {"after": "smtpda", "count": 2}, "app.py:3")
    config = b.freeze(env={}).replace(workers=2)
    specs = build_specs(config)
    assert [(s.name, s.entry, s.count, s.web) for s in specs] == [
        ("worker", "skitai.worker.main:run", 2, True),
        ("smtpda", "skitai.daemons.host:run", 1, False),
        ("ticker", "skitai.daemons.host:run", 2, False),
        ("cron", "skitai.daemons.host:run", 1, False),
    ]
    assert [d.entry for d in config.daemons] == ["skitai.smtpda.daemon:main", "tickd:main",
                                                 "skitai.cron.daemon:main"]
    ranks = {s.name: s.stop_rank for s in specs}
    assert ranks["worker"] > ranks["ticker"] > ranks["smtpda"]  # stopped in reverse order
    assert specs[0].title("proj/app", 1) == "skitai(proj/app): worker #1"
    assert specs[1].title("proj/app", 0) == "skitai(proj/app): smtpda"
    assert specs[2].title("proj/app", 1) == "skitai(proj/app): ticker #1"


@pytest.mark.parametrize("bad", ["module", "module:", ":func", ""])
def test_entries_are_module_colon_function(bad: str) -> None:
    with pytest.raises(ValueError):
        split_entry(bad)
    assert split_entry("a.b:c") == ("a.b", "c")
