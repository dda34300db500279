"""The SQLite store: one file under the data directory, kept off the event loop on a thread of its own.
Its operations are `SqlStore`'s; this module runs them.

The connection lives on one thread, and each store operation runs there as one synchronous
function: one handoff to that thread and back per operation, however many statements it takes.
Every write transaction is begun in turn with the file's other connections (other hosts, the
router's accounting, which opens the same file by default), so none keeps the lock from another.
Both come from `plugin_sdk.sqlite_thread`, which the router's accounting uses too;
`bench/sqlite_offload.py` measured the handoff against aiosqlite (which the store used before)
and against `run_in_executor`; figures in BENCHMARKS.md.
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from typing import Iterator, Sequence

from plugin_sdk.limits import MAX_MEMORY_BYTES
from plugin_sdk.sqlite_thread import DatabaseThread, WalConnection

from .base import DatabaseUnreachable, StoreUnavailable
from .migrations import CURRENT_VERSION_SQL, MIGRATIONS, VERSION_TABLE, pending, version_table_sql
from .records import now_ms
from .rows import Row, memory_from_row, memory_values
from .sql_store import SqlStore, stamp
from .statements import INSERT_MEMORY
from .vectors import Stamp

__all__ = [
    "INSERT_MEMORY",
    "SCHEMA",
    "SELECT_MEMORIES",
    "SQLiteStore",
    "connect",
    "memory_from_row",
    "memory_values",
    "stamp",
]

#: SQLite's primary result codes (SQLITE_BUSY, ...) that say the file cannot be used right now.
_UNAVAILABLE = {"BUSY", "LOCKED", "IOERR", "FULL", "CANTOPEN", "READONLY"}

BUSY_TIMEOUT_S = 10.0
"""How long a statement waits for another connection's write (another host, the router's accounting)."""

#: The unversioned layout (migration 1), for tools that make a table the old way.
SCHEMA = ";\n".join(MIGRATIONS[0].sql("sqlite")) + ";"
#: A room's latest memories of one table, newest first: (agent_id, room_id, table_name, count).
SELECT_MEMORIES = (
    "SELECT * FROM memories WHERE agent_id = ? AND room_id = ? AND table_name = ? "
    "ORDER BY created_at_ms DESC, rowid DESC LIMIT ?"
)


def connect(path: Path, busy_timeout_s: float = BUSY_TIMEOUT_S) -> WalConnection:
    """The store's connection to `path` (WAL, autocommit, rows by name, transactions in turn), its schema
    migrated to the latest version. Blocks: call it on the thread that will use the connection."""
    connection = WalConnection(path, busy_timeout_s)
    try:
        connection.db.row_factory = sqlite3.Row
        connection.db.execute("PRAGMA foreign_keys=ON")
        migrate(connection, str(path))
    except BaseException:
        connection.close()
        raise
    return connection


def migrate(connection: WalConnection, where: str) -> None:
    """Apply the migrations the file lacks, in one transaction (SchemaTooNew when it is ahead of this code)."""
    with connection.transaction() as db:  # the write lock first: two hosts opening one file take turns
        db.execute(version_table_sql("sqlite"))
        current = db.execute(CURRENT_VERSION_SQL).fetchone()[0]
        for migration in pending(current, where):
            for sql in migration.sql("sqlite"):
                db.execute(sql)
            db.execute(f"INSERT INTO {VERSION_TABLE} VALUES (?, ?, ?)", (migration.version, migration.name, now_ms()))


class _Database:
    """The connection, used on its thread only. Built on that thread, and sqlite3 refuses its use
    from any other (check_same_thread), so none of it can run on, and block, the event loop.
    Transactions are begun in turn (plugin_sdk.sqlite_thread)."""

    def __init__(self, path: Path, busy_timeout_s: float) -> None:
        self._connection = connect(path, busy_timeout_s)
        self._db = self._connection.db

    def close(self) -> None:
        self._connection.close()

    def execute(self, sql: str, values: Sequence[object]) -> int:
        # One statement, autocommit: it holds the lock for that statement only, and takes no turn
        # (BEGIN, COMMIT and the turnstile cost ~15 µs a write; 2,000 of them queued did not lock
        # a router out, with or without the turnstile).
        return self._db.execute(sql, values).rowcount

    def fetch(self, sql: str, values: Sequence[object]) -> list[Row]:
        return self._db.execute(sql, values).fetchall()

    def transaction(self, statements: Sequence[tuple[str, Sequence[object]]]) -> list[int]:
        with self._connection.transaction() as db:
            return [db.execute(sql, values).rowcount for sql, values in statements]

    def batch(
        self, statements: Sequence[tuple[str, Sequence[object]]], query: tuple[str, Sequence[object]]
    ) -> list[Row] | None:
        with self._connection.transaction() as db:
            if all(db.execute(sql, values).rowcount for sql, values in statements):
                return db.execute(*query).fetchall()
            db.execute("ROLLBACK")
            return None


class SQLiteStore(SqlStore):
    """Store on one SQLite file, through one connection on a thread of its own. Calls take
    turns on that thread, in the order they were made: one handoff per statement."""

    def __init__(
        self, db: _Database, thread: DatabaseThread, path: Path, max_content_bytes: int = MAX_MEMORY_BYTES
    ) -> None:
        super().__init__(max_content_bytes)
        self._path = path
        self._db = db
        self._thread = thread
        self._closed = False

    @classmethod
    async def open(
        cls, path: Path, max_content_bytes: int = MAX_MEMORY_BYTES, busy_timeout_s: float = BUSY_TIMEOUT_S
    ) -> "SQLiteStore":
        """Open (or create) the store's file at `path`, and its directory, migrating its schema."""
        path.parent.mkdir(parents=True, exist_ok=True)
        thread = DatabaseThread("host-store-sqlite")
        try:
            db = await thread.call(_Database, path, busy_timeout_s)
        except sqlite3.DatabaseError as exc:  # not a database, unreadable, locked past the timeout
            thread.stop()
            raise DatabaseUnreachable(f"cannot open the database {path}: {exc}") from None
        except BaseException:
            thread.stop()
            raise
        return cls(db, thread, path, max_content_bytes)

    async def close(self) -> None:
        """Close the connection once the calls already made have run (again: nothing)."""
        if self._closed:
            return
        self._closed = True
        try:
            await self._thread.call(self._db.close)
        finally:
            self._thread.stop()

    async def _vector_stamp(self, agent_id: str, model: str, dimension: int) -> Stamp:
        """This store's own vector writes, and SQLite's count of other connections' commits: both
        free to read, where counting 100k vectors takes ~30 ms. The count is not known, so a row
        another connection deleted is caught when its memory is read (search leaves it out)."""
        writes = self._vector_writes
        found = await self._fetch("PRAGMA data_version")
        return (writes, found[0]["data_version"]), None

    async def _execute(self, sql: str, values: Sequence[object] = ()) -> int:
        with self._answering():
            return await self._thread.call(self._db.execute, sql, values)

    async def _fetch(self, sql: str, values: Sequence[object] = ()) -> list[Row]:
        with self._answering():
            return await self._thread.call(self._db.fetch, sql, values)

    async def _transaction(self, statements: Sequence[tuple[str, Sequence[object]]]) -> list[int]:
        with self._answering():
            return await self._thread.call(self._db.transaction, statements)

    async def _batch(
        self, statements: Sequence[tuple[str, Sequence[object]]], query: tuple[str, Sequence[object]]
    ) -> list[Row] | None:
        with self._answering():
            return await self._thread.call(self._db.batch, statements, query)

    @contextlib.contextmanager
    def _answering(self) -> Iterator[None]:
        """StoreUnavailable when the file, not the statement, is the trouble (locked by another
        writer past the busy timeout, a disk error, a full disk)."""
        try:
            yield
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorname.split("_")[1] not in _UNAVAILABLE:
                raise
            raise StoreUnavailable(f"the database {self._path} is unavailable: {exc}") from exc
