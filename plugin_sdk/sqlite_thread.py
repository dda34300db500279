"""SQLite off the event loop, shared by the host's store and the router's accounting (and free
to any plugin that keeps a SQLite file): one connection on a thread of its own, and write
transactions that take turns with the other connections to the same file.

`DatabaseThread` runs the functions handed to it one at a time, each a whole operation (its
transaction included), and wakes the caller's event loop with the result: one handoff there and
back per operation. The handoff is a queue the thread reads and `call_soon_threadsafe`, without
an executor's futures; `bench/sqlite_offload.py` measured it against aiosqlite and
`run_in_executor` (figures in BENCHMARKS.md, "Keeping SQLite off the event loop").

`WalConnection` is the connection that thread uses: autocommit, WAL, a busy timeout, and write
transactions (BEGIN IMMEDIATE) begun in turn. SQLite keeps no queue for its write lock: a
connection that finds it taken sleeps in its busy handler (1, 2, 5, ... up to 100 ms) and tries
again, so a connection that commits and begins again at once, with work queued on its thread,
can keep the lock for as long as that work lasts, until the other's busy timeout runs out
("database is locked"). So a writer here first takes a turnstile, an flock on an empty file
beside the database (`<database>-turns`), and lets it go as soon as it holds the write lock: a
writer waiting for the lock holds the turnstile meanwhile, and the one that has just committed
waits for it, behind the waiting one. The turnstile only orders writers; SQLite's lock still
keeps them apart, so a writer without it (another program, a missing or removed file) is as
safe as before, only not queued.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from queue import SimpleQueue
from typing import Any, Callable, Iterator, TypeVar

__all__ = ["DatabaseThread", "TURNSTILE_SUFFIX", "WalConnection"]

T = TypeVar("T")

TURNSTILE_SUFFIX = "-turns"
"""The turnstile's file: the database's path with this added (like SQLite's -wal and -shm)."""

_FIRST_POLL_S = 0.0001  # a writer waiting for the turnstile looks again after this, doubling ...
_LAST_POLL_S = 0.001  # ... up to this: the turnstile's holder only waits for one transaction


class DatabaseThread:
    """A thread that runs the functions handed to it, one at a time in the order given, and
    wakes each caller's event loop with the result or the exception."""

    def __init__(self, name: str) -> None:
        self._queue: SimpleQueue[tuple[asyncio.Future[Any], Callable[..., Any], tuple[object, ...]] | None]
        self._queue = SimpleQueue()
        self._stopped = False
        # A daemon: a database nobody closed must not keep the process alive (SQLite's WAL keeps
        # the file consistent if the process ends in the middle of a statement).
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def call(self, work: Callable[..., T], *args: object) -> asyncio.Future[T]:
        """work(*args) on the thread; the future is resolved on the calling event loop."""
        if self._stopped:
            raise RuntimeError(f"{self._thread.name}: the database is closed")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.put((future, work, args))
        return future

    def stop(self) -> None:
        """End the thread once the functions already handed to it have run."""
        self._stopped = True
        self._queue.put(None)

    def _serve(self) -> None:
        while (item := self._queue.get()) is not None:
            future, work, args = item
            try:
                result = work(*args)
            except BaseException as exc:
                _settle(future, _set_exception, exc)
            else:
                _settle(future, _set_result, result)


def _settle(future: asyncio.Future[Any], how: Callable[[asyncio.Future[Any], Any], None], value: object) -> None:
    try:
        future.get_loop().call_soon_threadsafe(how, future, value)
    except RuntimeError:  # the caller's loop is closed: nobody is waiting any more
        pass


def _set_result(future: asyncio.Future[Any], result: object) -> None:
    if not future.done():  # the caller may have been cancelled
        future.set_result(result)


def _set_exception(future: asyncio.Future[Any], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)


class WalConnection:
    """One connection to the SQLite file at `path` (WAL, synchronous=NORMAL, autocommit), for the
    one thread that makes it (sqlite3 refuses its use from any other). Its write transactions
    take turns with the file's other connections (see the module); `busy_timeout_s` bounds how
    long one waits for its turn and the lock together."""

    def __init__(self, path: Path, busy_timeout_s: float) -> None:
        self.busy_timeout_s = busy_timeout_s
        # isolation_level=None: no implicit transactions; every one here is explicit.
        self.db = sqlite3.connect(path, isolation_level=None, timeout=busy_timeout_s)
        try:
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
        except BaseException:
            self.db.close()
            raise
        self._turnstile: int | None
        try:
            self._turnstile = os.open(f"{path}{TURNSTILE_SUFFIX}", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:  # a read-only directory, say: writers still take turns at SQLite's lock, unqueued
            self._turnstile = None

    def close(self) -> None:
        self.db.close()
        if self._turnstile is not None:
            os.close(self._turnstile)
            self._turnstile = None

    @contextmanager
    def transaction(self, mode: str = "IMMEDIATE") -> Iterator[sqlite3.Connection]:
        """BEGIN `mode` (IMMEDIATE: the write lock first, in turn; DEFERRED: a read), then the
        block; COMMIT if it ends (unless it said ROLLBACK itself), ROLLBACK if it raises."""
        if mode == "IMMEDIATE":
            self._begin_in_turn()
        else:
            self.db.execute(f"BEGIN {mode}")
        try:
            yield self.db
            if self.db.in_transaction:
                self.db.execute("COMMIT")
        except BaseException:
            if self.db.in_transaction:  # some errors (SQLITE_FULL, ...) have rolled back already
                self.db.execute("ROLLBACK")
            raise

    def _begin_in_turn(self) -> None:
        """BEGIN IMMEDIATE once this connection holds the turnstile, which it then lets go."""
        if self._turnstile is None:
            self.db.execute("BEGIN IMMEDIATE")
            return
        try:
            fcntl.flock(self._turnstile, fcntl.LOCK_EX | fcntl.LOCK_NB)  # nobody waits: one system call
        except BlockingIOError:
            self._begin_after_waiting(self._turnstile)
            return
        try:
            self.db.execute("BEGIN IMMEDIATE")
        finally:
            fcntl.flock(self._turnstile, fcntl.LOCK_UN)

    def _begin_after_waiting(self, turnstile: int) -> None:
        """BEGIN IMMEDIATE once another writer has let the turnstile go. The time waited for it
        comes off the busy timeout; past that, the lock is tried once, so a turnstile held too long
        ends in SQLite's own "database is locked", as a lock held too long does."""
        started = time.monotonic()
        turn = _take(turnstile, started + self.busy_timeout_s)
        try:
            self._set_busy_timeout(self.busy_timeout_s - (time.monotonic() - started))
            try:
                self.db.execute("BEGIN IMMEDIATE")
            finally:
                self._set_busy_timeout(self.busy_timeout_s)
        finally:
            if turn:
                fcntl.flock(turnstile, fcntl.LOCK_UN)

    def _set_busy_timeout(self, seconds: float) -> None:
        self.db.execute(f"PRAGMA busy_timeout = {max(0, int(seconds * 1000))}")


def _take(turnstile: int, deadline: float) -> bool:
    """Hold the turnstile (an exclusive flock on its file) by `deadline`; False when it could not."""
    poll = _FIRST_POLL_S
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        time.sleep(min(poll, left))
        poll = min(_LAST_POLL_S, poll * 2)
        try:
            fcntl.flock(turnstile, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            pass
