"""Admission: a bounded number of an agent's runs at once, direct conversations before group
chatter, first come first served within each, and a bounded backlog: a message beyond it is
refused RESOURCE_EXHAUSTED with a retry hint, and nothing of it is stored."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import grpc
import pytest
from agenthost.v1 import agent_pb2, agent_pb2_grpc, types_pb2
from pipeline_support import character_file
from support import api_channel

from host.agent.admission import RETRY_AFTER_KEY, Admission, AdmissionSettings
from host.config import load_config
from plugin_sdk import PluginSpec

TESTS = Path(__file__).parent
CHAT = PluginSpec(name="chat", version="1.0.0", command=(sys.executable, str(TESTS / "chat_plugin.py")))


async def run_to_end(stub: Any, room: str, text: str, room_type: str) -> float:
    """Send; the loop time its RUN_ENDED came (the run must complete)."""
    request = agent_pb2.SendMessageRequest(
        room_id=room, entity_id=f"user-{room}", room_type=room_type, content=types_pb2.Content(text=text)
    )
    async for event in stub.SendMessage(request, timeout=30):
        if event.event_type == "RUN_ENDED":
            assert event.content.extra["status"] == "completed", event
            return asyncio.get_running_loop().time()
    raise AssertionError("no RUN_ENDED")


async def test_direct_messages_go_before_group_chatter_and_a_full_backlog_is_refused(start_host, tmp_path):
    # One run at a time, two waiting; the first run holds the slot for 1.5 s.
    ada = character_file(tmp_path, settings={"ADMISSION_MAX_RUNNING": "1", "ADMISSION_MAX_WAITING": "2"})
    host = await start_host(CHAT, character=ada)
    async with api_channel(host) as channel:
        stub = agent_pb2_grpc.AgentServiceStub(channel)
        first = asyncio.create_task(run_to_end(stub, "busy", "Ada, slow 1.5", "group"))
        await asyncio.sleep(0.5)  # it holds the slot
        group = asyncio.create_task(run_to_end(stub, "chatter", "Ada, what do you think?", "group"))
        await asyncio.sleep(0.2)  # it waits first
        direct = asyncio.create_task(run_to_end(stub, "private", "hello Ada", "dm"))
        await asyncio.sleep(0.2)
        refused = agent_pb2.SendMessageRequest(room_id="late", content=types_pb2.Content(text="one too many"))
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            [_ async for _ in stub.SendMessage(refused, timeout=10)]
        ended_first, ended_group, ended_direct = await asyncio.gather(first, group, direct)
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert caught.value.details().startswith("agent Ada has 2 messages waiting, the most it keeps; retry in about ")
    retry = dict(caught.value.trailing_metadata() or ())[RETRY_AFTER_KEY]
    assert int(retry) >= 1
    assert ended_first < ended_direct < ended_group  # the DM, sent later, went first
    assert await host.store.get_memories(host.agent_id, "late", "messages", 10) == []  # nothing of it kept
    async with api_channel(host) as channel:  # a slot is free again: the same message is taken now
        assert await run_to_end(agent_pb2_grpc.AgentServiceStub(channel), "late", "one too many", "api")


async def test_waiting_runs_take_freed_slots_by_priority_then_in_order() -> None:
    admission = Admission(max_running=1, max_waiting=10)
    order: list[str] = []
    release = asyncio.Event()

    async def run(name: str, priority: int) -> None:
        async with admission.slot(priority):
            order.append(name)
            if name == "holder":
                await release.wait()

    holder = asyncio.create_task(run("holder", 1))
    await asyncio.sleep(0)
    tasks = [asyncio.create_task(run(name, p)) for name, p in (("g1", 1), ("d1", 0), ("g2", 1), ("d2", 0))]
    gone = asyncio.create_task(run("gone", 0))
    await asyncio.sleep(0)
    assert (admission.running, admission.waiting) == (1, 5)
    gone.cancel()  # a run that stops waiting (its host is stopping) takes no slot
    await asyncio.sleep(0)
    assert admission.waiting == 4
    release.set()
    await asyncio.gather(holder, *tasks)
    assert order == ["holder", "d1", "d2", "g1", "g2"]
    assert (admission.running, admission.waiting) == (0, 0)


def test_admission_bounds_come_from_the_config_and_bad_ones_are_refused(tmp_path: Path) -> None:
    config = tmp_path / "agenthost.toml"
    config.write_text("[admission]\nmax_running = 8\nmax_waiting = 0\n")
    assert load_config(config).admission == AdmissionSettings(max_running=8, max_waiting=0)
    config.write_text("[admission]\nmax_running = 0\n")
    with pytest.raises(Exception) as caught:
        load_config(config)
    assert "admission.max_running must be a whole number >= 1, got 0" in str(caught.value)
