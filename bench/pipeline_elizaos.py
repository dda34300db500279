"""The pipeline benchmark's other side: the same workload through the elizaOS Python runtime,
in a process of its own so its CPU time is its alone.

Usage: pipeline_elizaos.py ROOMS MESSAGES_PER_ROOM WARMUP_PER_ROOM

`elizaos==2.0.0a5` with `elizaos-plugin-inmemorydb==2.0.0a5` (the `bench` extra): one
AgentRuntime, its DefaultMessageService.handle_message per message, ROOMS rooms at once, each
sending its messages one after another. The workload is bench/pipeline_plugin.py's: 8 instant
providers, 1 action whose validate says no, 1 always_run evaluator, and a scripted TEXT_LARGE
model answering one valid reply at once. Made a fair fight:

- elizaOS caches a room's composed state forever (runtime.state_cache, keyed by room): the
  cache entry is dropped before each message, so its providers run for every message, as
  agenthost's do;
- its in-memory adapter stores a protobuf Memory under snake_case keys (`room_id`) and filters
  on camelCase ones (`roomId`), so a room's messages are never found: the bench's adapter adds
  the camelCase keys when storing (their package is left as it is), and a RECENT_MESSAGES
  provider (the room's last 8 messages, cut to 600 characters, as agenthost's pipeline gives
  its model) puts them in the prompt; the scripted model checks that the previous message's
  text reached it, so a run where history is missing fails;
- it is given agenthost's default character (name, system prompt, bio) and
  its own CHARACTER and ACTIONS providers, which agenthost's pipeline does the work of (the
  character in the system prompt; the actions' validates, run with the providers): without
  ACTIONS (its basic capabilities are off, so the other basic providers, which agenthost has no
  counterpart of, stay out) the action's validate never ran;
- the model echoes the validation codes elizaOS asks for at its default level;
- latency runs from the moment a room's client would send (its previous reply arrived) to the
  reply, so it includes the wait behind the other rooms' messages, as agenthost's does.

Prints one JSON line: msgs_per_s, p50_ms, p99_ms, cpu_ms_per_msg (this process: the runtime
and the small driver), messages.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import elizaos.bootstrap  # noqa: F401  (first: elizaos.basic_capabilities alone is a circular import)
import psutil
from elizaos import AgentRuntime, Plugin
from elizaos.basic_capabilities.providers import actions_provider, character_provider
from elizaos.types import Character, Content, Memory
from elizaos.types.components import Action, ActionResult, Evaluator, Provider, ProviderResult
from elizaos_plugin_inmemorydb import InMemoryDatabaseAdapter, MemoryStorage

PROVIDERS = 8
CHARACTER = Path(__file__).resolve().parents[1] / "host" / "agent" / "characters" / "default.json"
HISTORY, HISTORY_CHARS = 8, 600  # as agenthost's PipelineSettings
CODE = re.compile(r"^(initial|middle|end) code: (\S+)$", re.MULTILINE)


class RoomKeyedAdapter(InMemoryDatabaseAdapter):
    """The in-memory adapter, storing the camelCase keys its own filters read."""

    async def create_memory(self, memory: Any, table_name: str, unique: bool = False) -> str:
        id_ = await super().create_memory(memory, table_name, unique)
        stored = await self._storage.get("memories", id_)
        for snake, camel in (("room_id", "roomId"), ("entity_id", "entityId"), ("world_id", "worldId")):
            if snake in stored and camel not in stored:
                stored[camel] = stored[snake]
        return id_


def provider(i: int) -> Provider:
    async def get(runtime: Any, message: Any, state: Any) -> ProviderResult:
        return ProviderResult(text=f"# BENCH_P{i}\nBenchmark fact {i}: the room is quiet.")

    return Provider(name=f"BENCH_P{i}", get=get, description=f"Benchmark fact {i}.", position=i)


async def recent_messages(runtime: Any, message: Any, state: Any) -> ProviderResult:
    """The room's last messages and this one, oldest first (dicts, as the in-memory adapter returns
    them): agenthost gives its model the same (8 earlier messages, then the one being answered)."""
    rows = await runtime.get_memories(room_id=message.room_id, limit=HISTORY + 1, table_name="messages")
    lines = []
    for row in reversed(rows):
        text = (row.get("content") or {}).get("text", "")[:HISTORY_CHARS]
        who = "assistant" if row.get("entityId") == str(runtime.agent_id) else "user"
        if text:
            lines.append(f"{who}: {text}")
    return ProviderResult(text="# RECENT_MESSAGES\n" + "\n".join(lines))


RAN = {"validate": 0, "evaluator": 0}  # checked: the action's validate and the evaluator ran per message


async def never(runtime: Any, message: Any, state: Any) -> bool:
    RAN["validate"] += 1
    return False


async def unreachable(*args: Any) -> ActionResult:
    return ActionResult(text="unreachable", success=False)


async def always(runtime: Any, message: Any, state: Any) -> bool:
    return True


async def count(*args: Any) -> ActionResult:
    RAN["evaluator"] += 1
    return ActionResult(success=True)


class ScriptedModel:
    """Answers at once with a valid reply echoing the prompt's codes; checks history reached it."""

    def __init__(self) -> None:
        self.expect: dict[str, str] = {}  # room -> text that must be in the prompt
        self.missing = 0
        self.checked = 0

    async def __call__(self, runtime: Any, params: dict[str, Any]) -> str:
        prompt = params["prompt"]
        codes = dict(CODE.findall(prompt))
        room = re.search(r"room=(\S+)", prompt)
        if room and (want := self.expect.get(room.group(1))):
            self.checked += 1
            self.missing += want not in prompt
        return (
            f"<response><one_initial_code>{codes.get('initial', '')}</one_initial_code>"
            f"<one_middle_code>{codes.get('middle', '')}</one_middle_code>"
            f"<one_end_code>{codes.get('end', '')}</one_end_code>"
            "<thought>t</thought><actions>REPLY</actions><text>ok</text><simple>true</simple></response>"
        )


async def main(rooms: int, per_room: int, warmup: int) -> dict[str, Any]:
    logging.disable(logging.WARNING)
    model = ScriptedModel()
    agent_id = str(uuid.uuid4())
    adapter = RoomKeyedAdapter(MemoryStorage(), agent_id)
    await adapter.init()
    plugin = Plugin(
        name="benchpipeline",
        description="Instant components for bench/pipeline.py.",
        providers=[
            *(provider(i) for i in range(1, PROVIDERS + 1)),
            Provider(name="RECENT_MESSAGES", get=recent_messages, position=100),
            character_provider,
            actions_provider,
        ],
        actions=[Action(name="BENCH_NEVER", description="Never applies.", handler=unreachable, validate=never)],
        evaluators=[
            Evaluator(
                name="BENCH_COUNT", description="Counts the responses.", handler=count, validate=always, always_run=True
            )
        ],
        models={"TEXT_LARGE": model},
    )
    ada = json.loads(CHARACTER.read_text())
    # Not its adjectives and topics: elizaOS's CHARACTER provider joins them as if they were
    # lists, and on its own protobuf Character they are not (TypeError).
    character = Character(**{k: ada[k] for k in ("name", "system", "bio")})
    runtime = AgentRuntime(
        character=character,
        agent_id=agent_id,
        adapter=adapter,
        plugins=[plugin],
        disable_basic_capabilities=True,
        check_should_respond=False,
        log_level="ERROR",
    )
    await runtime.initialize()
    service = runtime.message_service
    user = str(uuid.uuid4())
    latencies: list[float] = []

    async def send(room: str, n: int, timed: bool) -> None:
        for i in range(n):
            text = f"hello {i} room={room}"
            message = Memory(
                id=str(uuid.uuid4()),
                entity_id=user,
                agent_id=agent_id,
                room_id=room,
                content=Content(text=text),
                created_at=int(time.time() * 1000),
            )
            runtime.state_cache.pop(room, None)  # providers run for every message
            start = time.perf_counter()
            # The message joins the other rooms' in arrival order, as at a server: handle_message
            # never waits on I/O here, so without this one room would run all its messages first
            # and its latency would leave out the time spent behind the others.
            await asyncio.sleep(0)
            result = await service.handle_message(runtime, message)
            if timed:
                latencies.append(time.perf_counter() - start)
            if not result.did_respond or result.response_content.text != "ok":
                raise RuntimeError(f"elizaOS did not reply 'ok': {result!r}")
            model.expect[room] = text  # the next message's prompt must carry this one

    names = [str(uuid.uuid4()) for _ in range(rooms)]
    await asyncio.gather(*(send(r, warmup, False) for r in names))
    proc = psutil.Process()
    RAN.update(validate=0, evaluator=0)
    cpu0 = proc.cpu_times()
    start = time.perf_counter()
    await asyncio.gather(*(send(r, per_room, True) for r in names))
    elapsed = time.perf_counter() - start
    cpu1 = proc.cpu_times()
    if model.missing or model.checked < len(latencies):
        raise RuntimeError(f"{model.missing} prompts lacked the room's previous message ({model.checked} checked)")
    if min(RAN.values()) < len(latencies):
        raise RuntimeError(f"the action's validate or the evaluator did not run for every message: {RAN}")
    latencies.sort()
    n = len(latencies)
    cpu = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
    return {
        "msgs_per_s": round(n / elapsed, 1),
        "p50_ms": round(latencies[n // 2] * 1000, 2),
        "p99_ms": round(latencies[min(n - 1, round(0.99 * (n - 1)))] * 1000, 2),
        "cpu_ms_per_msg": round(cpu * 1000 / n, 3),
        "messages": n,
    }


if __name__ == "__main__":
    rooms, per_room, warmup = (int(a) for a in sys.argv[1:4])
    print(json.dumps(asyncio.run(main(rooms, per_room, warmup))), flush=True)
