"""MCP servers as plugins (issue 14): real MCP servers written with the `mcp` SDK
(tests/mcp_calc_server.py, over stdio and Streamable HTTP) and a hand-written misbehaving one
(tests/mcp_raw_server.py), each behind its bridge process (plugin_sdk.mcp_bridge) that the host
supervises like any plugin; a scripted router plays the model."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, AsyncIterator

import grpc
import pytest
from agenthost.v1 import agent_pb2, agent_pb2_grpc, router_pb2, router_pb2_grpc, types_pb2
from support import FAST, api_channel

from host.host import Host
from host.mcp.servers import McpServer
from host.plugins.supervisor import PluginState
from plugin_sdk.wire import struct_to_dict

TESTS = Path(__file__).parent
CALC = (sys.executable, str(TESTS / "mcp_calc_server.py"))
RAW = (sys.executable, str(TESTS / "mcp_raw_server.py"))
AGENTHOST = str(Path(sys.executable).with_name("agenthost"))
# Importing the mcp SDK takes seconds of CPU on a loaded machine: the bridges get time to start.
SUPERVISION = replace(
    FAST, start_timeout=60.0, call_timeout=30.0, health_interval=0.5, health_timeout=3.0, action_timeout=30.0
)


@dataclass
class ToolRouter(router_pb2_grpc.RouterServiceServicer):
    """The model: a reply naming the actions the message lists after "act:" (REPLY first), and,
    asked for a tool's arguments, the JSON the message gives after "args:" (each ask takes the
    next of several given as "args: A || B")."""

    argument_asks: list[str] = field(default_factory=list)
    server: Any = None

    async def Invoke(self, request: router_pb2.InvokeRequest, context: Any) -> router_pb2.InvokeResponse:
        if request.meta.warm_up or not request.messages:
            return router_pb2.InvokeResponse()
        system, text = request.messages[0].content, request.messages[-1].content
        if system.startswith("You fill in the arguments"):
            answers = re.search(r"args: (.*)", text)
            given = answers.group(1).split(" || ") if answers else ["{}"]
            self.argument_asks.append(text)
            answer = given[min(len(self.argument_asks), len(given)) - 1]
            return router_pb2.InvokeResponse(text=answer, provider="scripted", model="scripted")
        acts = re.search(r"act: ([A-Z_,]+)", text)
        actions = "REPLY" + (f",{acts.group(1)}" if acts else "")
        xml = f"<response><thought>t</thought><actions>{actions}</actions><text>on it</text></response>"
        return router_pb2.InvokeResponse(text=xml, provider="scripted", model="scripted")

    async def InvokeStream(self, request: router_pb2.InvokeStreamRequest, context: Any) -> AsyncIterator[Any]:
        done = await self.Invoke(request.request, context)
        yield router_pb2.InvokeStreamResponse(delta=done.text)
        yield router_pb2.InvokeStreamResponse(done=done)

    async def start(self, address: str) -> None:
        self.server = grpc.aio.server()
        router_pb2_grpc.add_RouterServiceServicer_to_server(self, self.server)
        self.server.add_insecure_port(address)
        await self.server.start()


@pytest.fixture(name="router")
async def router_fixture(tmp_path: Path) -> AsyncIterator[tuple[ToolRouter, str]]:
    scripted, address = ToolRouter(), f"unix://{tmp_path}/router.sock"
    await scripted.start(address)
    yield scripted, address
    await scripted.server.stop(0)


async def send(host: Host, text: str) -> list[agent_pb2.RunEvent]:
    request = agent_pb2.SendMessageRequest(room_id="room-1", entity_id="user-1", content=types_pb2.Content(text=text))
    async with api_channel(host) as channel:
        return [e async for e in agent_pb2_grpc.AgentServiceStub(channel).SendMessage(request, timeout=90)]


def action_events(events: list[agent_pb2.RunEvent]) -> list[tuple[str, dict[str, Any]]]:
    """Each ACTION event's text and extra."""
    return [(e.content.text, struct_to_dict(e.content.extra)) for e in events if e.event_type == "ACTION"]


def calc(tmp_path: Path, name: str = "calc", **changes: Any) -> McpServer:
    env = {"MCP_CALLS_FILE": str(tmp_path / "calls.txt"), "MCP_PID_FILE": str(tmp_path / f"{name}.pid")}
    return McpServer(name=name, command=CALC, env_values=env, **changes)


async def test_a_stdio_servers_tools_are_actions_a_model_calls_with_checked_arguments(start_host, router, tmp_path):
    scripted, address = router
    host = await start_host(router_address=address, supervision=SUPERVISION, mcp=(calc(tmp_path),))
    plugin = host.plugins.get("mcp-calc")
    assert plugin.state is PluginState.READY
    info = plugin.info()
    assert info.components["actions"] == ["CALC_ADD", "CALC_SLOW"]
    assert info.components["providers"] == ["CALC_TODAY"]
    manifest = host.plugins.registry.manifests["mcp-calc"]
    [add] = [a for a in manifest.actions if a.name == "CALC_ADD"]
    assert add.description.startswith("Add two whole numbers.; parameters (JSON schema): ")
    assert '"required":["a","b"]' in add.description
    assert "prompts: summarise (Summarise a topic.)" in manifest.description
    assert "greeting://{name}" in manifest.description

    events = await send(host, 'add them act: CALC_ADD args: {"a": 2, "b": 3}')
    [(text, extra)] = action_events(events)
    assert text == "5" and extra["success"] is True
    assert (tmp_path / "calls.txt").read_text() == "add 2 3\n"
    assert len(scripted.argument_asks) == 1


async def test_arguments_that_do_not_fit_the_schema_are_asked_again_once_and_never_sent(start_host, router, tmp_path):
    scripted, address = router
    host = await start_host(router_address=address, supervision=SUPERVISION, mcp=(calc(tmp_path),))
    # The first answer misses b; the second fits: one call, with the second's arguments.
    events = await send(host, 'act: CALC_ADD args: {"a": 1} || {"a": 1, "b": 4}')
    [(text, extra)] = action_events(events)
    assert text == "5" and extra["success"] is True
    assert "previous arguments were refused ('b' is a required property)" in scripted.argument_asks[1]
    # Both answers wrong: not sent, the action fails saying why, the run goes on to its end.
    events = await send(host, 'act: CALC_ADD args: {"a": "two", "b": 1} || {"a": 1}')
    [(text, extra)] = action_events(events)
    assert extra["success"] is False
    assert (
        extra["error"]
        == "the model's arguments for add do not fit its input schema ('b' is a required property); not sent"
    )
    assert events[-1].event_type == "RUN_ENDED"
    assert (tmp_path / "calls.txt").read_text() == "add 1 4\n"
    assert len(scripted.argument_asks) == 4
