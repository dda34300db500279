"""Budgets and ledger on one SQLite file, the default backend.

Every change is one BEGIN IMMEDIATE transaction, which takes the file's write
lock up front: routers sharing the file (WAL, busy timeout) take turns, so a
budget check and the hold it decides on can never interleave with another's.

The connection lives on a thread of its own, and each operation runs there as one
synchronous function, its whole transaction included: one handoff to that thread
and back per operation, not one per statement (each handoff costs a thread switch
and an event-loop wakeup, which was most of what the accounting added to a call).
The thread, its handoff and the connection are the host store's (plugin_sdk.sqlite_thread):
each write transaction is begun in turn with the file's other connections, so a router with
transactions queued on its thread lets another router's waiting one go first instead of taking
the lock again at once, until the other's busy timeout ran out.

Holds are leased (router.accounting_lease): expiry times are this machine's clock, which every
router sharing the file reads too (SQLite files are shared on one machine, not over a network),
read once the transaction holds the lock. Every write transaction of a router renews all its
own holds first, so a router whose operations are queued behind the lock (its lease beat
waiting behind them on its one thread) still keeps what it holds; and the busy timeout is
shorter than the lease, so an operation gives up on the lock before its holds could run out
while it waits.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterator, Sequence, TypeVar

from plugin_sdk.sqlite_thread import DatabaseThread, WalConnection
from router.accounting_base import (
    DEFAULT_USAGE_ROWS,
    LEDGER_COLUMNS,
    LEDGER_WIDTH,
    Budget,
    BudgetExceeded,
    BudgetStatus,
    Inflight,
    LedgerRow,
    RateLimit,
    RateLimited,
    Reservation,
    Usage,
    budget_keys,
    budget_status,
    busy_timeout_for,
    check_amount,
    check_fits,
    check_row,
    from_nano,
    held_row,
    ledger_row,
    ledger_values,
    log_lost_hold,
    rate_refusal,
    rate_window,
    settled_overrun,
    settled_tokens,
    to_nano,
    usage_filters,
)
from router.accounting_lease import DEFAULT_LEASE_S, HOLD_COLUMNS, Leases, expired_row, hold_identity

T = TypeVar("T")

# Money columns are integer nano-USD (see accounting.to_nano). A reservation holds one row
# per (scope, period_key) and one router_holds row (its lease, and the attempt to book if the
# lease runs out); a budget's reserved amount is the sum of its rows whose lease is live.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS router_spend (
    scope TEXT NOT NULL,
    period_key TEXT NOT NULL,
    spent_nano INTEGER NOT NULL,
    overrun_nano INTEGER NOT NULL DEFAULT 0,
    overruns INTEGER NOT NULL DEFAULT 0,
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
CREATE TABLE IF NOT EXISTS router_holds (
    id TEXT PRIMARY KEY,
    amount_nano INTEGER NOT NULL,
    created_ms INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL,
    request_id TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    agent_name TEXT NOT NULL,
    task_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    owner TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS router_holds_by_expiry ON router_holds (expires_ms);
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
    error_class TEXT NOT NULL,
    reserved_nano INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS router_ledger_by_time ON router_ledger (time_ms);
CREATE TABLE IF NOT EXISTS router_rate (
    provider TEXT NOT NULL,
    minute INTEGER NOT NULL,
    requests INTEGER NOT NULL,
    tokens INTEGER NOT NULL,
    PRIMARY KEY (provider, minute)
);
"""
# Columns added since the first schema, for files made before them: (table, column, definition).
_ADDED_COLUMNS = (
    ("router_spend", "overrun_nano", "INTEGER NOT NULL DEFAULT 0"),
    ("router_spend", "overruns", "INTEGER NOT NULL DEFAULT 0"),
    ("router_ledger", "reserved_nano", "INTEGER NOT NULL DEFAULT 0"),
    ("router_holds", "owner", "TEXT NOT NULL DEFAULT ''"),
)

# (spent, reserved by live leases, overrun, overruns) of one budget period.
_TOTALS = """
SELECT COALESCE(s.spent_nano, 0), COALESCE((
           SELECT SUM(r.amount_nano) FROM router_reservations r JOIN router_holds h ON h.id = r.id
           WHERE r.scope = :scope AND r.period_key = :key AND h.expires_ms >= :now), 0),
       COALESCE(s.overrun_nano, 0), COALESCE(s.overruns, 0)
FROM (SELECT 1) LEFT JOIN router_spend s ON s.scope = :scope AND s.period_key = :key
"""

_ADD_SPENT = """
INSERT INTO router_spend (scope, period_key, spent_nano, overrun_nano, overruns) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (scope, period_key) DO UPDATE SET spent_nano = router_spend.spent_nano + excluded.spent_nano,
    overrun_nano = router_spend.overrun_nano + excluded.overrun_nano,
    overruns = router_spend.overruns + excluded.overruns
"""
# One provider's rate window (router_rate: requests and tokens counted per provider per epoch
# minute), counted once the reserve's transaction holds the write lock and found room in it.
_RATE_WINDOW = "SELECT requests, tokens FROM router_rate WHERE provider = ? AND minute = ?"
_COUNT_RATE = """
INSERT INTO router_rate (provider, minute, requests, tokens) VALUES (?, ?, 1, ?)
ON CONFLICT (provider, minute) DO UPDATE SET requests = requests + 1, tokens = tokens + excluded.tokens
"""
_SETTLE_RATE = "UPDATE router_rate SET tokens = MAX(0, tokens + ?) WHERE provider = ? AND minute = ?"
_INSERT_ROW = f"INSERT INTO router_ledger ({LEDGER_COLUMNS}) VALUES ({', '.join('?' * LEDGER_WIDTH)})"
_INSERT_HOLD = f"""
INSERT INTO router_holds (id, amount_nano, created_ms, expires_ms, {HOLD_COLUMNS}, owner) VALUES ({", ".join("?" * 12)})
"""
# A hold whose lease ran out stays lost (others may have taken its money since): only live ones.
_RENEW_OWN = "UPDATE router_holds SET expires_ms = :expires WHERE owner = :owner AND expires_ms >= :now"
_RENEW_OWN_BUT = _RENEW_OWN + " AND id NOT IN (SELECT value FROM json_each(:abandoned))"
_EXPIRED = f"SELECT id, amount_nano, created_ms, {HOLD_COLUMNS} FROM router_holds WHERE expires_ms < ?"


def _now_ms() -> int:
    return int(time.time() * 1000)


class _Database:
    """The sqlite3 connection and the transactions run on its thread. Built on that thread, and
    sqlite3 refuses its use from any other (check_same_thread), so none of it can run on, and
    block, the event loop. Each method is one whole transaction: committed if it returns,
    rolled back if it raises."""

    def __init__(self, path: Path, busy_timeout_s: float, lease_ms: int) -> None:
        self.owner = uuid.uuid4().hex  # this router's mark on its holds
        self.lease_ms = lease_ms
        self._abandoned: set[str] = set()  # holds whose settle or release failed: never renewed
        self._renewed_ms = 0  # when a committed transaction last renewed this router's holds
        self._renewing = 0  # when the transaction under way renewed them (0: it did not)
        self._connection = WalConnection(path, busy_timeout_s)
        self._db = self._connection.db
        try:
            with self._transaction() as db:
                for statement in filter(str.strip, _SCHEMA.split(";")):  # each one idempotent
                    db.execute(statement)
                self._upgrade(db)
        except BaseException:
            self._connection.close()
            raise

    def close(self) -> None:
        self._connection.close()

    @contextmanager
    def _transaction(self, mode: str = "IMMEDIATE") -> Iterator[sqlite3.Connection]:
        """One transaction, begun in turn when it writes (WalConnection.transaction)."""
        self._renewing = 0
        with self._connection.transaction(mode) as db:
            yield db
        self._renewed_ms = max(self._renewed_ms, self._renewing)  # committed

    @staticmethod
    def _upgrade(db: sqlite3.Connection) -> None:
        """Bring a file made by an earlier router up to this schema: add the columns it lacks, and
        release (booked as expired) reservations made before holds had leases, which nothing
        would ever release otherwise."""
        for table, column, definition in _ADDED_COLUMNS:
            if column not in {info[1] for info in db.execute(f"PRAGMA table_info({table})")}:
                db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")
        db.execute("CREATE INDEX IF NOT EXISTS router_holds_by_owner ON router_holds (owner)")
        unleased = db.execute(
            "SELECT id, MAX(amount_nano), MIN(created_ms), request_id FROM router_reservations "
            "WHERE id NOT IN (SELECT id FROM router_holds) GROUP BY id, request_id"
        ).fetchall()
        now = _now_ms()
        for hold_id, amount, created_ms, request_id in unleased:
            db.execute("DELETE FROM router_reservations WHERE id = ?", (hold_id,))
            row = expired_row(hold_identity(request_id, None), amount, created_ms, now)
            db.execute(_INSERT_ROW, ledger_values(row))

    @staticmethod
    def _totals(db: sqlite3.Connection, scope: str, key: str, now: int) -> tuple[int, int, int, int]:
        """(spent, reserved, overrun, overruns) in nano-USD of one budget period; reserved counts
        the holds whose lease is live at `now`."""
        spent, reserved, overrun, overruns = db.execute(_TOTALS, {"scope": scope, "key": key, "now": now}).fetchone()
        return int(spent), int(reserved), int(overrun), int(overruns)

    def _keep_alive(self, db: sqlite3.Connection, always: bool = False) -> int:
        """Renew every live hold of this router (it is alive: it is writing), unless a committed
        transaction did in the last sixth of the lease; the time, read under the lock, in ms."""
        now = _now_ms()
        if not always and now - self._renewed_ms < self.lease_ms // 6:
            return now
        self._renewing = now  # counts once committed
        renewal = {"expires": now + self.lease_ms, "owner": self.owner, "now": now}
        if self._abandoned:
            db.execute(_RENEW_OWN_BUT, {**renewal, "abandoned": json.dumps(sorted(self._abandoned))})
        else:
            db.execute(_RENEW_OWN, renewal)
        return now

    @staticmethod
    def _count_rate(db: sqlite3.Connection, rate: RateLimit, now_ms: int) -> tuple[str, int, int]:
        """Count one call in its provider's window of this minute, or raise RateLimited and count
        nothing; the window counted (provider, minute, tokens). The first call of a minute drops
        the provider's windows older than the one before it."""
        minute, retry_after_s = rate_window(now_ms / 1000 if rate.now_s is None else rate.now_s)
        counted = db.execute(_RATE_WINDOW, (rate.provider, minute)).fetchone()
        if counted is None:
            db.execute("DELETE FROM router_rate WHERE provider = ? AND minute < ?", (rate.provider, minute - 1))
        requests, tokens = counted or (0, 0)
        refusal = rate_refusal(rate, requests, tokens, retry_after_s)
        if refusal is not None:
            raise refusal
        db.execute(_COUNT_RATE, (rate.provider, minute, rate.tokens))
        return rate.provider, minute, rate.tokens

    def reserve(
        self,
        keyed: list[tuple[Budget, str]],
        reservation: Reservation,
        identity: tuple[object, ...],
        rate: RateLimit | None = None,
    ) -> Reservation:
        amount = to_nano(reservation.amount)
        refused: BudgetExceeded | RateLimited | None = None
        with self._transaction() as db:
            now = self._keep_alive(db)
            try:
                for budget, key in keyed:
                    spent, reserved, _, _ = self._totals(db, budget.scope, key, now)
                    check_fits(budget, key, spent, reserved, amount)
                if rate is not None:
                    reservation = replace(reservation, window=self._count_rate(db, rate, now))
            except (BudgetExceeded, RateLimited) as exc:  # nothing held; the renewal above still commits
                refused = exc
            else:
                self._hold(db, reservation, amount, identity, now)
        if refused is not None:
            raise refused
        return reservation

    def _hold(
        self, db: sqlite3.Connection, reservation: Reservation, amount: int, identity: tuple[object, ...], now: int
    ) -> None:
        """Hold `amount` (nano-USD) against each of the reservation's budget periods, leased."""
        if reservation.scopes:
            db.execute(_INSERT_HOLD, (reservation.id, amount, now, now + self.lease_ms, *identity, self.owner))
            db.executemany(
                "INSERT INTO router_reservations VALUES (?, ?, ?, ?, ?, ?)",
                [(reservation.id, scope, key, amount, identity[0], now) for scope, key in reservation.scopes],
            )

    @staticmethod
    def _drop(db: sqlite3.Connection, hold_id: str) -> bool:
        """Delete a hold; False when it was gone already (released, or swept: its lease ran out)."""
        held = db.execute("DELETE FROM router_holds WHERE id = ?", (hold_id,)).rowcount > 0
        db.execute("DELETE FROM router_reservations WHERE id = ?", (hold_id,))
        return held

    def settle(self, reservation: Reservation, cost: int, row: LedgerRow | None) -> bool:
        """Book the cost and drop the hold; True when the hold was lost before (see settled_cost)."""
        try:
            with self._transaction() as db:
                self._keep_alive(db)
                lost = not self._drop(db, reservation.id) and bool(reservation.scopes)
                overrun = settled_overrun(reservation, cost, lost)
                db.executemany(
                    _ADD_SPENT, [(scope, key, cost, overrun, int(overrun > 0)) for scope, key in reservation.scopes]
                )
                if reservation.window is not None and (tokens := settled_tokens(reservation, row)):
                    db.execute(_SETTLE_RATE, (tokens, *reservation.window[:2]))
                booked = held_row(reservation, row, held=not lost)
                if booked is not None:
                    db.execute(_INSERT_ROW, ledger_values(booked))
        except BaseException:
            self._abandoned.add(reservation.id)  # let its lease run out
            raise
        return lost

    def release(self, reservation: Reservation, row: LedgerRow | None) -> None:
        try:
            with self._transaction() as db:
                self._keep_alive(db)
                held = self._drop(db, reservation.id)
                booked = held_row(reservation, row, held=held)
                if booked is not None:
                    db.execute(_INSERT_ROW, ledger_values(booked))
        except BaseException:
            self._abandoned.add(reservation.id)
            raise

    def renew(self) -> None:
        with self._transaction() as db:
            self._keep_alive(db, always=True)

    def sweep(self) -> int:
        """Release the holds whose lease ran out, booking each as expired; how many there were."""
        # A read first, outside any write transaction: most beats find nothing and need no lock.
        if self._db.execute(_EXPIRED + " LIMIT 1", (_now_ms(),)).fetchone() is None:
            return 0
        with self._transaction() as db:
            now = self._keep_alive(db)
            expired = db.execute(_EXPIRED, (now,)).fetchall()
            for hold_id, amount, created_ms, *identity in expired:
                self._drop(db, hold_id)
                db.execute(_INSERT_ROW, ledger_values(expired_row(identity, amount, created_ms, now)))
        return len(expired)

    def rate_check(self, rates: Sequence[RateLimit]) -> list[RateLimited | None]:
        now_s = _now_ms() / 1000
        with self._transaction("DEFERRED") as db:
            checked: list[RateLimited | None] = []
            for rate in rates:
                minute, retry_after_s = rate_window(now_s if rate.now_s is None else rate.now_s)
                requests, tokens = db.execute(_RATE_WINDOW, (rate.provider, minute)).fetchone() or (0, 0)
                checked.append(rate_refusal(rate, requests, tokens, retry_after_s))
            return checked

    def status(self, keyed: list[tuple[Budget, str]]) -> list[BudgetStatus]:
        now = _now_ms()
        with self._transaction("DEFERRED") as db:
            return [budget_status(budget, key, *self._totals(db, budget.scope, key, now)) for budget, key in keyed]

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

    def __init__(self, db: _Database, thread: DatabaseThread, lease_s: float = DEFAULT_LEASE_S) -> None:
        self._db = db
        self._thread = thread
        self._inflight = Inflight()
        self._closed = False
        self.leases = Leases(lease_s, self._renew, self.expire_reservations)

    @classmethod
    async def open(
        cls, path: str | Path, busy_timeout_s: float | None = None, lease_s: float = DEFAULT_LEASE_S
    ) -> "SQLiteAccounting":
        """Open (or make) the file. `busy_timeout_s`, how long an operation waits for another
        router's lock, must be shorter than the lease; by default two thirds of it, at most 30 s."""
        path = Path(path)
        busy = busy_timeout_for(lease_s, busy_timeout_s)
        path.parent.mkdir(parents=True, exist_ok=True)
        thread = DatabaseThread("router-accounting-sqlite")
        try:
            db = await thread.call(_Database, path, busy, Leases.lease_ms_of(lease_s))
        except BaseException:
            thread.stop()
            raise
        accounting = cls(db, thread, lease_s)
        accounting.leases.start()
        return accounting

    async def close(self) -> None:
        await self.leases.stop()
        await self._inflight.drain()
        if self._closed:
            return
        self._closed = True
        try:
            await self._on_thread(self._db.close)
        finally:
            self._thread.stop()

    async def _on_thread(self, work: Callable[..., T], *args: object) -> T:
        """Run work(*args) on the database's thread: one handoff there and back."""
        return await self._thread.call(work, *args)

    async def reserve(
        self,
        budgets: Sequence[Budget],
        amount: float,
        request_id: str,
        now: datetime | None = None,
        attempt: LedgerRow | None = None,
        rate: RateLimit | None = None,
    ) -> Reservation:
        check_amount(amount)
        keyed = budget_keys(budgets, now)
        scopes = tuple(dict.fromkeys((budget.scope, key) for budget, key in keyed))
        reservation = Reservation(uuid.uuid4().hex, amount, scopes)
        if not scopes and rate is None:
            return reservation
        identity = hold_identity(request_id, attempt)
        held = await self._inflight.reserve(
            self._on_thread(self._db.reserve, keyed, reservation, identity, rate), self._release
        )
        if scopes:
            self.leases.live.add(held.id)
        return held

    async def settle(self, reservation: Reservation, actual_cost: float, row: LedgerRow | None = None) -> None:
        if row is not None:
            check_row(row)
        self.leases.live.discard(reservation.id)  # settled or not, this router lets go of it
        cost = to_nano(actual_cost)
        if await self._inflight.run(self._on_thread(self._db.settle, reservation, cost, row)):
            log_lost_hold(reservation, cost)

    async def release(self, reservation: Reservation, row: LedgerRow | None = None) -> None:
        if row is not None:
            check_row(row)
        await self._inflight.run(self._release(reservation, row))

    async def _release(self, reservation: Reservation, row: LedgerRow | None = None) -> None:
        self.leases.live.discard(reservation.id)
        await self._on_thread(self._db.release, reservation, row)

    async def _renew(self) -> None:
        await self._inflight.run(self._on_thread(self._db.renew))

    async def expire_reservations(self) -> int:
        return await self._inflight.run(self._on_thread(self._db.sweep))

    async def rate_check(self, rates: Sequence[RateLimit]) -> list[RateLimited | None]:
        return await self._inflight.run(self._on_thread(self._db.rate_check, rates))

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
