"""The bootstrap plugin end to end: a real host, the bootstrap plugin's process and a scripted
model plugin (tests/bootstrap_model_plugin.py). Its providers reach the prompt, MUTE_ROOM makes
the pipeline ignore the room until named, reflection stores facts that FACTS gives back, and one
agent's facts are not another's."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from agenthost.v1 import agent_pb2, agent_pb2_grpc, types_pb2
from agenthost_plugin_bootstrap.spec import agenthost_plugin_spec
from agents_support import character
from support import api_channel

from host.host import Host
from host.memory import Knowledge
from host.store.records import MUTED
from plugin_sdk import Entity, PluginSpec
from plugin_sdk.wire import struct_to_dict

BRAIN = PluginSpec(
    name="bootbrain",
    version="1.0.0",
    command=(sys.executable, str(Path(__file__).with_name("bootstrap_model_plugin.py"))),
)
BOOTSTRAP = agenthost_plugin_spec()


async def send(host: Host, text: str, room: str = "hall", agent: str = "", user: str = "user-1") -> dict[str, Any]:
    request = agent_pb2.SendMessageRequest(
        agent_id=agent, room_id=room, entity_id=user, content=types_pb2.Content(text=text), room_type="api"
    )
    async with api_channel(host) as channel:
        events = [e async for e in agent_pb2_grpc.AgentServiceStub(channel).SendMessage(request, timeout=30)]
    ended = struct_to_dict(events[-1].content.extra)
    replies = [e.content.text for e in events if e.event_type == "REPLY"]
    evaluators = [struct_to_dict(e.content.extra) for e in events if e.event_type == "EVALUATOR"]
    return {"status": ended.get("status"), "reason": ended.get("reason", ""), "replies": replies, "evals": evaluators}


async def start(start_host: Any, tmp_path: Path, *names: str) -> Host:
    files = tuple(character(tmp_path, name, ["bootstrap", "bootbrain"]) for name in names or ("Ada",))
    host: Host = await start_host(BOOTSTRAP, BRAIN, characters=files)
    return host


async def test_providers_reach_the_prompt_in_position_order(start_host: Any, tmp_path: Path) -> None:
    host = await start(start_host, tmp_path)
    await host.store.upsert_entity(Entity(id="user-1", agent_id=host.agent_id, names=["Bo"]))
    first = await send(host, "hello")
    assert first["replies"] == ["ok"]
    people = (await send(host, "show ENTITIES"))["replies"][0]
    assert people == "People in the room: / - Bo (the sender)"  # the agent has no entity row: left out
    assert (await send(host, "show RECENT_MESSAGES"))["replies"] == ["none"]  # private: only when named


async def test_mute_room_then_a_message_without_the_name_is_ignored(start_host: Any, tmp_path: Path) -> None:
    host = await start(start_host, tmp_path)
    muted = await send(host, "act MUTE_ROOM")
    assert muted["status"] == "completed", muted
    participant = await host.store.get_participant(host.agent_id, "hall", host.agent_id)
    assert participant is not None and participant.state == MUTED
    ignored = await send(host, "anyone there?")
    assert (ignored["status"], ignored["replies"]) == ("ignored", []), ignored
    named = await send(host, "Ada, act UNMUTE_ROOM")
    assert named["status"] == "completed", named
    assert (await send(host, "back again?"))["replies"] == ["ok"]


async def test_reflection_stores_a_fact_that_facts_gives_back(start_host: Any, tmp_path: Path) -> None:
    host = await start(start_host, tmp_path)
    told = await send(host, "remember my cat is called Miso")
    assert any(e["values"].get("factsStored") == 1 for e in told["evals"]), told
    facts = await host.store.find_memories(host.agent_id, "facts", 10, entity_id="user-1")
    assert [f.content.text for f in facts] == ["my cat is called Miso"]
    # Another room, the same sender: FACTS gives the fact back in the prompt.
    assert (await send(host, "show FACTS", room="kitchen"))["replies"] == [
        "Facts you know about the sender: / - my cat is called Miso"
    ]
    relationship = await host.store.get_relationship(host.agent_id, "user-1", host.agent_id)
    assert relationship is not None and relationship.interaction_count >= 1


async def test_one_agents_facts_are_not_visible_to_another(start_host: Any, tmp_path: Path) -> None:
    host = await start(start_host, tmp_path, "Alpha", "Beta")
    await send(host, "remember I like tea", agent="Alpha")
    assert (await send(host, "show FACTS", agent="Alpha", room="other"))["replies"] == [
        "Facts you know about the sender: / - I like tea"
    ]
    assert (await send(host, "show FACTS", agent="Beta", room="other"))["replies"] == ["none"]


EMBEDDER = PluginSpec(
    name="embedder",
    version="1.0.0",
    command=(sys.executable, str(Path(__file__).with_name("embedding_plugin.py"))),
)


async def test_knowledge_reaches_the_prompt_once_the_agent_has_some(start_host: Any, tmp_path: Path) -> None:
    files = (character(tmp_path, "Ada", ["bootstrap", "bootbrain", "embedder"]),)
    host: Host = await start_host(BOOTSTRAP, BRAIN, EMBEDDER, characters=files)
    agent = host.find_agent("Ada")
    assert (await send(host, "show KNOWLEDGE about tomatoes"))["replies"] == ["none"]  # no documents: no search
    assert agent.embeddings is not None
    knowledge = Knowledge(host.store, agent.embeddings, agent.id)
    await knowledge.add("garden.md", b"# Garden\n\nThe tomatoes are watered every evening at seven.\n")
    await knowledge.add("shed.md", b"# Shed\n\nThe bicycle pump hangs behind the door.\n")
    assert await agent.embeddings.drained(30)
    shown = (await send(host, "show KNOWLEDGE when are the tomatoes watered"))["replies"][0]
    assert shown.startswith("From your knowledge: / - ") and "tomatoes are watered every evening" in shown
    assert "tomatoes" in shown.split(" / - ")[1]  # the best match first
