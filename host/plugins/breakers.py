"""Circuit breakers for plugin components: one per (plugin, component kind, component name).

closed -> `threshold` failures in a row (timeouts count) -> open: calls to the component are
skipped at once -> after `cooldown` s, half-open: one trial call goes through -> its success
closes the breaker, its failure opens it again for another cooldown. The callers
(host.plugins.components) judge what counts: not the plugin being unavailable (its process down,
restarting or killed mid-call), which is its supervisor's to restart and report.

A component that never failed has no entry: the check on the hot path is one dict lookup.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"
BREAKER_STATES = (CLOSED, OPEN, HALF_OPEN)

Key = tuple[str, str, str]  # (plugin, kind, name); kind: provider, action, evaluator, model


@dataclass(slots=True)
class _State:
    failures: int = 0  # in a row
    opened_at: float = -1.0  # < 0: not open
    probing: float = -1.0  # when its trial call began (half-open); < 0: none under way


@dataclass(frozen=True)
class BreakerInfo:
    """One breaker as status reports it."""

    kind: str
    name: str
    state: str  # closed, open, half-open
    failures: int
    retry_in_s: float  # while open: seconds until it lets one trial call through


class Breakers:
    """Every plugin component's breaker, made at its first failure."""

    def __init__(self, threshold: int, cooldown_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        if threshold < 1 or cooldown_s < 0:
            raise ValueError("a breaker needs a failure threshold of 1 or more and a cooldown of 0 s or more")
        self.threshold = threshold
        self.cooldown_s = cooldown_s
        self.clock = clock
        self._states: dict[Key, _State] = {}

    def refusal(self, key: Key) -> str:
        """Why a call to the component may not go now, or "" when it may (a half-open breaker's
        trial call is then taken by this caller: report its end with succeeded, failed or
        abandoned)."""
        state = self._states.get(key)
        if state is None or state.opened_at < 0:
            return ""
        now = self.clock()
        waited = now - state.opened_at
        if waited < self.cooldown_s:
            return (
                f"breaker open after {state.failures} failure(s) in a row; "
                f"one call is let through in {self.cooldown_s - waited:.1f} s"
            )
        # A trial call whose end was never reported (a caller that failed before making it)
        # holds the slot for one cooldown at most.
        if state.probing >= 0 and now - state.probing < self.cooldown_s:
            return "breaker half-open: its trial call is under way"
        state.probing = now
        return ""

    def succeeded(self, key: Key) -> None:
        state = self._states.get(key)
        if state is not None:
            state.failures, state.opened_at, state.probing = 0, -1.0, -1.0

    def failed(self, key: Key) -> None:
        state = self._states.get(key)
        if state is None:
            state = self._states[key] = _State()
        state.failures += 1
        if state.probing >= 0 or state.failures >= self.threshold:
            state.opened_at = self.clock()
        state.probing = -1.0

    def abandoned(self, key: Key) -> None:
        """The call ended without a verdict (cancelled, cut short by its run's deadline): a
        half-open breaker's trial slot is free again."""
        state = self._states.get(key)
        if state is not None:
            state.probing = -1.0

    def of(self, plugin: str) -> list[BreakerInfo]:
        """The plugin's breakers (components that failed since the host started), by kind and name."""
        now, found = self.clock(), []
        for (owner, kind, name), state in sorted(self._states.items()):
            if owner != plugin:
                continue
            if state.opened_at < 0:
                phase, wait = CLOSED, 0.0
            else:
                wait = max(0.0, self.cooldown_s - (now - state.opened_at))
                phase = OPEN if wait > 0 else HALF_OPEN
            found.append(BreakerInfo(kind, name, phase, state.failures, wait))
        return found
