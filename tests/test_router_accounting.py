"""Contract tests for the router's budget and ledger storage, run against SQLite and PostgreSQL.

Each test gets its own database: a fresh SQLite file, or a fresh PostgreSQL schema that is
dropped afterwards. `open_router()` opens another instance on the same database, as a second
router sharing the budget would.
"""

from __future__ import annotations

import asyncio
import dataclasses
import fcntl
import os
import re
import sqlite3
import time
import uuid
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import AsyncIterator, Awaitable, Callable

import asyncpg
import pytest

from router.accounting import (
    DEFAULT_LEASE_S,
    Accounting,
    Budget,
    BudgetExceeded,
    LedgerRow,
    Reservation,
    open_accounting,
    period_key,
)
from router.accounting_sqlite import SQLiteAccounting

POSTGRES = os.environ.get("AGENTHOST_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
GLOBAL = Budget("global", "monthly", 1.00)

OpenRouter = Callable[..., Awaitable[Accounting]]


@pytest.fixture(params=["sqlite", "postgres"])
async def open_router(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[OpenRouter]:
    """open_router(lease_s=...) -> a new Accounting on this test's own database; all closed afterwards."""
    admin: asyncpg.Connection | None = None
    if request.param == "sqlite":
        url = f"sqlite://{tmp_path}/router/accounting.db"
    else:
        try:
            admin = await asyncpg.connect(POSTGRES)
        except (OSError, asyncpg.PostgresError) as exc:  # CI has PostgreSQL: its absence is a failure
            pytest.fail(f"PostgreSQL at {POSTGRES} is not available (set AGENTHOST_TEST_POSTGRES): {exc}")
        schema = "router_test_" + uuid.uuid4().hex[:12]
        url = f"{POSTGRES}?schema={schema}"
    opened: list[Accounting] = []

    async def open_one(lease_s: float = DEFAULT_LEASE_S) -> Accounting:
        opened.append(await open_accounting(url, lease_s=lease_s))
        return opened[-1]

    yield open_one
    for accounting in opened:
        await accounting.close()
    if admin is not None:
        await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await admin.close()


@pytest.fixture
async def acc(open_router: OpenRouter) -> Accounting:
    return await open_router()


async def reserved_and_spent(acc: Accounting, budget: Budget = GLOBAL, now: datetime = NOW) -> tuple[float, float]:
    [status] = await acc.status([budget], now)
    return status.reserved, status.spent


async def try_reserve(acc: Accounting, amount: float, budgets: list[Budget] | None = None) -> Reservation | None:
    try:
        return await acc.reserve(budgets or [GLOBAL], amount, f"req-{uuid.uuid4().hex[:6]}", NOW)
    except BudgetExceeded:
        return None


class Watch:
    """Samples a budget while work runs and remembers the most it ever saw held or spent."""

    def __init__(self, acc: Accounting, budget: Budget = GLOBAL) -> None:
        self.acc, self.budget, self.most, self.samples = acc, budget, 0.0, 0
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            reserved, spent = await reserved_and_spent(self.acc, self.budget)
            self.most, self.samples = max(self.most, reserved + spent), self.samples + 1
            await asyncio.sleep(0.001)

    async def stop(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


# --- reserve, settle, release ---


async def test_reserve_settle_release(acc: Accounting) -> None:
    first = await acc.reserve([GLOBAL], 0.25, "req-1", NOW)
    assert first.amount == 0.25 and first.scopes == (("global", "2026-11"),)
    [status] = await acc.status([GLOBAL], NOW)
    assert (status.period_key, status.limit, status.spent, status.reserved, status.left) == (
        "2026-11",
        1.0,
        0,
        0.25,
        0.75,
    )

    await acc.settle(first, 0.1)
    await acc.release(first)  # after settle: nothing left to release
    assert await reserved_and_spent(acc) == (0, 0.1)

    second = await acc.reserve([GLOBAL], 0.5, "req-2", NOW)
    await acc.release(second)
    await acc.release(second)  # idempotent
    assert await reserved_and_spent(acc) == (0, 0.1)


async def test_settle_books_more_than_reserved(acc: Accounting) -> None:
    reservation = await acc.reserve([GLOBAL], 0.1, "req-1", NOW)
    await acc.settle(reservation, 0.3)
    assert await reserved_and_spent(acc) == (0, 0.3)


async def test_a_budget_that_cannot_cover_a_call_changes_nothing(acc: Accounting) -> None:
    budget = Budget("global", "monthly", 20.00)
    await acc.settle(await acc.reserve([budget], 19.996, "req-1", NOW), 19.996)
    with pytest.raises(BudgetExceeded) as raised:
        await acc.reserve([budget], 0.0123, "req-2", NOW)
    assert str(raised.value) == (
        "budget global (monthly 2026-11) cannot cover this call: needs up to $0.0123, $0.0040 left of $20.00"
    )
    error = raised.value
    assert (error.scope, error.period_key, error.needed, error.left, error.limit) == (
        "global", "2026-11", 0.0123, pytest.approx(0.004), 20.0
    )  # fmt: skip
    assert await reserved_and_spent(acc, budget) == (0, 19.996)
    # a call that fits exactly still goes through
    await acc.reserve([budget], 0.004, "req-3", NOW)


async def test_negative_amounts_are_refused(acc: Accounting) -> None:
    with pytest.raises(ValueError, match="negative"):
        await acc.reserve([GLOBAL], -0.01, "req-1", NOW)


# --- concurrency ---


async def test_concurrent_reserves_never_overspend(acc: Accounting) -> None:
    watch = Watch(acc)
    results = await asyncio.gather(
        *(acc.reserve([GLOBAL], 0.01, f"req-{i}", NOW) for i in range(500)), return_exceptions=True
    )
    await watch.stop()
    held = [r for r in results if isinstance(r, Reservation)]
    assert len(held) == 100
    assert all(isinstance(r, BudgetExceeded) for r in results if not isinstance(r, Reservation))
    assert watch.samples > 0 and watch.most <= 1.00 + 1e-9
    assert await reserved_and_spent(acc) == (pytest.approx(1.0), 0)

    settled = [0.001 * (i % 10) for i in range(50)]
    await asyncio.gather(*(acc.settle(r, cost) for r, cost in zip(held[:50], settled)))
    await asyncio.gather(*(acc.release(r) for r in held[50:]))
    reserved, spent = await reserved_and_spent(acc)
    assert reserved == 0 and spent == pytest.approx(sum(settled), abs=1e-9)


FATES = ("settled", "failed", "cancelled holding", "cancelled settling", "cancelled releasing")
COSTS = (0.0, 0.003, 0.007, 0.01)  # at most what was reserved


async def test_errors_and_cancellations_leak_no_reservation(acc: Accounting) -> None:
    """130 calls against a budget that 100 fit. The ones that hold money settle, fail at the
    provider, or are cancelled while holding it, while settling or while releasing, a fifth each.
    The interleaving is fixed: every call has reserved (or been refused) before any lets go, and
    each cancellation lands while its call awaits that step. So the outcome is exact: 30 refused,
    nothing stays held, and exactly what was settled is spent."""
    calls = 130
    booked: list[float] = []
    fate_of: dict[int, str] = {}  # call number -> fate, given in the order reservations are made
    past_reserve = 0
    reserved_all = asyncio.Event()  # every call is past its reserve
    provider_answers = asyncio.Event()

    async def call(number: int) -> str:
        nonlocal past_reserve
        reservation = await try_reserve(acc, 0.01)
        past_reserve += 1
        if past_reserve == calls:
            reserved_all.set()
        if reservation is None:
            return "refused"
        fate = fate_of[number] = FATES[len(fate_of) % len(FATES)]
        try:
            await provider_answers.wait()
            if fate in ("failed", "cancelled releasing"):
                raise RuntimeError("provider failed")
            booked.append(COSTS[len(booked) % len(COSTS)])  # a settle runs to its end once called, cancelled or not
            await acc.settle(reservation, booked[-1])
            return "settled"
        except RuntimeError:
            return "failed"
        finally:
            await acc.release(reservation)

    def having(*fates: str) -> list[asyncio.Task[str]]:
        return [tasks[number] for number, fate in fate_of.items() if fate in fates]

    watch = Watch(acc)
    tasks = [asyncio.create_task(call(number)) for number in range(calls)]
    await reserved_all.wait()
    for task in having("cancelled holding"):
        task.cancel()
    provider_answers.set()
    await asyncio.sleep(0)  # every call still going has now started its settle or its release
    for task in having("cancelled settling", "cancelled releasing"):
        task.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    await watch.stop()

    outcomes = Counter("cancelled" if isinstance(r, asyncio.CancelledError) else r for r in results)
    assert outcomes == {"refused": 30, "settled": 20, "failed": 20, "cancelled": 60}
    assert Counter(fate_of.values()) == dict.fromkeys(FATES, 20)
    assert len(booked) == 40 and watch.most <= 1.00 + 1e-9
    reserved, spent = await reserved_and_spent(acc)
    assert reserved == 0
    assert spent == pytest.approx(sum(booked), abs=1e-9)


async def test_cancelling_reserve_holds_nothing(acc: Accounting) -> None:
    """A reserve cancelled before it starts, once it has spawned its transaction, or once that
    transaction is in the database's hands holds nothing: the transaction runs to its end and
    what it reserved is released before the cancellation reaches the caller. A reserve cancelled
    after it returned keeps its reservation. The cancellations land at fixed event-loop steps
    (a transaction cannot finish within two), so the outcome is exact."""
    budget = Budget("global", "total", 100.0)
    outcomes: dict[int | None, Counter[str]] = defaultdict(Counter)
    for i, steps in enumerate((0, 1, 2, None) * 25):  # None: once the reserve has returned
        task = asyncio.create_task(acc.reserve([budget], 0.01, f"req-{i}", NOW))
        if steps is None:
            await asyncio.wait([task])
        for _ in range(steps or 0):
            await asyncio.sleep(0)
        task.cancel()
        try:
            await task
            outcomes[steps]["held"] += 1
        except asyncio.CancelledError:
            outcomes[steps]["cancelled"] += 1
    assert outcomes == {0: {"cancelled": 25}, 1: {"cancelled": 25}, 2: {"cancelled": 25}, None: {"held": 25}}
    reserved, _ = await reserved_and_spent(acc, budget)
    assert reserved == pytest.approx(0.01 * 25)


async def test_two_routers_share_one_budget(open_router: OpenRouter) -> None:
    first, second = await open_router(), await open_router()
    watch = Watch(second)
    calls = [(first if i % 2 else second).reserve([GLOBAL], 0.01, f"req-{i}", NOW) for i in range(500)]
    results = await asyncio.gather(*calls, return_exceptions=True)
    await watch.stop()
    held = [r for r in results if isinstance(r, Reservation)]
    assert len(held) == 100
    assert all(isinstance(r, BudgetExceeded) for r in results if not isinstance(r, Reservation))
    assert watch.most <= 1.00 + 1e-9
    assert await first.status([GLOBAL], NOW) == await second.status([GLOBAL], NOW)

    # one router settles what the other reserved
    await asyncio.gather(*(first.settle(r, 0.005) for r in held[:40]), *(second.release(r) for r in held[40:]))
    assert await reserved_and_spent(second) == (0, pytest.approx(0.2))


# --- scopes and periods ---


async def test_several_scopes_are_all_or_nothing(acc: Accounting) -> None:
    agent = Budget("agent:eliza", "daily", 0.50)
    task = Budget("task:t1", "total", 0.20)
    budgets = [GLOBAL, agent, task]
    first = await acc.reserve(budgets, 0.15, "req-1", NOW)
    assert first.scopes == (("global", "2026-11"), ("agent:eliza", "2026-11-24"), ("task:t1", "total"))

    with pytest.raises(BudgetExceeded) as raised:
        await acc.reserve(budgets, 0.10, "req-2", NOW)
    assert raised.value.scope == "task:t1" and raised.value.period_key == "total"
    assert "budget task:t1 (total) cannot cover" in str(raised.value)
    assert [s.reserved for s in await acc.status(budgets, NOW)] == [0.15, 0.15, 0.15]

    # another task of the same agent still fits; the first budget that does not fit is named
    await acc.reserve([GLOBAL, agent, Budget("task:t2", "total", 1.0)], 0.30, "req-3", NOW)
    with pytest.raises(BudgetExceeded) as raised:
        await acc.reserve([GLOBAL, agent, task], 0.9, "req-4", NOW)
    assert raised.value.scope == "global"

    await acc.settle(first, 0.05)
    assert [(s.spent, s.reserved) for s in await acc.status(budgets, NOW)] == [
        (0.05, pytest.approx(0.3)), (0.05, pytest.approx(0.3)), (0.05, 0)
    ]  # fmt: skip


async def test_several_scopes_under_concurrency(acc: Accounting) -> None:
    small, large = Budget("agent:a", "monthly", 0.30), Budget("agent:b", "monthly", 2.00)
    shared = Budget("task:t1", "total", 5.00)
    # budgets in different orders: a backend that locks them in the order given deadlocks
    calls = [try_reserve(acc, 0.01, [GLOBAL, shared, small] if i % 2 else [large, shared, GLOBAL]) for i in range(300)]
    results = await asyncio.gather(*calls)
    assert sum(r is not None for r in results) == 100
    global_status, a, b = await acc.status([GLOBAL, small, large], NOW)
    assert a.reserved <= 0.30 + 1e-9
    assert global_status.reserved == pytest.approx(1.0) == pytest.approx(a.reserved + b.reserved)


async def test_spend_counts_in_its_own_period(acc: Accounting) -> None:
    october, november = datetime(2026, 10, 31, 23, 59, tzinfo=UTC), datetime(2026, 11, 1, 0, 1, tzinfo=UTC)
    daily = Budget("agent:eliza", "daily", 1.0)
    total = Budget("task:t1", "total", 5.0)
    await acc.settle(await acc.reserve([GLOBAL, daily, total], 0.9, "req-1", october), 0.9)
    assert await reserved_and_spent(acc, GLOBAL, october) == (0, 0.9)
    assert await reserved_and_spent(acc, GLOBAL, november) == (0, 0)
    assert await reserved_and_spent(acc, daily, november) == (0, 0)
    assert await reserved_and_spent(acc, total, november) == (0, 0.9)
    await acc.reserve([GLOBAL], 1.0, "req-2", november)  # a fresh month has the whole budget
    with pytest.raises(BudgetExceeded):
        await acc.reserve([GLOBAL], 0.2, "req-3", october)


def test_period_keys_are_utc() -> None:
    assert period_key("monthly", NOW) == "2026-11"
    assert period_key("daily", NOW) == "2026-11-24"
    assert period_key("total", NOW) == "total"
    new_york = timezone(timedelta(hours=-5))
    assert period_key("daily", datetime(2026, 11, 30, 20, 0, tzinfo=new_york)) == "2026-12-01"
    assert period_key("monthly", datetime(2026, 11, 30, 20, 0)) == "2026-11"  # naive means UTC
    with pytest.raises(ValueError, match="weekly"):
        period_key("weekly", NOW)
    with pytest.raises(ValueError, match="weekly"):
        Budget("global", "weekly", 1.0)


# --- leases: what a router that died mid-call held ---


def held_for(request_id: str, attempt: int, provider: str = "openrouter", model: str = "qwen2-72b") -> LedgerRow:
    """The attempt a hold is for, as a caller passes it to reserve."""
    return LedgerRow(request_id, attempt, 0, "eliza", "t1", "u1", provider, model, 0, 0, 0.0, 0, "expired")


async def expired_rows(acc: Accounting) -> list[LedgerRow]:
    return sorted((r for r in (await acc.usage()).rows if r.status == "expired"), key=lambda r: r.request_id)


async def wait_for(check: Callable[[], Awaitable[bool]], timeout: float) -> float:
    """Seconds until `check()` holds; fails the test past `timeout`."""
    started = time.monotonic()
    while not await check():
        assert time.monotonic() - started < timeout, f"not within {timeout} s"
        await asyncio.sleep(0.02)
    return time.monotonic() - started


async def test_a_dead_routers_holds_expire_within_the_lease_and_are_booked(open_router: OpenRouter) -> None:
    """A router that stops renewing (killed: tests/test_router_lease.py kills a real one) keeps
    its holds until their lease runs out, no longer; then they stop counting at once and the
    next sweep of a router still running releases and books each as an expired attempt. The
    survivor's own hold lives on past the lease: it renews it."""
    lease = 0.6
    dead, survivor = await open_router(lease_s=lease), await open_router(lease_s=lease)
    agent = Budget("agent:eliza", "monthly", 1.0)
    await dead.reserve([GLOBAL, agent], 0.3, "req-1", NOW, attempt=held_for("req-1", 2))
    await dead.reserve([GLOBAL], 0.2, "req-2", NOW)
    fresh = await survivor.reserve([GLOBAL], 0.1, "req-3", NOW)
    await dead.leases.stop()  # no renewal from here on, and no release
    died = time.monotonic()
    assert await reserved_and_spent(survivor) == (pytest.approx(0.6), 0)
    with pytest.raises(BudgetExceeded):
        await survivor.reserve([GLOBAL], 0.5, "req-4", NOW)

    async def released() -> bool:
        return await reserved_and_spent(survivor) == (pytest.approx(0.1), 0)

    await wait_for(released, timeout=lease + 1.0)
    assert time.monotonic() - died >= lease * 0.9  # not before the lease ran out (the clock's ms rounding aside)
    assert await reserved_and_spent(survivor, agent) == (0, 0)
    second = await survivor.reserve([GLOBAL], 0.5, "req-4", NOW)  # the budget has room again

    async def booked() -> bool:
        return len(await expired_rows(survivor)) == 2

    await wait_for(booked, timeout=lease / 3 + 1.0)  # the survivor's next sweep, by itself
    first, other = await expired_rows(survivor)
    assert (first.request_id, first.attempt, first.agent_name, first.task_id, first.provider, first.model) == (
        "req-1", 2, "eliza", "t1", "openrouter", "qwen2-72b"
    )  # fmt: skip
    assert (first.cost, first.reserved, first.error_class) == (0, 0.3, "LeaseExpired")
    assert first.latency_ms >= lease * 900  # how long it was held
    assert (other.request_id, other.attempt, other.reserved) == ("req-2", 1, 0.2)
    assert await survivor.expire_reservations() == 0  # booked once

    await asyncio.sleep(lease * 1.5)  # the survivor's holds outlive the lease: it renews them
    assert await reserved_and_spent(survivor) == (pytest.approx(0.6), 0)
    await survivor.settle(fresh, 0.1)
    await survivor.release(second)
    assert await reserved_and_spent(dead) == (0, pytest.approx(0.1))


async def test_a_settle_after_the_hold_expired_still_books_the_spend(open_router: OpenRouter) -> None:
    """A router that stalled past its lease lost the hold (booked as expired); the money its call
    then spent is still booked when it settles."""
    stalled = await open_router(lease_s=0.3)
    held = await stalled.reserve([GLOBAL], 0.4, "req-1", NOW)
    await stalled.leases.stop()
    await asyncio.sleep(0.45)
    assert await stalled.expire_reservations() == 1
    await stalled.settle(held, 0.25, attempt("req-1", NOW, cost=0.25))
    assert await reserved_and_spent(stalled) == (0, 0.25)
    assert sorted((r.status, r.reserved) for r in (await stalled.usage()).rows) == [("expired", 0.4), ("ok", 0)]
    # nothing covered that spend when it was settled: all of it is an overrun, as router budget shows
    [status] = await stalled.status([GLOBAL], NOW)
    assert (status.overrun, status.overruns) == (0.25, 1)


async def test_a_hold_whose_lease_ran_out_stays_lost_when_its_router_comes_back(open_router: OpenRouter) -> None:
    """A router stalled past its lease (its event loop blocked, say) and came back. Its hold ran out,
    and another router took that money before any sweep; renewing must not bring the hold back
    (both would count then: $1.40 held of $1), and its settle books an overrun."""
    lease = 0.3
    stalled = await open_router(lease_s=lease)
    other = await open_router(lease_s=30)  # its next sweep is 10 s away: the lapsed hold stays in the table
    held = await stalled.reserve([GLOBAL], 0.6, "req-1", NOW)
    await stalled.leases.stop()
    await asyncio.sleep(lease * 1.5)
    taken = await other.reserve([GLOBAL], 0.8, "req-2", NOW)
    watch = Watch(other)
    stalled.leases.start()  # back: it renews, and sweeps the lapsed hold
    await stalled.book(attempt("req-3", NOW, status="error", cost=0))  # a write of its own too
    await asyncio.sleep(lease)  # three beats
    await watch.stop()
    assert watch.most == pytest.approx(0.8)
    await stalled.settle(held, 0.5, attempt("req-1", NOW, cost=0.5))
    [status] = await stalled.status([GLOBAL], NOW)
    assert (status.spent, status.reserved, status.overrun, status.overruns) == (0.5, pytest.approx(0.8), 0.5, 1)
    await other.settle(taken, 0.4)


async def test_two_routers_share_one_budget_while_their_queues_outlast_the_lease(open_router: OpenRouter) -> None:
    """The fault report: under heavy load two routers held 182 reservations of $0.01 against $1.
    When a router's operations queue up for longer than the lease (here: thousands of reserves at
    once, a short lease), its lease renewal waited behind them (SQLite: on its one database
    thread; PostgreSQL: for a pooled connection), so its first holds ran out and stopped counting
    while it was alive and busy, and the renewal that came at last brought them back on top of
    the holds that had taken their money. Every write of a router now renews its live holds, and
    a hold that ran out stays lost."""
    sqlite = isinstance(await open_router(), SQLiteAccounting)
    # SQLite is the faster here: more calls, and a lease its busy timeout (2/3 of it) can live with
    calls, amount, lease = (3000, 0.001, 1.0) if sqlite else (1000, 0.01, 0.5)
    first, second = await open_router(lease_s=lease), await open_router(lease_s=lease)
    watch = Watch(second)
    started = time.monotonic()
    reserves = [(first if i % 2 else second).reserve([GLOBAL], amount, f"req-{i}", NOW) for i in range(calls)]
    results = await asyncio.gather(*reserves, return_exceptions=True)
    took = time.monotonic() - started
    await watch.stop()
    assert took > lease, f"the queues did not outlast the lease ({took:.2f} s): this run tested nothing"
    assert [r for r in results if not isinstance(r, (Reservation, BudgetExceeded))] == []
    assert len([r for r in results if isinstance(r, Reservation)]) == round(1 / amount)
    assert watch.most <= 1.00 + 1e-9
    await asyncio.sleep(lease * 2)  # idle now: the beats alone keep them
    assert await reserved_and_spent(first) == (pytest.approx(1.0), 0)


# The tables as routers before leases and overruns made them (one reservation still held).
LEGACY_SCHEMA = """
CREATE TABLE router_spend (scope TEXT NOT NULL, period_key TEXT NOT NULL, spent_nano BIGINT NOT NULL,
    PRIMARY KEY (scope, period_key));
CREATE TABLE router_reservations (id TEXT NOT NULL, scope TEXT NOT NULL, period_key TEXT NOT NULL,
    amount_nano BIGINT NOT NULL, request_id TEXT NOT NULL, created_ms BIGINT NOT NULL,
    PRIMARY KEY (id, scope, period_key));
CREATE TABLE router_ledger (id {ID} PRIMARY KEY, request_id TEXT NOT NULL, attempt INTEGER NOT NULL,
    time_ms BIGINT NOT NULL, agent_name TEXT NOT NULL, task_id TEXT NOT NULL, user_id TEXT NOT NULL,
    provider TEXT NOT NULL, model TEXT NOT NULL, tokens_in BIGINT NOT NULL, tokens_out BIGINT NOT NULL,
    cost_nano BIGINT NOT NULL, latency_ms BIGINT NOT NULL, status TEXT NOT NULL, error_class TEXT NOT NULL);
INSERT INTO router_spend VALUES ('global', '2026-11', 10000000);
INSERT INTO router_reservations VALUES ('old', 'global', '2026-11', 972000000, 'req-old', 1000);
INSERT INTO router_ledger (request_id, attempt, time_ms, agent_name, task_id, user_id, provider, model,
    tokens_in, tokens_out, cost_nano, latency_ms, status, error_class)
    VALUES ('req-0', 1, 1000, 'a', '', '', 'p', 'm', 1, 1, 10000000, 5, 'ok', '');
"""


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_a_database_from_before_leases_is_upgraded_and_its_stuck_holds_released(backend, tmp_path):
    """The state the fault report found: $0.972 held by a router killed before holds had leases.
    Opening the database adds the new columns and releases that hold, booked as expired."""
    if backend == "sqlite":
        url = str(tmp_path / "old.db")
        with sqlite3.connect(url) as old:
            old.executescript(LEGACY_SCHEMA.replace("{ID}", "INTEGER"))
    else:
        schema = "router_test_" + uuid.uuid4().hex[:12]
        url = f"{POSTGRES}?schema={schema}"
        admin = await asyncpg.connect(POSTGRES)
        legacy = LEGACY_SCHEMA.replace("{ID}", "BIGINT GENERATED ALWAYS AS IDENTITY")
        await admin.execute(f'CREATE SCHEMA "{schema}"; SET search_path = "{schema}";' + legacy)
    try:
        acc = await open_accounting(url)
        try:
            assert await reserved_and_spent(acc) == (0, pytest.approx(0.01))
            rows = {r.request_id: r for r in (await acc.usage()).rows}
            assert (rows["req-old"].status, rows["req-old"].cost, rows["req-old"].reserved) == ("expired", 0, 0.972)
            assert (rows["req-0"].status, rows["req-0"].reserved) == ("ok", 0)
            await acc.settle(await acc.reserve([GLOBAL], 0.9, "req-1", NOW), 0.95)
            [status] = await acc.status([GLOBAL], NOW)
            assert (status.spent, status.overrun, status.overruns) == (pytest.approx(0.96), pytest.approx(0.05), 1)
        finally:
            await acc.close()
        reopened = await open_accounting(url)  # opening again changes nothing
        assert await reserved_and_spent(reopened) == (0, pytest.approx(0.96))
        await reopened.close()
    finally:
        if backend == "postgres":
            await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
            await admin.close()


# --- overruns ---


async def test_a_cost_beyond_the_hold_is_booked_as_an_overrun(acc: Accounting) -> None:
    agent = Budget("agent:eliza", "daily", 5.0)
    within = await acc.reserve([GLOBAL, agent], 0.2, "req-1", NOW)
    await acc.settle(within, 0.2, attempt("req-1", NOW, cost=0.2))  # exactly what was held: no overrun
    beyond = await acc.reserve([GLOBAL, agent], 0.1, "req-2", NOW)
    await acc.settle(beyond, 0.35, attempt("req-2", NOW, cost=0.35))
    again = await acc.reserve([GLOBAL], 0.1, "req-3", NOW)
    await acc.settle(again, 0.15)
    global_status, agent_status = await acc.status([GLOBAL, agent], NOW)
    assert (global_status.spent, global_status.overrun, global_status.overruns) == (
        pytest.approx(0.7), pytest.approx(0.3), 2
    )  # fmt: skip
    assert (agent_status.spent, agent_status.overrun, agent_status.overruns) == (
        pytest.approx(0.55), pytest.approx(0.25), 1
    )  # fmt: skip
    rows = {r.request_id: r for r in (await acc.usage()).rows}
    assert (rows["req-1"].cost, rows["req-1"].reserved) == (0.2, 0.2)
    assert (rows["req-2"].cost, rows["req-2"].reserved) == (0.35, 0.1)  # the ledger shows which attempt overran
    [fresh] = await acc.status([GLOBAL], NOW + timedelta(days=40))
    assert (fresh.overrun, fresh.overruns) == (0, 0)  # counted in its own period


async def test_released_attempts_book_what_they_held(acc: Accounting) -> None:
    failed = await acc.reserve([GLOBAL], 0.3, "req-1", NOW)
    await acc.release(failed, attempt("req-1", NOW, status="error", cost=0, error_class="Timeout"))
    [row] = (await acc.usage()).rows
    assert (row.status, row.cost, row.reserved) == ("error", 0, 0.3)
    with pytest.raises(ValueError, match="recorded, not billed"):
        await acc.book(attempt("req-2", NOW, status="expired", cost=0.1))


# --- ledger ---


def attempt(request_id: str, when: datetime, attempt: int = 1, **changes: object) -> LedgerRow:
    fields: dict[str, object] = dict(
        request_id=request_id, attempt=attempt, time_ms=int(when.timestamp() * 1000), agent_name="eliza",
        task_id="t1", user_id="u1", provider="openrouter", model="qwen2-72b", tokens_in=100, tokens_out=20,
        cost=0.002, latency_ms=300, status="ok", error_class="",
    )  # fmt: skip
    fields.update(changes)
    return LedgerRow(**fields)  # type: ignore[arg-type]


async def test_ledger_rows_are_queried_with_totals(acc: Accounting) -> None:
    day = datetime(2026, 11, 24, 10, tzinfo=UTC)
    rows = [
        attempt("r1", day, 1, provider="requesty", status="error", cost=0, tokens_out=0, error_class="Timeout"),
        attempt("r1", day + timedelta(seconds=1), 2, status="ok", cost=0.004),
        attempt("r2", day + timedelta(hours=1), agent_name="other", task_id="t2", cost=0.01),
        attempt("r3", day - timedelta(days=1), status="fallback", cost=0),
        attempt("r4", datetime(2026, 10, 31, 23, 59, 59, tzinfo=UTC), cost=0.5),
        attempt("r5", day + timedelta(hours=2), status="refused", cost=0, tokens_in=0, tokens_out=0),
    ]
    for row in rows:
        await acc.book(row)

    everything = await acc.usage()
    assert (everything.calls, everything.tokens_in, everything.tokens_out) == (6, 500, 80)
    assert everything.cost == pytest.approx(0.514)
    assert everything.rows == sorted(rows, key=lambda r: r.time_ms, reverse=True)

    november = await acc.usage(period="2026-11")
    assert november.calls == 5 and november.cost == pytest.approx(0.014)
    assert (await acc.usage(period="2026-10")).rows == [rows[4]]
    assert (await acc.usage(period="2026")).calls == 6
    assert (await acc.usage(period="2025")).calls == 0

    the_day = await acc.usage(period="2026-11-24", agent_name="eliza")
    assert [(r.request_id, r.attempt, r.status, r.cost) for r in the_day.rows] == [
        ("r5", 1, "refused", 0), ("r1", 2, "ok", 0.004), ("r1", 1, "error", 0)
    ]  # fmt: skip
    assert the_day.rows[2].error_class == "Timeout" and the_day.cost == pytest.approx(0.004)

    assert (await acc.usage(task_id="t2")).rows == [rows[2]]
    by_provider = await acc.usage(provider="requesty")
    assert by_provider.calls == 1 and by_provider.cost == 0 and by_provider.rows[0].status == "error"

    newest = await acc.usage(limit=2)
    assert newest.calls == 6 and [r.request_id for r in newest.rows] == ["r5", "r2"]
    assert len((await acc.usage(limit=0)).rows) == 6


async def test_ledger_refuses_billing_a_failed_attempt(acc: Accounting) -> None:
    with pytest.raises(ValueError, match="recorded, not billed"):
        await acc.book(attempt("r1", NOW, status="error", cost=0.01))
    with pytest.raises(ValueError, match="status"):
        await acc.book(attempt("r1", NOW, status="maybe"))
    with pytest.raises(ValueError, match="YYYY-MM"):
        await acc.usage(period="November")
    assert (await acc.usage()).calls == 0


# --- opening ---


async def test_open_accounting_urls(tmp_path: Path) -> None:
    for url in (f"sqlite://{tmp_path}/a.db", str(tmp_path / "nested" / "b.db")):
        accounting = await open_accounting(url)
        await accounting.reserve([GLOBAL], 0.5, "req-1", NOW)
        await accounting.close()
    assert (tmp_path / "a.db").exists() and (tmp_path / "nested" / "b.db").exists()
    for bad in ("mysql://localhost/db", "accounting.txt", "sqlite://"):
        with pytest.raises(ValueError, match=re.escape(repr(bad))):
            await open_accounting(bad)
    with pytest.raises(ValueError, match="schema"):
        await open_accounting("postgresql://postgres@127.0.0.1/test?schema=no;way")


async def test_settle_and_release_book_their_ledger_row_in_the_same_transaction(acc: Accounting) -> None:
    paid = await acc.reserve([GLOBAL], 0.1, "req-ok", NOW)
    await acc.settle(paid, 0.05, attempt("req-ok", NOW, cost=0.05))
    failed = await acc.reserve([GLOBAL], 0.1, "req-err", NOW)
    await acc.release(failed, attempt("req-err", NOW, status="error", cost=0, error_class="Timeout"))
    assert await reserved_and_spent(acc) == (0, 0.05)
    usage = await acc.usage()
    assert sorted((r.request_id, r.status, r.cost) for r in usage.rows) == [
        ("req-err", "error", 0.0), ("req-ok", "ok", 0.05)
    ]  # fmt: skip
    with pytest.raises(ValueError, match="recorded, not billed"):
        await acc.release(await acc.reserve([GLOBAL], 0.1, "req-bad", NOW), attempt("req-bad", NOW, status="error"))
    assert await reserved_and_spent(acc) == (0.1, 0.05)  # a row that cannot be booked changes nothing


async def test_a_statement_failing_midway_rolls_the_whole_transaction_back(acc: Accounting) -> None:
    """The ledger row goes in last, after the hold is dropped and the cost added; when the database
    refuses it (a token count no integer column holds), none of it happens."""
    held = await acc.reserve([GLOBAL], 0.1, "req-1", NOW)
    unstorable = attempt("req-1", NOW, cost=0.05, tokens_in=2**63)
    with pytest.raises((OverflowError, asyncpg.DataError)):
        await acc.settle(held, 0.05, unstorable)
    assert await reserved_and_spent(acc) == (0.1, 0)
    with pytest.raises((OverflowError, asyncpg.DataError)):
        await acc.release(held, dataclasses.replace(unstorable, status="error", cost=0))
    assert await reserved_and_spent(acc) == (0.1, 0)
    assert (await acc.usage()).calls == 0
    # no transaction was left open: the next one goes through
    await acc.settle(held, 0.05, attempt("req-1", NOW, cost=0.05))
    assert await reserved_and_spent(acc) == (0, 0.05)
    assert (await acc.usage()).calls == 1


async def test_sqlite_waits_for_another_writer_off_the_event_loop(tmp_path: Path) -> None:
    """A router whose file another process is writing waits its turn (busy timeout) instead of
    failing, and waits on its database thread: the event loop keeps running meanwhile."""
    path = tmp_path / "shared.db"
    acc = await open_accounting(str(path))
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        reserving = asyncio.create_task(acc.reserve([GLOBAL], 0.25, "req-1", NOW))
        started = time.monotonic()
        for _ in range(20):
            await asyncio.sleep(0.01)
        assert time.monotonic() - started < 5 and not reserving.done()
        other.execute("COMMIT")
        assert (await reserving).amount == 0.25
        assert await reserved_and_spent(acc) == (0.25, 0)
    finally:
        other.close()
        await acc.close()
        await acc.close()  # closing twice is harmless


async def test_a_router_with_writes_queued_does_not_lock_another_out(tmp_path: Path) -> None:
    """Two routers on one SQLite file: while one has a thousand reserves queued on its thread,
    the other's writes still get the lock, each soon, not after the whole queue (or never:
    "database is locked" once its busy timeout ran out, when a router took the lock again at
    once after each commit)."""
    path = tmp_path / "shared.db"
    busy, other = [await SQLiteAccounting.open(path, busy_timeout_s=0.3) for _ in range(2)]
    budget = Budget("global", "monthly", 10.0)
    try:
        queued = asyncio.gather(*(busy.reserve([budget], 0.001, f"req-{i}", NOW) for i in range(1000)))
        waits: list[float] = []
        while not queued.done():
            started = time.monotonic()
            await other.reserve([budget], 0.001, f"other-{len(waits)}", NOW)  # "database is locked" fails here
            waits.append(time.monotonic() - started)
        await queued
        assert len(waits) >= 20, f"{len(waits)} writes got in while 1000 were queued on the other router"
        assert sorted(waits)[len(waits) // 2] < 0.05  # the median: about one transaction of the other's
        assert await reserved_and_spent(other, budget) == (pytest.approx(0.001 * (1000 + len(waits))), 0)
    finally:
        await busy.close()
        await other.close()


async def test_a_turnstile_held_too_long_costs_a_busy_timeout_not_a_hang(tmp_path: Path) -> None:
    """Writers on one SQLite file queue on a turnstile (an flock beside it) before its lock. One
    holding it for ever (a process stopped while waiting for the lock, say) delays a write by the
    busy timeout, no more: then the lock is tried once, and answers as a lock held too long does."""
    path = tmp_path / "shared.db"
    acc = await SQLiteAccounting.open(path, busy_timeout_s=0.5)
    stuck = os.open(f"{path}-turns", os.O_RDWR)
    other = sqlite3.connect(path, isolation_level=None)
    try:
        fcntl.flock(stuck, fcntl.LOCK_EX)
        started = time.monotonic()
        await acc.reserve([GLOBAL], 0.25, "req-1", NOW)  # the lock itself is free
        assert 0.45 < time.monotonic() - started < 0.9
        other.execute("BEGIN IMMEDIATE")  # now it is not
        started = time.monotonic()
        with pytest.raises(sqlite3.OperationalError, match="database is locked"):
            await acc.reserve([GLOBAL], 0.25, "req-2", NOW)
        assert 0.45 < time.monotonic() - started < 0.9  # the turnstile's wait and the lock's: one timeout
        other.execute("ROLLBACK")
        fcntl.flock(stuck, fcntl.LOCK_UN)
        await acc.reserve([GLOBAL], 0.25, "req-3", NOW)
        assert await reserved_and_spent(acc) == (0.5, 0)
    finally:
        other.close()
        os.close(stuck)
        await acc.close()
