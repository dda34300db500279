"""The PostgreSQL store: several hosts may share one database. Its operations are `SqlStore`'s;
this module runs them through an asyncpg pool whose search_path is one schema.

A URL's optional `?schema=NAME` says where the tables live (default `public`), as the router's
accounting URLs do, so that the store, the router and tests can each keep their own.

Similarity search (`[database] vector_search`): "memory" (and "auto", the default) scores
in-memory matrices (`vectors.py`); "pgvector" has the database do it, exactly, with the pgvector
extension: a `vector` column (no fixed dimension: rows carry their model and dimension) beside
each stored vector, added and backfilled at open, and `ORDER BY embedding <=> query` under the
same filters. Why memory by default: at 100k x 384 on one host pgvector's exact scan took 4-6x
the matrix's time (BENCHMARKS.md, memory search); what pgvector buys is no per-host matrix (its
memory and its first read) and other hosts' writes seen by the next search at once.
Once the column exists, every store on the database fills it, whichever search it uses.
"""

from __future__ import annotations

import contextlib
import re
import struct
import time
from typing import Iterator, Sequence
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg
import numpy as np
import numpy.typing as npt

from plugin_sdk.limits import MAX_MEMORY_BYTES

from . import rows
from .base import DatabaseUnreachable, StoreOpenError, StoreUnavailable
from .migrations import CURRENT_VERSION_SQL, VERSION_TABLE, pending, version_table_sql
from .records import ScoredMemory, now_ms
from .rows import Row
from .sql_store import SqlStore
from .vectors import Stamp

CONNECT_TIMEOUT_S = 10.0
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SECRET_PARAMS = {"password", "passfile", "sslpassword"}
#: What a call raises when the server, not the statement, is the trouble.
_LOST = (OSError, TimeoutError, asyncpg.PostgresConnectionError, asyncpg.OperatorInterventionError)
#: `[database] vector_search` values.
VECTOR_SEARCH = ("auto", "pgvector", "memory")
#: The pgvector extension's name.
PGVECTOR = "vector"
#: Stored vectors copied into the pgvector column per statement when it is backfilled at open.
BACKFILL_BATCH = 1000


class VectorSearchUnavailable(StoreOpenError):
    """vector_search = "pgvector", and the database has no pgvector extension nor lets us create it."""


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

    def __init__(
        self,
        pool: asyncpg.Pool,
        where: str,
        max_content_bytes: int = MAX_MEMORY_BYTES,
        vector_type: str | None = None,
        search_in_database: bool = False,
    ) -> None:
        super().__init__(max_content_bytes)
        self._pool = pool
        self._where = where  # the URL without its password
        self._numbered: dict[str, str] = {}
        self._stamps: dict[tuple[str, str, int], tuple[float, int, Stamp]] = {}
        #: pgvector's type, schema-qualified, when the embeddings table has its column (filled on
        #: every write); None when it has not.
        self.vector_type = vector_type
        #: Whether searches run in the database (pgvector) rather than on the in-memory matrices.
        self.search_in_database = search_in_database and vector_type is not None

    @classmethod
    async def open(
        cls,
        url: str,
        max_content_bytes: int = MAX_MEMORY_BYTES,
        max_connections: int = 10,
        vector_search: str = "auto",
    ) -> "PostgresStore":
        """Connect to the database at `url` and migrate its schema; DatabaseUnreachable (naming
        the URL without its password) when it cannot be reached or refuses us, and
        VectorSearchUnavailable when `vector_search` is "pgvector" and the extension cannot be had."""
        if vector_search not in VECTOR_SEARCH:
            raise ValueError(f"vector_search must be one of {', '.join(VECTOR_SEARCH)}; got {vector_search!r}")
        dsn, schema = split_schema(url)
        pool: asyncpg.Pool | None = None
        try:
            pool = await asyncpg.create_pool(
                dsn,
                # No floor of open connections: asyncpg keeps one by reconnecting in the background,
                # logging a traceback per try while the database is down. A connection is opened
                # when a query needs one and kept while in use (max_inactive_connection_lifetime).
                min_size=0,
                max_size=max_connections,
                timeout=CONNECT_TIMEOUT_S,
                server_settings={"search_path": schema},
            )
            await pool.release(await pool.acquire())  # connects now: an unreachable database is found here
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            if pool is not None:
                pool.terminate()
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
                vector_type = await _vector_column(conn, schema, vector_search == "pgvector", redact(url))
            store = cls(pool, redact(url), max_content_bytes, vector_type, vector_search == "pgvector")
            if store.search_in_database:
                await store._backfill()
        except BaseException:
            await pool.close()
            raise
        return store

    async def close(self) -> None:
        await self._pool.close()

    def _embedding_columns(self, vector: Sequence[float]) -> tuple[tuple[str, str, object], ...]:
        if self.vector_type is None:
            return ()
        return (("embedding", f"CAST(CAST(? AS real[]) AS {self.vector_type})", searchable(vector)),)

    async def _backfill(self) -> None:
        """Copy the stored vectors that have none into the pgvector column, a batch at a time (any
        number of hosts may do it at once: they write the same values). Vectors that can never be
        found (zero, not finite) stay without one."""
        after = ("", "")
        select = (
            "SELECT memory_id, model, vector FROM embeddings WHERE embedding IS NULL "
            "AND (memory_id, model) > ($1, $2) ORDER BY memory_id, model LIMIT $3"
        )
        # One statement a batch, the vectors in pgvector's binary form (an UPDATE a row: 1,400 rows/s;
        # its text form: 0.2-0.7 ms a vector to format; slices of one float4 array: each slice copies it).
        update = (
            "UPDATE embeddings e SET embedding = v.embedding "
            f"FROM unnest($1::text[], $2::text[], $3::{self.vector_type}[]) AS v (memory_id, model, embedding) "
            "WHERE e.memory_id = v.memory_id AND e.model = v.model AND e.embedding IS NULL"
        )
        schema = self.vector_type.rsplit(".", 1)[0].strip('"').replace('""', '"') if self.vector_type else ""
        with self._answering():
            async with self._pool.acquire() as conn:
                await conn.set_type_codec("vector", schema=schema, encoder=bytes, decoder=bytes, format="binary")
                try:
                    while True:
                        found = await conn.fetch(select, *after, BACKFILL_BATCH)
                        if not found:
                            return
                        kept = [(r, np.frombuffer(r["vector"], "<f4")) for r in found]
                        kept = [(r, v) for r, v in kept if searchable(v) is not None]
                        # vector_recv's form: dimension and a reserved 0 (int16 each), then big-endian float4s.
                        vectors = [struct.pack(">HH", len(v), 0) + v.astype(">f4").tobytes() for _, v in kept]
                        ids, models = [r["memory_id"] for r, _ in kept], [r["model"] for r, _ in kept]
                        await conn.execute(update, ids, models, vectors)
                        after = (found[-1]["memory_id"], found[-1]["model"])
                finally:
                    await conn.reset_type_codec("vector", schema=schema)

    async def _search_in_database(
        self,
        agent_id: str,
        vector: Sequence[float],
        model: str,
        filters: dict[str, str],
        threshold: float,
        limit: int,
    ) -> list[ScoredMemory] | None:
        if not self.search_in_database:
            return None
        query = np.asarray(vector, dtype=np.float32)
        if limit <= 0 or not np.isfinite(query).all():
            return []
        # As the matrices score it: a zero query is at 0 from every vector (pgvector: NaN).
        zero = not query.any()
        # Schema-qualified: the extension's schema need not be on the store's search_path.
        operator = f"OPERATOR({str(self.vector_type).rsplit('.', 1)[0]}.<=>)"
        distance = "1.0::float8" if zero else f"e.embedding {operator} CAST(CAST(? AS real[]) AS {self.vector_type})"
        vectors = "e.agent_id = ? AND e.model = ? AND e.dimension = ? AND e.embedding IS NOT NULL"
        if filters:  # the filters are the memories': joined first (by room: the room's memories by index)
            where = " AND m.agent_id = e.agent_id" + "".join(f" AND m.{column} = ?" for column in filters)
            sql = (
                f"SELECT m.*, {distance} AS distance FROM embeddings e JOIN memories m ON m.id = e.memory_id "
                f"WHERE {vectors}{where} ORDER BY distance, e.memory_id LIMIT ?"
            )
        else:  # the best of the vectors alone, then their memories (joined first, every memory was hashed)
            sql = (
                f"SELECT m.*, best.distance FROM (SELECT e.memory_id, {distance} AS distance FROM embeddings e "
                f"WHERE {vectors} ORDER BY distance, e.memory_id LIMIT ?) best "
                "JOIN memories m ON m.id = best.memory_id ORDER BY best.distance, m.id"
            )
        head = [] if zero else [query.tolist()]
        found = await self._fetch(sql, [*head, agent_id, model, len(vector), *filters.values(), limit])
        # The best `limit`, then the threshold: it cuts a tail of that order, as it would of all of it.
        scored = [ScoredMemory(rows.memory_from_row(r), 1.0 - float(r["distance"])) for r in found]
        return [s for s in scored if s.score >= threshold]

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


def searchable(vector: npt.ArrayLike) -> list[float] | None:
    """`vector` as float32 values for the pgvector column, or None when a search can never find it
    (zero, or not finite as float32), as on the in-memory matrices."""
    values = np.asarray(vector, dtype=np.float32)
    if not values.any() or not np.isfinite(values).all():
        return None
    return values.tolist()  # type: ignore[no-any-return]


async def _vector_column(conn: asyncpg.Connection, schema: str, wanted: bool, where: str) -> str | None:
    """pgvector's type, schema-qualified, when the embeddings table has (after this, when
    `wanted`) a pgvector column; else None. When `wanted`, the extension is created if missing,
    and VectorSearchUnavailable raised (one line) when that fails."""
    find = (
        "SELECT quote_ident(n.nspname) FROM pg_extension x JOIN pg_namespace n ON n.oid = x.extnamespace "
        "WHERE x.extname = $1"
    )
    extension = await conn.fetchval(find, PGVECTOR)
    if extension is None and wanted:
        try:
            async with conn.transaction():  # a savepoint: the migrations' transaction goes on
                await conn.execute(f'CREATE EXTENSION IF NOT EXISTS "{PGVECTOR}"')
        except asyncpg.PostgresError as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise VectorSearchUnavailable(
                f'[database] vector_search = "pgvector", but the database at {where} has no pgvector '
                f'extension and "CREATE EXTENSION {PGVECTOR}" failed: {reason}'
            ) from None
        extension = await conn.fetchval(find, PGVECTOR)
    if extension is None:
        return None
    vector_type = f"{extension}.vector"
    if wanted:
        await conn.execute(f"ALTER TABLE embeddings ADD COLUMN IF NOT EXISTS embedding {vector_type}")
        # Both copies of a 384-d vector (1.5 kB each) make a row over PostgreSQL's 2 kB, and the
        # larger, pgvector's, went out of line: a search read every vector back from the TOAST
        # table (10k x 384: 143 ms, most of it that). pgvector's now stays in the row, and the
        # stored bytes (read once per host by the in-memory search) go out of line instead.
        await conn.execute("ALTER TABLE embeddings ALTER COLUMN embedding SET STORAGE MAIN")
    has_column = (
        "SELECT 1 FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'embeddings' "
        "AND column_name = 'embedding'"
    )
    return vector_type if await conn.fetchval(has_column, schema) else None


def _changed(status: str) -> int:
    """The row count of a command status ("INSERT 0 1", "UPDATE 3", "DELETE 0")."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0
