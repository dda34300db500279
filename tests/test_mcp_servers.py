"""MCP servers as plugins (issue 14): real MCP servers written with the `mcp` SDK
(tests/mcp_calc_server.py, over stdio and Streamable HTTP) and a hand-written misbehaving one
(tests/mcp_raw_server.py), each behind its bridge process (plugin_sdk.mcp_bridge) that the host
supervises like any plugin; a scripted router plays the model."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, AsyncIterator

import grpc
import mcp_types as types
import pytest
from agenthost.v1 import agent_pb2, agent_pb2_grpc, router_pb2, router_pb2_grpc, types_pb2
from agents_support import character, run_cli
from support import FAST, alive, api_channel, eventually

from host.config import load_config
from host.host import Host
from host.mcp.servers import McpServer, servers_from_character
from host.plugins.supervisor import PluginState
from plugin_sdk.mcp_bridge.results import action_result
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
    """The model: a reply naming the actions the message lists after "act:" (REPLY first) and the
    providers it lists after "want:", and,
    asked for a tool's arguments, the JSON the message gives after "args:" (each ask takes the
    next of several given as "args: A || B")."""

    argument_asks: list[str] = field(default_factory=list)
    systems: list[str] = field(default_factory=list)  # every reply prompt's system message
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
        self.systems.append(system)
        acts = re.search(r"act: ([A-Z_,]+)", text)
        actions = "REPLY" + (f",{acts.group(1)}" if acts else "")
        want = re.search(r"want: ([A-Z_,]+)", text)
        providers = f"<providers>{want.group(1)}</providers>" if want else ""
        xml = f"<response><thought>t</thought><actions>{actions}</actions>{providers}<text>on it</text></response>"
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


def calc(tmp_path: Path, name: str = "calc", env_values: dict[str, str] | None = None) -> McpServer:
    env = {"MCP_CALLS_FILE": str(tmp_path / "calls.txt"), "MCP_PID_FILE": str(tmp_path / f"{name}.pid")}
    return McpServer(name=name, command=CALC, env_values={**env, **(env_values or {})})


async def test_a_stdio_servers_tools_are_actions_a_model_calls_with_checked_arguments(start_host, router, tmp_path):
    scripted, address = router
    host = await start_host(router_address=address, supervision=SUPERVISION, mcp=(calc(tmp_path),))
    plugin = host.plugins.get("mcp-calc")
    assert plugin.state is PluginState.READY
    info = plugin.info()
    assert info.components["actions"] == ["CALC_ADD", "CALC_SLOW", "CALC_GETENV", "CALC_GROW"]
    assert info.components["providers"] == ["CALC_TODAY", "CALC_GREETING"]
    manifest = host.plugins.registry.manifests["mcp-calc"]
    [add] = [a for a in manifest.actions if a.name == "CALC_ADD"]
    assert add.description.startswith("Add two whole numbers.; parameters (JSON schema): ")
    assert '"required":["a","b"]' in add.description
    assert "prompts: summarise (Summarise a topic.)" in manifest.description
    assert "greeting://{name}" in manifest.description

    events = await send(host, 'add them act: CALC_ADD args: {"a": 2, "b": 3}')
    [(text, extra)] = action_events(events)
    assert text == "5" and extra["success"] is True and extra["values"] == {"result": 5}
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


async def test_a_resource_is_a_provider_whose_text_reaches_the_prompt(start_host, router, tmp_path):
    scripted, address = router
    host = await start_host(router_address=address, supervision=SUPERVISION, mcp=(calc(tmp_path),))
    events = await send(host, "what is on the note?")
    assert events[-1].event_type == "RUN_ENDED"
    assert any("The note of the day: buy oat milk." in system for system in scripted.systems)


async def test_plugins_list_shows_the_server_with_its_tools_and_state(start_host, router, tmp_path):
    _, address = router
    host = await start_host(router_address=address, supervision=SUPERVISION, mcp=(calc(tmp_path),))
    code, out, err = await run_cli(host, "plugins", "list", "--json")
    assert code == 0, err
    [doc] = [p for p in json.loads(out)["plugins"] if p["name"] == "mcp-calc"]
    assert doc["state"] == "ready" and doc["restarts"] == 0 and doc["pid"] > 0
    assert doc["components"]["actions"] == ["CALC_ADD", "CALC_SLOW", "CALC_GETENV", "CALC_GROW"]
    assert doc["components"]["providers"] == ["CALC_TODAY", "CALC_GREETING"]


async def test_a_server_killed_mid_call_fails_the_action_clearly_and_is_restarted(start_host, router, tmp_path):
    scripted, address = router
    host = await start_host(router_address=address, supervision=SUPERVISION, mcp=(calc(tmp_path),))
    first = int((tmp_path / "calc.pid").read_text())
    sending = asyncio.create_task(send(host, 'act: CALC_SLOW args: {"seconds": 60}'))
    assert await eventually(lambda: len(scripted.argument_asks) == 1, timeout=30)
    await asyncio.sleep(1.0)  # the call is at the server now
    os.kill(first, signal.SIGKILL)
    events = await asyncio.wait_for(sending, 60)
    [(_, extra)] = action_events(events)
    assert extra["success"] is False
    assert extra["error"] == (
        "MCP server 'calc' exited or closed its connection during tools/call slow; it is restarted"
    )
    assert events[-1].event_type == "RUN_ENDED"
    plugin = host.plugins.get("mcp-calc")
    assert await eventually(lambda: plugin.restarts == 1 and plugin.state is PluginState.READY, timeout=60)
    second = int((tmp_path / "calc.pid").read_text())
    assert second != first and alive(second) and not alive(first)
    events = await send(host, 'act: CALC_ADD args: {"a": 20, "b": 22}')
    assert [text for text, _ in action_events(events)] == ["42"]


async def test_reload_starts_a_new_bridge_and_server_and_ends_the_old(start_host, router, tmp_path):
    _, address = router
    host = await start_host(router_address=address, supervision=SUPERVISION, mcp=(calc(tmp_path),))
    old_bridge, old_server = host.plugins.get("mcp-calc").info().pid, int((tmp_path / "calc.pid").read_text())
    await host.plugins.reload("mcp-calc")
    new_bridge, new_server = host.plugins.get("mcp-calc").info().pid, int((tmp_path / "calc.pid").read_text())
    assert new_bridge != old_bridge and new_server != old_server and alive(new_server)
    assert await eventually(lambda: not alive(old_bridge) and not alive(old_server), timeout=10)
    await host.plugins.unload("mcp-calc")
    assert await eventually(lambda: not alive(new_bridge) and not alive(new_server), timeout=10)
    await host.plugins.load("mcp-calc")
    assert host.plugins.get("mcp-calc").state is PluginState.READY


async def test_a_server_that_never_answers_initialize_fails_to_start_with_a_clear_error(start_host, tmp_path):
    mute = McpServer(name="mute", command=(*RAW, "mute"), start_timeout=2.0)
    host = await start_host(supervision=SUPERVISION, mcp=(mute,))
    plugin = host.plugins.get("mcp-mute")
    assert plugin.state is PluginState.FAILED
    assert plugin.reason == (
        "plugin 'mcp-mute' exited with code 1 before its handshake: "
        "agenthost plugin mcp-mute: MCP server 'mute' did not answer initialize within 2 s"
    )


async def test_a_malformed_tool_result_fails_the_action_and_the_run_goes_on(start_host, router, tmp_path):
    scripted, address = router
    raw = McpServer(name="raw", command=(*RAW, "malformed"))
    host = await start_host(router_address=address, supervision=SUPERVISION, mcp=(raw, calc(tmp_path)))
    events = await send(host, 'act: RAW_BROKEN,CALC_ADD args: {"a": 1, "b": 1}')
    [(_, broken), (text, added)] = action_events(events)
    assert broken["success"] is False and broken["error"].startswith("tool broken returned a malformed result: ")
    assert text == "2" and added["success"] is True
    assert host.plugins.get("mcp-raw").state is PluginState.READY


@pytest.mark.parametrize("transport, path", [("http", "/mcp"), ("sse", "/sse")])
async def test_an_http_server_with_headers(start_host, router, tmp_path, transport, path):
    """Streamable HTTP, and the older HTTP+SSE transport (elizaOS's type "sse")."""
    _, address = router
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "MCP_CALLS_FILE": str(tmp_path / "calls.txt")}
    server = subprocess.Popen([*CALC, transport, str(port)], env=env, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}{path}"
        up = await eventually(lambda: _listening(port), timeout=60)
        assert up, "the HTTP MCP server did not start"
        remote = McpServer(name="web", url=url, sse=transport == "sse", headers={"X-Test": "yes"})
        host = await start_host(router_address=address, supervision=SUPERVISION, mcp=(remote,))
        assert host.plugins.get("mcp-web").info().components["actions"] == [
            "WEB_ADD",
            "WEB_SLOW",
            "WEB_GETENV",
            "WEB_GROW",
        ]
        events = await send(host, 'act: WEB_ADD args: {"a": 7, "b": 8}')
        assert [text for text, _ in action_events(events)] == ["15"]
        assert (tmp_path / "calls.txt").read_text() == "add 7 8\n"
    finally:
        server.kill()
        server.wait()


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_host_sigkill_leaves_no_bridge_and_no_mcp_server(tmp_path: Path):
    """`agenthost serve` with an MCP server from its config file (its env granted by name) is
    SIGKILLed: the bridge and the server it started are both gone within seconds, although the
    server outlives its stdin and ignores SIGTERM (die_with_parent.py's SIGKILL ends it)."""
    pid_file = tmp_path / "calc.pid"
    config = tmp_path / "agenthost.toml"
    config.write_text(
        'data_dir = "data"\nrouter_address = "off"\n[plugins]\nallow = []\n'
        "[supervision]\nstart_timeout = 60.0\n"
        f'[mcp.servers.calc]\ncommand = {json.dumps(list(CALC))}\nenv = ["MCP_PID_FILE", "MCP_STUBBORN"]\n'
    )
    address = f"unix://{tmp_path}/api.sock"
    env = {**os.environ, "AGENTHOST_DATA_DIR": str(tmp_path / "data"), "MCP_PID_FILE": str(pid_file)}
    env["MCP_STUBBORN"] = "1"
    host = subprocess.Popen(
        [AGENTHOST, "serve", "--listen", address, "--config", str(config)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        waited = subprocess.run(
            [AGENTHOST, "wait", "--timeout", "90", "--host", address], env=env, capture_output=True, text=True
        )
        assert waited.returncode == 0, waited.stderr
        status = subprocess.run(
            [AGENTHOST, "--host", address, "status", "--json"], env=env, capture_output=True, text=True
        )
        [plugin] = json.loads(status.stdout)["plugins"]
        bridge, server = plugin["pid"], int(pid_file.read_text())
        assert plugin["name"] == "mcp-calc" and alive(bridge) and alive(server)
    finally:
        host.send_signal(signal.SIGKILL)
        host.wait(timeout=5)
    deadline = time.monotonic() + 10
    while (alive(bridge) or alive(server)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(bridge), "the bridge outlived its host"
    assert not alive(server), "the MCP server outlived its host"


def test_the_mcp_table_and_a_characters_settings_are_checked_with_one_line_errors(tmp_path: Path):
    config = tmp_path / "agenthost.toml"
    config.write_text('[mcp.servers.files]\ncommand = ["npx", "server"]\nenv = ["HOME_DIR"]\n')
    [server] = load_config(config).mcp
    assert server == McpServer(name="files", command=("npx", "server"), env=("HOME_DIR",))
    assert server.spec().name == "mcp-files" and server.spec().module == "plugin_sdk.mcp_bridge"
    bad = {
        '[mcp.servers.x]\nurl = "http://a"\ncommand = ["a"]\n': "[mcp.servers.x] needs exactly one of command",
        "[mcp.servers.x]\ncommand = []\n": "[mcp.servers.x] command must be a non-empty list of strings",
        '[mcp.servers.x]\nurl = "ftp://a"\n': "[mcp.servers.x] url must be an http:// or https:// URL",
        '[mcp.servers.x]\ncommand = ["a"]\nport = 1\n': "unknown key(s) in [mcp.servers.x]: port",
        '[mcp.servers.x]\ncommand = ["a"]\ntimeout = 0\n': "[mcp.servers.x] timeout must be a number of seconds",
        '[mcp.servers."9x"]\ncommand = ["a"]\n': "[mcp.servers.9x]: a server name starts with a letter",
        "[mcp]\nserver = 1\n": "unknown key(s) in [mcp]: server",
        '[mcp.servers.x]\nurl = "http://a"\ntransport = "ws"\n': "[mcp.servers.x] transport must be",
    }
    for text, message in bad.items():
        config.write_text(text)
        with pytest.raises(Exception) as caught:
            load_config(config)
        assert message in str(caught.value) and "\n" not in str(caught.value), str(caught.value)
    settings = {
        "mcp": {
            "servers": {
                "github": {"type": "stdio", "command": "npx", "args": ["-y", "gh"], "env": {"TOKEN": "t"}},
                "web": {"type": "streamable-http", "url": "https://mcp.example/mcp"},
                "old": {"type": "sse", "url": "https://mcp.example/sse"},
            }
        }
    }
    github, web, old = servers_from_character(settings, "Ada")
    assert old.sse and not web.sse
    assert github.command == ("npx", "-y", "gh") and github.env_values == {"TOKEN": "t"}
    assert web.url == "https://mcp.example/mcp"
    with pytest.raises(ValueError, match=r"character 'Ada': settings.mcp.servers.x type must be stdio, http"):
        servers_from_character({"mcp": {"servers": {"x": {"type": "ws", "url": "http://a"}}}}, "Ada")


async def test_a_changed_tool_list_refreshes_the_actions_without_a_restart(start_host, router, tmp_path):
    """tools/list_changed: the bridge lists the tools again and the host reads its manifest again;
    neither the bridge nor the server is restarted (the server's pid and state stay)."""
    _, address = router
    server = calc(tmp_path, env_values={"MCP_TOOLS_FILE": str(tmp_path / "tools.txt")})
    host = await start_host(router_address=address, supervision=SUPERVISION, mcp=(server,))
    plugin = host.plugins.get("mcp-calc")
    bridge, calc_pid = plugin.info().pid, (tmp_path / "calc.pid").read_text()
    events = await send(host, "act: CALC_GROW")
    assert [text for text, _ in action_events(events)] == ["grown"]
    grown = ["CALC_ADD", "CALC_DOUBLE", "CALC_GETENV", "CALC_GROW", "CALC_SLOW"]
    assert await eventually(lambda: sorted(plugin.info().components["actions"]) == grown, timeout=60)
    assert "CALC_DOUBLE" in {a.name for a in host.plugins.registry.manifests["mcp-calc"].actions}
    assert plugin.state is PluginState.READY and plugin.restarts == 0
    assert plugin.info().pid == bridge and (tmp_path / "calc.pid").read_text() == calc_pid
    events = await send(host, 'act: CALC_DOUBLE args: {"n": 21}')
    assert [text for text, _ in action_events(events)] == ["42"]
    assert plugin.restarts == 0


async def test_an_action_past_its_deadline_cancels_the_call_at_the_server(start_host, router, tmp_path):
    _, address = router
    supervision = replace(SUPERVISION, action_timeout=3.0)
    host = await start_host(router_address=address, supervision=supervision, mcp=(calc(tmp_path),))
    events = await send(host, 'act: CALC_SLOW args: {"seconds": 60}')
    [(_, extra)] = action_events(events)
    assert extra["success"] is False and "deadline" in extra["error"], extra["error"]
    assert events[-1].event_type == "RUN_ENDED"
    calls = tmp_path / "calls.txt"
    assert await eventually(lambda: calls.exists() and "slow cancelled" in calls.read_text(), timeout=10)
    assert host.plugins.get("mcp-calc").restarts == 0


async def test_a_server_that_dies_while_idle_is_restarted(start_host, router, tmp_path):
    _, address = router
    host = await start_host(router_address=address, supervision=SUPERVISION, mcp=(calc(tmp_path),))
    plugin, first = host.plugins.get("mcp-calc"), int((tmp_path / "calc.pid").read_text())
    os.kill(first, signal.SIGKILL)
    assert await eventually(lambda: plugin.restarts == 1 and plugin.state is PluginState.READY, timeout=60)
    assert int((tmp_path / "calc.pid").read_text()) != first


async def test_a_characters_settings_mcp_server_is_started_with_the_host(start_host, router, tmp_path):
    _, address = router
    pid_file = str(tmp_path / "calc.pid")
    servers = {"notes": {"type": "stdio", "command": CALC[0], "args": [CALC[1]], "env": {"MCP_PID_FILE": pid_file}}}
    ada = character(tmp_path, "Ada", settings={"mcp": {"servers": servers}})
    host = await start_host(router_address=address, supervision=SUPERVISION, character=ada)
    plugin = host.plugins.get("mcp-notes")
    assert plugin.state is PluginState.READY and "NOTES_ADD" in plugin.info().components["actions"]
    assert alive(int((tmp_path / "calc.pid").read_text()))


async def test_an_agent_added_at_runtime_gets_its_characters_mcp_servers(start_host, router, tmp_path):
    """`agenthost agents add` of a character with settings.mcp starts its servers (a malformed
    one refuses the agent with one line); the tool is an action of the new agent's runs."""
    _, address = router
    host = await start_host(router_address=address, supervision=SUPERVISION)
    assert "mcp-notes" not in host.plugins.plugins
    bad = character(tmp_path, "Bob", settings={"mcp": {"servers": {"x": {"type": "ws", "url": "http://a"}}}})
    code, _, err = await run_cli(host, "agents", "add", str(bad))
    assert code != 0 and "settings.mcp.servers.x type must be stdio" in err, err
    pid_file = str(tmp_path / "calc.pid")
    env = {"MCP_PID_FILE": pid_file, "MCP_CALLS_FILE": str(tmp_path / "calls.txt")}
    servers = {"notes": {"type": "stdio", "command": CALC[0], "args": [CALC[1]], "env": env}}
    cleo = character(tmp_path, "Cleo", settings={"mcp": {"servers": servers}})
    code, out, err = await run_cli(host, "agents", "add", str(cleo))
    assert code == 0, err
    plugin = host.plugins.get("mcp-notes")
    assert plugin.state is PluginState.READY and "NOTES_ADD" in plugin.info().components["actions"]
    assert alive(int((tmp_path / "calc.pid").read_text()))
    request = agent_pb2.SendMessageRequest(
        agent_id="Cleo",
        room_id="r",
        entity_id="u",
        content=types_pb2.Content(text='act: NOTES_ADD args: {"a": 2, "b": 3}'),
    )
    async with api_channel(host) as channel:
        events = [e async for e in agent_pb2_grpc.AgentServiceStub(channel).SendMessage(request, timeout=90)]
    assert [text for text, _ in action_events(events)] == ["5"]
    server_pid = int((tmp_path / "calc.pid").read_text())
    code, _, err = await run_cli(host, "agents", "remove", "Cleo")  # the only agent naming the server
    assert code == 0, err
    assert "mcp-notes" not in host.plugins.plugins
    deadline = time.monotonic() + 10
    while alive(server_pid) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert not alive(server_pid)


async def test_a_resource_template_is_a_provider_read_when_the_reply_names_it(start_host, router, tmp_path):
    scripted, address = router
    host = await start_host(router_address=address, supervision=SUPERVISION, mcp=(calc(tmp_path),))
    [greeting] = [p for p in host.plugins.registry.manifests["mcp-calc"].providers if p.name == "CALC_GREETING"]
    assert greeting.dynamic and "greeting://{name}" in greeting.description
    await send(host, "hello")
    assert not any("Hello, Bob!" in system for system in scripted.systems)  # not read unless named
    events = await send(host, 'greet want: CALC_GREETING args: {"name": "Bob"}')
    assert events[-1].event_type == "RUN_ENDED"
    assert any("Hello, Bob!" in system for system in scripted.systems)


def test_a_tool_result_becomes_the_actions_text_values_and_data():
    link = types.ResourceLink(name="report", uri="file:///r.txt", description="the report")
    result = types.CallToolResult(
        content=[types.TextContent(text="done"), link], structured_content={"rows": 3}, is_error=False
    )
    action = action_result("export", result)
    assert action.success and action.text == "done\nreport: file:///r.txt"
    assert action.values == {"rows": 3}
    assert action.data == {
        "tool": "export",
        "structured": {"rows": 3},
        "resource_links": [{"uri": "file:///r.txt", "name": "report", "description": "the report"}],
    }
    only_structured = action_result("count", types.CallToolResult(content=[], structured_content={"n": 1}))
    assert only_structured.text == '{"n":1}'
    failed = action_result("export", types.CallToolResult(content=[types.TextContent(text="disk full")], is_error=True))
    assert not failed.success and failed.error == "tool export failed: disk full"


async def test_only_the_host_variables_granted_by_name_reach_the_server(start_host, router, tmp_path, monkeypatch):
    _, address = router
    monkeypatch.setenv("MCP_TEST_GRANTED", "granted value")
    monkeypatch.setenv("MCP_TEST_WITHHELD", "withheld value")
    server = McpServer(name="calc", command=CALC, env=("MCP_TEST_GRANTED",))
    host = await start_host(router_address=address, supervision=SUPERVISION, mcp=(server,))
    said = []
    for name in ("MCP_TEST_GRANTED", "MCP_TEST_WITHHELD"):
        events = await send(host, f'act: CALC_GETENV args: {{"name": "{name}"}}')
        said += [text for text, _ in action_events(events)]
    assert said == ["granted value", "unset"]
