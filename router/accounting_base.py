"""What the accounting backends share: the values they take and return, money as integer
nano-USD, the checks every backend makes, the ledger's columns and query filters, and
transactions that run to completion when their caller is cancelled.

`router.accounting` is the public face (the interface, opening a backend, these types);
a backend (router.accounting_sqlite, router.accounting_postgres) imports from here.
"""

from __future__ import annotations

import asyncio
import logging
import math
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Awaitable, Callable, Coroutine, Sequence, TypeVar

T = TypeVar("T")

log = logging.getLogger("router")

PERIODS = ("monthly", "daily", "total")
STATUSES = ("ok", "error", "fallback", "refused", "expired", "cached")
DEFAULT_USAGE_ROWS = 100


@dataclass(frozen=True)
class Budget:
    """A configured limit in USD for one scope over one UTC period."""

    scope: str  # "global", "agent:<agent name>", "task:<task id>"
    period: str  # "monthly" | "daily" | "total"
    limit: float

    def __post_init__(self) -> None:
        if not self.scope:
            raise ValueError("a budget needs a scope such as 'global', 'agent:<name>' or 'task:<id>'")
        if self.period not in PERIODS:
            raise ValueError(f"budget {self.scope}: period {self.period!r} is not one of {', '.join(PERIODS)}")
        if self.limit < 0:
            raise ValueError(f"budget {self.scope}: limit {self.limit} is negative")


def period_key(period: str, now: datetime) -> str:
    """The key of the period `now` falls in: "2026-11", "2026-11-24" or "total" (UTC)."""
    utc = now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)
    if period == "monthly":
        return utc.strftime("%Y-%m")
    if period == "daily":
        return utc.strftime("%Y-%m-%d")
    if period == "total":
        return "total"
    raise ValueError(f"period {period!r} is not one of {', '.join(PERIODS)}")


@dataclass(frozen=True)
class BudgetStatus:
    """One budget in one period; left = limit - spent - reserved, never below 0. `overrun` is
    what calls cost beyond what they had reserved, summed over the `overruns` calls that did:
    money spent that no reservation covered (it is in `spent` too)."""

    scope: str
    period: str
    period_key: str
    limit: float
    spent: float
    reserved: float
    left: float
    overrun: float = 0.0
    overruns: int = 0

    @property
    def left_fraction(self) -> float:
        """left / limit: the share of the budget still available. A zero limit allows no spend at
        all, so nothing of it is left (0.0), as the reservation's check (nothing fits) and `left`
        (0) say too: the one rule for what a $0 budget leaves."""
        return self.left / self.limit if self.limit > 0 else 0.0


class BudgetExceeded(Exception):
    """A reservation that one budget cannot cover; nothing was reserved."""

    def __init__(self, budget: Budget, key: str, needed: float, left: float) -> None:
        when = budget.period if key == budget.period else f"{budget.period} {key}"
        super().__init__(
            f"budget {budget.scope} ({when}) cannot cover this call: "
            f"needs up to ${needed:.4f}, ${left:.4f} left of ${budget.limit:.2f}"
        )
        self.scope = budget.scope
        self.period = budget.period
        self.period_key = key
        self.needed = needed
        self.left = left
        self.limit = budget.limit


@dataclass(frozen=True)
class RateLimit:
    """A provider's requests- and tokens-per-minute limits (0: none), and what one call counts
    against them: one request and `tokens` (its input bound + max output). `now_s` (epoch
    seconds) picks the minute; None means the database's clock."""

    provider: str
    rpm: int
    tpm: int
    tokens: int
    now_s: float | None = None


class RateLimited(Exception):
    """A provider's rpm or tpm limit leaves no room for a call this minute; nothing was counted
    or held. `retry_after_s` is how long until the next minute's window opens."""

    def __init__(self, provider: str, kind: str, limit: int, retry_after_s: float, tokens: int = 0) -> None:
        if kind == "tpm" and tokens > limit:
            what = f"tpm limit {limit} is below the call's {tokens} tokens"
        else:
            what = f"{kind} limit {limit} reached"
        super().__init__(f"{what} (next window in {math.ceil(retry_after_s)} s)")
        self.provider = provider
        self.kind = kind
        self.limit = limit
        self.retry_after_s = retry_after_s


def rate_window(now_s: float) -> tuple[int, float]:
    """(the minute `now_s` falls in, as epoch minutes; seconds until the next one begins)."""
    minute = int(now_s // 60)
    return minute, (minute + 1) * 60 - now_s


def rate_refusal(rate: RateLimit, requests: int, tokens: int, retry_after_s: float) -> RateLimited | None:
    """Why one more call of rate.tokens does not fit a window that counted `requests` and
    `tokens` already (None when it fits)."""
    if rate.rpm and requests + 1 > rate.rpm:
        return RateLimited(rate.provider, "rpm", rate.rpm, retry_after_s)
    if rate.tpm and tokens + rate.tokens > rate.tpm:
        return RateLimited(rate.provider, "tpm", rate.tpm, retry_after_s, rate.tokens)
    return None


@dataclass(frozen=True)
class Reservation:
    """Money held for one call until it is settled or released, and the rate window it was
    counted in: (provider, epoch minute, tokens counted), or None."""

    id: str
    amount: float
    scopes: tuple[tuple[str, str], ...]  # the (scope, period_key) pairs it holds
    window: tuple[str, int, int] | None = None


def settled_tokens(reservation: Reservation, row: LedgerRow | None) -> int:
    """What a settle adds to the tokens its rate window counted: the real usage less the bound
    counted at reservation (0 when there is no window or no row to read the usage from)."""
    if reservation.window is None or row is None:
        return 0
    return row.tokens_in + row.tokens_out - reservation.window[2]


@dataclass(frozen=True)
class LedgerRow:
    """One attempt of one call. Attempts that did not succeed cost 0: recorded, not billed.
    `reserved` is what the attempt held while it ran (settle and release book it from the
    reservation): a cost above it is an overrun. A hold whose lease ran out (its router died
    mid-call) is booked as an "expired" row of its attempt, cost 0: what the provider charged,
    if anything, is unknown, and at most what was reserved."""

    request_id: str
    attempt: int
    time_ms: int
    agent_name: str
    task_id: str
    user_id: str
    provider: str
    model: str
    tokens_in: int
    tokens_out: int
    cost: float
    latency_ms: int
    status: str  # "ok" | "error" | "fallback" | "refused" | "expired" | "cached" (a response cache hit)
    error_class: str = ""
    reserved: float = 0.0


@dataclass(frozen=True)
class Usage:
    """A ledger query: totals over every matching row, and the newest rows themselves."""

    rows: list[LedgerRow]
    calls: int
    tokens_in: int
    tokens_out: int
    cost: float


# Money is stored as integer nano-USD so sums are exact: 100 holds of $0.01 fill $1.00 exactly.
def to_nano(usd: float) -> int:
    return round(usd * 1_000_000_000)


def from_nano(nano: int) -> float:
    return nano / 1_000_000_000


def budget_keys(budgets: Sequence[Budget], now: datetime | None) -> list[tuple[Budget, str]]:
    """Each budget with the key of its current period."""
    when = now or datetime.now(UTC)
    return [(budget, period_key(budget.period, when)) for budget in budgets]


def check_amount(amount: float) -> None:
    if amount < 0:
        raise ValueError(f"cannot reserve a negative amount (${amount})")


def check_fits(budget: Budget, key: str, spent: int, reserved: int, amount: int) -> None:
    """Raise BudgetExceeded unless spent + reserved + amount (nano-USD) fits the budget."""
    if spent + reserved + amount > to_nano(budget.limit):
        left = max(0, to_nano(budget.limit) - spent - reserved)
        raise BudgetExceeded(budget, key, from_nano(amount), from_nano(left))


def budget_status(
    budget: Budget, key: str, spent: int, reserved: int, overrun: int = 0, overruns: int = 0
) -> BudgetStatus:
    """The status of one budget period from its totals in nano-USD."""
    left = max(0, to_nano(budget.limit) - spent - reserved)
    return BudgetStatus(
        budget.scope,
        budget.period,
        key,
        budget.limit,
        from_nano(spent),
        from_nano(reserved),
        from_nano(left),
        from_nano(overrun),
        overruns,
    )


def overrun_nano(reservation: Reservation, cost: int) -> int:
    """What a settled cost (nano-USD) went beyond the reservation's amount; 0 if it did not."""
    return max(0, cost - to_nano(reservation.amount))


def settled_overrun(reservation: Reservation, cost: int, lost: bool) -> int:
    """The overrun a settle books (nano-USD): beyond the amount held, or all of the cost when the
    hold was lost before the settle (its lease ran out and it was swept: the money was free for
    other calls meanwhile, so none of the cost was covered)."""
    return cost if lost else overrun_nano(reservation, cost)


def log_lost_hold(reservation: Reservation, cost: int) -> None:
    log.warning(
        "reservation %s lost its hold before it was settled (its router stalled past the lease): "
        "its cost $%.4f is booked as an overrun",
        reservation.id,
        from_nano(cost),
    )


def busy_timeout_for(lease_s: float, busy_timeout_s: float | None) -> float:
    """How long a SQLite operation waits for another router's lock: shorter than the lease, so an
    operation waiting gives up before the holds of its router could run out meanwhile."""
    if busy_timeout_s is None:
        return min(30.0, lease_s * 2 / 3)
    if not 0 < busy_timeout_s < lease_s:
        raise ValueError(
            f"the SQLite busy timeout ({busy_timeout_s} s) must be positive and shorter than "
            f"the reservation lease ({lease_s} s)"
        )
    return busy_timeout_s


def check_row(row: LedgerRow) -> None:
    if row.status not in STATUSES:
        raise ValueError(f"ledger row {row.request_id}#{row.attempt}: status {row.status!r} is not one of {STATUSES}")
    if row.status not in ("ok", "fallback") and row.cost != 0:
        raise ValueError(
            f"ledger row {row.request_id}#{row.attempt}: a {row.status} attempt is recorded, not billed; cost must be 0"
        )


LEDGER_COLUMNS = (
    "request_id, attempt, time_ms, agent_name, task_id, user_id, provider, model, "
    "tokens_in, tokens_out, cost_nano, latency_ms, status, error_class, reserved_nano"
)
LEDGER_WIDTH = LEDGER_COLUMNS.count(",") + 1


def ledger_values(row: LedgerRow) -> tuple[object, ...]:
    """The row as values in LEDGER_COLUMNS order."""
    return (
        row.request_id, row.attempt, row.time_ms, row.agent_name, row.task_id, row.user_id, row.provider,
        row.model, row.tokens_in, row.tokens_out, to_nano(row.cost), row.latency_ms, row.status, row.error_class,
        to_nano(row.reserved),
    )  # fmt: skip


def ledger_row(values: Sequence[Any]) -> LedgerRow:
    """A LedgerRow from values in LEDGER_COLUMNS order."""
    fields = list(values)
    fields[10] = from_nano(fields[10])
    fields[14] = from_nano(fields[14])
    return LedgerRow(*fields)


def held_row(reservation: Reservation, row: LedgerRow | None, held: bool = True) -> LedgerRow | None:
    """`row` as settle and release book it: with the amount its reservation held (0 if its hold
    was lost before: nothing covered the attempt when it ended)."""
    return None if row is None else replace(row, reserved=reservation.amount if held else 0.0)


def period_range_ms(period: str) -> tuple[int, int] | None:
    """[start, end) in epoch milliseconds of "2026", "2026-11" or "2026-11-24" (UTC); None for ""."""
    if not period:
        return None
    try:
        parts = [int(p) for p in period.split("-")]
        if len(parts) == 1:
            start, end = datetime(parts[0], 1, 1, tzinfo=UTC), datetime(parts[0] + 1, 1, 1, tzinfo=UTC)
        elif len(parts) == 2:
            start = datetime(parts[0], parts[1], 1, tzinfo=UTC)
            end = datetime(parts[0] + parts[1] // 12, parts[1] % 12 + 1, 1, tzinfo=UTC)
        elif len(parts) == 3:
            start = datetime(parts[0], parts[1], parts[2], tzinfo=UTC)
            end = start + timedelta(days=1)
        else:
            raise ValueError(period)
    except ValueError:
        raise ValueError(f"usage period {period!r} is not YYYY, YYYY-MM or YYYY-MM-DD") from None
    return int(start.timestamp()) * 1000, int(end.timestamp()) * 1000


def usage_filters(period: str, agent_name: str, task_id: str, provider: str) -> list[tuple[str, object]]:
    """(condition, value) pairs for a ledger query; "{}" in a condition is the value's placeholder."""
    filters: list[tuple[str, object]] = []
    span = period_range_ms(period)
    if span is not None:
        filters += [("time_ms >= {}", span[0]), ("time_ms < {}", span[1])]
    for column, value in (("agent_name", agent_name), ("task_id", task_id), ("provider", provider)):
        if value:
            filters.append((column + " = {}", value))
    return filters


class Inflight:
    """Transactions that run to completion even when their caller is cancelled. Cancelling a
    caller mid-transaction must neither leave a transaction half done nor a reservation that
    nobody holds; the cancellation goes through once the transaction has finished."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def _spawn(self, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def run(self, coro: Coroutine[Any, Any, T]) -> T:
        task = self._spawn(coro)
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            await asyncio.wait([task])
            raise

    async def reserve(
        self, coro: Coroutine[Any, Any, Reservation], release: Callable[[Reservation], Awaitable[None]]
    ) -> Reservation:
        """Like run, but a reservation made for a caller that was cancelled meanwhile is released."""
        task = self._spawn(coro)
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            await asyncio.wait([self._spawn(self._undo(task, release))])
            raise

    async def _undo(self, task: asyncio.Task[Reservation], release: Callable[[Reservation], Awaitable[None]]) -> None:
        await asyncio.wait([task])
        if not task.cancelled() and task.exception() is None:
            await release(task.result())

    async def drain(self) -> None:
        while self._tasks:
            await asyncio.wait(list(self._tasks))
