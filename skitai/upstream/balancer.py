"""Choosing a member: by weight and outstanding requests, with two random choices.

Theory.  A member's ``weight`` is its capacity (the original's meaning), so its load is
``outstanding / weight``.  Picking the least loaded of all members herds every
worker onto the same one; "power of two choices" samples two members (at random, in
proportion to their weights) and takes the less loaded: nearly as even as the least
loaded, with no herding.  When both are equally loaded (an idle pool: every load is
zero) the first sample wins, so idle traffic splits in proportion to the weights.

Down members (a refused or timed-out connect) are skipped until a health check sees them
answer again; when every member is down, all are tried (a member may be back before its
check noticed).
"""

from __future__ import annotations

import bisect
import collections
import itertools
import random
from dataclasses import dataclass, field

from skitai.config.aliases import Member
from skitai.upstream.connection import UpstreamConnection


@dataclass(eq=False)
class MemberState:
    """One member, as this worker sees it."""

    member: Member
    index: int
    outstanding: int = 0
    served: int = 0
    failures: int = 0
    down: bool = False
    down_since: float = 0.0
    idle: collections.deque[UpstreamConnection] = field(default_factory=collections.deque)

    @property
    def load(self) -> float:
        return self.outstanding / self.member.weight

    def snapshot(self) -> dict[str, object]:
        return {"member": self.member.label, "weight": self.member.weight,
                "outstanding": self.outstanding, "served": self.served,
                "failures": self.failures, "idle": len(self.idle),
                "state": "down" if self.down else "up"}


class Balancer:
    def __init__(self, members: tuple[Member, ...], rng: random.Random | None = None) -> None:
        self.states = [MemberState(m, i) for i, m in enumerate(members)]
        self._rng = rng or random.Random()
        self._cum = list(itertools.accumulate(m.weight for m in members))

    def _sample(self, candidates: list[MemberState]) -> MemberState:
        if len(candidates) == len(self.states):
            cum, total = self._cum, self._cum[-1]
        else:
            cum = list(itertools.accumulate(s.member.weight for s in candidates))
            total = cum[-1]
        i = bisect.bisect_right(cum, self._rng.random() * total)
        return candidates[min(i, len(candidates) - 1)]

    def pick(self, exclude: frozenset[int] | set[int] = frozenset()) -> MemberState | None:
        """The member for the next request (None: every member was excluded)."""
        states = self.states
        candidates: list[MemberState] | None = None
        if len(states) == 1:
            only = states[0]
            return None if only.index in exclude else only
        for state in states:  # (a loop, not any(): no generator per request)
            if state.down:
                break
        else:
            if not exclude:
                candidates = states  # the usual case: no list to build
        if candidates is None:
            candidates = [s for s in states if not s.down and s.index not in exclude]
        if not candidates:
            candidates = [s for s in states if s.index not in exclude]
            if not candidates:
                return None
        if len(candidates) == 1:
            return candidates[0]
        if candidates is states:  # (the usual case, inline: no call per sample)
            cum, last, rand = self._cum, len(states) - 1, self._rng.random
            total = cum[-1]
            first = states[min(bisect.bisect_right(cum, rand() * total), last)]
            second = states[min(bisect.bisect_right(cum, rand() * total), last)]
        else:
            first = self._sample(candidates)
            second = self._sample(candidates)
        if second is first:
            return first
        return second if second.load < first.load else first
