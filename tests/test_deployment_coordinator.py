"""The deployment's coordination layer (host/deployment/) on a real PostgreSQL: partitions spread
over hosts and move when one joins, stops, dies (a SIGKILLed process) or loses the database;
messages between hosts over LISTEN/NOTIFY, across a lost listening connection.

The server is $AGENTHOST_TEST_DATABASE_URL, else the local one's database `test`; each test's
tables live in a schema of their own, dropped after. Skipped with the reason when the server
cannot be reached. Leases here are short (LEASE_S, TICK_S) so that moves take seconds.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable
from urllib.parse import urlsplit

import asyncpg
import pytest

from host.deployment.broadcast import Listener, encode
from host.deployment.coordinator import FENCE_S, Coordinator
from host.deployment.partitions import assignment, partition_of, rendezvous_owner
from host.deployment.tables import PartitionCountMismatch

SERVER = os.environ.get("AGENTHOST_TEST_DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/test"
ROOT = Path(__file__).resolve().parent.parent
LEASE_S = 3.0
TICK_S = 0.5
PARTITIONS = 64  # 4 hosts: the chance that one is desired for none is 4 x (3/4)^64
#: Scheduling slack on a shared 2-core machine, on top of each bound the design gives.
SLACK_S = 1.0


# -- pure functions --------------------------------------------------------------------------


def test_partition_is_stable_across_processes() -> None:
    keys = [(f"agent-{i}", f"room-{i * 7}") for i in range(50)]
    here = [partition_of(a, r, 64) for a, r in keys]
    code = "import sys, json; from host.deployment.partitions import partition_of; " + (
        f"print(json.dumps([partition_of(a, r, 64) for a, r in {keys!r}]))"
    )
    other = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
        env={**os.environ, "PYTHONHASHSEED": "123"},
    )
    assert here == eval(other.stdout)  # noqa: S307 - our own subprocess's JSON list
    assert all(0 <= p < 64 for p in here)
    with pytest.raises(ValueError):
        partition_of("a", "b", 0)


def test_partitions_spread_rooms() -> None:
    counts = Counter(partition_of("agent", f"room-{i}", 16) for i in range(16_000))
    assert len(counts) == 16
    assert max(counts.values()) < 1.15 * 1000 and min(counts.values()) > 0.85 * 1000


def test_rendezvous_is_order_free_and_moves_little() -> None:
    hosts = [f"host-{i}" for i in range(3)]
    before = assignment(hosts, 256)
    assert before == assignment(list(reversed(hosts)), 256)
    assert rendezvous_owner(5, []) is None
    shares = Counter(before.values())
    assert set(shares) == set(hosts) and min(shares.values()) > 256 / 3 * 0.7
    joined = assignment([*hosts, "host-new"], 256)
    moved = [p for p in before if before[p] != joined[p]]
    assert moved and all(joined[p] == "host-new" for p in moved)  # a join takes, it does not reshuffle
    left = assignment(hosts[1:], 256)
    assert all(left[p] == before[p] for p in before if before[p] != "host-0")  # a leave moves only its share


# -- on PostgreSQL ---------------------------------------------------------------------------


@pytest.fixture
async def url() -> AsyncIterator[str]:
    """A fresh schema on the test server (dropped after), as a coordinator URL."""
    try:
        admin = await asyncpg.connect(SERVER, timeout=5)
    except (OSError, asyncio.TimeoutError, asyncpg.PostgresError) as exc:
        pytest.skip(f"PostgreSQL at {SERVER} is unreachable: {exc}")
    schema = "deploy_test_" + uuid.uuid4().hex[:12]
    try:
        yield f"{SERVER}?schema={schema}"
    finally:
        await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await admin.close()


class Hosts:
    """Coordinators of one deployment in this process, stopped after the test."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.started: list[Coordinator] = []

    def make(self, name: str, url: str | None = None, **options: Any) -> Coordinator:
        options = {"partitions": PARTITIONS, "lease_s": LEASE_S, "tick_s": TICK_S, **options}
        return Coordinator(url or self.url, f"{name}-{uuid.uuid4().hex[:6]}", f"127.0.0.1:{name}", **options)

    async def start(self, *coordinators: Coordinator) -> None:
        await asyncio.gather(*(c.start() for c in coordinators))
        self.started.extend(coordinators)

    async def close(self) -> None:
        await asyncio.gather(*(c.stop(drain_timeout_s=0) for c in self.started), return_exceptions=True)


@pytest.fixture
async def hosts(url: str) -> AsyncIterator[Hosts]:
    made = Hosts(url)
    yield made
    await made.close()


async def rows(url: str) -> dict[int, str | None]:
    """The partitions' holders, as the database has them."""
    dsn, schema = url.split("?schema=")
    conn = await asyncpg.connect(dsn, server_settings={"search_path": schema})
    try:
        return {
            r["partition"]: r["host_id"]
            for r in await conn.fetch("SELECT partition, host_id FROM deployment_partitions")
        }
    finally:
        await conn.close()


def settled(coordinators: list[Coordinator]) -> bool:
    """Every partition owned (owns() True) by exactly one of `coordinators`: its desired owner among
    them all (a host whose view is a tick old may still own one it is about to hand over); each
    with a share."""
    expected = assignment([c.host_id for c in coordinators], PARTITIONS)
    owners = [[c.host_id for c in coordinators if c.owns(p)] for p in range(PARTITIONS)]
    return all(owners[p] == [expected[p]] for p in range(PARTITIONS)) and set(expected.values()) == {
        c.host_id for c in coordinators
    }


async def until(check: Callable[[], bool | Awaitable[bool]], timeout_s: float, what: str) -> float:
    """Poll `check` every 20 ms; the seconds it took to hold. Fails the test after `timeout_s`."""
    start = time.monotonic()
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return time.monotonic() - start
        if time.monotonic() - start > timeout_s:
            pytest.fail(f"{what}: not within {timeout_s} s")
        await asyncio.sleep(0.02)


async def test_three_hosts_share_the_partitions_and_a_fourth_takes_its_share(url: str, hosts: Hosts) -> None:
    three = [hosts.make(name) for name in "abc"]
    await hosts.start(*three)  # at once: the tables are made once, under the advisory lock
    await until(lambda: settled(three), 4 * TICK_S + SLACK_S, "three hosts settle")
    await asyncio.gather(*(c.refresh() for c in three))  # each one's view of the others' claims: a tick old at most
    held = await rows(url)
    assert Counter(held.values()) == Counter({c.host_id: len(c.owned()) for c in three})
    for c in three:
        assert set(c.owned()) == {p for p, h in held.items() if h == c.host_id}
        assert (
            all((c.epoch(p) or 0) >= 1 for p in c.owned())
            and c.epoch(next(iter(set(range(64)) - set(c.owned())))) is None
        )
        assert {peer.host_id for peer in c.hosts()} == {x.host_id for x in three}
        owner = c.owner(0)
        assert owner is not None and owner.host_id == (await c.wait_owner(0, 1.0)).host_id
        assert owner.partitions == next(x.owned() for x in three if x.host_id == owner.host_id)

    fourth = hosts.make("d")
    joined = time.monotonic()
    await hosts.start(fourth)
    await until(lambda: settled([*three, fourth]), 6 * TICK_S + SLACK_S, "a fourth host takes its share")
    took = time.monotonic() - joined
    print(f"a joining host took its share ({len(fourth.owned())} partitions) in {took:.2f} s")
    assert {p for p, h in (await rows(url)).items() if h == fourth.host_id} == set(fourth.owned())
    # steady state: one statement a tick
    before = (fourth.ticks, fourth.statements)
    await asyncio.sleep(4 * TICK_S)
    ticks, statements = fourth.ticks - before[0], fourth.statements - before[1]
    assert ticks >= 3 and statements == ticks


async def test_tables_refuse_another_partition_count(url: str, hosts: Hosts) -> None:
    await hosts.start(hosts.make("a"))
    with pytest.raises(PartitionCountMismatch):
        await hosts.make("b", partitions=PARTITIONS * 2).start()


async def test_a_clean_stop_hands_over_once_runs_end(url: str, hosts: Hosts) -> None:
    runs: Counter[int] = Counter()
    a = hosts.make("a", busy=lambda p: runs[p])
    b = hosts.make("b")
    await hosts.start(a, b)
    await until(lambda: settled([a, b]), 4 * TICK_S + SLACK_S, "two hosts settle")
    kept = a.owned()[0]
    runs[kept] = 1  # a run still going in one of a's partitions
    epoch = a.epoch(kept)
    assert epoch is not None
    stopping = asyncio.create_task(a.stop(drain_timeout_s=30))
    await until(
        lambda: all(b.owns(p) for p in range(PARTITIONS) if p != kept), 4 * TICK_S + SLACK_S, "idle partitions move"
    )
    assert not a.owns(kept) and not b.owns(kept)  # nobody starts runs in it meanwhile
    assert a.owner(kept) is None  # a holds it but takes no run: no answer to "where to"
    held_by = b.owner(kept)
    assert held_by is not None and held_by.host_id == a.host_id and held_by.stopping
    assert (await rows(url))[kept] == a.host_id
    await asyncio.sleep(3 * TICK_S)
    assert not stopping.done() and (await rows(url))[kept] == a.host_id  # held while busy, renewed past its lease
    with pytest.raises(TimeoutError):
        await b.wait_owner(kept, TICK_S)
    runs[kept] = 0
    moved = await until(lambda: b.owns(kept), 4 * TICK_S + SLACK_S, "the last partition moves once idle")
    print(f"the busy partition moved {moved:.2f} s after its run ended")
    await asyncio.wait_for(stopping, 2.0)
    assert b.epoch(kept) == epoch + 1  # the fencing token grows with each claim
    assert [peer.host_id for peer in b.hosts()] in ([b.host_id], [a.host_id, b.host_id])
    await b.refresh()
    assert [peer.host_id for peer in b.hosts()] == [b.host_id]
    assert set((await rows(url)).values()) == {b.host_id}


_CHILD = textwrap.dedent("""
    import asyncio, sys
    from host.deployment.coordinator import Coordinator

    async def main():
        url, host_id, partitions, lease_s, tick_s = sys.argv[1:]
        options = {"partitions": int(partitions), "lease_s": float(lease_s), "tick_s": float(tick_s)}
        c = Coordinator(url, host_id, "127.0.0.1:child", **options)
        await c.start()
        print("started", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())
""")


async def test_a_killed_host_s_partitions_move_within_lease_and_tick(url: str, hosts: Hosts) -> None:
    swept: list[tuple[str, list[str], int]] = []
    dead: list[tuple[str, str]] = []

    def watcher(name: str) -> Coordinator:
        async def sweep(live: list[str], read_at_ms: int) -> int:
            swept.append((name, live, read_at_ms))
            return 0

        async def on_dead(host_id: str) -> None:
            dead.append((name, host_id))

        return hosts.make(name, sweep=sweep, on_dead=on_dead)

    a, b = watcher("a"), watcher("b")
    await hosts.start(a, b)
    child_id = f"child-{uuid.uuid4().hex[:6]}"
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, url, child_id, str(PARTITIONS), str(LEASE_S), str(TICK_S)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert (await asyncio.to_thread(child.stdout.readline)).strip() == "started"

        async def child_holds_its_share() -> bool:
            held = await rows(url)
            mine = {p for p, h in assignment([a.host_id, b.host_id, child_id], PARTITIONS).items() if h == child_id}
            return bool(mine) and all(held[p] == child_id for p in mine) and len(a.hosts()) == 3

        await until(child_holds_its_share, 6 * TICK_S + SLACK_S, "the child takes its share")

        async def others_settled() -> bool:
            held = await rows(url)
            return all(held[p] == child_id or a.owns(p) != b.owns(p) for p in range(PARTITIONS))

        await until(others_settled, 4 * TICK_S + SLACK_S, "a and b own the rest")
        orphans = {p for p, h in (await rows(url)).items() if h == child_id}
        assert orphans and not any(a.owns(p) or b.owns(p) for p in orphans)
        child.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        child.wait()
        moved = await until(
            lambda: all(a.owns(p) or b.owns(p) for p in orphans),
            LEASE_S + TICK_S + SLACK_S,
            "the dead host's partitions move",
        )
        print(
            f"SIGKILL -> its {len(orphans)} partitions owned by the others: {moved:.2f} s "
            f"(lease {LEASE_S} s, tick {TICK_S} s)"
        )
        # Not before its lease could have run out (it renewed a tick before it died, or a little more
        # if the machine stalled it), nor after lease + tick.
        assert LEASE_S - 2 * TICK_S <= moved <= LEASE_S + TICK_S + SLACK_S
        assert all(not (a.owns(p) and b.owns(p)) for p in range(PARTITIONS))
        await until(lambda: len(dead) == 1, 2 * TICK_S + SLACK_S, "one host saw it dead")
        assert dead[0][1] == child_id
        await until(
            lambda: any(child_id not in live and ms > 0 for _, live, ms in swept[-4:]), 2 * TICK_S + SLACK_S, "swept"
        )
        before_death = [live for _, live, _ in swept if child_id in live]
        assert before_death and all(set(live) == {a.host_id, b.host_id, child_id} for live in before_death)
        assert {name for name, _, _ in swept} == {"a", "b"}
        assert all(abs(ms - time.time() * 1000) < 60_000 for _, _, ms in swept)  # the database's clock, in ms
        assert time.monotonic() - killed < LEASE_S + 3 * TICK_S + 2 * SLACK_S
        assert len(dead) == 1  # exactly one on_dead
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


class Proxy:
    """A TCP proxy to the database that a test can blackhole: bytes stop flowing both ways and new
    connections hang, as when a network link is lost (no reset, no FIN)."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.open = True
        self._writers: list[asyncio.StreamWriter] = []
        self._server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        if not self.open:
            return  # hangs: never forwarded
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self._writers.append(up_writer)
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            if not self.open:
                await asyncio.Event().wait()  # blackholed: hold the connection, move nothing
            writer.write(data)
            await writer.drain()
        writer.close()

    async def close(self) -> None:
        for writer in self._writers:
            writer.close()
        if self._server is not None:
            self._server.close()


async def proxied(url: str) -> tuple[Proxy, str]:
    """A started Proxy to the test server, and `url` through it."""
    target = urlsplit(SERVER)
    proxy = Proxy(target.hostname or "127.0.0.1", target.port or 5432)
    await proxy.start()
    return proxy, urlsplit(url)._replace(netloc=f"{target.username or 'postgres'}@127.0.0.1:{proxy.port}").geturl()


async def test_owns_turns_false_before_another_host_may_claim(url: str, hosts: Hosts) -> None:
    proxy, via_proxy = await proxied(url)
    try:
        a = hosts.make("a", url=via_proxy)
        b = hosts.make("b")
        await hosts.start(a, b)
        await until(lambda: settled([a, b]), 4 * TICK_S + SLACK_S, "two hosts settle")
        mine = set(a.owned())
        proxy.open = False  # a's database is now unreachable, silently
        cut = time.monotonic()
        fenced: float | None = None
        claimed: float | None = None
        while claimed is None and time.monotonic() - cut < LEASE_S + TICK_S + SLACK_S + 2:
            if fenced is None and not any(a.owns(p) for p in mine):
                fenced = time.monotonic() - cut
            if any(b.owns(p) for p in mine):
                claimed = time.monotonic() - cut
                assert not any(a.owns(p) for p in mine), "both hosts own a partition"
            await asyncio.sleep(0.01)
        assert fenced is not None and claimed is not None
        print(f"database cut: a stops owning at {fenced:.2f} s, b claims at {claimed:.2f} s (lease {LEASE_S} s)")
        # by a's own clock, from its last renewal (sent before the cut); the 10 ms polls may run late
        assert fenced <= LEASE_S - FENCE_S + 0.3
        assert claimed - fenced >= FENCE_S - TICK_S  # a margin: a's fence comes well before b's claim
        await until(lambda: all(b.owns(p) for p in range(PARTITIONS)), TICK_S + SLACK_S, "b takes all")
        assert a.failed_ticks > 0
        proxy.open = True  # back: a finds its leases gone, registers again and takes a share anew
        await until(lambda: settled([a, b]), LEASE_S + 6 * TICK_S + SLACK_S, "a rejoins")
        assert len(set((await rows(url)).values())) == 2
        heard: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        a.subscribe("ping", heard.put)
        await until(lambda: a.listen_connections >= 2, 5.0, "a listens again")  # dropped with its failed ticks
        await b.publish("ping", {"n": 1})
        assert await asyncio.wait_for(heard.get(), 5) == {"n": 1}
    finally:
        await proxy.close()


async def test_a_silently_lost_listening_connection_is_found_and_opened_again(url: str) -> None:
    proxy, via_proxy = await proxied(url)
    heard: list[tuple[str, str, dict[str, Any]]] = []
    dsn = via_proxy.split("?")[0]
    listener = Listener(
        dsn, "agenthost_test_listener", lambda *m: heard.append(m), lambda: None, connect_timeout_s=1.0, check_s=0.3
    )
    try:
        await listener.start(5.0)
        assert listener.connections == 1
        proxy.open = False  # no reset, no FIN: only the check can tell
        await asyncio.sleep(0.3 + 1.0 + 0.5)  # a check, its timeout, and more
        assert not listener.connected
        proxy.open = True
        await until(lambda: listener.connected, 5.0, "listening again")
        assert listener.connections == 2
        admin = await asyncpg.connect(SERVER)
        try:
            await admin.execute("SELECT pg_notify($1, $2)", "agenthost_test_listener", encode("x", "k", {"n": 2}))
        finally:
            await admin.close()
        await until(lambda: heard == [("x", "k", {"n": 2})], 5.0, "heard after the loss")
    finally:
        await listener.close()
        await proxy.close()


async def test_publish_subscribe_and_a_lost_listening_connection(url: str, hosts: Hosts) -> None:
    a, b = hosts.make("a"), hosts.make("b")
    heard: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()

    def on(name: str) -> Callable[[dict[str, Any]], Awaitable[None]]:
        async def handler(payload: dict[str, Any]) -> None:
            await heard.put((name, payload))

        return handler

    a.subscribe("plugin.reload", on("a"))
    b.subscribe("plugin.reload", on("b"))
    await hosts.start(a, b)
    await b.publish("plugin.reload", {"plugin": "weather", "n": 1})
    assert await asyncio.wait_for(heard.get(), 5) == ("a", {"plugin": "weather", "n": 1})
    await asyncio.sleep(0.3)
    assert heard.empty()  # b does not hear itself
    big = {"big": "x" * 20_000}  # over NOTIFY's 8000 bytes: the operation is kept in its table
    await b.publish("plugin.reload", big)
    assert await asyncio.wait_for(heard.get(), 5) == ("a", big)
    with pytest.raises(ValueError):
        a.subscribe("_changed", on("a"))

    admin = await asyncpg.connect(SERVER)
    try:
        killed = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1",
            f"agenthost deployment listen {a.host_id}"[:63],
        )
    finally:
        await admin.close()
    assert killed == 1
    await until(lambda: a.listen_connections == 2, 5.0, "a listens again")
    await b.publish("plugin.reload", {"plugin": "weather", "n": 2})
    assert await asyncio.wait_for(heard.get(), 5) == ("a", {"plugin": "weather", "n": 2})
    await a.publish("plugin.reload", {"plugin": "time", "n": 3})
    assert await asyncio.wait_for(heard.get(), 5) == ("b", {"plugin": "time", "n": 3})


async def test_operations_published_while_a_host_was_not_listening_reach_it_in_order(url: str, hosts: Hosts) -> None:
    a, b = hosts.make("a"), hosts.make("b")
    heard: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def on_a(payload: dict[str, Any]) -> None:
        await heard.put(payload)

    a.subscribe("agent", on_a)
    await hosts.start(a, b)
    await a._listener.close()  # a hears nothing now (as when its listening connection is down)
    for n in range(3):
        await b.publish("agent", {"n": n})
    await a._listener.start(5.0)  # listening again: what was published meanwhile is read
    got = [await asyncio.wait_for(heard.get(), 5) for _ in range(3)]
    assert got == [{"n": 0}, {"n": 1}, {"n": 2}]
    await b.publish("agent", {"n": 3})
    assert await asyncio.wait_for(heard.get(), 5) == {"n": 3}
    await asyncio.sleep(0.3)
    assert heard.empty()  # each once
