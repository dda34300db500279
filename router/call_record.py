"""What one call leaves behind: its attempts, their ledger rows, and why each provider was given up."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import NoReturn

from .accounting import Budget, LedgerRow
from .registry import Provider
from .requests import AllFailed, AttemptRecord, CallRequest, Refused


@dataclass
class CallRecord:
    """One call's record: its attempts in order (the Reply lists them), the ledger row each one
    books, and why each provider was given up (AllFailed names them)."""

    request: CallRequest
    budgets: tuple[Budget, ...]  # the budgets the call counts against
    attempts: list[AttemptRecord] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # "<provider id>: <why>", one per provider given up
    retry_after_s: float | None = None  # when the soonest rate window of a provider over its limit opens

    def attempted(
        self, provider: Provider, status: str, error_class: str = "", error: str = "", latency_ms: int = 0
    ) -> None:
        """Add the next attempt."""
        self.attempts.append(AttemptRecord(len(self.attempts) + 1, provider, status, error_class, error, latency_ms))

    def ledger_row(
        self,
        provider: Provider | None,
        status: str,
        error_class: str = "",
        *,
        tokens_in: int = 0,
        tokens_out: int = 0,
        cost: float = 0.0,
        latency_ms: int = 0,
        starting: bool = False,
    ) -> LedgerRow:
        """The ledger row of the latest attempt (attempt 1 for a call refused before any), or
        with `starting` of the attempt about to start."""
        return LedgerRow(
            request_id=self.request.request_id,
            attempt=len(self.attempts) + 1 if starting else max(1, len(self.attempts)),
            time_ms=int(time.time() * 1000),
            agent_name=self.request.agent_name,
            task_id=self.request.task_id,
            user_id=self.request.user_id,
            provider=provider.name if provider else "",
            model=provider.model if provider else "",
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            cost=cost,
            latency_ms=latency_ms,
            status=status,
            error_class=error_class,
        )

    def gave_up(self, provider: Provider, why: str) -> None:
        """No more tries at `provider`, and why."""
        self.failures.append(f"{provider.id}: {why}")

    def retry_after(self, seconds: float) -> None:
        """A provider was over its rate limit, whose next window opens in `seconds`."""
        self.retry_after_s = seconds if self.retry_after_s is None else min(self.retry_after_s, seconds)

    def give_up(self) -> NoReturn:
        """Every candidate was tried: Refused when budgets or rate limits turned them all away
        (with when to retry if a rate limit did), else AllFailed."""
        if self.attempts and all(a.status == "refused" for a in self.attempts):
            limited = any(a.error_class == "RateLimited" for a in self.attempts)
            if not limited:
                raise Refused("; ".join(self.failures), budget=True)
            wait = math.ceil(self.retry_after_s or 0)
            message = "; ".join(self.failures) + f"; retry in {wait} s"
            raise Refused(
                message, budget=any(a.error_class == "BudgetExceeded" for a in self.attempts), retry_after_s=wait
            )
        raise AllFailed("every provider failed: " + "; ".join(self.failures))
