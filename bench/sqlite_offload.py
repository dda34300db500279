"""Benchmark: ways to keep SQLite off the event loop, against a bare thread handoff measured in the same run.

The host's store and the router's accounting open the same SQLite file by default. This
measures, in one process on one file with the store's schema (host/store/sqlite.py):

1. floor: `await loop.run_in_executor(executor, noop)` on a one-thread executor, the bare
   cost of handing work to a thread and being woken with its result;
2. aiosqlite: the store as it was (aiosqlite, autocommit, one handoff per statement: an
   INSERT for create_memory, one execute_fetchall for get_memories);
3. executor: one connection on a thread of its own, each operation one function run there
   by `run_in_executor` on a ThreadPoolExecutor(max_workers=1): how router/accounting_sqlite.py
   runs its transactions;
4. own thread: host.store.SQLiteStore itself: the same, but handed over through a queue its
   thread reads, which wakes the caller's loop with `call_soon_threadsafe` (no executor futures:
   plugin_sdk.sqlite_thread, which the router's accounting uses too);

for create_memory (a message of ~100 characters, into a room per side) and get_memories
(count 10, from a room of 200 messages; rows become Memory objects on the loop for aiosqlite,
on the database thread for the others), with 1 and with 8 concurrent callers, each awaiting
its operations in a row. And the router's accounting on the same file, a call's two
transactions (reserve, then settle: reserve+settle), by:

5. router executor: router.accounting_sqlite.SQLiteAccounting with its transactions handed over
   by `run_in_executor` on a one-thread executor, as it did before it took the store's thread;
6. router own thread: SQLiteAccounting as it is (plugin_sdk.sqlite_thread's queue).

Both take turns at the write lock (the turnstile, two flock calls per write transaction when
nobody waits), whose cost alone is measured too: "turnstile_us", per write transaction.

Every side runs the store's own SQL and conversions. All sides are interleaved in rounds,
rotating which goes first; p50/p99 are over all samples of a side, throughput is operations/s
over the wall time of its runs, CPU is the process's (all threads) per operation. The stores
must read the same 10 memories, or the benchmark fails.

Prints a table, then as its last line one JSON object with the figures.

    .venv/bin/python bench/sqlite_offload.py            # full run (make bench), ~25 s
    .venv/bin/python bench/sqlite_offload.py --quick    # smoke run, ~3 s
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import json
import os
import platform
import sqlite3
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Awaitable, Callable, TypeVar

import aiosqlite
from common import percentile, run_and_report

# This folder holds bench/router.py, which would shadow the router package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from host.store import SQLiteStore  # noqa: E402
from host.store.sqlite import (  # noqa: E402
    INSERT_MEMORY,
    SCHEMA,
    SELECT_MEMORIES,
    connect,
    memory_from_row,
    memory_values,
    stamp,
)
from plugin_sdk.sqlite_thread import TURNSTILE_SUFFIX, DatabaseThread, WalConnection  # noqa: E402
from plugin_sdk.types import Content, Memory  # noqa: E402
from router.accounting import Budget  # noqa: E402
from router.accounting_base import busy_timeout_for  # noqa: E402
from router.accounting_lease import DEFAULT_LEASE_S, Leases  # noqa: E402
from router.accounting_sqlite import SQLiteAccounting, _Database  # noqa: E402

AGENT = "bench-agent"
READ_ROOM = "history"
HISTORY = 200
COUNT = 10
TEXT = "What will the weather be like in Lisbon tomorrow afternoon? I am thinking of a walk along the river."

Op = Callable[[], Awaitable[object]]
T = TypeVar("T")
STORES = ("aiosqlite", "executor", "own thread")
ROUTERS = ("router executor", "router own thread")
BUDGET = Budget("global", "monthly", 1e9)  # never refused


class AiosqliteStore:
    """create_memory and get_memories as host/store/sqlite.py did them through aiosqlite."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db

    @classmethod
    async def open(cls, path: Path) -> "AiosqliteStore":
        db = await aiosqlite.connect(path, isolation_level=None)
        db.row_factory = sqlite3.Row
        await db.execute("PRAGMA journal_mode=WAL")
        await db.execute("PRAGMA synchronous=NORMAL")
        await db.executescript(SCHEMA)
        return cls(db)

    async def close(self) -> None:
        await self._db.close()

    async def create_memory(self, memory: Memory) -> Memory:
        await self._db.execute(INSERT_MEMORY, memory_values(stamp(memory)))
        return memory

    async def get_memories(self, agent_id: str, room_id: str, table_name: str, count: int) -> list[Memory]:
        rows = await self._db.execute_fetchall(SELECT_MEMORIES, (agent_id, room_id, table_name, count))
        return [memory_from_row(row) for row in rows]


class ExecutorStore:
    """The store's operations handed over as router/accounting_sqlite.py hands over its transactions."""

    def __init__(self, connection: WalConnection, executor: ThreadPoolExecutor) -> None:
        self._connection = connection
        self._db = connection.db
        self._executor = executor

    @classmethod
    async def open(cls, path: Path) -> "ExecutorStore":
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bench-executor-store")
        return cls(await asyncio.get_running_loop().run_in_executor(executor, connect, path), executor)

    async def close(self) -> None:
        await self._run(self._connection.close)
        self._executor.shutdown(wait=False)

    def _run(self, work: Callable[..., T], *args: object) -> Awaitable[T]:
        return asyncio.get_running_loop().run_in_executor(self._executor, work, *args)

    async def create_memory(self, memory: Memory) -> Memory:
        await self._run(self._db.execute, INSERT_MEMORY, memory_values(stamp(memory)))  # autocommit, as before
        return memory

    async def get_memories(self, agent_id: str, room_id: str, table_name: str, count: int) -> list[Memory]:
        return await self._run(read_memories, self._db, (agent_id, room_id, table_name, count))


class ExecutorAccounting(SQLiteAccounting):
    """The router's accounting with each transaction handed over by `run_in_executor` on a
    one-thread executor, as router/accounting_sqlite.py did before it took the store's thread."""

    _executor: ThreadPoolExecutor

    @classmethod
    async def open_on_executor(cls, path: Path) -> "ExecutorAccounting":
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bench-executor-router")
        busy, lease_ms = busy_timeout_for(DEFAULT_LEASE_S, None), Leases.lease_ms_of(DEFAULT_LEASE_S)
        db = await asyncio.get_running_loop().run_in_executor(executor, _Database, path, busy, lease_ms)
        accounting = cls(db, DatabaseThread("bench-unused"))  # its thread only stops when closed
        accounting._executor = executor
        accounting.leases.start()
        return accounting

    async def _on_thread(self, work: Callable[..., T], *args: object) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, work, *args)

    async def close(self) -> None:
        await super().close()
        self._executor.shutdown(wait=False)


async def reserve_settle(accounting: SQLiteAccounting) -> None:
    """A call's accounting: hold its price, then book what it cost (two write transactions)."""
    held = await accounting.reserve([BUDGET], 0.000001, "bench")
    await accounting.settle(held, 0.000001)


def turnstile_us(path: Path, times: int = 20000) -> float:
    """What taking and letting go the turnstile costs a write transaction when nobody waits, µs."""
    fd = os.open(f"{path}{TURNSTILE_SUFFIX}", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        start = time.perf_counter_ns()
        for _ in range(times):
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(fd, fcntl.LOCK_UN)
        return (time.perf_counter_ns() - start) / times / 1000
    finally:
        os.close(fd)


def read_memories(db: sqlite3.Connection, key: tuple[str, str, str, int]) -> list[Memory]:
    return [memory_from_row(row) for row in db.execute(SELECT_MEMORIES, key).fetchall()]


def message(room: str, text: str = TEXT) -> Memory:
    return Memory(agent_id=AGENT, room_id=room, entity_id="user-1", content=Content(text=text, source="bench"))


async def timed_run(op: Op, callers: int, per_caller: int, out: list[int]) -> tuple[int, int]:
    """`callers` tasks, each awaiting op() `per_caller` times in a row; each latency (ns) appended
    to `out`. Returns the wall time and the process's CPU time (all threads), ns, until the last one finished."""
    clock, cpu = time.perf_counter_ns, time.process_time_ns

    async def caller() -> None:
        for _ in range(per_caller):
            start = clock()
            await op()
            out.append(clock() - start)

    start, cpu_start = clock(), cpu()
    await asyncio.gather(*(caller() for _ in range(callers)))
    return clock() - start, cpu() - cpu_start


def ops(name: str, store: Any) -> dict[str, Op]:
    """The two measured operations on `store`; writes go to a room of this side's own."""
    room = f"writes-{name}"
    return {
        "create_memory": lambda: store.create_memory(message(room)),
        "get_memories": lambda: store.get_memories(AGENT, READ_ROOM, "messages", COUNT),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bench-floor")
    with tempfile.TemporaryDirectory(prefix="agenthost-bench-sqlite-") as tmp:
        path = Path(tmp) / "agenthost.db"
        stores: dict[str, Any] = {}
        try:
            stores["own thread"] = own = await SQLiteStore.open(path)  # the schema, as the host makes it
            stores["aiosqlite"] = await AiosqliteStore.open(path)
            stores["executor"] = await ExecutorStore.open(path)
            stores["router executor"] = await ExecutorAccounting.open_on_executor(path)
            stores["router own thread"] = await SQLiteAccounting.open(path)
            for i in range(HISTORY):
                await own.create_memory(message(READ_ROOM, f"{TEXT} ({i})"))
            read = [await stores[name].get_memories(AGENT, READ_ROOM, "messages", COUNT) for name in STORES]
            if len(read[0]) != COUNT or any(memories != read[0] for memories in read):
                raise RuntimeError("the stores read different memories")

            def noop() -> None:
                return None

            sides: dict[tuple[str, str], Op] = {("floor", "handoff"): lambda: loop.run_in_executor(executor, noop)}
            for name in STORES:
                for op_name, op in ops(name, stores[name]).items():
                    sides[(name, op_name)] = op
            for name in ROUTERS:
                sides[(name, "reserve+settle")] = lambda acc=stores[name]: reserve_settle(acc)
            for op in sides.values():
                await timed_run(op, 1, args.warmup, [])

            figures: dict[str, Any] = {}
            for callers in args.callers:
                samples: dict[tuple[str, str], list[int]] = {key: [] for key in sides}
                wall: dict[tuple[str, str], int] = dict.fromkeys(sides, 0)
                cpu: dict[tuple[str, str], int] = dict.fromkeys(sides, 0)
                order = list(sides)
                for r in range(args.rounds):
                    shift = r % len(order)
                    for key in order[shift:] + order[:shift]:
                        spent = await timed_run(sides[key], callers, args.ops // callers, samples[key])
                        wall[key] += spent[0]
                        cpu[key] += spent[1]
                figures[str(callers)] = summarise(samples, wall, cpu)
            turnstile = turnstile_us(path)
        finally:
            for store in stores.values():
                await store.close()
            executor.shutdown(wait=False)
    return {
        "callers": figures,
        "turnstile_us": round(turnstile, 2),
        "ops_per_side_per_round": args.ops,
        "rounds": args.rounds,
        "warmup": args.warmup,
        "history": HISTORY,
        "count": COUNT,
        "cpus": os.cpu_count(),
        "loadavg_1m": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "aiosqlite": aiosqlite.__version__,
    }


def summarise(
    samples: dict[tuple[str, str], list[int]], wall: dict[tuple[str, str], int], cpu: dict[tuple[str, str], int]
) -> dict[str, Any]:
    """Per side: p50/p99 (µs), ratio of p50 to the floor's, operations/s, CPU µs per operation (the
    process's, both threads: what a busy box cannot inflate by making it wait); per operation, own
    thread / aiosqlite, and the router's own thread / its executor."""
    floor = percentile(sorted(samples[("floor", "handoff")]), 0.5)
    out: dict[str, Any] = {}
    for (side, op), ns in samples.items():
        ns.sort()
        p50 = percentile(ns, 0.5)
        out[f"{side}/{op}"] = {
            "p50_us": round(p50, 1),
            "p99_us": round(percentile(ns, 0.99), 1),
            "x_floor": round(p50 / floor, 2),
            "ops_per_s": round(len(ns) / (wall[(side, op)] / 1e9)),
            "cpu_us": round(cpu[(side, op)] / len(ns) / 1000, 1),
        }
    pairs = [(side, "aiosqlite", op) for side in STORES[1:] for op in ("create_memory", "get_memories")]
    for side, base, op in [*pairs, (ROUTERS[1], ROUTERS[0], "reserve+settle")]:
        own, old = out[f"{side}/{op}"], out[f"{base}/{op}"]
        out[f"{side} vs {base}/{op}"] = {
            "p50": round(own["p50_us"] / old["p50_us"], 3),
            "p99": round(own["p99_us"] / old["p99_us"], 3),
            "throughput": round(own["ops_per_s"] / old["ops_per_s"], 3),
            "cpu": round(own["cpu_us"] / old["cpu_us"], 3),
        }
    return out


def report(result: dict[str, Any]) -> None:
    print(
        f"agenthost SQLite offload benchmark  (python {result['python']}, sqlite {result['sqlite']}, "
        f"aiosqlite {result['aiosqlite']}, {result['cpus']} cpus, load {result['loadavg_1m']})"
    )
    print(
        f"{result['rounds']} rounds x {result['ops_per_side_per_round']} operations per side "
        f"(+{result['warmup']} warm-up each), interleaved; get_memories reads {result['count']} "
        f"of {result['history']}\n"
    )
    for callers, figures in result["callers"].items():
        print(f"{callers} concurrent caller(s)")
        print(f"  {'':28}{'p50 (us)':>10}{'p99 (us)':>10}{'x floor':>9}{'ops/s':>9}{'cpu us/op':>11}")
        for key, f in figures.items():
            if " vs " not in key:
                print(
                    f"  {key:28}{f['p50_us']:>10.1f}{f['p99_us']:>10.1f}{f['x_floor']:>9.2f}{f['ops_per_s']:>9}"
                    f"{f['cpu_us']:>11.1f}"
                )
        for key in (key for key in figures if " vs " in key):
            f = figures[key]
            side, rest = key.split(" vs ")
            base, op = rest.rsplit("/", 1)
            print(
                f"  {side} / {base}, {op}: p50 {f['p50']:.2f}x, p99 {f['p99']:.2f}x, "
                f"throughput {f['throughput']:.2f}x, cpu {f['cpu']:.2f}x"
            )
        print()
    print(f"turnstile (flock, then unlock) per write transaction when nobody waits: {result['turnstile_us']:.2f} us\n")
    print(json.dumps(result, separators=(",", ":")), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ops", type=int, default=2000, help="operations per side per round (default 2000)")
    parser.add_argument("--rounds", type=int, default=4, help="interleaved rounds (default 4)")
    parser.add_argument("--warmup", type=int, default=300, help="warm-up operations per side (default 300)")
    parser.add_argument(
        "--callers", type=lambda text: [int(n) for n in text.split(",")], default=[1, 8], help="default 1,8"
    )
    parser.add_argument("--quick", action="store_true", help="small numbers for a smoke run")
    args = parser.parse_args(argv)
    if args.quick:
        args.ops, args.rounds, args.warmup = 400, 2, 100
    if args.rounds < 1 or args.warmup < 0 or min(args.callers) < 1 or args.ops < max(args.callers):
        parser.error("--rounds and every --callers at least 1, --ops at least the most callers, --warmup at least 0")
    return run_and_report(run, report, args)


if __name__ == "__main__":
    sys.exit(main())
