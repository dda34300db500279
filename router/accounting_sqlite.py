"""Budgets and ledger on one SQLite file, the default backend.

Every change is one BEGIN IMMEDIATE transaction, which takes the file's write
lock up front: routers sharing the file (WAL, busy timeout) take turns, so a
budget check and the hold it decides on can never interleave with another's.

The connection lives on a thread of its own, and each operation runs there as one
synchronous function, its whole transaction included: one handoff to that thread
and back per operation, not one per statement (each handoff costs a thread switch
and an event-loop wakeup, which was most of what the accounting added to a call).
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterator, Sequence, TypeVar

from router.accounting_base import (
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
    to_nano,
    usage_filters,
)

T = TypeVar("T")

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


class _Database:
    """The sqlite3 connection and the transactions run on its thread. Built on that thread, and
    sqlite3 refuses its use from any other (check_same_thread), so none of it can run on, and
    block, the event loop. Each method is one whole transaction: committed if it returns,
    rolled back if it raises."""

    def __init__(self, path: Path, busy_timeout_s: float) -> None:
        # isolation_level=None: no implicit transactions; every one here is explicit.
        self._db = sqlite3.connect(path, isolation_level=None)
        try:
            self._db.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
        except BaseException:
            self._db.close()
            raise

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _transaction(self, mode: str = "IMMEDIATE") -> Iterator[sqlite3.Connection]:
        self._db.execute(f"BEGIN {mode}")
        try:
            yield self._db
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:  # some errors (SQLITE_FULL, ...) have rolled back already
                self._db.execute("ROLLBACK")
            raise

    @staticmethod
    def _totals(db: sqlite3.Connection, scope: str, key: str) -> tuple[int, int]:
        """(spent, reserved) in nano-USD of one budget period."""
        spent, reserved = db.execute(_TOTALS, {"scope": scope, "key": key}).fetchone()
        return int(spent), int(reserved)

    def reserve(self, keyed: list[tuple[Budget, str]], reservation: Reservation, request_id: str) -> Reservation:
        amount = to_nano(reservation.amount)
        created_ms = int(time.time() * 1000)
        with self._transaction() as db:
            for budget, key in keyed:
                spent, reserved = self._totals(db, budget.scope, key)
                check_fits(budget, key, spent, reserved, amount)
            db.executemany(
                "INSERT INTO router_reservations VALUES (?, ?, ?, ?, ?, ?)",
                [(reservation.id, scope, key, amount, request_id, created_ms) for scope, key in reservation.scopes],
            )
        return reservation

    def settle(self, reservation: Reservation, cost: int, row: LedgerRow | None) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM router_reservations WHERE id = ?", (reservation.id,))
            db.executemany(_ADD_SPENT, [(scope, key, cost) for scope, key in reservation.scopes])
            if row is not None:
                db.execute(_INSERT_ROW, ledger_values(row))

    def release(self, reservation: Reservation, row: LedgerRow | None) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM router_reservations WHERE id = ?", (reservation.id,))
            if row is not None:
                db.execute(_INSERT_ROW, ledger_values(row))

    def expire(self, before_ms: int) -> int:
        with self._transaction() as db:
            ids = db.execute("DELETE FROM router_reservations WHERE created_ms < ? RETURNING id", (before_ms,))
            return len({row[0] for row in ids.fetchall()})

    def status(self, keyed: list[tuple[Budget, str]]) -> list[BudgetStatus]:
        with self._transaction("DEFERRED") as db:
            return [budget_status(budget, key, *self._totals(db, budget.scope, key)) for budget, key in keyed]

    def book(self, row: LedgerRow) -> None:
        with self._transaction() as db:
            db.execute(_INSERT_ROW, ledger_values(row))

    def usage(self, where: str, values: list[object], limit: int) -> Usage:
        with self._transaction("DEFERRED") as db:
            calls, tokens_in, tokens_out, cost = db.execute(
                "SELECT COUNT(*), COALESCE(SUM(tokens_in), 0), COALESCE(SUM(tokens_out), 0), "
                f"COALESCE(SUM(cost_nano), 0) FROM router_ledger WHERE {where}",
                values,
            ).fetchone()
            records = db.execute(
                f"SELECT {LEDGER_COLUMNS} FROM router_ledger WHERE {where} ORDER BY time_ms DESC, id DESC LIMIT ?",
                [*values, limit],
            ).fetchall()
        return Usage([ledger_row(record) for record in records], calls, tokens_in, tokens_out, from_nano(cost))


class SQLiteAccounting:
    """Accounting on one SQLite file through one connection on its own thread. Calls on one
    instance take turns on that thread; instances (routers) sharing the file take turns on its lock."""

    def __init__(self, db: _Database, thread: ThreadPoolExecutor) -> None:
        self._db = db
        self._thread = thread
        self._inflight = Inflight()
        self._closed = False

    @classmethod
    async def open(cls, path: str | Path, busy_timeout_s: float = 30.0) -> "SQLiteAccounting":
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="router-accounting-sqlite")
        try:
            db = await asyncio.get_running_loop().run_in_executor(thread, _Database, path, busy_timeout_s)
        except BaseException:
            thread.shutdown(wait=False)
            raise
        return cls(db, thread)

    async def close(self) -> None:
        await self._inflight.drain()
        if self._closed:
            return
        self._closed = True
        try:
            await self._on_thread(self._db.close)
        finally:
            self._thread.shutdown(wait=False)

    async def _on_thread(self, work: Callable[..., T], *args: object) -> T:
        """Run work(*args) on the database's thread: one handoff there and back."""
        return await asyncio.get_running_loop().run_in_executor(self._thread, work, *args)

    async def reserve(
        self, budgets: Sequence[Budget], amount: float, request_id: str, now: datetime | None = None
    ) -> Reservation:
        check_amount(amount)
        keyed = budget_keys(budgets, now)
        scopes = tuple(dict.fromkeys((budget.scope, key) for budget, key in keyed))
        reservation = Reservation(uuid.uuid4().hex, amount, scopes)
        if not scopes:
            return reservation
        return await self._inflight.reserve(
            self._on_thread(self._db.reserve, keyed, reservation, request_id), self._release
        )

    async def settle(self, reservation: Reservation, actual_cost: float, row: LedgerRow | None = None) -> None:
        if row is not None:
            check_row(row)
        await self._inflight.run(self._on_thread(self._db.settle, reservation, to_nano(actual_cost), row))

    async def release(self, reservation: Reservation, row: LedgerRow | None = None) -> None:
        if row is not None:
            check_row(row)
        await self._inflight.run(self._release(reservation, row))

    async def _release(self, reservation: Reservation, row: LedgerRow | None = None) -> None:
        await self._on_thread(self._db.release, reservation, row)

    async def expire_reservations(self, older_than_s: float) -> int:
        return await self._inflight.run(self._on_thread(self._db.expire, int((time.time() - older_than_s) * 1000)))

    async def status(self, budgets: Sequence[Budget], now: datetime | None = None) -> list[BudgetStatus]:
        return await self._inflight.run(self._on_thread(self._db.status, budget_keys(budgets, now)))

    async def book(self, row: LedgerRow) -> None:
        check_row(row)
        await self._inflight.run(self._on_thread(self._db.book, row))

    async def usage(
        self, period: str = "", agent_name: str = "", task_id: str = "", provider: str = "", limit: int = 100
    ) -> Usage:
        filters = usage_filters(period, agent_name, task_id, provider)
        where = " AND ".join(condition.format("?") for condition, _ in filters) or "1 = 1"
        values = [value for _, value in filters]
        return await self._inflight.run(self._on_thread(self._db.usage, where, values, limit or DEFAULT_USAGE_ROWS))
