"""Several agents in one host: each answers as itself, sees only its own memory (through the
pipeline and through RuntimeService), has its own router scopes, its lifecycle in status; agents
added and removed while the host runs; a character naming a missing plugin."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import uuid
from pathlib import Path
from typing import Any

import grpc
import pytest
from agenthost.v1 import agent_pb2, agent_pb2_grpc, runtime_pb2, runtime_pb2_grpc, types_pb2
from agents_support import ScriptedRouter, character, router_fixture  # noqa: F401 (a fixture)
from support import api_channel, fixture_spec, plugin_socket

from host.agent.agent import AgentError
from host.host import Host
from plugin_sdk import PluginSpec
from plugin_sdk.wire import struct_to_dict

PROBE = PluginSpec(
    name="probe", version="1.0.0", command=(sys.executable, str(Path(__file__).with_name("agents_plugin.py")))
)
SPY = fixture_spec("spy")


async def send(host: Host, agent: str, room: str, text: str, **fields: Any) -> list[agent_pb2.SendMessageResponse]:
    request = agent_pb2.SendMessageRequest(
        agent_id=agent, room_id=room, entity_id="user-1", content=types_pb2.Content(text=text), **fields
    )
    async with api_channel(host) as channel:
        return [e async for e in agent_pb2_grpc.AgentServiceStub(channel).SendMessage(request, timeout=30)]


def reply(events: list[agent_pb2.SendMessageResponse]) -> str:
    ended = struct_to_dict(events[-1].content.extra)
    assert events[-1].event_type == "RUN_ENDED" and ended["status"] == "completed", ended
    return next(e.content.text for e in events if e.event_type == "REPLY")


async def failure(call: Any) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        if hasattr(call, "__aiter__"):  # a stream: read it to its end
            [_ async for _ in call]
        else:
            await call
    return caught.value.code(), caught.value.details() or ""


def runtime_metadata(host: Host, plugin: str) -> tuple[tuple[str, str], ...]:
    instance = host.plugins.get(plugin).instance
    assert instance is not None
    return (("authorization", f"Bearer {instance.token}"), ("x-agenthost-plugin", plugin))


async def test_two_agents_answer_as_themselves_and_never_see_each_others_memory(
    start_host: Any, router: tuple[ScriptedRouter, str], tmp_path: Path
) -> None:
    scripted, address = router
    alpha_file = character(tmp_path, "Alpha", ["probe"], settings={"MOOD": "calm"})
    beta_file = character(
        tmp_path, "Beta", ["@elizaos/plugin-probe", "spy", "@elizaos/plugin-sql"], settings={"MOOD": "wild"}
    )
    host = await start_host(PROBE, SPY, characters=(alpha_file, beta_file), router_address=address)
    alpha, beta = host.find_agent("Alpha"), host.find_agent("Beta")
    assert alpha.id != beta.id and (alpha.plugins, beta.plugins) == (("probe",), ("probe", "spy"))

    first = await send(host, "Alpha", "shared-room", "my secret is 42")
    assert reply(first).startswith("I am Alpha | turns=0 | recall: [] owners=")
    # Same room id, other agent: none of Alpha's messages, neither in its history nor from RECALL.
    said = reply(await send(host, beta.id, "shared-room", "what is my secret?"))
    assert said.startswith("I am Beta | turns=0 | recall: [] owners=") and "42" not in said
    again = reply(await send(host, "Alpha", "shared-room", "and now?"))
    assert again.startswith("I am Alpha | turns=2 | recall: [my secret is 42 / I am Alpha")
    assert f"owners={alpha.id}" in again  # the plugin read through RuntimeService, as Alpha
    # Each agent's messages use the plugins its character names: the spy's provider is Beta's only.
    systems = {c.agent_name: c.system for c in scripted.calls}
    assert "# SPY_ECHO" in systems["Beta"] and "# SPY_ECHO" not in systems["Alpha"]

    # Router scopes: each agent's calls carry its name (budget scope agent:<name>) and the run.
    runs = [first[0].run_id]
    assert [(c.agent_name, c.task_id) for c in scripted.calls][0] == ("Alpha", runs[0])
    assert {c.agent_name for c in scripted.calls} == {"Alpha", "Beta"}
    assert all(c.task_id for c in scripted.calls)

    async with api_channel(host) as channel:
        status = await agent_pb2_grpc.AgentServiceStub(channel).GetStatus(agent_pb2.GetStatusRequest(), timeout=5)
    assert [(a.name, a.state, list(a.plugins)) for a in status.agents] == [
        ("Alpha", agent_pb2.LIFECYCLE_STATE_READY, ["probe"]),
        ("Beta", agent_pb2.LIFECYCLE_STATE_READY, ["probe", "spy"]),
    ]

    # Through RuntimeService: the spy serves Beta only; it cannot read Alpha's room.
    async with grpc.aio.insecure_channel(plugin_socket(host)) as channel:
        stub = runtime_pb2_grpc.RuntimeServiceStub(channel)
        spy, probe = runtime_metadata(host, "spy"), runtime_metadata(host, "probe")
        request = runtime_pb2.GetMemoriesRequest(room_id="shared-room", agent_id=alpha.id)
        code, details = await failure(stub.GetMemories(request, metadata=spy))
        assert code == grpc.StatusCode.PERMISSION_DENIED and f"spy serves: {beta.id}" in details
        mine = await stub.GetMemories(runtime_pb2.GetMemoriesRequest(room_id="shared-room"), metadata=spy)
        assert {m.agent_id for m in mine.memories} == {beta.id}
        assert all("42" not in m.content.text for m in mine.memories)
        memory = types_pb2.Memory(room_id="shared-room", agent_id=alpha.id, content=types_pb2.Content(text="x"))
        code, _ = await failure(stub.CreateMemory(runtime_pb2.CreateMemoryRequest(memory=memory), metadata=spy))
        assert code == grpc.StatusCode.PERMISSION_DENIED
        # The probe serves both: it must say which.
        code, details = await failure(
            stub.GetMemories(runtime_pb2.GetMemoriesRequest(room_id="shared-room"), metadata=probe)
        )
        assert code == grpc.StatusCode.INVALID_ARGUMENT and "Alpha" in details and "Beta" in details
        theirs = await stub.GetMemories(
            runtime_pb2.GetMemoriesRequest(room_id="shared-room", agent_id=alpha.id), metadata=probe
        )
        assert len(theirs.memories) == 4 and {m.agent_id for m in theirs.memories} == {alpha.id}
        # Settings are the agent's character's; naming none while serving both reads no character's.
        for agent, mood in ((alpha, "calm"), (beta, "wild")):
            got = await stub.GetSetting(runtime_pb2.GetSettingRequest(key="MOOD", agent_id=agent.id), metadata=probe)
            assert (got.found, got.value) == (True, mood)
        shared = await stub.GetSetting(runtime_pb2.GetSettingRequest(key="MOOD"), metadata=probe)
        assert not shared.found
        assert (await stub.GetSetting(runtime_pb2.GetSettingRequest(key="MOOD"), metadata=spy)).value == "wild"
        # A model call for an agent goes out in that agent's router scope.
        use = runtime_pb2.RuntimeServiceUseModelRequest(model_type="TEXT_LARGE", agent_id=beta.id)
        use.params.update(
            {"messages": [{"role": "system", "content": "You are X."}, {"role": "user", "content": "hi"}]}
        )
        await stub.UseModel(use, metadata=probe)
        assert scripted.calls[-1].agent_name == "Beta"

    # A message naming no agent, or an unknown one: NOT_FOUND listing the agents.
    async with api_channel(host) as channel:
        stub_api = agent_pb2_grpc.AgentServiceStub(channel)
        for agent in ("", "Zed"):
            request = agent_pb2.SendMessageRequest(agent_id=agent, room_id="r", content=types_pb2.Content(text="hi"))
            code, details = await failure(stub_api.SendMessage(request, timeout=5))
            assert code == grpc.StatusCode.NOT_FOUND and f"Alpha ({alpha.id})" in details and "Beta" in details


async def test_lifecycle_states_are_logged_and_delivered_to_subscribed_plugins(
    start_host: Any, router: tuple[ScriptedRouter, str], tmp_path: Path
) -> None:
    host = await start_host(PROBE, characters=(character(tmp_path, "Alpha"),), router_address=router[1])
    states = ["INITIALIZING", "LOADING_CHARACTER", "LOADING_PLUGINS", "STARTING_SERVICES", "READY"]
    logged = [
        r.message.rsplit(": ", 1)[1] for r in host.log_buffer.tail(10_000) if r.message.startswith("agent Alpha (")
    ]
    assert logged == states
    said = reply(await send(host, "", "room", "hello"))
    assert said.startswith("I am Alpha")
    system = router[0].calls[-1].system
    assert "lifecycle: " + " ".join(f"Alpha:{s}" for s in states) in system  # the plugin got each as an event


async def test_agents_are_added_and_removed_while_the_host_runs(
    start_host: Any, router: tuple[ScriptedRouter, str], tmp_path: Path
) -> None:
    host = await start_host(PROBE, characters=(character(tmp_path, "Alpha"),), router_address=router[1])
    beta_json = character(tmp_path, "Beta").read_text()
    async with api_channel(host) as channel:
        stub = agent_pb2_grpc.AgentServiceStub(channel)
        added = await stub.AddAgent(agent_pb2.AddAgentRequest(character_json=beta_json), timeout=30)
        assert added.agent.name == "Beta" and added.agent.state == agent_pb2.LIFECYCLE_STATE_READY
        listed = await stub.ListAgents(agent_pb2.ListAgentsRequest(), timeout=5)
        assert [a.name for a in listed.agents] == ["Alpha", "Beta"]
        assert reply(await send(host, "Beta", "room-b", "hello")).startswith("I am Beta | turns=0")

        code, details = await failure(stub.AddAgent(agent_pb2.AddAgentRequest(character_json=beta_json), timeout=30))
        assert code == grpc.StatusCode.ALREADY_EXISTS and added.agent.id in details
        missing = json.dumps({"name": "Gamma", "plugins": ["@elizaos/plugin-telescope"]})
        code, details = await failure(stub.AddAgent(agent_pb2.AddAgentRequest(character_json=missing), timeout=30))
        assert code == grpc.StatusCode.FAILED_PRECONDITION and "'@elizaos/plugin-telescope'" in details
        code, details = await failure(stub.AddAgent(agent_pb2.AddAgentRequest(character_json="{"), timeout=30))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and "not valid JSON" in details
        assert [a.name for a in host.agents.values()] == ["Alpha", "Beta"]

        # Removing Beta while it answers a slow message: the run ends interrupted; its memory stays.
        slow = asyncio.create_task(send(host, "Beta", "room-b", "slow 30"))
        while not any("slow 30" in c.text for c in router[0].calls):
            await asyncio.sleep(0.05)
        removed = await stub.RemoveAgent(agent_pb2.RemoveAgentRequest(agent="Beta"), timeout=30)
        assert removed.interrupted_runs == 1 and removed.agent.state == agent_pb2.LIFECYCLE_STATE_STOPPED
        events = await asyncio.wait_for(slow, 10)
        assert struct_to_dict(events[-1].content.extra)["status"] == "interrupted"
        stored = await host.store.get_memories(added.agent.id, "room-b", "messages", 10)
        assert [m.content.text for m in stored][:1] == ["slow 30"]
        run = await stub.GetRun(agent_pb2.GetRunRequest(run_id=events[0].run_id), timeout=5)
        assert run.run.status == "interrupted" and [e.event_type for e in run.events] == ["RUN_STARTED", "RUN_ENDED"]
        code, details = await failure(stub.RemoveAgent(agent_pb2.RemoveAgentRequest(agent="Beta"), timeout=5))
        assert code == grpc.StatusCode.NOT_FOUND and "Alpha" in details
        assert reply(await send(host, "", "room-a", "still here?")).startswith("I am Alpha")

        # The last agent removed: messages have no one to go to; an agent added by path answers.
        await stub.RemoveAgent(agent_pb2.RemoveAgentRequest(agent="Alpha"), timeout=30)
        code, details = await failure(
            stub.SendMessage(agent_pb2.SendMessageRequest(room_id="r", content=types_pb2.Content(text="hi")))
        )
        assert code == grpc.StatusCode.NOT_FOUND and "runs no agent" in details
        path = str(character(tmp_path, "Delta"))
        added = await stub.AddAgent(agent_pb2.AddAgentRequest(path=path), timeout=30)
        assert added.agent.source == path and reply(await send(host, "", "room-d", "hi")).startswith("I am Delta")


async def test_a_character_naming_a_missing_plugin_stops_the_start_with_its_name(
    host_config: Any, tmp_path: Path
) -> None:
    from dataclasses import replace

    from support import StaticDiscovery

    nova = character(tmp_path, "Nova", ["@elizaos/plugin-sql", "@elizaos/plugin-skywatch"])
    host = Host(replace(host_config, characters=(nova,)), discovery=StaticDiscovery(PROBE))  # type: ignore[arg-type]
    try:
        with pytest.raises(AgentError, match=r"character Nova \(.*nova.json\) names plugin '@elizaos/plugin-skywatch'"):
            await host.start()
        assert host.agents[next(iter(host.agents))].reason.startswith("character Nova")
    finally:
        await host.stop()


async def test_two_characters_with_the_same_id_are_refused(host_config: Any, tmp_path: Path) -> None:
    from dataclasses import replace

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    same = "6f0c2a8e-3b1d-4c5e-9a7f-2d4b8e1c0f93"
    one, two = character(tmp_path / "a", "One", id=same), character(tmp_path / "b", "Two", id=same)
    host = Host(replace(host_config, characters=(one, two)))
    try:
        with pytest.raises(AgentError, match=f"have the same id {same}"):
            await host.start()
    finally:
        await host.stop()


async def test_an_agent_added_while_the_host_runs_has_its_secrets_hidden_from_the_logs(
    start_host: Any, router: tuple[ScriptedRouter, str], tmp_path: Path
) -> None:
    host = await start_host(PROBE, characters=(character(tmp_path, "Alpha"),), router_address=router[1])
    secret = "gamma-key-" + uuid.uuid4().hex
    doc = json.dumps({"name": "Gamma", "settings": {"secrets": {"GAMMA_API_KEY": secret}}})
    async with api_channel(host) as channel:
        await agent_pb2_grpc.AgentServiceStub(channel).AddAgent(
            agent_pb2.AddAgentRequest(character_json=doc), timeout=30
        )
    logging.getLogger("host.plugins").warning("a plugin printed %s", secret)
    logged = [r.message for r in host.log_buffer.tail(1000)]
    assert any(m.startswith("a plugin printed ") for m in logged)
    assert not any(secret in m for m in logged)
