"""What a plugin logs while it works for a run is filed under that run and its agent: the host
names the run on each call (Session frame fields, or unary metadata), the SDK writes it into its
JSON log lines, and `agenthost logs --run ID` finds them with the plugin's name.

A real host with two agents, a real plugin process (written by the test) whose provider, action
(and a task it starts) and model log as they work; served over Session and, as a plugin without
it, over unary calls."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from agenthost.v1 import agent_pb2, agent_pb2_grpc, types_pb2
from pipeline_support import character_file
from support import api_channel

from host.host import Host
from host.plugins.process import OutputLine, _parse_line
from plugin_sdk import Content, Memory, PluginSpec
from plugin_sdk.types import State

AGENTHOST = str(Path(sys.executable).with_name("agenthost"))
NAME = "scoped"
WORKING = ("provider working", "action working", "action's task working", "model working")

PLUGIN_SOURCE = """
import asyncio
import sys

sys.path.insert(0, {tests!r})
from session_modes import serve_in_mode

from plugin_sdk import ActionResult, Plugin, ProviderResult

plugin = Plugin("scoped", version="1.0.0", description="Logs as it works.")


@plugin.provider("SCOPED_FACTS", description="A fact, logged.", position=1)
async def facts(ctx, message, state):
    ctx.log.info("provider working (ctx.run_id=%s)", ctx.run_id)
    return ProviderResult(text="A scoped fact.")


async def _always(ctx, message, state):
    return True


async def _later(ctx):
    ctx.log.info("action's task working")


@plugin.action("SCOPED_ACT", description="Acts, logged.", validate=_always)
async def act(ctx, message, state, options, callback):
    ctx.log.warning("action working")
    await asyncio.create_task(_later(ctx))
    return ActionResult(text="acted")


@plugin.model("TEXT_LARGE")
async def brain(ctx, params):
    ctx.log.info("model working")
    return (
        "<response>\\n<thought>scripted</thought>\\n<actions>REPLY,SCOPED_ACT</actions>\\n"
        "<text>done</text>\\n</response>"
    )


serve_in_mode(plugin, "compose")
"""


def test_a_plugin_line_names_the_run_and_agent_it_was_written_for() -> None:
    line = '{"level": "warn", "msg": "working", "run_id": "run-1", "agent_id": "agent-1", "logger": "plugin.x"}'
    assert _parse_line(line) == OutputLine(logging.WARNING, "working", "agent-1", "run-1")
    assert _parse_line('{"level": "info", "msg": "idle"}') == OutputLine(logging.INFO, "idle", "", "")
    assert _parse_line("plain text") == OutputLine(logging.INFO, "plain text", "", "")
    # ids that are not strings, or absurdly long, are no ids
    odd = json.dumps({"msg": "odd", "run_id": 7, "agent_id": "a" * 500})
    assert _parse_line(odd) == OutputLine(logging.INFO, "odd", "", "")


def _spec(tmp_path: Path, mode: str) -> PluginSpec:
    source = tmp_path / "scoped_plugin.py"
    source.write_text(PLUGIN_SOURCE.format(tests=str(Path(__file__).parent)))
    return PluginSpec(
        name=NAME, version="1.0.0", command=(sys.executable, str(source)), env={"AGENTHOST_TEST_MODE": mode}
    )


async def _send(host: Host, agent: str, text: str) -> str:
    """Send a message to `agent`; the id of its run (which must complete)."""
    request = agent_pb2.SendMessageRequest(
        room_id=f"room-{agent}", entity_id="user-1", agent_id=agent, content=types_pb2.Content(text=text)
    )
    async with api_channel(host) as channel:
        events = [e async for e in agent_pb2_grpc.AgentServiceStub(channel).SendMessage(request, timeout=60)]
    assert events[-1].event_type == "RUN_ENDED", events
    assert [e.content.text for e in events if e.event_type == "ACTION"] == ["acted"]
    return events[0].run_id


async def _logs(host: Host, tmp_path: Path, *args: str) -> list[dict[str, Any]]:
    """`agenthost logs --json ARGS` against the host, as an operator runs it."""
    env = {**os.environ, "AGENTHOST_ADDR": host.address, "AGENTHOST_DATA_DIR": str(tmp_path / "data")}
    proc = await asyncio.create_subprocess_exec(
        AGENTHOST, "logs", "--json", *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    records: list[dict[str, Any]] = json.loads(out)["records"]
    return records


async def _plugin_lines(host: Host, run_id: str) -> dict[str, agent_pb2.GetLogsResponse]:
    """The plugin's records GetLogs files under `run_id`, by what they say (waiting for its
    output to be read)."""
    found: dict[str, agent_pb2.GetLogsResponse] = {}
    for _ in range(100):
        async with api_channel(host) as channel:
            stub = agent_pb2_grpc.AgentServiceStub(channel)
            records = [r async for r in stub.GetLogs(agent_pb2.GetLogsRequest(run_id=run_id, tail=1000), timeout=10)]
        found = {w: r for r in records for w in WORKING if r.plugin == NAME and r.message.startswith(w)}
        if len(found) == len(WORKING):
            break
        await asyncio.sleep(0.1)
    return found


@pytest.mark.parametrize("mode", ["session", "unary-only"])
async def test_what_a_plugin_logs_for_a_run_is_found_by_the_runs_id(start_host: Any, tmp_path: Path, mode: str) -> None:
    characters = tuple(character_file(tmp_path, name) for name in ("Alpha", "Beta"))
    host = await start_host(_spec(tmp_path, mode), characters=characters)
    assert host.plugins.get(NAME).connection().transport == ("unary" if mode == "unary-only" else "session")
    beta = next(a for a in host.agents.values() if a.name == "Beta")
    assert beta.id != host.agent_id  # the host's first agent is Alpha: Beta's lines must say Beta

    run_id = await _send(host, "Beta", "hello")
    found = await _plugin_lines(host, run_id)
    assert set(found) == set(WORKING), sorted(found)
    assert {(r.run_id, r.agent_id, r.agent_name) for r in found.values()} == {(run_id, beta.id, "Beta")}
    assert found["provider working"].message == f"provider working (ctx.run_id={run_id})"  # handlers see it too
    assert found["action working"].level == "warn"

    # The CLI finds them by the run's id (its start, as text lines show it) and by the agent.
    by_run = await _logs(host, tmp_path, "--run", run_id[:8], "--plugin", NAME, "--tail", "1000")
    assert {w for r in by_run for w in WORKING if r["message"].startswith(w)} == set(WORKING)
    assert {(r["run_id"], r["agent_id"], r["plugin"]) for r in by_run} == {(run_id, beta.id, NAME)}
    by_agent = await _logs(host, tmp_path, "--agent", "Alpha", "--plugin", NAME, "--tail", "1000")
    assert not [r for r in by_agent if r["run_id"] == run_id]

    # A call made for no run names none, and no run's scope lingers in the plugin.
    memory = Memory(room_id="room-x", entity_id="user-1", content=Content(text="outside"))
    await host.components.get_providers(["SCOPED_FACTS"], memory, State())
    for _ in range(100):
        lines = [r for r in host.log_buffer.tail(1000, plugin=NAME) if r.message.startswith("provider working")]
        if len(lines) == 2:
            break
        await asyncio.sleep(0.1)
    assert lines[-1].message == "provider working (ctx.run_id=)" and lines[-1].run_id == ""
