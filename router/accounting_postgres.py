"""Budgets and ledger on PostgreSQL, for several routers sharing one budget.

A reserve locks the budget periods' spend rows (SELECT ... FOR UPDATE, always in
the same order, so routers never deadlock) before it sums what is held, so two
reserves on one budget never decide on the same stale total.
"""

from __future__ import annotations

import re
import time
import uuid
from datetime import datetime
from typing import Sequence
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg

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

# The same tables as the SQLite backend; money columns are integer nano-USD.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS router_spend (
    scope TEXT NOT NULL,
    period_key TEXT NOT NULL,
    spent_nano BIGINT NOT NULL,
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
    error_class TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS router_ledger_by_time ON router_ledger (time_ms);
"""

_TOTALS = """
SELECT (SELECT COALESCE(SUM(spent_nano), 0) FROM router_spend WHERE scope = $1 AND period_key = $2)::BIGINT,
       (SELECT COALESCE(SUM(amount_nano), 0) FROM router_reservations WHERE scope = $1 AND period_key = $2)::BIGINT
"""

_ADD_SPENT = """
INSERT INTO router_spend (scope, period_key, spent_nano) VALUES ($1, $2, $3)
ON CONFLICT (scope, period_key) DO UPDATE SET spent_nano = router_spend.spent_nano + excluded.spent_nano
"""
_INSERT_ROW = f"INSERT INTO router_ledger ({LEDGER_COLUMNS}) VALUES ({', '.join(f'${n}' for n in range(1, 15))})"

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

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._inflight = Inflight()

    @classmethod
    async def open(cls, url: str, max_connections: int = 10) -> "PostgresAccounting":
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
        except BaseException:
            await pool.close()
            raise
        return cls(pool)

    async def close(self) -> None:
        await self._inflight.drain()
        await self._pool.close()

    @staticmethod
    async def _totals(conn: asyncpg.Connection, scope: str, key: str) -> tuple[int, int]:
        """(spent, reserved) in nano-USD of one budget period."""
        record = await conn.fetchrow(_TOTALS, scope, key)
        return record[0], record[1]

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
        async with self._pool.acquire() as conn, conn.transaction():
            for scope, key in sorted(reservation.scopes):
                await conn.execute(
                    "INSERT INTO router_spend VALUES ($1, $2, 0) ON CONFLICT (scope, period_key) DO NOTHING", scope, key
                )
                await conn.execute(
                    "SELECT 1 FROM router_spend WHERE scope = $1 AND period_key = $2 FOR UPDATE", scope, key
                )
            for budget, key in keyed:
                spent, reserved = await self._totals(conn, budget.scope, key)
                check_fits(budget, key, spent, reserved, amount)
            await conn.executemany(
                "INSERT INTO router_reservations VALUES ($1, $2, $3, $4, $5, $6)",
                [(reservation.id, scope, key, amount, request_id, created_ms) for scope, key in reservation.scopes],
            )
        return reservation

    async def settle(self, reservation: Reservation, actual_cost: float, row: LedgerRow | None = None) -> None:
        if row is not None:
            check_row(row)
        await self._inflight.run(self._settle(reservation, to_nano(actual_cost), row))

    async def _settle(self, reservation: Reservation, cost: int, row: LedgerRow | None) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("DELETE FROM router_reservations WHERE id = $1", reservation.id)
            for scope, key in sorted(reservation.scopes):
                await conn.execute(_ADD_SPENT, scope, key, cost)
            if row is not None:
                await conn.execute(_INSERT_ROW, *ledger_values(row))

    async def release(self, reservation: Reservation, row: LedgerRow | None = None) -> None:
        if row is not None:
            check_row(row)
        await self._inflight.run(self._release(reservation, row))

    async def _release(self, reservation: Reservation, row: LedgerRow | None = None) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("DELETE FROM router_reservations WHERE id = $1", reservation.id)
            if row is not None:
                await conn.execute(_INSERT_ROW, *ledger_values(row))

    async def expire_reservations(self, older_than_s: float) -> int:
        before_ms = int((time.time() - older_than_s) * 1000)
        return await self._inflight.run(self._expire(before_ms))

    async def _expire(self, before_ms: int) -> int:
        records = await self._pool.fetch(
            "DELETE FROM router_reservations WHERE created_ms < $1 RETURNING id", before_ms
        )
        return len({record["id"] for record in records})

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
