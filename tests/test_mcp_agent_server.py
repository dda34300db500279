"""Agents as MCP servers (issue 14): `agenthost mcp serve` on stdio (a real process, the host
reached over its gRPC socket) and the host's /mcp (Streamable HTTP), both driven with the `mcp`
SDK's own ClientSession; the model is test_http_openai's scripted router ("You said: TEXT", with
the fixture's FIXTURE_PICKY action when TEXT says "please"; every embedding the same vector)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator

import grpc
import httpx
import pytest
from agenthost.v1 import agent_pb2, agent_pb2_grpc
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from support import fixture_spec
from test_http_openai import ScriptedRouter
from test_idempotent_send import COUNTING

from host.host import Host
from host.mcp_server.http import RUNNER

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
async def router(tmp_path: Path) -> AsyncIterator[str]:
    scripted, address = ScriptedRouter(), f"unix://{tmp_path}/mcp-router.sock"
    await scripted.start(address)
    yield address
    await scripted.server.stop(0)


@pytest.fixture
async def served(start_host: Any, router: str) -> Host:
    host: Host = await start_host(fixture_spec("fixture"), router_address=router, http="127.0.0.1:0")
    return host


@asynccontextmanager
async def over_stdio(host: Host, *extra: str) -> AsyncIterator[ClientSession]:
    """A session with `agenthost mcp serve` spawned against `host`, its token in the environment."""
    env = {**os.environ, "AGENTHOST_TOKEN": host.api_token, "PYTHONPATH": str(ROOT)}
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "host", "mcp", "serve", "--host", host.address, *extra], env=env
    )
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        yield session


@asynccontextmanager
async def over_http(host: Host) -> AsyncIterator[ClientSession]:
    """A session with the host's /mcp, the bearer token in its header."""
    assert host.http is not None
    http = create_mcp_http_client(headers={"Authorization": f"Bearer {host.api_token}"})
    async with (
        streamable_http_client(f"{host.http.url}/mcp", http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


SESSIONS = {"stdio": over_stdio, "http": over_http}


async def add_knowledge(host: Host, source: str, text: str) -> None:
    async with grpc.aio.insecure_channel(host.address) as channel:
        stub = agent_pb2_grpc.AgentServiceStub(channel)

        async def upload() -> AsyncIterator[agent_pb2.AddKnowledgeRequest]:
            yield agent_pb2.AddKnowledgeRequest(source=source, data=text.encode(), content_type="text/plain")

        await stub.AddKnowledge(upload(), metadata=(("authorization", f"Bearer {host.api_token}"),))


@pytest.mark.parametrize("transport", ["stdio", "http"])
async def test_an_agent_answers_over_mcp(served: Host, transport: str) -> None:
    agent = served.find_agent("")
    await add_knowledge(served, "lighthouse.txt", "The lighthouse keeper is called Morwenna.")
    async with SESSIONS[transport](served) as session:
        tools = {t.name: t for t in (await session.list_tools()).tools}
        assert {"send_message", "search_knowledge", "list_agents"} <= set(tools)
        assert "text" in tools["send_message"].input_schema["properties"]

        said = await session.call_tool("send_message", {"text": "hello please"})
        assert not said.is_error, said
        run = said.structured_content
        assert run is not None and run["reply"].startswith("You said: hello please"), run
        assert run["status"] == "completed" and run["run_id"]
        assert [(a["name"], a["success"], a["text"]) for a in run["actions"]] == [("FIXTURE_PICKY", True, "thank you")]
        assert "You said: hello please" in said.content[0].text  # type: ignore[union-attr]

        # Every vector is the same here, so all fragments tie (the character's own knowledge too): ask
        # for all; the fragments get their vectors in the background, so look until they have.
        for _ in range(300):
            found = await session.call_tool("search_knowledge", {"query": "who keeps the lighthouse?", "limit": 50})
            assert not found.is_error, found
            assert found.structured_content is not None
            if any("Morwenna" in f["text"] for f in found.structured_content["fragments"]):
                break
            await asyncio.sleep(0.1)
        assert any("Morwenna" in f["text"] for f in found.structured_content["fragments"])

        listed = (await session.call_tool("list_agents", {})).structured_content
        assert listed is not None and [a["name"] for a in listed["agents"]] == [agent.name]

        resources = (await session.list_resources()).resources
        doc = next(r for r in resources if r.name == "lighthouse.txt")
        assert str(doc.uri).startswith(f"knowledge://{agent.name}/")
        read = await session.read_resource(doc.uri)
        body = json.loads(read.contents[0].text)  # type: ignore[union-attr]
        assert body["source"] == "lighthouse.txt" and "Morwenna" in body["text"]


@pytest.mark.parametrize("transport", ["stdio", "http"])
async def test_errors_are_mcp_errors(served: Host, transport: str) -> None:
    async with SESSIONS[transport](served) as session:
        unknown = await session.call_tool("send_message", {"text": "hi", "agent": "nobody"})
        assert unknown.is_error and "nobody" in unknown.content[0].text  # type: ignore[union-attr]
        bad = await session.call_tool("send_message", {"agent": "x"})  # text missing
        assert bad.is_error and "text" in bad.content[0].text  # type: ignore[union-attr]
        with pytest.raises(Exception, match="nobody"):
            await session.read_resource("knowledge://nobody/doc")  # type: ignore[arg-type]
        still = await session.call_tool("send_message", {"text": "still there"})  # the server lives on
        assert still.structured_content is not None and "still there" in still.structured_content["reply"]


@pytest.mark.parametrize("transport", ["stdio", "http"])
async def test_a_message_sent_again_with_its_message_id_is_replayed(start_host: Any, transport: str) -> None:
    """send_message's optional `message_id` is SendMessageRequest.message_id: the same id again
    gets the stored run's outcome, `replayed` true, and the model (a plugin counting its calls) is
    not asked again; a too long one is the gRPC API's error."""
    host: Host = await start_host(COUNTING, http="127.0.0.1:0")
    async with SESSIONS[transport](host) as session:
        tool = next(t for t in (await session.list_tools()).tools if t.name == "send_message")
        declared = tool.input_schema["properties"]["message_id"]
        assert declared["type"] == "string" and declared["maxLength"] == 128 and "replayed" in declared["description"]
        assert "message_id" not in tool.input_schema["required"]
        said = {"text": "hello", "room": "idem", "message_id": f"mcp-{transport}"}
        first, again = [await session.call_tool("send_message", said) for _ in range(2)]
        ran, replayed = first.structured_content, again.structured_content
        assert ran is not None and replayed is not None, (first, again)
        assert ran["reply"] == replayed["reply"] == "call 1: hello"
        assert (ran["replayed"], replayed["replayed"]) == (False, True)
        assert replayed["run_id"] == ran["run_id"] and replayed["status"] == "completed"
        calls = (await session.call_tool("send_message", {"text": "calls?"})).structured_content
        assert calls is not None and calls["reply"] == "calls=1"
        other = (await session.call_tool("send_message", {**said, "message_id": "another"})).structured_content
        assert other is not None and other["reply"] == "call 2: hello" and other["replayed"] is False
        too_long = await session.call_tool("send_message", {**said, "message_id": "m" * 129})
        assert too_long.is_error, too_long
        worded = "message_id is 129 characters, over the limit of 128"  # SendMessage's own words
        assert too_long.content[0].text.endswith(f": {worded}")  # type: ignore[union-attr]
    assert [r.id for r in await host.store.runs_of_message(host.agent_id, f"mcp-{transport}")] == [ran["run_id"]]


async def test_stdio_serves_a_fixed_agent(served: Host) -> None:
    agent = served.find_agent("")
    async with over_stdio(served, "--agent", agent.name) as session:
        said = await session.call_tool("send_message", {"text": "fixed"})
        assert said.structured_content is not None and said.structured_content["reply"] == "You said: fixed"


async def test_http_wants_the_token(served: Host) -> None:
    assert served.http is not None
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}
    async with httpx.AsyncClient(base_url=served.http.url) as http:
        for headers in ({}, {"Authorization": "Bearer wrong"}):
            refused = await http.post("/mcp", json=init, headers=headers)
            assert refused.status_code == 401 and "token" in refused.json()["error"]["message"]


async def test_http_offers_the_hosts_actions_with_parameters(start_host: Any, router: str, tmp_path: Path) -> None:
    """An MCP-bridged tool (tests/mcp_calc_server.py's add, behind its bridge plugin) is a tool of
    /mcp with its input schema; a call runs the host's action with the caller's arguments."""
    from test_mcp_servers import SUPERVISION, calc

    host: Host = await start_host(
        router_address=router, http="127.0.0.1:0", supervision=SUPERVISION, mcp=(calc(tmp_path),)
    )
    async with over_http(host) as session:
        tools = {t.name: t for t in (await session.list_tools()).tools}
        assert tools["CALC_ADD"].input_schema["required"] == ["a", "b"]
        assert "CALC_SLOW" in tools and "CALC_GROW" not in tools  # grow takes no parameters
        added = await session.call_tool("CALC_ADD", {"a": 2, "b": 3})
        assert not added.is_error and added.content[0].text == "5", added  # type: ignore[union-attr]
        assert (tmp_path / "calls.txt").read_text() == "add 2 3\n"
        misfit = await session.call_tool("CALC_ADD", {"a": "two"})
        assert misfit.is_error and "do not fit" in misfit.content[0].text  # type: ignore[union-attr]
    async with over_stdio(host) as session:  # no host internals over gRPC: send_message and the rest only
        assert "CALC_ADD" not in {t.name for t in (await session.list_tools()).tools}


async def test_http_searches_the_agents_memory(served: Host) -> None:
    """search_memory (the host's /mcp only): the agent's stored messages closest to the query,
    of one room when asked; a bad limit and an unknown agent are MCP errors."""
    async with over_http(served) as session:
        for room, text in (("mcp-room-a", "the tide comes in at noon"), ("mcp-room-b", "apples are red")):
            said = await session.call_tool("send_message", {"text": text, "room": room})
            assert not said.is_error, said

        async def found(arguments: dict[str, Any]) -> list[dict[str, Any]]:
            answer = await session.call_tool("search_memory", arguments)
            assert not answer.is_error, answer
            assert answer.structured_content is not None
            return list(answer.structured_content["memories"])

        for _ in range(900):  # the messages get their vectors in the background (a slow box: up to 90 s)
            in_a = [m["text"] for m in await found({"query": "tide", "room": "mcp-room-a", "limit": 10})]
            if len(await found({"query": "tide", "limit": 10})) >= 4 and "You said: the tide comes in at noon" in in_a:
                break
            await asyncio.sleep(0.1)
        texts = [m["text"] for m in await found({"query": "tide", "limit": 10})]
        assert "the tide comes in at noon" in texts and "apples are red" in texts
        in_a = await found({"query": "tide", "room": "mcp-room-a", "limit": 10})
        assert in_a and {m["room"] for m in in_a} == {"mcp-room-a"}
        assert "You said: the tide comes in at noon" in [m["text"] for m in in_a]
        assert len(await found({"query": "tide", "limit": 1})) == 1
        bad = await session.call_tool("search_memory", {"query": "tide", "limit": 0})
        assert bad.is_error and "limit" in bad.content[0].text  # type: ignore[union-attr]
        nobody = await session.call_tool("search_memory", {"query": "tide", "agent": "nobody"})
        assert nobody.is_error and "nobody" in nobody.content[0].text  # type: ignore[union-attr]
    async with over_stdio(served) as session:  # AgentService has no memory search: not offered
        assert "search_memory" not in {t.name for t in (await session.list_tools()).tools}


def _session_managers() -> list[asyncio.Task[Any]]:
    return [t for t in asyncio.all_tasks() if t.get_name() == RUNNER and not t.done()]


async def test_the_mcp_session_manager_ends_with_the_host(start_host: Any, router: str) -> None:
    host: Host = await start_host(fixture_spec("fixture"), router_address=router, http="127.0.0.1:0")
    async with over_http(host) as session:
        assert (await session.list_tools()).tools
    assert len(_session_managers()) == 1
    await host.stop()
    assert _session_managers() == []
