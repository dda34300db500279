"""Sending a message again with the same id (a client after a lost connection, a host forwarding
it to its room's new owner) does not run it again: its run's events are streamed again, RUN_ENDED
saying `replayed`, once that run has ended. A real host, a model plugin process that counts its
calls (tests/counting_model_plugin.py), over AgentService.SendMessage and Converse."""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any, AsyncIterator

import asyncpg
import grpc
import pytest
from agenthost.v1 import agent_pb2, agent_pb2_grpc, types_pb2
from store_backends import PG_URL
from support import FAST, api_channel
from test_pipeline import as_dict, of

from host.config import DatabaseConfig
from host.host import Host
from host.store import RunRecord
from host.store.records import RUN_INTERRUPTED, now_ms
from plugin_sdk import PluginSpec
from plugin_sdk.types import Content, Memory

COUNTING = PluginSpec(
    name="counting",
    version="1.0.0",
    command=(sys.executable, str(Path(__file__).with_name("counting_model_plugin.py"))),
)


def request(text: str, message_id: str = "", room: str = "room-1") -> agent_pb2.SendMessageRequest:
    return agent_pb2.SendMessageRequest(
        room_id=room, entity_id="user-1", content=types_pb2.Content(text=text), message_id=message_id
    )


async def send(host: Host, text: str, message_id: str = "", room: str = "room-1") -> list[dict[str, Any]]:
    async with api_channel(host) as channel:
        stub = agent_pb2_grpc.AgentServiceStub(channel)
        return [as_dict(e) async for e in stub.SendMessage(request(text, message_id, room), timeout=30)]


def reply(events: list[dict[str, Any]]) -> str:
    return str(of(events, "REPLY")[0]["text"])


def ended(events: list[dict[str, Any]]) -> dict[str, Any]:
    assert events[-1]["event"] == "RUN_ENDED"
    return dict(events[-1]["extra"])


async def model_calls(host: Host) -> str:
    return reply(await send(host, "calls?"))


async def test_a_message_sent_again_is_replayed_not_run_again(start_host: Any) -> None:
    host = await start_host(COUNTING)
    first = await send(host, "hello", "m-1")
    assert reply(first) == "call 1: hello"
    again = await send(host, "hello", "m-1")
    assert [e["event"] for e in again] == [e["event"] for e in first] == ["RUN_STARTED", "REPLY", "RUN_ENDED"]
    assert reply(again) == "call 1: hello"  # the same reply: the model was not asked again
    run_id = first[0]["run_id"]
    assert {e["run_id"] for e in again} == {run_id}  # the original run's events
    assert ended(first).get("replayed") is None
    replayed = ended(again)
    assert replayed["replayed"] is True and replayed["run_id"] == run_id and replayed["status"] == "completed"
    assert replayed["duration_ms"] == ended(first)["duration_ms"]  # the run's own RUN_ENDED, marked
    assert await model_calls(host) == "calls=1"
    # Stored once: one message, one run; the same text with another id is a new message.
    assert [r.id for r in await host.store.runs_of_message(host.agent_id, "m-1")] == [run_id]
    texts = [m.content.text for m in await host.store.get_memories(host.agent_id, "room-1", "messages", 20)]
    assert texts.count("hello") == 1
    assert reply(await send(host, "hello", "m-2")) == "call 2: hello"


async def test_a_message_sent_again_while_its_run_goes_waits_for_it_and_replays_it(start_host: Any) -> None:
    host = await start_host(COUNTING)
    async with api_channel(host) as channel:
        stub = agent_pb2_grpc.AgentServiceStub(channel)
        call = stub.SendMessage(request("slow 1.5 then answer", "m-slow"), timeout=30)
        started = as_dict(await call.read())
        assert started["event"] == "RUN_STARTED"  # stored: its run goes on
        began = time.monotonic()
        again = [as_dict(e) async for e in stub.SendMessage(request("slow 1.5 then answer", "m-slow"), timeout=30)]
        waited = time.monotonic() - began
        first = [started, *[as_dict(e) async for e in call]]
    assert reply(first) == reply(again) == "call 1: slow 1.5 then answer"
    assert ended(again)["replayed"] is True and ended(again)["run_id"] == started["run_id"]
    assert 0.8 < waited < 5.0, waited  # it waited for the run (the model takes 1.5 s), polled while it went
    assert await model_calls(host) == "calls=1"


async def test_a_conversation_sending_a_message_again_gets_it_replayed(start_host: Any) -> None:
    host = await start_host(COUNTING)
    async with api_channel(host) as channel:
        token = (("authorization", f"Bearer {host.api_token}"),)
        call = agent_pb2_grpc.AgentServiceStub(channel).Converse(timeout=30, metadata=token)
        runs = []
        for text, message_id in (("hi", "c-1"), ("hi", "c-1"), ("hi", "c-2")):
            await call.write(agent_pb2.ConverseRequest(message=request(text, message_id)))
            events: list[dict[str, Any]] = []
            while not events or events[-1]["event"] != "RUN_ENDED":
                events.append(as_dict((await call.read()).event))
            runs.append(events)
        await call.done_writing()
    assert [reply(r) for r in runs] == ["call 1: hi", "call 1: hi", "call 2: hi"]
    assert [ended(r).get("replayed", False) for r in runs] == [False, True, False]
    assert ended(runs[1])["run_id"] == runs[0][0]["run_id"]


async def test_a_run_whose_host_died_is_replayed_interrupted_once_the_sweep_ends_it(start_host: Any) -> None:
    host = await start_host(COUNTING)
    # As another host of the deployment left it when it was killed: the message stored, its run open.
    message = Memory(
        agent_id=host.agent_id, id="m-orphan", room_id="room-1", entity_id="u", content=Content(text="lost")
    )
    gone = RunRecord(host.agent_id, room_id="room-1", message_id="m-orphan", host_id="host-gone")
    await host.store.begin_run(message, gone, 1)
    resend = asyncio.create_task(send(host, "lost", "m-orphan"))
    await asyncio.sleep(0.5)
    assert not resend.done()  # waiting for the run to end
    swept = await host.store.interrupt_orphaned_runs(["host-live"], now_ms() + 1)
    assert [r.id for r in swept] == [gone.id]
    events = await asyncio.wait_for(resend, 5)
    assert [e["event"] for e in events] == ["RUN_ENDED"]  # the run never streamed anything kept
    outcome = ended(events)
    assert outcome["replayed"] is True and outcome["run_id"] == gone.id and outcome["status"] == RUN_INTERRUPTED
    assert outcome["error"] == "host host-gone stopped answering (deployment)"
    assert await model_calls(host) == "calls=0"


async def test_a_run_still_going_at_the_deadline_ends_the_resend_failed_naming_it(start_host: Any) -> None:
    host = await start_host(COUNTING, supervision=replace(FAST, run_timeout=1.5))
    message = Memory(agent_id=host.agent_id, id="m-stuck", room_id="room-1", entity_id="u", content=Content(text="x"))
    stuck = RunRecord(host.agent_id, room_id="room-1", message_id="m-stuck", host_id="host-slow")
    await host.store.begin_run(message, stuck, 1)
    began = time.monotonic()
    outcome = ended(await send(host, "x", "m-stuck"))
    assert time.monotonic() - began < 3.0
    assert outcome["status"] == "failed"
    assert outcome["error"] == (
        f"message m-stuck is being handled by run {stuck.id} on host host-slow, still going: "
        f"its outcome is run {stuck.id}'s (GetRun)"
    )


async def test_an_id_taken_by_another_memory_fails_the_run_clearly_and_a_long_one_is_refused(start_host: Any) -> None:
    host = await start_host(COUNTING)
    first = await send(host, "hello", "m-1")
    said = await host.store.get_memories(host.agent_id, "room-1", "messages", 1)  # the agent's reply
    assert said[0].content.text == reply(first)
    outcome = ended(await send(host, "hello", said[0].id))
    assert outcome["status"] == "failed"
    assert outcome["error"] == (
        f"a memory with id {said[0].id!r} is stored already, and no run of this agent handled it: "
        "give the message a new id (or none)"
    )
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await send(host, "hello", "m" * 129)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert refused.value.details() == "message_id is 129 characters, over the limit of 128"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.skipif(not PG_URL, reason="no PG"))])
async def database(request: pytest.FixtureRequest) -> AsyncIterator[DatabaseConfig]:
    """The host's store: its SQLite file, or a schema of its own on the test PostgreSQL (dropped after)."""
    if request.param == "sqlite":
        yield DatabaseConfig()
        return
    schema = "idempotent_" + uuid.uuid4().hex[:12]
    yield DatabaseConfig(url=f"{PG_URL}?schema={schema}")
    conn = await asyncpg.connect(PG_URL)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


async def test_the_same_message_sent_twice_at_once_runs_once(start_host: Any, database: DatabaseConfig) -> None:
    host = await start_host(COUNTING, database=database)
    both = await asyncio.gather(*(send(host, "slow 0.5 twins", "m-twin") for _ in range(2)))
    assert [reply(events) for events in both] == ["call 1: slow 0.5 twins"] * 2
    assert sorted(ended(events).get("replayed", False) for events in both) == [False, True]
    assert len(await host.store.runs_of_message(host.agent_id, "m-twin")) == 1
    assert await model_calls(host) == "calls=1"
