"""Benchmark: the store's hot operations on SQLite and PostgreSQL, as ratios to a floor measured
in the same run.

Floors: SQLite, a bare handoff to the store's database thread and back (what every operation
pays at the least); PostgreSQL, `SELECT 1` through the store's pool (one round trip). Measured:

- create_memory: a ~100-character message into one room, 1 caller and 8 concurrent callers;
- get_memories: the latest 10 of a room of 1,000 messages (the pipeline's history read);
- record_interaction: 4 stores on one database (as 4 hosts) adding to one pair's count at
  once; the count must come out exact, or the benchmark fails.

PostgreSQL is measured when AGENTHOST_BENCH_DATABASE_URL (or AGENTHOST_TEST_DATABASE_URL) names
a server; the tables go in a schema of their own, dropped after. Last line: one JSON object.

    .venv/bin/python bench/store.py            # ~20 s
    .venv/bin/python bench/store.py --quick    # smoke run
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Awaitable, Callable

import asyncpg
from common import percentile, run_and_report

from host.store import PostgresStore, SQLiteStore
from host.store.sql_store import SqlStore
from plugin_sdk.types import Content, Memory

AGENT = "bench-agent"
TEXT = "What will the weather be like in Lisbon tomorrow afternoon? I am thinking of a walk along the river."
Op = Callable[[], Awaitable[object]]


async def timed(op: Op, n: int, callers: int) -> dict[str, float]:
    """p50/p99 (us) and operations/s of `n` calls of `op` shared by `callers` concurrent callers."""
    samples: list[int] = []

    async def caller(count: int) -> None:
        for _ in range(count):
            start = time.perf_counter_ns()
            await op()
            samples.append(time.perf_counter_ns() - start)

    start = time.perf_counter()
    await asyncio.gather(*(caller(n // callers) for _ in range(callers)))
    wall = time.perf_counter() - start
    samples.sort()
    return {"p50_us": percentile(samples, 0.5), "p99_us": percentile(samples, 0.99), "ops_per_s": len(samples) / wall}


def message(room: str) -> Memory:
    return Memory(agent_id=AGENT, room_id=room, entity_id="user-1", content=Content(text=TEXT, source="bench"))


async def measure(name: str, open_store: Callable[[], Awaitable[SqlStore]], floor: Op, n: int) -> dict[str, Any]:
    store = await open_store()
    others = [await open_store() for _ in range(3)]
    try:
        history = f"history-{uuid.uuid4().hex[:8]}"
        for _ in range(1000):
            await store.create_memory(message(history))
        await timed(floor, n // 4, 1)  # warm-up
        sides = {
            "floor": await timed(floor, n, 1),
            "create_memory": await timed(lambda: store.create_memory(message("writes")), n, 1),
            "create_memory x8": await timed(lambda: store.create_memory(message("writes")), n, 8),
            "get_memories": await timed(lambda: store.get_memories(AGENT, history, "messages", 10), n, 1),
        }
        pair = ("u-" + uuid.uuid4().hex[:8], "u2")
        each = n // 4
        start = time.perf_counter()

        async def interact(s: SqlStore) -> None:
            for _ in range(each):
                await s.record_interaction(AGENT, *pair)

        await asyncio.gather(*(interact(s) for s in [store, *others]))
        wall = time.perf_counter() - start
        got = await store.get_relationship(AGENT, *pair)
        if got is None or got.interaction_count != 4 * each:
            raise AssertionError(f"{name}: 4 writers x {each} interactions counted {got and got.interaction_count}")
        sides["record_interaction 4 stores"] = {
            "p50_us": float("nan"),
            "p99_us": float("nan"),
            "ops_per_s": 4 * each / wall,
        }
    finally:
        for s in [store, *others]:
            await s.close()
    floor_p50 = sides["floor"]["p50_us"]
    for figures in sides.values():
        figures["x_floor"] = figures["p50_us"] / floor_p50
    return sides


async def run(args: argparse.Namespace) -> dict[str, Any]:
    n = 200 if args.quick else 2000
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "agenthost.db"

        async def open_sqlite() -> SqlStore:
            return await SQLiteStore.open(path)

        probe = await SQLiteStore.open(path)
        try:
            floor_thread = probe._thread  # the same handoff every operation makes

            async def sqlite_floor() -> None:
                await floor_thread.call(int)

            results["sqlite"] = await measure("sqlite", open_sqlite, sqlite_floor, n)
        finally:
            await probe.close()
    url = os.environ.get("AGENTHOST_BENCH_DATABASE_URL") or os.environ.get("AGENTHOST_TEST_DATABASE_URL", "")
    if url:
        schema = "bench_store_" + uuid.uuid4().hex[:8]
        scoped = f"{url}{'&' if '?' in url else '?'}schema={schema}"

        async def open_postgres() -> SqlStore:
            return await PostgresStore.open(scoped)

        probe_pg = await PostgresStore.open(scoped)
        try:
            pool = probe_pg._pool

            async def postgres_floor() -> None:
                await pool.fetchval("SELECT 1")

            results["postgres"] = await measure("postgres", open_postgres, postgres_floor, n)
        finally:
            await probe_pg.close()
            conn = await asyncpg.connect(url)
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            await conn.close()
    results["n"] = n
    results["loadavg_1m"] = os.getloadavg()[0]
    results["cpus"] = os.cpu_count()
    return results


def report(results: dict[str, Any]) -> None:
    for backend in ("sqlite", "postgres"):
        if backend not in results:
            continue
        print(f"{backend}{'':24} p50 (us)  p99 (us)  x floor    ops/s")
        for side, f in results[backend].items():
            print(f"  {side:28} {f['p50_us']:8.1f}  {f['p99_us']:8.1f}  {f['x_floor']:7.2f}  {f['ops_per_s']:7.0f}")
    print(json.dumps(results, separators=(",", ":")))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else "")
    parser.add_argument("--quick", action="store_true", help="a smoke run")
    return run_and_report(run, report, parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
