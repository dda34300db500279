"""A plugin or router process that is killed and restarted, against real processes: calls that
failed because the plugin was down do not open its components' breakers (the restarted plugin's
evaluator runs at once), a component that itself keeps failing still opens its own; a run's model
calls that find the spawned router restarting wait for it within their deadline."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from agenthost.v1 import agent_pb2_grpc
from support import FAST, api_channel, eventually
from test_pipeline import CHAT, as_dict, of, request

from host.agent.models import ModelError
from host.plugins.supervisor import PluginState
from plugin_sdk import Content, Memory, PluginSpec

NAME = "restarttest"


def spec(folder: Path) -> PluginSpec:
    command = (sys.executable, str(Path(__file__).with_name("restart_plugin.py")))
    return PluginSpec(name=NAME, version="1.0.0", command=command, env={"RESTART_DIR": str(folder)})


def message(text: str) -> Memory:
    return Memory(room_id="room-r", entity_id="user-1", content=Content(text=text, source="test"))


def breakers(host: Any) -> dict[str, tuple[str, int]]:
    (info,) = [p for p in host.status().plugins if p.name == NAME]
    return {f"{b.kind} {b.name}": (b.state, b.failures) for b in info.breakers}


async def test_calls_failed_by_a_killed_plugin_do_not_open_its_breakers(start_host, tmp_path):
    host = await start_host(spec(tmp_path), supervision=replace(FAST, breaker_failures=1, breaker_cooldown=60))
    managed = host.plugins.get(NAME)
    (tmp_path / "hang").touch()
    in_flight = [asyncio.create_task(host.components.evaluate(["WAITING"], message(f"run {n}"))) for n in range(3)]
    hanging = tmp_path / "hanging"
    assert await eventually(lambda: hanging.exists() and hanging.read_text() != "")
    killed = int(hanging.read_text())
    (tmp_path / "hang").unlink()
    os.kill(killed, signal.SIGKILL)
    for (outcome,) in await asyncio.wait_for(asyncio.gather(*in_flight), FAST.call_timeout):
        assert outcome.result is None and f"plugin {NAME!r}" in outcome.error  # killed mid-call
    assert await eventually(lambda: managed.state is PluginState.READY and managed.instance.pid != killed, 20)
    # the next run's evaluator runs in the restarted plugin: no breaker opened by the kill
    (outcome,) = await host.components.evaluate(["WAITING"], message("after the restart"))
    assert outcome.valid and outcome.error == "" and outcome.result.text == f"evaluated by {managed.instance.pid}"
    assert breakers(host).get("evaluator WAITING", ("closed", 0)) == ("closed", 0)
    # a component that itself raises still opens its breaker (threshold 1), and is then skipped
    (first,) = await host.components.evaluate(["BROKEN"], message("broken 1"))
    assert not first.valid and "broken evaluator" in first.error
    (second,) = await host.components.evaluate(["BROKEN"], message("broken 2"))
    assert not second.valid and second.error.startswith("breaker open after 1 failure(s) in a row")
    assert breakers(host)["evaluator BROKEN"] == ("open", 1)


async def test_a_run_sent_while_the_router_restarts_completes_once_it_is_back(start_host, host_config):
    supervision = replace(host_config.supervision, call_timeout=120.0)
    host = await start_host(CHAT, router_address="", supervision=supervision)
    assert await eventually(lambda: host.router.status().state is PluginState.READY, timeout=5)
    killed = host.router.status().pid
    os.kill(killed, signal.SIGKILL)
    assert await eventually(lambda: host.router.status().state is PluginState.RESTARTING, timeout=10)
    # a deadline shorter than the restart: the call waits until it passes, then says why it failed
    began = time.monotonic()
    with pytest.raises(ModelError, match="^no router: plugin 'router' is restarting") as failed:
        await host.models.use("TEXT_SMALL", {"prompt": "Say hi.", "max_tokens": 4}, 0.5)
    assert failed.value.code.name == "UNAVAILABLE" and 0.3 < time.monotonic() - began < 2.0
    assert host.router.status().state is PluginState.RESTARTING
    # a message sent now: its model calls wait for the router (within the run's deadline)
    async with api_channel(host) as channel:
        stub = agent_pb2_grpc.AgentServiceStub(channel)
        events = [as_dict(e) async for e in stub.SendMessage(request("hello there"), timeout=150)]
    (ended,) = of(events, "RUN_ENDED")
    assert ended["extra"]["status"] == "completed", ended
    assert host.router.status().state is PluginState.READY and host.router.status().pid != killed
