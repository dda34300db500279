"""The store's test databases: a fresh SQLite file, or a fresh PostgreSQL schema (dropped after)
when AGENTHOST_TEST_DATABASE_URL names a server. `.ci/run` sets it, so CI runs both.

Search tests (`search_database_fixture`) run on a third backend too, "pgvector": PostgreSQL
searching with the pgvector extension, in a fresh schema of a database made for the test session
(the extension is per database: the server's `test` database is left as it was, and concurrent
runs do not share one), skipped with the reason when the server cannot make it."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import sqlite3
import uuid
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable, Iterator
from urllib.parse import urlsplit

import asyncpg
import pytest

from host.store import PostgresStore, SQLiteStore
from host.store.sql_store import SqlStore

PG_URL = os.environ.get("AGENTHOST_TEST_DATABASE_URL", "")
BACKENDS = [
    "sqlite",
    pytest.param("postgres", marks=pytest.mark.skipif(not PG_URL, reason="AGENTHOST_TEST_DATABASE_URL is not set")),
]


SEARCH_BACKENDS = [
    *BACKENDS,
    pytest.param("pgvector", marks=pytest.mark.skipif(not PG_URL, reason="AGENTHOST_TEST_DATABASE_URL is not set")),
]


class Database:
    """One test's database, which any number of stores can open at once (as several hosts would)."""

    def __init__(self, backend: str, tmp_path: Path, server_url: str = PG_URL) -> None:
        self.backend = backend
        self.path = tmp_path / "data" / "agenthost.db"
        self.schema = "store_test_" + uuid.uuid4().hex[:12]
        self.server_url = server_url  # the PostgreSQL database, without the schema
        self.url = f"{server_url}?schema={self.schema}" if backend != "sqlite" else ""
        self.opened: list[SqlStore] = []

    async def open(self, **options: Any) -> SqlStore:
        """Another store on this database (pgvector: searching with it, unless `options` say otherwise)."""
        if self.backend == "pgvector":
            options.setdefault("vector_search", "pgvector")
        if self.backend != "sqlite":
            store: SqlStore = await PostgresStore.open(self.url, **options)
        else:
            store = await SQLiteStore.open(self.path, **options)
        self.opened.append(store)
        return store

    async def run(self, *statements: str) -> list[list[Any]]:
        """Run SQL straight on the database (no store): the rows of each statement, as tuples."""
        results = []
        if self.backend != "sqlite":
            conn = await asyncpg.connect(self.server_url, server_settings={"search_path": self.schema})
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
        if self.backend != "sqlite":
            conn = await asyncpg.connect(self.server_url)
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


def _off_the_loop(make: Callable[[], Awaitable[None]]) -> None:
    """Run a coroutine to the end on a thread of its own (a test's event loop may be running here)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, make()).result()  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def pgvector_url() -> Iterator[str]:
    """A database of its own on the test server with the pgvector extension, dropped after the session."""
    name = "agenthost_pgvector_" + uuid.uuid4().hex[:10]
    url = urlsplit(PG_URL)._replace(path=f"/{name}").geturl()

    async def run(server: str, sql: str) -> None:
        conn = await asyncpg.connect(server)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    try:
        _off_the_loop(lambda: run(PG_URL, f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.skip(f"pgvector: cannot make a database for it on the test server: {exc}")
    try:
        try:
            _off_the_loop(lambda: run(url, "CREATE EXTENSION vector"))
        except (OSError, asyncpg.PostgresError) as exc:
            pytest.skip(f"pgvector: the test server cannot create the extension: {exc}")
        yield url
    finally:
        _off_the_loop(lambda: run(PG_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=SEARCH_BACKENDS, name="database")
async def search_database_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """`database_fixture`, and PostgreSQL searching with pgvector."""
    server = request.getfixturevalue("pgvector_url") if request.param == "pgvector" else PG_URL
    db = Database(request.param, tmp_path, server)
    yield db
    await db.drop()
