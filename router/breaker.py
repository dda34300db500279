"""Circuit breakers, one per provider: a dead provider costs one fast failure, not a retry storm."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable


@dataclass
class Breaker:
    """closed -> (failure_threshold consecutive failures) -> open -> (cooldown) -> half-open:
    one probe call; its success closes the breaker, its failure opens it again."""

    failure_threshold: int = 3
    cooldown_s: float = 30.0
    clock: Callable[[], float] = time.monotonic
    failures: int = 0
    opened_at: float | None = None
    probing: bool = False

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return "closed"
        if self.clock() - self.opened_at >= self.cooldown_s:
            return "half-open"
        return "open"

    def allows(self) -> bool:
        """May a call go to this provider now? In half-open, only one probe at a time."""
        state = self.state
        if state == "closed":
            return True
        if state == "half-open" and not self.probing:
            return True
        return False

    def begin(self) -> None:
        """A call is starting (marks the half-open probe)."""
        if self.state == "half-open":
            self.probing = True

    def succeeded(self) -> None:
        self.failures, self.opened_at, self.probing = 0, None, False

    def abandoned(self) -> None:
        """A call ended without a verdict (cancelled, or never sent): frees the half-open
        probe slot, which would otherwise stay taken and block the provider for good."""
        self.probing = False

    def failed(self) -> None:
        self.failures += 1
        if self.probing or self.failures >= self.failure_threshold:
            self.opened_at = self.clock()
        self.probing = False


@dataclass
class Breakers:
    """Breakers by provider id, made on first use."""

    failure_threshold: int = 3
    cooldown_s: float = 30.0
    clock: Callable[[], float] = time.monotonic
    by_provider: dict[str, Breaker] = field(default_factory=dict)

    def __getitem__(self, provider_id: str) -> Breaker:
        breaker = self.by_provider.get(provider_id)
        if breaker is None:
            breaker = Breaker(self.failure_threshold, self.cooldown_s, self.clock)
            self.by_provider[provider_id] = breaker
        return breaker

    def blocked(self) -> frozenset[str]:
        """Providers a new call must not go to now."""
        return frozenset(pid for pid, b in self.by_provider.items() if not b.allows())
