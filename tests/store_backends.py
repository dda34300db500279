"""The store's test databases: a fresh SQLite file, or a fresh PostgreSQL schema (dropped after)
when AGENTHOST_TEST_DATABASE_URL names a server. `.ci/run` sets it, so CI runs both."""

from __future__ import annotations

import os
import sqlite3
import uuid
from pathlib import Path
from typing import Any, AsyncIterator

import asyncpg
import pytest

from host.store import PostgresStore, SQLiteStore
from host.store.sql_store import SqlStore

PG_URL = os.environ.get("AGENTHOST_TEST_DATABASE_URL", "")
BACKENDS = [
    "sqlite",
    pytest.param("postgres", marks=pytest.mark.skipif(not PG_URL, reason="AGENTHOST_TEST_DATABASE_URL is not set")),
]


class Database:
    """One test's database, which any number of stores can open at once (as several hosts would)."""

    def __init__(self, backend: str, tmp_path: Path) -> None:
        self.backend = backend
        self.path = tmp_path / "data" / "agenthost.db"
        self.schema = "store_test_" + uuid.uuid4().hex[:12]
        self.url = f"{PG_URL}?schema={self.schema}" if backend == "postgres" else ""
        self.opened: list[SqlStore] = []

    async def open(self, **options: Any) -> SqlStore:
        """Another store on this database."""
        if self.backend == "postgres":
            store: SqlStore = await PostgresStore.open(self.url, **options)
        else:
            store = await SQLiteStore.open(self.path, **options)
        self.opened.append(store)
        return store

    async def run(self, *statements: str) -> list[list[Any]]:
        """Run SQL straight on the database (no store): the rows of each statement, as tuples."""
        results = []
        if self.backend == "postgres":
            conn = await asyncpg.connect(PG_URL, server_settings={"search_path": self.schema})
            try:
                await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
                for sql in statements:
                    results.append([tuple(r) for r in await conn.fetch(sql)])
            finally:
                await conn.close()
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with sqlite3.connect(self.path, isolation_level=None) as db:
                for sql in statements:
                    results.append([tuple(r) for r in db.execute(sql).fetchall()])
            db.close()
        return results

    async def drop(self) -> None:
        for store in self.opened:
            await store.close()
        if self.backend == "postgres":
            conn = await asyncpg.connect(PG_URL)
            try:
                await conn.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')
            finally:
                await conn.close()


@pytest.fixture(params=BACKENDS, name="database")
async def database_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    db = Database(request.param, tmp_path)
    yield db
    await db.drop()


@pytest.fixture(name="store")
async def store_fixture(database: Database) -> SqlStore:
    return await database.open()
