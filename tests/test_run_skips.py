"""A run shows the components it went without: a provider or validate that did not answer,
an action or evaluator that failed. Real host, real plugin processes (tests/broken_plugin.py
fails on purpose)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from agenthost.v1 import agent_pb2, agent_pb2_grpc, types_pb2
from support import api_channel, fixture_spec

from host.host import Host
from plugin_sdk import PluginSpec
from plugin_sdk.wire import struct_to_dict

TESTS = Path(__file__).parent
CHAT = PluginSpec(name="chat", version="1.0.0", command=(sys.executable, str(TESTS / "chat_plugin.py")))
BROKEN = PluginSpec(name="broken", version="1.0.0", command=(sys.executable, str(TESTS / "broken_plugin.py")))


async def run_end(host: Host, text: str) -> tuple[list[str], dict[str, Any]]:
    """Send `text`; the run's event types, and its RUN_ENDED's extra."""
    request = agent_pb2.SendMessageRequest(room_id="room-1", entity_id="user-1", content=types_pb2.Content(text=text))
    async with api_channel(host) as channel:
        events = [e async for e in agent_pb2_grpc.AgentServiceStub(channel).SendMessage(request, timeout=30)]
    return [e.event_type for e in events], struct_to_dict(events[-1].content.extra)


async def test_a_run_lists_the_components_it_went_without(start_host):
    host = await start_host(BROKEN, fixture_spec("alpha"))
    await host.plugins.get("alpha").stop()  # its provider and actions cannot answer
    kinds, ended = await run_end(host, "hello")
    assert kinds == ["RUN_STARTED", "REPLY", "ACTION", "EVALUATOR", "RUN_ENDED"]
    assert ended["status"] == "degraded"
    skipped = {(s["kind"], s["name"]): (s["plugin"], s["error"]) for s in ended["skipped"]}
    assert skipped[("provider", "BROKEN_FACTS")] == ("broken", "RuntimeError: the facts are out of reach")
    assert skipped[("action", "BROKEN_PICKY")] == (
        "broken",
        "its validate failed: RuntimeError: validate tripped",
    )
    assert skipped[("action", "BROKEN_ACTION")] == ("broken", "RuntimeError: the action tripped")
    assert skipped[("evaluator", "BROKEN_EVAL")] == ("broken", "RuntimeError: the evaluator tripped")
    plugin, error = skipped[("provider", "ALPHA_ECHO")]
    assert plugin == "alpha" and "alpha" in error
    for action in ("ALPHA_SLOW", "ALPHA_PICKY", "ALPHA_CRASH"):
        assert skipped[("action", action)][1].startswith("its validate failed: plugin 'alpha'")
    assert len(skipped) == len(ended["skipped"])  # each once


async def test_a_run_whose_components_all_answered_is_completed_with_nothing_skipped(start_host):
    host = await start_host(CHAT)
    kinds, ended = await run_end(host, "hello")
    assert kinds == ["RUN_STARTED", "REPLY", "EVALUATOR", "RUN_ENDED"]
    assert ended["status"] == "completed" and "skipped" not in ended
