"""Budgets and ledger on PostgreSQL, for several routers sharing one budget.

A reserve locks the budget periods' spend rows (SELECT ... FOR UPDATE, always in
the same order, so routers never deadlock) before it sums what is held, so two
reserves on one budget never decide on the same stale total. A settle takes those
locks first too, before it drops its hold.

Holds are leased (router.accounting_lease) by the database's clock, not each router's: routers
on several machines share it, and their clocks may disagree. A sweep skips holds another
transaction has locked (a settle or renewal in flight), so it never waits on one, nor
deadlocks with one. A reserve renews every hold of its router once it has the budget's locks:
a router whose renewals wait behind its own reserves for a pooled connection keeps its holds
by those reserves. Holds are locked in id order wherever several are, so renewals never
deadlock with one another.
"""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import replace
from datetime import datetime
from typing import Sequence
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg

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

# The same tables as the SQLite backend; money columns are integer nano-USD.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS router_spend (
    scope TEXT NOT NULL,
    period_key TEXT NOT NULL,
    spent_nano BIGINT NOT NULL,
    overrun_nano BIGINT NOT NULL DEFAULT 0,
    overruns BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (scope, period_key)
);
CREATE TABLE IF NOT EXISTS router_reservations (
    id TEXT NOT NULL,
    scope TEXT NOT NULL,
    period_key TEXT NOT NULL,
    amount_nano BIGINT NOT NULL,
    request_id TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    PRIMARY KEY (id, scope, period_key)
);
CREATE INDEX IF NOT EXISTS router_reservations_by_budget ON router_reservations (scope, period_key);
CREATE TABLE IF NOT EXISTS router_holds (
    id TEXT PRIMARY KEY,
    amount_nano BIGINT NOT NULL,
    created_ms BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL,
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
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    request_id TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    time_ms BIGINT NOT NULL,
    agent_name TEXT NOT NULL,
    task_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    tokens_in BIGINT NOT NULL,
    tokens_out BIGINT NOT NULL,
    cost_nano BIGINT NOT NULL,
    latency_ms BIGINT NOT NULL,
    status TEXT NOT NULL,
    error_class TEXT NOT NULL,
    reserved_nano BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS router_ledger_by_time ON router_ledger (time_ms);
CREATE TABLE IF NOT EXISTS router_rate (
    provider TEXT NOT NULL,
    minute BIGINT NOT NULL,
    requests BIGINT NOT NULL,
    tokens BIGINT NOT NULL,
    PRIMARY KEY (provider, minute)
);
"""
# Columns added since the first schema, for databases made before them: (table, column, definition).
# Added only where missing: an ALTER TABLE locks its table even when it changes nothing.
_ADDED_COLUMNS = (
    ("router_spend", "overrun_nano", "BIGINT NOT NULL DEFAULT 0"),
    ("router_spend", "overruns", "BIGINT NOT NULL DEFAULT 0"),
    ("router_ledger", "reserved_nano", "BIGINT NOT NULL DEFAULT 0"),
    ("router_holds", "owner", "TEXT NOT NULL DEFAULT ''"),
)

_NOW_MS = "(extract(epoch FROM statement_timestamp()) * 1000)::BIGINT"  # the database's clock

# (spent, reserved by live leases, overrun, overruns) of one budget period.
_TOTALS = f"""
SELECT COALESCE(s.spent_nano, 0)::BIGINT, COALESCE((
           SELECT SUM(r.amount_nano) FROM router_reservations r JOIN router_holds h ON h.id = r.id
           WHERE r.scope = $1 AND r.period_key = $2 AND h.expires_ms >= {_NOW_MS}), 0)::BIGINT,
       COALESCE(s.overrun_nano, 0)::BIGINT, COALESCE(s.overruns, 0)::BIGINT
FROM (SELECT 1) AS one LEFT JOIN router_spend s ON s.scope = $1 AND s.period_key = $2
"""

# Count one call in its provider's window of this minute (router_rate), only if it stays under
# both limits ($4 rpm, $5 tpm; 0 is none): the check and the count are one statement, under the
# window row's lock. No row back: the window had no room, nothing was counted. `fresh`: the call
# is the first of its minute.
_COUNT_RATE = """
INSERT INTO router_rate AS w (provider, minute, requests, tokens) VALUES ($1, $2, 1, $3)
ON CONFLICT (provider, minute) DO UPDATE SET requests = w.requests + 1, tokens = w.tokens + excluded.tokens
WHERE ($4 = 0 OR w.requests + 1 <= $4) AND ($5 = 0 OR w.tokens + excluded.tokens <= $5)
RETURNING (xmax = 0) AS fresh
"""
_RATE_WINDOW = "SELECT requests, tokens FROM router_rate WHERE provider = $1 AND minute = $2"
_SETTLE_RATE = "UPDATE router_rate SET tokens = GREATEST(0, tokens + $1) WHERE provider = $2 AND minute = $3"

_ADD_SPENT = """
INSERT INTO router_spend (scope, period_key, spent_nano, overrun_nano, overruns) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (scope, period_key) DO UPDATE SET spent_nano = router_spend.spent_nano + excluded.spent_nano,
    overrun_nano = router_spend.overrun_nano + excluded.overrun_nano,
    overruns = router_spend.overruns + excluded.overruns
"""
_INSERT_ROW = (
    f"INSERT INTO router_ledger ({LEDGER_COLUMNS}) VALUES ({', '.join(f'${n}' for n in range(1, LEDGER_WIDTH + 1))})"
)
_INSERT_HOLD = f"""
INSERT INTO router_holds (id, amount_nano, created_ms, expires_ms, {HOLD_COLUMNS}, owner)
VALUES ($1, $2, {_NOW_MS}, {_NOW_MS} + $3, $4, $5, $6, $7, $8, $9, $10, $11)
RETURNING created_ms
"""
# Every live hold of one router but those it gave up on ($3), locked in id order, made to expire
# lease ($2) from now. One whose lease ran out stays lost: others may have taken its money since.
_RENEW_OWN = f"""
UPDATE router_holds SET expires_ms = {_NOW_MS} + $2 WHERE id IN (
    SELECT id FROM router_holds WHERE owner = $1 AND expires_ms >= {_NOW_MS} AND NOT (id = ANY($3::TEXT[]))
    ORDER BY id FOR UPDATE)
"""

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def split_schema(url: str) -> tuple[str, str]:
    """(DSN for asyncpg, schema) from a URL whose optional ?schema= names where the tables live."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    schema = next((value for name, value in query if name == "schema"), "public")
    if not _IDENTIFIER.fullmatch(schema):
        raise ValueError(f"accounting URL {url!r}: schema {schema!r} is not a plain SQL identifier")
    rest = urlencode([(name, value) for name, value in query if name != "schema"])
    return urlunsplit(parts._replace(query=rest)), schema


class PostgresAccounting:
    """Accounting on PostgreSQL through a connection pool whose search_path is one schema."""

    def __init__(self, pool: asyncpg.Pool, lease_s: float = DEFAULT_LEASE_S) -> None:
        self._pool = pool
        self._inflight = Inflight()
        self.leases = Leases(lease_s, self._renew, self.expire_reservations)
        self._owner = uuid.uuid4().hex  # this router's mark on its holds
        self._abandoned: set[str] = set()  # holds whose settle or release failed: never renewed
        self._renewed = 0.0  # when (time.monotonic) a committed renewal began, at the latest

    @classmethod
    async def open(cls, url: str, max_connections: int = 10, lease_s: float = DEFAULT_LEASE_S) -> "PostgresAccounting":
        dsn, schema = split_schema(url)
        pool = await asyncpg.create_pool(
            dsn, min_size=1, max_size=max_connections, server_settings={"search_path": schema}
        )
        try:
            async with pool.acquire() as conn, conn.transaction():
                # Routers starting together would race on CREATE ... IF NOT EXISTS; take turns.
                await conn.execute("SELECT pg_advisory_xact_lock(hashtext('agenthost.router.accounting'))")
                if not await conn.fetchval("SELECT 1 FROM pg_namespace WHERE nspname = $1", schema):
                    await conn.execute(f'CREATE SCHEMA "{schema}"')
                await conn.execute(_SCHEMA)
                await cls._upgrade(conn)
        except BaseException:
            await pool.close()
            raise
        accounting = cls(pool, lease_s)
        accounting.leases.start()
        return accounting

    @staticmethod
    async def _upgrade(conn: asyncpg.Connection) -> None:
        """Bring a database made by an earlier router up to this schema: add the columns it lacks,
        and release (booked as expired) reservations made before holds had leases, which nothing
        would ever release otherwise."""
        present = {
            (r["table_name"], r["column_name"])
            for r in await conn.fetch(
                "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema()"
            )
        }
        for table, column, definition in _ADDED_COLUMNS:
            if (table, column) not in present:
                await conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")
        if not await conn.fetchval(
            "SELECT 1 FROM pg_indexes WHERE schemaname = current_schema() AND indexname = 'router_holds_by_owner'"
        ):
            await conn.execute("CREATE INDEX router_holds_by_owner ON router_holds (owner)")
        unleased = await conn.fetch(
            f"SELECT id, MAX(amount_nano), MIN(created_ms), request_id, {_NOW_MS} FROM router_reservations r "
            "WHERE NOT EXISTS (SELECT 1 FROM router_holds h WHERE h.id = r.id) GROUP BY id, request_id"
        )
        for hold_id, amount, created_ms, request_id, now in unleased:
            await conn.execute("DELETE FROM router_reservations WHERE id = $1", hold_id)
            row = expired_row(hold_identity(request_id, None), amount, created_ms, now)
            await conn.execute(_INSERT_ROW, *ledger_values(row))

    async def close(self) -> None:
        await self.leases.stop()
        await self._inflight.drain()
        await self._pool.close()

    @staticmethod
    async def _totals(conn: asyncpg.Connection, scope: str, key: str) -> tuple[int, int, int, int]:
        """(spent, reserved, overrun, overruns) in nano-USD of one budget period; reserved counts
        the holds whose lease is live."""
        spent, reserved, overrun, overruns = await conn.fetchrow(_TOTALS, scope, key)
        return spent, reserved, overrun, overruns

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
        held = await self._inflight.reserve(self._reserve(keyed, reservation, identity, rate), self._release)
        if scopes:
            self.leases.live.add(held.id)
        return held

    @staticmethod
    async def _lock_spend(conn: asyncpg.Connection, scopes: Sequence[tuple[str, str]]) -> None:
        """Lock the budget periods' spend rows, made if missing, always in the same order."""
        for scope, key in sorted(scopes):
            await conn.execute(
                "INSERT INTO router_spend VALUES ($1, $2, 0) ON CONFLICT (scope, period_key) DO NOTHING", scope, key
            )
            await conn.execute("SELECT 1 FROM router_spend WHERE scope = $1 AND period_key = $2 FOR UPDATE", scope, key)

    @staticmethod
    async def _count_rate(conn: asyncpg.Connection, rate: RateLimit) -> tuple[str, int, int]:
        """Count one call in its provider's window of this minute (by the database's clock unless
        rate.now_s says otherwise), or raise RateLimited and count nothing; the window counted
        (provider, minute, tokens). The first call of a minute drops the provider's windows older
        than the one before it."""
        now_s = rate.now_s
        if now_s is None:
            now_s = await conn.fetchval("SELECT extract(epoch FROM statement_timestamp())::FLOAT8")
        minute, retry_after_s = rate_window(now_s)
        too_big = rate_refusal(rate, 0, 0, retry_after_s)  # more tokens than a whole window takes
        if too_big is not None:
            raise too_big
        fresh = await conn.fetchval(_COUNT_RATE, rate.provider, minute, rate.tokens, rate.rpm, rate.tpm)
        if fresh is None:
            counted = await conn.fetchrow(_RATE_WINDOW, rate.provider, minute)
            raise rate_refusal(rate, counted[0], counted[1], retry_after_s) or RateLimited(
                rate.provider, "rpm", rate.rpm, retry_after_s
            )
        if fresh:
            await conn.execute("DELETE FROM router_rate WHERE provider = $1 AND minute < $2", rate.provider, minute - 1)
        return rate.provider, minute, rate.tokens

    async def _reserve(
        self,
        keyed: list[tuple[Budget, str]],
        reservation: Reservation,
        identity: tuple[object, ...],
        rate: RateLimit | None = None,
    ) -> Reservation:
        amount = to_nano(reservation.amount)
        refused: BudgetExceeded | RateLimited | None = None
        async with self._pool.acquire() as conn:
            async with conn.transaction():
                await self._lock_spend(conn, reservation.scopes)
                renewed = await self._keep_alive(conn)
                try:
                    for budget, key in keyed:
                        spent, reserved, _, _ = await self._totals(conn, budget.scope, key)
                        check_fits(budget, key, spent, reserved, amount)
                    if rate is not None:
                        reservation = replace(reservation, window=await self._count_rate(conn, rate))
                except (BudgetExceeded, RateLimited) as exc:  # nothing held; the renewal above still commits
                    refused = exc
                else:
                    await self._hold(conn, reservation, amount, identity)
            self._renewed = max(self._renewed, renewed)  # committed
        if refused is not None:
            raise refused
        return reservation

    async def _hold(
        self, conn: asyncpg.Connection, reservation: Reservation, amount: int, identity: tuple[object, ...]
    ) -> None:
        """Hold `amount` (nano-USD) against each of the reservation's budget periods, leased."""
        if reservation.scopes:
            created_ms = await conn.fetchval(
                _INSERT_HOLD, reservation.id, amount, self.leases.lease_ms, *identity, self._owner
            )
            await conn.executemany(
                "INSERT INTO router_reservations VALUES ($1, $2, $3, $4, $5, $6)",
                [(reservation.id, s, k, amount, identity[0], created_ms) for s, k in reservation.scopes],
            )

    async def _keep_alive(self, conn: asyncpg.Connection) -> float:
        """Renew every live hold of this router (it is alive: it is reserving) unless that was
        done in the last sixth of the lease; when it was renewed (time.monotonic), or 0."""
        now = time.monotonic()
        if now - self._renewed < self.leases.lease_s / 6:
            return 0.0
        await conn.execute(_RENEW_OWN, self._owner, self.leases.lease_ms, sorted(self._abandoned))
        return now

    @staticmethod
    async def _drop(conn: asyncpg.Connection, hold_ids: list[str]) -> int:
        """Delete holds; how many were still there (not released or swept before)."""
        # The hold row first, as a sweep locks it first: a settle and a sweep of the same hold
        # then wait on one another at most, never in a cycle.
        dropped = await conn.fetch("DELETE FROM router_holds WHERE id = ANY($1::TEXT[]) RETURNING id", hold_ids)
        await conn.execute("DELETE FROM router_reservations WHERE id = ANY($1::TEXT[])", hold_ids)
        return len(dropped)

    async def settle(self, reservation: Reservation, actual_cost: float, row: LedgerRow | None = None) -> None:
        if row is not None:
            check_row(row)
        self.leases.live.discard(reservation.id)  # settled or not, this router lets go of it
        cost = to_nano(actual_cost)
        try:
            lost = await self._inflight.run(self._settle(reservation, cost, row))
        except Exception:
            self._abandoned.add(reservation.id)  # let its lease run out
            raise
        if lost:
            log_lost_hold(reservation, cost)

    async def _settle(self, reservation: Reservation, cost: int, row: LedgerRow | None) -> bool:
        async with self._pool.acquire() as conn, conn.transaction():
            # The spend rows first, in a reserve's order: then the hold. A reserve, which locks
            # spend rows before any hold, cannot be in a cycle with this.
            await self._lock_spend(conn, reservation.scopes)
            lost = bool(reservation.scopes) and not await self._drop(conn, [reservation.id])
            overrun = settled_overrun(reservation, cost, lost)
            for scope, key in sorted(reservation.scopes):
                await conn.execute(_ADD_SPENT, scope, key, cost, overrun, int(overrun > 0))
            if reservation.window is not None and (tokens := settled_tokens(reservation, row)):
                await conn.execute(_SETTLE_RATE, tokens, *reservation.window[:2])
            row = held_row(reservation, row, held=not lost)
            if row is not None:
                await conn.execute(_INSERT_ROW, *ledger_values(row))
        return lost

    async def release(self, reservation: Reservation, row: LedgerRow | None = None) -> None:
        if row is not None:
            check_row(row)
        await self._inflight.run(self._release(reservation, row))

    async def _release(self, reservation: Reservation, row: LedgerRow | None = None) -> None:
        self.leases.live.discard(reservation.id)
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                held = await self._drop(conn, [reservation.id])
                row = held_row(reservation, row, held=bool(held))
                if row is not None:
                    await conn.execute(_INSERT_ROW, *ledger_values(row))
        except Exception:
            self._abandoned.add(reservation.id)
            raise

    async def _renew(self) -> None:
        renewed = time.monotonic()
        await self._inflight.run(
            self._pool.execute(_RENEW_OWN, self._owner, self.leases.lease_ms, sorted(self._abandoned))
        )
        self._renewed = max(self._renewed, renewed)

    async def expire_reservations(self) -> int:
        return await self._inflight.run(self._sweep())

    async def _sweep(self) -> int:
        async with self._pool.acquire() as conn, conn.transaction():
            now = await conn.fetchval(f"SELECT {_NOW_MS}")
            expired = await conn.fetch(
                f"SELECT id, amount_nano, created_ms, {HOLD_COLUMNS} FROM router_holds WHERE expires_ms < $1 "
                "ORDER BY id FOR UPDATE SKIP LOCKED",
                now,
            )
            if expired:
                await self._drop(conn, [record[0] for record in expired])
                await conn.executemany(
                    _INSERT_ROW,
                    [ledger_values(expired_row(tuple(r)[3:], r[1], r[2], now)) for r in expired],
                )
        return len(expired)

    async def rate_check(self, rates: Sequence[RateLimit]) -> list[RateLimited | None]:
        checked: list[RateLimited | None] = []
        async with self._pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            db_now_s = await conn.fetchval("SELECT extract(epoch FROM statement_timestamp())::FLOAT8")
            for rate in rates:
                minute, retry_after_s = rate_window(db_now_s if rate.now_s is None else rate.now_s)
                counted = await conn.fetchrow(_RATE_WINDOW, rate.provider, minute)
                requests, tokens = (counted[0], counted[1]) if counted else (0, 0)
                checked.append(rate_refusal(rate, requests, tokens, retry_after_s))
        return checked

    async def status(self, budgets: Sequence[Budget], now: datetime | None = None) -> list[BudgetStatus]:
        keyed = budget_keys(budgets, now)
        async with self._pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            return [budget_status(budget, key, *await self._totals(conn, budget.scope, key)) for budget, key in keyed]

    async def book(self, row: LedgerRow) -> None:
        check_row(row)
        await self._inflight.run(self._pool.execute(_INSERT_ROW, *ledger_values(row)))

    async def usage(
        self, period: str = "", agent_name: str = "", task_id: str = "", provider: str = "", limit: int = 100
    ) -> Usage:
        filters = usage_filters(period, agent_name, task_id, provider)
        where = " AND ".join(condition.format(f"${n}") for n, (condition, _) in enumerate(filters, 1)) or "TRUE"
        values = [value for _, value in filters]
        async with self._pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            calls, tokens_in, tokens_out, cost = await conn.fetchrow(
                "SELECT COUNT(*), COALESCE(SUM(tokens_in), 0)::BIGINT, COALESCE(SUM(tokens_out), 0)::BIGINT, "
                f"COALESCE(SUM(cost_nano), 0)::BIGINT FROM router_ledger WHERE {where}",
                *values,
            )
            records = await conn.fetch(
                f"SELECT {LEDGER_COLUMNS} FROM router_ledger WHERE {where} "
                f"ORDER BY time_ms DESC, id DESC LIMIT ${len(values) + 1}",
                *values,
                limit or DEFAULT_USAGE_ROWS,
            )
        return Usage([ledger_row(record) for record in records], calls, tokens_in, tokens_out, from_nano(cost))
