"""Budget and ledger storage: the interface, and opening the backend a database URL names.

A call reserves its worst-case cost against every budget that applies before it
runs, settles the actual cost after, and releases the reservation on failure or
cancellation, so concurrent calls (in one router or several sharing a database)
can never overspend. A hold is leased (router.accounting_lease): renewed while its
router runs, released and booked as expired by any router once its router has died.
The ledger holds one append-only row per attempt.

The types the interface takes and returns live in router.accounting_base (the backends
import them from there) and are exported here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, Sequence

from .accounting_base import (
    Budget,
    BudgetExceeded,
    BudgetStatus,
    LedgerRow,
    RateLimit,
    RateLimited,
    Reservation,
    Usage,
    period_key,
)
from .accounting_lease import DEFAULT_LEASE_S

__all__ = [
    "Accounting",
    "DEFAULT_LEASE_S",
    "Budget",
    "BudgetExceeded",
    "BudgetStatus",
    "LedgerRow",
    "RateLimit",
    "RateLimited",
    "Reservation",
    "Usage",
    "open_accounting",
    "period_key",
]


class Accounting(Protocol):
    """Budgets and ledger. Both backends pass the same contract tests."""

    async def reserve(
        self,
        budgets: Sequence[Budget],
        amount: float,
        request_id: str,
        now: datetime | None = None,
        attempt: LedgerRow | None = None,
        rate: RateLimit | None = None,
    ) -> Reservation:
        """Hold `amount` against every budget at once, or raise BudgetExceeded for the first that
        cannot cover it and hold nothing. Safe to cancel: a cancelled reserve holds nothing. The
        hold is leased; `attempt` (its request, attempt number, agent, task, user, provider and
        model) is what gets booked if the lease runs out. With `rate`, the same transaction
        counts the call in its provider's window of this minute if it stays under the rpm and
        tpm limits there, and raises RateLimited (holding and counting nothing) if not; the
        settle then corrects the window's tokens to the call's real usage."""
        ...

    async def settle(self, reservation: Reservation, actual_cost: float, row: LedgerRow | None = None) -> None:
        """Drop the hold and add the actual cost to spent, even above the amount held: money
        spent is booked, and what went beyond the hold counts as an overrun of each budget (all
        of it when the hold's lease ran out before: others may have spent that money since).
        Call once per reservation; a release after it is a no-op. `row`, if given, is appended
        to the ledger in the same transaction, with `reserved` set to what the hold was."""
        ...

    async def release(self, reservation: Reservation, row: LedgerRow | None = None) -> None:
        """Drop the hold without spending (failure or cancellation). Idempotent. `row`, if
        given, is appended to the ledger in the same transaction, with `reserved` set."""
        ...

    async def status(self, budgets: Sequence[Budget], now: datetime | None = None) -> list[BudgetStatus]:
        """Each budget in the period `now` falls in, in the order given. Reserved counts live
        leases only: a dead router's holds stop counting as soon as their lease runs out."""
        ...

    async def rate_check(self, rates: Sequence[RateLimit]) -> list[RateLimited | None]:
        """For each rate, the RateLimited a reserve with it would raise now, or None when its
        provider's window has room (Explain shows it); counts nothing."""
        ...

    async def expire_reservations(self) -> int:
        """Release every hold whose lease ran out (its router died), booking each as an
        "expired" attempt; returns how many. Runs by itself every lease/3 while open."""
        ...

    async def book(self, row: LedgerRow) -> None:
        """Append one attempt to the ledger; rows are never updated or deleted."""
        ...

    async def usage(
        self, period: str = "", agent_name: str = "", task_id: str = "", provider: str = "", limit: int = 100
    ) -> Usage:
        """Ledger rows matching every non-empty filter; period is "2026", "2026-11" or "2026-11-24"
        (UTC, on time_ms). Totals cover all matches, rows are the newest `limit` (0 means 100)."""
        ...

    async def close(self) -> None: ...


async def open_accounting(url: str, lease_s: float = DEFAULT_LEASE_S) -> Accounting:
    """Open the backend a URL names: "sqlite:///path/file.db" or a path ending in .db is SQLite;
    "postgresql://user@host:port/db?schema=name" is PostgreSQL (schema defaults to public).
    `lease_s` is how long a hold outlives the last renewal by its router."""
    if url.startswith(("postgresql://", "postgres://")):
        from router.accounting_postgres import PostgresAccounting

        return await PostgresAccounting.open(url, lease_s=lease_s)
    if url.startswith("sqlite://") or url.endswith(".db"):
        from router.accounting_sqlite import SQLiteAccounting

        path = url.removeprefix("sqlite://")
        if not path:
            raise ValueError(f"accounting URL {url!r} names no file; use sqlite:///path/to/file.db")
        return await SQLiteAccounting.open(path, lease_s=lease_s)
    raise ValueError(
        f"accounting URL {url!r} is neither SQLite (sqlite:///path/file.db or a path ending in .db) "
        "nor PostgreSQL (postgresql://...)"
    )
