"""Benchmark: the lease operations a deployment's coordinator needs, on PostgreSQL, Redis and NATS
JetStream KV, each against its own bare round trip (issue 15's choice of engine).

Per engine, one key per partition, a lease of 6 s:
- floor: PostgreSQL `SELECT 1`; Redis `PING`; NATS a flush (PING/PONG to the server);
- claim: take a free key atomically (PG `UPDATE ... WHERE host_id IS NULL OR lease_until < now()`;
  Redis `SET NX PX`; NATS KV `create`, which on a released key is a create then an update on the
  delete marker's revision, as nats-py does it);
- renew: extend a held lease if still ours (PG `UPDATE ... WHERE host_id = me`; Redis a Lua
  GET-compare-PEXPIRE; NATS KV `update` with the last revision, the bucket's TTL as the lease);
- release: give it up if still ours (PG `UPDATE ... SET host_id = NULL`; Redis Lua compare-DEL;
  NATS KV `delete` with the last revision);
- read all: the 64 keys' holders (PG one SELECT; Redis MGET; NATS 64 concurrent `get`s);
- tick: what a coordinator does each tick for 64 partitions in each engine's cheapest form:
  heartbeat + renew its 64 leases + read every host and partition. PG: the coordinator's own tick
  statement (host/deployment/coordinator.py, one statement); Redis: one pipeline (SET PX, 64
  EVALSHA, MGET); NATS: heartbeat put, 64 updates and 64 gets sent concurrently, then awaited.

Then the failover at the design's defaults (lease 6 s, tick 1 s, 64 partitions): two coordinators
in this process and a third in a child process, SIGKILLed; the time from the kill until the others
own all of its partitions, against the bound lease + tick (--failovers times; 0 skips it).

Rounds interleave the engines (round r: each engine's ops in turn) so that all see the same load
on a shared machine; report ratios within one run. An engine that is unreachable, or whose client
library is missing, is reported as skipped. Per message, the coordinator does no engine operation
at all (ownership is in memory), so these are per-tick and per-move costs.

    .venv/bin/python bench/coordination_engines.py            # ~2 min
    .venv/bin/python bench/coordination_engines.py --quick    # smoke run

URLs: AGENTHOST_BENCH_DATABASE_URL / AGENTHOST_TEST_DATABASE_URL (default the local `test`
database; a schema of its own, dropped after), --redis (127.0.0.1:6379), --nats (127.0.0.1:4222).
Last line: one JSON object. Client libraries (not the host's dependencies): redis, nats-py.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from typing import Any, Awaitable, Callable

import asyncpg
from common import percentile, run_and_report

from host.deployment.coordinator import Coordinator
from host.deployment.statements import TICK
from host.deployment.tables import HOSTS, PARTITIONS, create_tables

KEYS = 64
LEASE_S = 6.0
OPS = ("floor", "claim", "renew", "release", "read all", "tick")
Op = Callable[[], Awaitable[object]]


class Engine:
    """One engine's lease operations on keys 0..KEYS-1. `setup_ops` leaves key 0 free and the rest
    held by this host (claim and release then alternate on key 0, renew works on the last key);
    `setup_tick` has all 64 held, as a tick renews them all."""

    name = ""

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def setup_ops(self) -> None: ...

    async def setup_tick(self) -> None: ...

    async def floor(self) -> object: ...

    async def claim(self) -> None: ...

    async def renew(self) -> None: ...

    async def release(self) -> None: ...

    async def read_all(self) -> None: ...

    async def tick(self) -> None: ...

    def ops(self) -> dict[str, Op]:
        return dict(zip(OPS, (self.floor, self.claim, self.renew, self.release, self.read_all, self.tick)))


class Postgres(Engine):
    """The coordinator's own tables (host/deployment/tables.py) in a schema of their own.
    `synchronous_commit = off` shows what the commit's WAL flush costs (the coordinator keeps it on:
    an acknowledged claim lost in a database crash could let two hosts hold one partition)."""

    def __init__(self, dsn: str, synchronous_commit: bool = True) -> None:
        self.name = "PostgreSQL" if synchronous_commit else "PostgreSQL, synchronous_commit off"
        self.dsn = dsn
        self.settings = {} if synchronous_commit else {"synchronous_commit": "off"}
        self.schema = "bench_coord_" + uuid.uuid4().hex[:10]
        self.me = "bench-host"
        self.conn: asyncpg.Connection | None = None

    async def open(self) -> None:
        self.conn = await asyncpg.connect(self.dsn, server_settings={"search_path": self.schema, **self.settings})
        await create_tables(self.conn, self.schema, KEYS)
        await self.conn.execute(f"INSERT INTO {HOSTS} (host_id, address) VALUES ($1, 'x')", self.me)

    async def close(self) -> None:
        if self.conn is not None:
            await self.conn.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')
            await self.conn.close()

    def _conn(self) -> asyncpg.Connection:
        assert self.conn is not None
        return self.conn

    async def setup_ops(self) -> None:
        await self._conn().execute(
            f"UPDATE {PARTITIONS} SET host_id = CASE WHEN partition = 0 THEN NULL ELSE $1 END, "
            "lease_until = CASE WHEN partition = 0 THEN NULL ELSE now() + interval '1 hour' END",
            self.me,
        )

    async def setup_tick(self) -> None:
        await self._conn().execute(
            f"UPDATE {PARTITIONS} SET host_id = $1, lease_until = now() + interval '1 hour'", self.me
        )

    async def floor(self) -> object:
        return await self._conn().fetchval("SELECT 1")

    async def claim(self) -> None:
        sql = (
            f"UPDATE {PARTITIONS} SET host_id = $1, lease_until = now() + make_interval(secs => $3), "
            "epoch = epoch + 1 WHERE partition = $2 AND (host_id IS NULL OR lease_until < now()) RETURNING epoch"
        )
        if await self._conn().fetchval(sql, self.me, 0, LEASE_S) is None:
            raise AssertionError("PostgreSQL: claim of a free key failed")

    async def renew(self) -> None:
        sql = (
            f"UPDATE {PARTITIONS} SET lease_until = now() + make_interval(secs => $3) "
            "WHERE partition = $2 AND host_id = $1 RETURNING partition"
        )
        if await self._conn().fetchval(sql, self.me, KEYS - 1, LEASE_S) is None:
            raise AssertionError("PostgreSQL: renew of a held key failed")

    async def release(self) -> None:
        sql = f"UPDATE {PARTITIONS} SET host_id = NULL, lease_until = NULL WHERE partition = $2 AND host_id = $1"
        await self._conn().execute(sql, self.me, 0)

    async def read_all(self) -> None:
        if len(await self._conn().fetch(f"SELECT partition, host_id, lease_until FROM {PARTITIONS}")) != KEYS:
            raise AssertionError("PostgreSQL: read all")

    async def tick(self) -> None:
        row = await self._conn().fetchrow(TICK, self.me, '{"runs": 3}', False, LEASE_S)
        if row is None or len(row["renewed"]) != KEYS:
            raise AssertionError("PostgreSQL: tick did not renew all 64")


_RENEW_LUA = (
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end"
)
_RELEASE_LUA = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end"


class Redis(Engine):
    name = "Redis"

    def __init__(self, url: str) -> None:
        self.url = url
        prefix = f"agenthost:bench:{uuid.uuid4().hex[:10]}"
        self.keys = [f"{prefix}:p:{i}" for i in range(KEYS)]
        self.host_key = f"{prefix}:host:bench-host"
        self.host_pattern = f"{prefix}:host:*"
        self.me = "bench-host"
        self.ms = int(LEASE_S * 1000)
        self.client: Any = None

    async def open(self) -> None:
        import redis.asyncio as aioredis

        self.client = aioredis.from_url(self.url)
        await self.client.ping()
        self.renew_sha = await self.client.script_load(_RENEW_LUA)
        self.release_sha = await self.client.script_load(_RELEASE_LUA)

    async def close(self) -> None:
        if self.client is not None:
            await self.client.delete(*self.keys, self.host_key)
            await self.client.aclose()

    async def setup_ops(self) -> None:
        await self.client.delete(self.keys[0])
        for key in self.keys[1:]:
            await self.client.set(key, self.me, px=self.ms)

    async def setup_tick(self) -> None:
        for key in self.keys:
            await self.client.set(key, self.me, px=self.ms)

    async def floor(self) -> object:
        return await self.client.ping()

    async def claim(self) -> None:
        if not await self.client.set(self.keys[0], self.me, nx=True, px=self.ms):
            raise AssertionError("Redis: claim of a free key failed")

    async def renew(self) -> None:
        if not await self.client.evalsha(self.renew_sha, 1, self.keys[-1], self.me, self.ms):
            raise AssertionError("Redis: renew of a held key failed")

    async def release(self) -> None:
        await self.client.evalsha(self.release_sha, 1, self.keys[0], self.me)

    async def read_all(self) -> None:
        if len(await self.client.mget(self.keys)) != KEYS:
            raise AssertionError("Redis: read all")

    async def tick(self) -> None:
        pipe = self.client.pipeline(transaction=False)
        pipe.set(self.host_key, json.dumps({"address": "x", "load": {"runs": 3}}), px=self.ms)
        for key in self.keys:
            pipe.evalsha(self.renew_sha, 1, key, self.me, self.ms)
        pipe.mget(self.keys)
        pipe.keys(self.host_pattern)
        results = await pipe.execute()
        if sum(results[1 : KEYS + 1]) != KEYS:
            raise AssertionError("Redis: tick did not renew all 64")


class Nats(Engine):
    """A KV bucket whose TTL is the lease: a key not written again within it is gone."""

    name = "NATS JetStream KV"

    def __init__(self, url: str) -> None:
        self.url = url
        self.bucket = "agenthost_bench_" + uuid.uuid4().hex[:10]
        self.me = b"bench-host"
        self.nc: Any = None
        self.kv: Any = None
        self.revisions: dict[int, int] = {}

    async def open(self) -> None:
        import nats

        self.nc = await nats.connect(self.url, connect_timeout=3, max_reconnect_attempts=0)
        self.js = self.nc.jetstream()
        self.kv = await self.js.create_key_value(bucket=self.bucket, ttl=LEASE_S, history=1)

    async def close(self) -> None:
        if self.nc is not None:
            try:
                await self.js.delete_key_value(self.bucket)
            finally:
                await self.nc.close()

    async def setup_ops(self) -> None:
        await self.kv.delete("p0", last=await self.kv.put("p0", self.me))
        self.revisions.pop(0, None)
        for i in range(1, KEYS):
            self.revisions[i] = await self.kv.put(f"p{i}", self.me)

    async def setup_tick(self) -> None:
        for i in range(KEYS):
            self.revisions[i] = await self.kv.put(f"p{i}", self.me)

    async def floor(self) -> object:
        return await self.nc.flush()

    async def claim(self) -> None:
        self.revisions[0] = await self.kv.create("p0", self.me)

    async def renew(self) -> None:
        await self._renew(KEYS - 1)

    async def _renew(self, i: int) -> None:
        self.revisions[i] = await self.kv.update(f"p{i}", self.me, last=self.revisions[i])

    async def release(self) -> None:
        await self.kv.delete("p0", last=self.revisions.pop(0))

    async def _get(self, i: int) -> bytes | None:
        """Key i's holder; None when it is free (never written, deleted, or expired)."""
        from nats.js.errors import KeyNotFoundError

        try:
            return (await self.kv.get(f"p{i}")).value
        except KeyNotFoundError:  # KeyDeletedError is one too
            return None

    async def read_all(self) -> None:
        await asyncio.gather(*(self._get(i) for i in range(KEYS)))

    async def tick(self) -> None:
        beat = self.kv.put("host.bench-host", json.dumps({"address": "x", "load": {"runs": 3}}).encode())
        await asyncio.gather(beat, *(self._renew(i) for i in range(KEYS)), *(self._get(i) for i in range(KEYS)))


async def sample(op: Op, n: int, into: list[int]) -> None:
    for _ in range(n):
        start = time.perf_counter_ns()
        await op()
        into.append(time.perf_counter_ns() - start)


async def measure_round(engine: Engine, ops: dict[str, Op], n: int, ticks: int, samples: dict[str, list[int]]) -> None:
    """One round of every op on `engine`: claim and release alternate on key 0 (each is timed)."""
    await engine.setup_ops()
    await sample(ops["floor"], n, samples["floor"])
    for _ in range(n):
        await sample(ops["claim"], 1, samples["claim"])
        await sample(ops["release"], 1, samples["release"])
    await sample(ops["renew"], n, samples["renew"])
    await sample(ops["read all"], n, samples["read all"])
    await engine.setup_tick()
    await sample(ops["tick"], ticks, samples["tick"])


_CHILD = """
import asyncio, sys
from host.deployment.coordinator import Coordinator

async def main():
    coordinator = Coordinator(sys.argv[1], sys.argv[2], "127.0.0.1:0")
    await coordinator.start()
    print("started", flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


async def failover(dsn: str, count: int) -> dict[str, Any]:
    """Seconds from a coordinator's SIGKILL to the others owning all its partitions, `count` times,
    at the defaults (lease 6 s, tick 1 s, 64 partitions)."""
    logging.getLogger("host.deployment").setLevel(logging.ERROR)  # each kill is logged as a dead host
    schema = "bench_failover_" + uuid.uuid4().hex[:10]
    url = f"{dsn}?schema={schema}"
    survivors = [Coordinator(url, f"bench-{name}-{uuid.uuid4().hex[:6]}", "127.0.0.1:0") for name in "ab"]
    await asyncio.gather(*(c.start() for c in survivors))
    moves: list[float] = []
    try:
        for _ in range(count):
            child_id = f"bench-child-{uuid.uuid4().hex[:6]}"
            child = subprocess.Popen([sys.executable, "-c", _CHILD, url, child_id], stdout=subprocess.PIPE, text=True)
            try:
                assert child.stdout is not None
                if (await asyncio.to_thread(child.stdout.readline)).strip() != "started":
                    raise RuntimeError("the child coordinator did not start")
                deadline = time.monotonic() + 30
                while not (held := [p for p in range(64) if (o := survivors[0].owner(p)) and o.host_id == child_id]):
                    if time.monotonic() > deadline:
                        raise RuntimeError("the child coordinator took no partition in 30 s")
                    await asyncio.sleep(0.05)
                await asyncio.sleep(2.0)  # its share settled
                held = [p for p in range(64) if (o := survivors[0].owner(p)) and o.host_id == child_id]
                child.send_signal(signal.SIGKILL)
                killed = time.monotonic()
                while not all(any(c.owns(p) for c in survivors) for p in held):
                    if time.monotonic() - killed > 30:
                        raise RuntimeError("the dead coordinator's partitions did not move in 30 s")
                    await asyncio.sleep(0.01)
                moves.append(time.monotonic() - killed)
            finally:
                if child.poll() is None:
                    child.kill()
                child.wait()
    finally:
        await asyncio.gather(*(c.stop(drain_timeout_s=0) for c in survivors))
        conn = await asyncpg.connect(dsn)
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await conn.close()
    return {
        "runs": len(moves),
        "min_s": min(moves),
        "median_s": statistics.median(moves),
        "max_s": max(moves),
        "bound_s": survivors[0].lease_s + survivors[0].tick_s,
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    dsn = os.environ.get("AGENTHOST_BENCH_DATABASE_URL") or os.environ.get(
        "AGENTHOST_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"
    )
    candidates: list[Engine] = [
        Postgres(dsn),
        Postgres(dsn, synchronous_commit=False),
        Redis(args.redis),
        Nats(args.nats),
    ]
    engines: list[tuple[Engine, dict[str, Op]]] = []
    skipped: dict[str, str] = {}
    for engine in candidates:
        try:
            await asyncio.wait_for(engine.open(), 10)
            engines.append((engine, engine.ops()))
        except Exception as exc:  # unreachable, or the client library is missing
            skipped[engine.name] = f"{type(exc).__name__}: {exc}"
            print(f"skipped {engine.name}: {skipped[engine.name]}", file=sys.stderr)
    samples: dict[str, dict[str, list[int]]] = {engine.name: {op: [] for op in OPS} for engine, _ in engines}
    try:
        for engine, ops in engines:  # warm-up: connections, prepared statements, scripts
            await measure_round(engine, ops, max(5, args.n // 10), 5, {op: [] for op in OPS})
        for _ in range(args.rounds):
            for engine, ops in engines:
                await measure_round(engine, ops, args.n, args.ticks, samples[engine.name])
    finally:
        for engine, _ in engines:
            await engine.close()
    result: dict[str, Any] = {"keys": KEYS, "rounds": args.rounds, "engines": {}, "skipped": skipped}
    if args.failovers and "PostgreSQL" not in skipped:
        result["failover"] = await failover(dsn, args.failovers)
    for name, by_op in samples.items():
        figures = {}
        for op, values in by_op.items():
            values.sort()
            figures[op] = {"p50_us": percentile(values, 0.5), "p99_us": percentile(values, 0.99), "n": len(values)}
        floor = figures["floor"]["p50_us"]
        for op_figures in figures.values():
            op_figures["x_floor"] = op_figures["p50_us"] / floor
        result["engines"][name] = figures
    return result


def report(result: dict[str, Any]) -> None:
    print(
        f"lease operations, {result['keys']} partitions, {result['rounds']} interleaved rounds "
        "(p50 / p99 us, p50 / own floor)"
    )
    for name, figures in result["engines"].items():
        print(f"\n{name}")
        for op in OPS:
            f = figures[op]
            print(f"  {op:<9} {f['p50_us']:9.1f} {f['p99_us']:9.1f}   {f['x_floor']:5.2f}x   (n={f['n']})")
    for name, reason in result["skipped"].items():
        print(f"\n{name}: skipped ({reason})")
    if "failover" in result:
        f = result["failover"]
        print(
            f"\nfailover, lease 6 s, tick 1 s: SIGKILL -> partitions owned by the others in {f['min_s']:.2f} / "
            f"{f['median_s']:.2f} / {f['max_s']:.2f} s (min / median / max of {f['runs']}; bound {f['bound_s']:.0f} s)"
        )
    print(json.dumps(result))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--nats", default="nats://127.0.0.1:4222")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("-n", type=int, default=400, help="samples of each op per round")
    parser.add_argument("--ticks", type=int, default=100, help="ticks per round")
    parser.add_argument("--failovers", type=int, default=5, help="SIGKILLs measured at the defaults (0: none)")
    parser.add_argument("--quick", action="store_true", help="2 rounds of 40 ops and 10 ticks, 1 failover")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.n, args.ticks, args.failovers = 2, 40, 10, min(args.failovers, 1)
    return run_and_report(run, report, args)


if __name__ == "__main__":
    sys.exit(main())
