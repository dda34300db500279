"""Runs across hosts, on SQLite and (when configured) PostgreSQL: each run records its host, the
deployment's sweep ends the runs of hosts gone (once, however many hosts sweep at once), a
message's runs are found by its id, and a database of the version before gets the column."""

from __future__ import annotations

import asyncio

from store_backends import Database, database_fixture, store_fixture  # noqa: F401  (fixtures)

from host.store import RunRecord
from host.store.migrations import MIGRATIONS, Dialect
from host.store.records import RUN_INTERRUPTED, RUN_STARTED
from host.store.sql_store import SqlStore
from plugin_sdk.types import Content, Memory

A, B = "agent-a", "agent-b"


async def test_a_run_records_its_host(store: SqlStore) -> None:
    started = await store.start_run(RunRecord(A, room_id="r1", message_id="m1", host_id="host-1"))
    assert (await store.get_run(A, started.id)).host_id == "host-1"  # type: ignore[union-attr]
    message = Memory(agent_id=A, room_id="r1", entity_id="u", content=Content(text="hi"))
    begun = RunRecord(A, room_id="r1", host_id="host-2")
    await store.begin_run(message, begun, 1)
    assert (await store.get_run(A, begun.id)).host_id == "host-2"  # type: ignore[union-attr]
    ended = await store.end_run(A, begun.id, "completed")
    assert ended is not None and ended.host_id == "host-2"
    assert await store.get_run(A, begun.id) == ended
    alone = await store.start_run(RunRecord(A, room_id="r1"))
    assert (await store.get_run(A, alone.id)).host_id == ""  # type: ignore[union-attr]


async def test_the_sweep_ends_open_runs_of_hosts_not_live_started_before_the_time(store: SqlStore) -> None:
    def run(agent: str, host: str, at: int) -> RunRecord:
        return RunRecord(agent, room_id="r", message_id=f"m-{agent}-{host}-{at}", host_id=host, started_at_ms=at)

    dead_a = await store.start_run(run(A, "dead", 1000))
    dead_b = await store.start_run(run(B, "dead", 1001))  # every agent's
    dead_ended = await store.start_run(run(A, "dead", 1002))
    await store.end_run(A, dead_ended.id, "completed")
    late = await store.start_run(run(A, "dead", 5000))  # started after the read: left alone
    live = await store.start_run(run(A, "live", 1000))
    other_live = await store.start_run(run(B, "also-live", 1000))
    no_host = await store.start_run(run(A, "", 1000))  # a host on its own: its start ends them

    swept = await store.interrupt_orphaned_runs(["live", "also-live"], 2000)
    assert [(r.agent_id, r.id) for r in swept] == [(A, dead_a.id), (B, dead_b.id)]
    for r in swept:
        assert r.status == RUN_INTERRUPTED and r.ended_at_ms > 0 and r.host_id == "dead"
        assert r.error == "host dead stopped answering (deployment)"
        assert await store.get_run(r.agent_id, r.id) == r
    assert (await store.get_run(A, dead_ended.id)).status == "completed"  # type: ignore[union-attr]
    for agent, kept in ((A, late), (A, live), (B, other_live), (A, no_host)):
        assert (await store.get_run(agent, kept.id)).status == RUN_STARTED  # type: ignore[union-attr]
    assert await store.interrupt_orphaned_runs(["live", "also-live"], 2000) == []  # once
    # No live host at all: every host's runs before the time.
    everyone = await store.interrupt_orphaned_runs([], 6000)
    assert {r.id for r in everyone} == {late.id, live.id, other_live.id}


async def test_hosts_sweeping_at_once_end_each_run_once(database: Database) -> None:
    stores = [await database.open() for _ in range(4)]
    opened = [
        await stores[0].start_run(RunRecord(A, room_id=f"r{i}", message_id=f"m{i}", host_id="gone", started_at_ms=10))
        for i in range(40)
    ]
    for _ in range(3):  # a few rounds: the race is real each time
        swept = await asyncio.gather(*(s.interrupt_orphaned_runs(["h0", "h1", "h2", "h3"], 1000) for s in stores))
        ids = [r.id for found in swept for r in found]
        assert sorted(ids) == sorted(r.id for r in opened) or ids == []
        assert len(ids) == len(set(ids))  # none ended twice
    for r in opened:
        assert (await stores[1].get_run(A, r.id)).status == RUN_INTERRUPTED  # type: ignore[union-attr]


async def test_a_messages_runs_are_found_by_its_id(store: SqlStore) -> None:
    first = await store.start_run(RunRecord(A, room_id="r", message_id="m1", started_at_ms=1000))
    second = await store.start_run(RunRecord(A, room_id="r", message_id="m1", started_at_ms=2000))
    await store.start_run(RunRecord(A, room_id="r", message_id="m2"))
    await store.start_run(RunRecord(B, room_id="r", message_id="m1"))  # another agent's
    assert [r.id for r in await store.runs_of_message(A, "m1")] == [second.id, first.id]  # newest first
    assert await store.runs_of_message(A, "nope") == []
    assert [r.agent_id for r in await store.runs_of_message(B, "m1")] == [B]


async def test_a_database_of_the_version_before_gets_the_host_column(database: Database) -> None:
    before = [m for m in MIGRATIONS if m.version < 5]
    dialect: Dialect = "postgres" if database.backend == "postgres" else "sqlite"
    statements = [sql for m in before for sql in m.sql(dialect)]
    bigint = "BIGINT" if dialect == "postgres" else "INTEGER"
    await database.run(
        *statements,
        f"CREATE TABLE store_schema_version (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at_ms {bigint})",
        *(f"INSERT INTO store_schema_version VALUES ({m.version}, 'x', 0)" for m in before),
        "INSERT INTO runs (agent_id, id, room_id, message_id, status, started_at_ms, timings, error) "
        "VALUES ('agent-a', 'old-run', 'r', 'm', 'started', 10, '{}', '')",
    )
    store = await database.open()
    (versions,) = await database.run("SELECT version FROM store_schema_version ORDER BY version")
    assert [v for (v,) in versions] == [m.version for m in MIGRATIONS]
    old = await store.get_run(A, "old-run")
    assert old is not None and old.host_id == "" and old.status == RUN_STARTED
    assert await store.interrupt_orphaned_runs([], 1000) == []  # a run of no host is not the sweep's
    assert [r.id for r in await store.runs_of_message(A, "m")] == ["old-run"]
