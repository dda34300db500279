"""Benchmark: the store's hot operations on SQLite and PostgreSQL, as ratios to a floor measured
in the same run.

Floors: SQLite, a bare handoff to the store's database thread and back (what every operation
pays at the least); PostgreSQL, `SELECT 1` through the store's pool (one round trip). Measured:

- create_memory: a ~100-character message into one room, 1 caller and 8 concurrent callers;
- get_memories: the latest 10 of a room of 1,000 messages (the pipeline's history read);
- record_interaction: 4 stores on one database (as 4 hosts) adding to one pair's count at
  once; the count must come out exact, or the benchmark fails.

- search_memories: p50 of a top-10 similarity search among 10k and 100k memories (random
  vectors of --dimension, 384 by default: all-MiniLM-L6-v2's; 576 was SmolLM2's), unfiltered and
  by room; the first search (the matrix read whole) and a search right after one new vector
  (caught up by the rows written since) are reported apart, as one-off figures. Its floor is
  one bare float32 matrix-vector product of the same size, timed in turns with the searches
  (one product, one search, ...) so that both see the same load on a busy machine.

PostgreSQL is measured when AGENTHOST_BENCH_DATABASE_URL (or AGENTHOST_TEST_DATABASE_URL) names
a server; the tables go in a schema of their own, dropped after. The search figures are taken a
third time with `vector_search = "pgvector"` (the database scores, exactly) when the server can
make a database of its own with the extension (made for the run, dropped after: the given
database is left as it was); "filled" then includes copying the vectors into pgvector's column.
Last line: one JSON object.

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
from urllib.parse import urlsplit

import asyncpg
import numpy as np
from common import percentile, run_and_report

from host.store import PostgresStore, SQLiteStore
from host.store.records import Embedding
from host.store.rows import memory_values, vector_bytes
from host.store.sql_store import SqlStore, stamp
from host.store.statements import INSERT_MEMORY
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


INSERT_VECTOR = (
    "INSERT INTO embeddings (memory_id, agent_id, model, dimension, vector, created_at_ms) VALUES (?, ?, ?, ?, ?, ?)"
)


async def fill_vectors(store: SqlStore, agent: str, count: int, dimension: int, rooms: int = 100) -> None:
    """`count` memories of `agent` with random vectors, in transactions of 1,000."""
    rng = np.random.default_rng(7)
    for start in range(0, count, 1000):
        batch: list[tuple[str, Any]] = []
        vectors = rng.standard_normal((min(1000, count - start), dimension), dtype=np.float32)
        for i, vector in enumerate(vectors):
            memory = stamp(Memory(agent_id=agent, room_id=f"room-{(start + i) % rooms}", content=Content(text=TEXT)))
            batch.append((INSERT_MEMORY, memory_values(memory)))
            vec = vector_bytes(vector.tolist())
            batch.append((INSERT_VECTOR, (memory.id, agent, "bench", dimension, vec, memory.created_at_ms)))
        await store._transaction(batch)


async def measure_search(store: SqlStore, sizes: list[int], dimension: int, n: int) -> dict[str, Any]:
    """Search p50s (us) at each size: cold (first), warm unfiltered, warm by room, after one write;
    the floor, one bare matrix-vector product of the same size on one BLAS thread as the store's,
    timed in turns with the warm searches; and the rate the memories and vectors were written."""
    figures: dict[str, Any] = {}
    rng = np.random.default_rng(11)
    for size in sizes:
        agent = f"search-{size}"
        start = time.perf_counter()
        await fill_vectors(store, agent, size, dimension)
        if isinstance(store, PostgresStore) and store.search_in_database:
            await store._backfill()  # the rows went in raw: into pgvector's column as at open
            # The planner's figures, as autovacuum would bring them up to date after a bulk fill:
            # without them it walked the agent's index and joined every memory for a room's few.
            await store._execute("ANALYZE embeddings")
            await store._execute("ANALYZE memories")
        filled = size / (time.perf_counter() - start)
        query = rng.standard_normal(dimension).tolist()
        bare = rng.standard_normal((size, dimension), dtype=np.float32)
        q32 = np.asarray(query, dtype=np.float32)

        async def product() -> None:
            bare @ q32

        async def search() -> None:
            await store.search_memories(agent, query, "bench", limit=10)

        await store.search_memories(agent, query, "bench", limit=1)  # one BLAS thread from here on
        store._vectors.forget(agent)  # so the first search below reads the matrix whole again
        start = time.perf_counter_ns()
        await search()
        cold = (time.perf_counter_ns() - start) / 1000
        floor_ns: list[int] = []
        warm_ns: list[int] = []
        for _ in range(n):  # in turns: a change of load on a busy machine reaches both alike
            for op, samples in ((product, floor_ns), (search, warm_ns)):
                start = time.perf_counter_ns()
                await op()
                samples.append(time.perf_counter_ns() - start)
        floor_ns.sort()
        warm_ns.sort()
        floor_p50, warm_p50 = percentile(floor_ns, 0.5), percentile(warm_ns, 0.5)
        by_room = await timed(lambda: store.search_memories(agent, query, "bench", room_id="room-3", limit=10), n, 1)
        memory = await store.create_memory(Memory(agent_id=agent, room_id="room-1", content=Content(text=TEXT)))
        await store.put_embedding(Embedding(agent, memory.id, "bench", query))
        start = time.perf_counter_ns()
        found = await store.search_memories(agent, query, "bench", limit=10)
        after_write = (time.perf_counter_ns() - start) / 1000
        if not found or found[0].memory.id != memory.id:
            raise AssertionError(f"search at {size}: the vector just written is not the best match")
        figures[str(size)] = {
            "floor_p50_us": floor_p50,
            "x_floor": warm_p50 / floor_p50,
            "first_us": cold,
            "p50_us": warm_p50,
            "p99_us": percentile(warm_ns, 0.99),
            "by_room_p50_us": by_room["p50_us"],
            "after_one_write_us": after_write,
            "filled_per_s": filled,
        }
    return figures


async def run(args: argparse.Namespace) -> dict[str, Any]:
    n = 200 if args.quick else 2000
    sizes = [1000] if args.quick else [int(size) for size in args.sizes.split(",")]
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

            if not args.search_only:
                results["sqlite"] = await measure("sqlite", open_sqlite, sqlite_floor, n)
            results["search sqlite"] = await measure_search(probe, sizes, args.dimension, n // 20)
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

            if not args.search_only:
                results["postgres"] = await measure("postgres", open_postgres, postgres_floor, n)
            results["search postgres"] = await measure_search(probe_pg, sizes, args.dimension, n // 20)
        finally:
            await probe_pg.close()
            conn = await asyncpg.connect(url)
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            await conn.close()
        pgvector = await pgvector_database(url)
        if isinstance(pgvector, str):
            results["search pgvector skipped"] = pgvector
        else:
            database, server = pgvector
            store = await PostgresStore.open(database, vector_search="pgvector")
            try:
                results["search pgvector"] = await measure_search(store, sizes, args.dimension, n // 20)
            finally:
                await store.close()
                await _run_sql(url, f'DROP DATABASE IF EXISTS "{server}" WITH (FORCE)')
    results["n"] = n
    results["dimension"] = args.dimension
    results["loadavg_1m"] = os.getloadavg()[0]
    results["cpus"] = os.cpu_count()
    return results


async def _run_sql(url: str, sql: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def pgvector_database(url: str) -> tuple[str, str] | str:
    """(URL, name) of a database made on `url`'s server with the pgvector extension, or why not."""
    name = "agenthost_bench_pgvector_" + uuid.uuid4().hex[:8]
    database = urlsplit(url)._replace(path=f"/{name}").geturl()
    try:
        await _run_sql(url, f'CREATE DATABASE "{name}"')
    except (OSError, asyncpg.PostgresError) as exc:
        return f"cannot make a database: {exc}"
    try:
        await _run_sql(database, "CREATE EXTENSION vector")
    except (OSError, asyncpg.PostgresError) as exc:
        await _run_sql(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        return f"no pgvector: {exc}"
    return database, name


def report(results: dict[str, Any]) -> None:
    if "search pgvector skipped" in results:
        print(f"search pgvector skipped: {results['search pgvector skipped']}")
    for backend in ("sqlite", "postgres", "pgvector"):
        if f"search {backend}" in results:
            print(
                f"search {backend} (us)     first      p50      p99  by room p50  after 1 write  floor  x floor"
                "  filled/s"
            )
            for size, f in results[f"search {backend}"].items():
                print(
                    f"  {size:>8} memories {f['first_us']:9.0f} {f['p50_us']:8.0f} {f['p99_us']:8.0f} "
                    f"{f['by_room_p50_us']:12.0f} {f['after_one_write_us']:14.0f} {f['floor_p50_us']:6.0f} "
                    f"{f['x_floor']:8.2f} {f['filled_per_s']:9.0f}"
                )
        if backend not in results:
            continue
        print(f"{backend}{'':24} p50 (us)  p99 (us)  x floor    ops/s")
        for side, f in results[backend].items():
            print(f"  {side:28} {f['p50_us']:8.1f}  {f['p99_us']:8.1f}  {f['x_floor']:7.2f}  {f['ops_per_s']:7.0f}")
    print(json.dumps(results, separators=(",", ":")))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else "")
    parser.add_argument("--quick", action="store_true", help="a smoke run")
    parser.add_argument("--search-only", action="store_true", help="only the similarity search figures")
    parser.add_argument("--dimension", type=int, default=384, help="vector length for the search figures")
    parser.add_argument("--sizes", default="10000,100000", help="memories per search figure, comma-separated")
    return run_and_report(run, report, parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
