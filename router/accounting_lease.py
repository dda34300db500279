"""Leases on reservations: money stays held only while the router holding it is alive.

A router killed mid-call never settles or releases what it reserved. So every hold carries an
expiry, which the router holding it pushes forward every `lease_s / 3` while its call runs. A
budget check counts only holds whose lease has not run out, and every router sharing the
database sweeps the expired ones on the same beat (and once when it opens the database):
deletes them and books each as an "expired" ledger row of its attempt, cost 0, since what the
provider charged, if anything, is unknown (at most what was held; the row says how much).

The bound: a dead router's holds stop counting at most `lease_s` after it died, and are booked
within `lease_s / 3` after that by any router still running. 15 s by default: a router must
stall for 10 s (three renewals missed) before a call still running loses its hold, which
would let other calls take that money, while a crashed router's money is back within 15 s.

What keeps a live router's holds from running out under load: every write transaction of a
router renews all its live holds too (at most every lease/6), so a router whose beat waits
behind its own queued operations (one database thread, or a full connection pool) renews by
those operations; SQLite's busy timeout is shorter than the lease. A hold that ran out stays
lost even if its router comes back: other calls may have taken its money, so a renewal never
brings it back, and the settle of its call books all of the cost as an overrun (router budget
shows it) instead of letting the two together pass the limit unseen.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable, Sequence

from .accounting_base import LedgerRow, from_nano

log = logging.getLogger("router")

DEFAULT_LEASE_S = 15.0

# What a hold keeps of its attempt, to book it if the lease runs out (router_holds' columns).
HOLD_COLUMNS = "request_id, attempt, agent_name, task_id, user_id, provider, model"


def hold_identity(request_id: str, attempt: LedgerRow | None) -> tuple[str, int, str, str, str, str, str]:
    """The attempt a hold is for, as values in HOLD_COLUMNS order."""
    if attempt is None:
        return (request_id, 0, "", "", "", "", "")
    a = attempt
    return (request_id, a.attempt, a.agent_name, a.task_id, a.user_id, a.provider, a.model)


def expired_row(identity: Sequence[Any], amount_nano: int, created_ms: int, now_ms: int) -> LedgerRow:
    """The ledger row of a hold whose lease ran out: its attempt, not billed, `reserved` what it
    held and `latency_ms` how long it was held."""
    request_id, attempt, agent_name, task_id, user_id, provider, model = identity
    return LedgerRow(
        request_id=request_id,
        attempt=max(1, attempt),
        time_ms=now_ms,
        agent_name=agent_name,
        task_id=task_id,
        user_id=user_id,
        provider=provider,
        model=model,
        tokens_in=0,
        tokens_out=0,
        cost=0.0,
        latency_ms=max(0, now_ms - created_ms),
        status="expired",
        error_class="LeaseExpired",
        reserved=from_nano(amount_nano),
    )


class Leases:
    """The holds one accounting instance keeps alive, and the beat that renews them and sweeps
    everyone's expired ones. `renew()` pushes the expiry of every hold of this instance to
    now + lease_s (a backend does that in each of its write transactions too: a router busy
    with its own operations renews by them, even while the beat waits behind them); `sweep()`
    releases and books the expired ones and returns how many."""

    def __init__(
        self,
        lease_s: float,
        renew: Callable[[], Awaitable[None]],
        sweep: Callable[[], Awaitable[int]],
    ) -> None:
        if not lease_s > 0:
            raise ValueError(f"a reservation lease must be positive, got {lease_s} s")
        self.lease_s = lease_s
        self.live: set[str] = set()  # ids of the holds this instance made and has not let go
        self._renew = renew
        self._sweep = sweep
        self._task: asyncio.Task[Any] | None = None

    @property
    def lease_ms(self) -> int:
        return self.lease_ms_of(self.lease_s)

    @staticmethod
    def lease_ms_of(lease_s: float) -> int:
        if not lease_s > 0:
            raise ValueError(f"a reservation lease must be positive, got {lease_s} s")
        return round(lease_s * 1000)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._beat(), name="router-reservation-leases")

    async def stop(self) -> None:
        """Stop renewing and sweeping. Holds still live stay in the database and expire: a
        router closing mid-call (its calls cancel and release first) leaves none behind."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _beat(self) -> None:
        while True:
            # Sweep first: a router starting up releases what a crashed predecessor left.
            try:
                if self.live:
                    await self._renew()
                swept = await self._sweep()
                if swept:
                    log.warning("released %d reservation(s) whose router stopped renewing them", swept)
            except Exception:  # noqa: BLE001 - a database hiccup must not end the beat; the next one retries
                log.exception("could not renew or sweep reservation leases")
            await asyncio.sleep(self.lease_s / 3)
