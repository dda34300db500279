"""The PostgreSQL store: several hosts may share one database. Its operations are `SqlStore`'s;
this module runs them through an asyncpg pool whose search_path is one schema.

A URL's optional `?schema=NAME` says where the tables live (default `public`), as the router's
accounting URLs do, so that the store, the router and tests can each keep their own.
"""

from __future__ import annotations

import contextlib
import re
import time
from typing import Iterator, Sequence
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg

from plugin_sdk.limits import MAX_MEMORY_BYTES

from .base import DatabaseUnreachable, StoreUnavailable
from .migrations import CURRENT_VERSION_SQL, VERSION_TABLE, pending, version_table_sql
from .records import now_ms
from .rows import Row
from .sql_store import SqlStore
from .vectors import Stamp

CONNECT_TIMEOUT_S = 10.0
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SECRET_PARAMS = {"password", "passfile", "sslpassword"}
#: What a call raises when the server, not the statement, is the trouble.
_LOST = (OSError, TimeoutError, asyncpg.PostgresConnectionError, asyncpg.OperatorInterventionError)


def is_postgres_url(url: str) -> bool:
    """Whether `url` names a PostgreSQL database (postgresql:// or postgres://)."""
    return urlsplit(url).scheme in ("postgresql", "postgres")


def redact(url: str) -> str:
    """`url` without its password (in the authority or the query), for messages and logs."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        netloc = f"{userinfo.split(':', 1)[0]}@{host}"
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in _SECRET_PARAMS]
    return urlunsplit(parts._replace(netloc=netloc, query=urlencode(query)))


def split_schema(url: str) -> tuple[str, str]:
    """(DSN for asyncpg, schema) from a URL whose optional ?schema= names where the tables live."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    schema = next((value for name, value in query if name == "schema"), "public")
    if not _IDENTIFIER.fullmatch(schema):
        raise ValueError(f"database URL {redact(url)}: schema {schema!r} is not a plain SQL identifier")
    rest = urlencode([(name, value) for name, value in query if name != "schema"])
    return urlunsplit(parts._replace(query=rest)), schema


def numbered(sql: str) -> str:
    """`sql` with its `?` placeholders numbered as PostgreSQL wants them ($1, $2, ...)."""
    count = 0

    def number(_: re.Match[str]) -> str:
        nonlocal count
        count += 1
        return f"${count}"

    return re.sub(r"\?", number, sql)


class PostgresStore(SqlStore):
    """Store on a PostgreSQL database through a connection pool. Unique keys and counts hold
    under any number of hosts writing at once: every write is one statement or one transaction."""

    _sequence = "seq"
    _clock_margin_ms = 5_000  # other hosts write here, with their own clocks
    #: How long a vector stamp (a count over the agent's vectors: ~45 ms at 100k) is reused while
    #: this store wrote no vector: other hosts' writes reach this host's searches this late at most.
    STAMP_REUSE_S = 1.0

    def __init__(self, pool: asyncpg.Pool, where: str, max_content_bytes: int = MAX_MEMORY_BYTES) -> None:
        super().__init__(max_content_bytes)
        self._pool = pool
        self._where = where  # the URL without its password
        self._numbered: dict[str, str] = {}
        self._stamps: dict[tuple[str, str, int], tuple[float, int, Stamp]] = {}

    @classmethod
    async def open(
        cls, url: str, max_content_bytes: int = MAX_MEMORY_BYTES, max_connections: int = 10
    ) -> "PostgresStore":
        """Connect to the database at `url` and migrate its schema; DatabaseUnreachable (naming
        the URL without its password) when it cannot be reached or refuses us."""
        dsn, schema = split_schema(url)
        try:
            pool = await asyncpg.create_pool(
                dsn,
                min_size=1,
                max_size=max_connections,
                timeout=CONNECT_TIMEOUT_S,
                server_settings={"search_path": schema},
            )
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            reason = str(exc) or type(exc).__name__
            raise DatabaseUnreachable(f"cannot reach the database at {redact(url)}: {reason}") from None
        try:
            async with pool.acquire() as conn, conn.transaction():
                # Hosts starting together take turns; the second finds the work done.
                await conn.execute("SELECT pg_advisory_xact_lock(hashtext('agenthost.store.migrations'))")
                if not await conn.fetchval("SELECT 1 FROM pg_namespace WHERE nspname = $1", schema):
                    await conn.execute(f'CREATE SCHEMA "{schema}"')
                await conn.execute(version_table_sql("postgres"))
                current = await conn.fetchval(CURRENT_VERSION_SQL)
                for migration in pending(current, redact(url)):
                    for sql in migration.sql("postgres"):
                        await conn.execute(sql)
                    await conn.execute(
                        f"INSERT INTO {VERSION_TABLE} VALUES ($1, $2, $3)", migration.version, migration.name, now_ms()
                    )
        except BaseException:
            await pool.close()
            raise
        return cls(pool, redact(url), max_content_bytes)

    async def close(self) -> None:
        await self._pool.close()

    async def _vector_stamp(self, agent_id: str, model: str, dimension: int) -> Stamp:
        key = (agent_id, model, dimension)
        kept = self._stamps.get(key)
        now = time.monotonic()
        if kept is not None and kept[0] > now and kept[1] == self._vector_writes:
            return kept[2]
        writes = self._vector_writes
        stamp = await super()._vector_stamp(agent_id, model, dimension)
        self._stamps[key] = (now + self.STAMP_REUSE_S, writes, stamp)
        return stamp

    def _sql(self, sql: str) -> str:
        found = self._numbered.get(sql)
        if found is None:
            found = self._numbered[sql] = numbered(sql)
        return found

    @contextlib.contextmanager
    def _answering(self) -> Iterator[None]:
        """StoreUnavailable for a lost server; the pool replaces its connections when it is back."""
        try:
            yield
        except _LOST as exc:
            reason = str(exc) or type(exc).__name__
            raise StoreUnavailable(f"the database at {self._where} is unavailable: {reason}") from exc

    async def _execute(self, sql: str, values: Sequence[object] = ()) -> int:
        with self._answering():
            return _changed(await self._pool.execute(self._sql(sql), *values))

    async def _fetch(self, sql: str, values: Sequence[object] = ()) -> list[Row]:
        with self._answering():
            return list(await self._pool.fetch(self._sql(sql), *values))

    async def _transaction(self, statements: Sequence[tuple[str, Sequence[object]]]) -> list[int]:
        with self._answering():
            async with self._pool.acquire() as conn, conn.transaction():
                return [_changed(await conn.execute(self._sql(sql), *values)) for sql, values in statements]

    async def _batch(
        self, statements: Sequence[tuple[str, Sequence[object]]], query: tuple[str, Sequence[object]]
    ) -> list[Row] | None:
        with self._answering():
            async with self._pool.acquire() as conn:
                transaction = conn.transaction()
                await transaction.start()
                try:
                    for sql, values in statements:
                        if not _changed(await conn.execute(self._sql(sql), *values)):
                            await transaction.rollback()
                            return None
                    found = list(await conn.fetch(self._sql(query[0]), *query[1]))
                except BaseException:
                    await transaction.rollback()
                    raise
                await transaction.commit()
                return found


def _changed(status: str) -> int:
    """The row count of a command status ("INSERT 0 1", "UPDATE 3", "DELETE 0")."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0
