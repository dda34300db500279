"""Budgets and ledger on one SQLite file, the default backend.

Every change is one BEGIN IMMEDIATE transaction, which takes the file's write
lock up front: routers sharing the file (WAL, busy timeout) take turns, so a
budget check and the hold it decides on can never interleave with another's.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import AsyncIterator, Sequence

import aiosqlite

from router.accounting import (
    DEFAULT_USAGE_ROWS,
    LEDGER_COLUMNS,
    Budget,
    BudgetStatus,
    Inflight,
    LedgerRow,
    Reservation,
    Usage,
    budget_keys,
    budget_status,
    check_amount,
    check_fits,
    check_row,
    from_nano,
    ledger_row,
    ledger_values,
    smallest_left_fraction,
    to_nano,
    usage_filters,
)

# Money columns are integer nano-USD (see accounting.to_nano). A reservation holds one row
# per (scope, period_key); a budget's reserved amount is the sum of its rows.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS router_spend (
    scope TEXT NOT NULL,
    period_key TEXT NOT NULL,
    spent_nano INTEGER NOT NULL,
    PRIMARY KEY (scope, period_key)
);
CREATE TABLE IF NOT EXISTS router_reservations (
    id TEXT NOT NULL,
    scope TEXT NOT NULL,
    period_key TEXT NOT NULL,
    amount_nano INTEGER NOT NULL,
    request_id TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    PRIMARY KEY (id, scope, period_key)
);
CREATE INDEX IF NOT EXISTS router_reservations_by_budget ON router_reservations (scope, period_key);
CREATE TABLE IF NOT EXISTS router_ledger (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    time_ms INTEGER NOT NULL,
    agent_name TEXT NOT NULL,
    task_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    tokens_in INTEGER NOT NULL,
    tokens_out INTEGER NOT NULL,
    cost_nano INTEGER NOT NULL,
    latency_ms INTEGER NOT NULL,
    status TEXT NOT NULL,
    error_class TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS router_ledger_by_time ON router_ledger (time_ms);
"""

_TOTALS = """
SELECT (SELECT COALESCE(SUM(spent_nano), 0) FROM router_spend WHERE scope = :scope AND period_key = :key),
       (SELECT COALESCE(SUM(amount_nano), 0) FROM router_reservations WHERE scope = :scope AND period_key = :key)
"""

_ADD_SPENT = """
INSERT INTO router_spend (scope, period_key, spent_nano) VALUES (?, ?, ?)
ON CONFLICT (scope, period_key) DO UPDATE SET spent_nano = router_spend.spent_nano + excluded.spent_nano
"""
_INSERT_ROW = f"INSERT INTO router_ledger ({LEDGER_COLUMNS}) VALUES ({', '.join('?' * 14)})"


class SQLiteAccounting:
    """Accounting on one SQLite file through one aiosqlite connection. Calls on one instance
    take turns on the connection; instances (routers) sharing the file take turns on its lock."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db
        self._turn = asyncio.Lock()
        self._inflight = Inflight()

    @classmethod
    async def open(cls, path: str | Path, busy_timeout_s: float = 30.0) -> "SQLiteAccounting":
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: no implicit transactions; every one here is explicit.
        db = await aiosqlite.connect(path, isolation_level=None)
        await db.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
        await db.execute("PRAGMA journal_mode=WAL")
        await db.execute("PRAGMA synchronous=NORMAL")
        await db.executescript(_SCHEMA)
        return cls(db)

    async def close(self) -> None:
        await self._inflight.drain()
        await self._db.close()

    @asynccontextmanager
    async def _transaction(self, mode: str = "IMMEDIATE") -> AsyncIterator[aiosqlite.Connection]:
        async with self._turn:
            await self._db.execute(f"BEGIN {mode}")
            try:
                yield self._db
                await self._db.execute("COMMIT")
            except BaseException:
                await self._db.execute("ROLLBACK")
                raise

    @staticmethod
    async def _totals(db: aiosqlite.Connection, scope: str, key: str) -> tuple[int, int]:
        """(spent, reserved) in nano-USD of one budget period."""
        cursor = await db.execute(_TOTALS, {"scope": scope, "key": key})
        spent, reserved = await cursor.fetchone()  # type: ignore[misc]
        return int(spent), int(reserved)

    async def reserve(
        self, budgets: Sequence[Budget], amount: float, request_id: str, now: datetime | None = None
    ) -> Reservation:
        check_amount(amount)
        keyed = budget_keys(budgets, now)
        scopes = tuple(dict.fromkeys((budget.scope, key) for budget, key in keyed))
        reservation = Reservation(uuid.uuid4().hex, amount, scopes)
        if not scopes:
            return reservation
        return await self._inflight.reserve(self._reserve(keyed, reservation, request_id), self._release)

    async def _reserve(self, keyed: list[tuple[Budget, str]], reservation: Reservation, request_id: str) -> Reservation:
        amount = to_nano(reservation.amount)
        created_ms = int(time.time() * 1000)
        async with self._transaction() as db:
            for budget, key in keyed:
                spent, reserved = await self._totals(db, budget.scope, key)
                check_fits(budget, key, spent, reserved, amount)
            await db.executemany(
                "INSERT INTO router_reservations VALUES (?, ?, ?, ?, ?, ?)",
                [(reservation.id, scope, key, amount, request_id, created_ms) for scope, key in reservation.scopes],
            )
        return reservation

    async def settle(self, reservation: Reservation, actual_cost: float, row: LedgerRow | None = None) -> None:
        if row is not None:
            check_row(row)
        await self._inflight.run(self._settle(reservation, to_nano(actual_cost), row))

    async def _settle(self, reservation: Reservation, cost: int, row: LedgerRow | None) -> None:
        async with self._transaction() as db:
            await db.execute("DELETE FROM router_reservations WHERE id = ?", (reservation.id,))
            await db.executemany(_ADD_SPENT, [(scope, key, cost) for scope, key in reservation.scopes])
            if row is not None:
                await db.execute(_INSERT_ROW, ledger_values(row))

    async def release(self, reservation: Reservation, row: LedgerRow | None = None) -> None:
        if row is not None:
            check_row(row)
        await self._inflight.run(self._release(reservation, row))

    async def _release(self, reservation: Reservation, row: LedgerRow | None = None) -> None:
        async with self._transaction() as db:
            await db.execute("DELETE FROM router_reservations WHERE id = ?", (reservation.id,))
            if row is not None:
                await db.execute(_INSERT_ROW, ledger_values(row))

    async def expire_reservations(self, older_than_s: float) -> int:
        return await self._inflight.run(self._expire(int((time.time() - older_than_s) * 1000)))

    async def _expire(self, before_ms: int) -> int:
        async with self._transaction() as db:
            cursor = await db.execute("DELETE FROM router_reservations WHERE created_ms < ? RETURNING id", (before_ms,))
            return len({row[0] for row in await cursor.fetchall()})

    async def status(self, budgets: Sequence[Budget], now: datetime | None = None) -> list[BudgetStatus]:
        return await self._inflight.run(self._status(budget_keys(budgets, now)))

    async def _status(self, keyed: list[tuple[Budget, str]]) -> list[BudgetStatus]:
        async with self._transaction("DEFERRED") as db:
            return [budget_status(budget, key, *await self._totals(db, budget.scope, key)) for budget, key in keyed]

    async def left_fraction(self, budgets: Sequence[Budget], now: datetime | None = None) -> float:
        return smallest_left_fraction(await self.status(budgets, now))

    async def book(self, row: LedgerRow) -> None:
        check_row(row)
        await self._inflight.run(self._book(row))

    async def _book(self, row: LedgerRow) -> None:
        async with self._transaction() as db:
            await db.execute(_INSERT_ROW, ledger_values(row))

    async def usage(
        self, period: str = "", agent_name: str = "", task_id: str = "", provider: str = "", limit: int = 100
    ) -> Usage:
        filters = usage_filters(period, agent_name, task_id, provider)
        where = " AND ".join(condition.format("?") for condition, _ in filters) or "1 = 1"
        values = [value for _, value in filters]
        return await self._inflight.run(self._usage(where, values, limit or DEFAULT_USAGE_ROWS))

    async def _usage(self, where: str, values: list[object], limit: int) -> Usage:
        async with self._transaction("DEFERRED") as db:
            cursor = await db.execute(
                "SELECT COUNT(*), COALESCE(SUM(tokens_in), 0), COALESCE(SUM(tokens_out), 0), "
                f"COALESCE(SUM(cost_nano), 0) FROM router_ledger WHERE {where}",
                values,
            )
            calls, tokens_in, tokens_out, cost = await cursor.fetchone()  # type: ignore[misc]
            cursor = await db.execute(
                f"SELECT {LEDGER_COLUMNS} FROM router_ledger WHERE {where} ORDER BY time_ms DESC, id DESC LIMIT ?",
                [*values, limit],
            )
            rows = [ledger_row(record) for record in await cursor.fetchall()]
        return Usage(rows, calls, tokens_in, tokens_out, from_nano(cost))
