"""Actions on the Session stream (PROTOCOL.md §8.1, Actions), against real plugin processes
(tests/session_action_plugin.py): callbacks then the result, in order, with the call's id;
a failing action, a deadline, a caller that goes away, an unknown action, all as InvokeAction
answers them; a plugin without actions on its Session (or without Session) still gets
InvokeAction calls."""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import grpc
import pytest
from agenthost.v1 import plugin_pb2
from support import FAST, eventually

from host.plugins.connection import PluginCallError, PluginConnection
from plugin_sdk import ActionResult, Content, Memory, PluginSpec
from plugin_sdk.wire import memory_to_proto

PLUGIN = Path(__file__).with_name("session_action_plugin.py")
NAME = "actiontest"


def message(text: str) -> Memory:
    return Memory(room_id="room-a", entity_id="user-1", content=Content(text=text, source="test"))


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    return tmp_path / "cancelled.txt"


@pytest.fixture(name="ways")
def ways_fixture(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """How the host's action calls went: "session" (on the stream) or "unary" (InvokeAction)."""
    counted: Counter[str] = Counter()
    session_action, stub_call = PluginConnection._session_action, PluginConnection.invoke_action

    def on_session(self: PluginConnection, *args: Any) -> Any:
        counted["session"] += 1
        return session_action(self, *args)

    async def any_way(self: PluginConnection, *args: Any, **kwargs: Any) -> Any:
        before = counted["session"]
        try:
            async for event in stub_call(self, *args, **kwargs):
                yield event
        finally:
            if counted["session"] == before:
                counted["unary"] += 1

    monkeypatch.setattr(PluginConnection, "_session_action", on_session)
    monkeypatch.setattr(PluginConnection, "invoke_action", any_way)
    return counted


@pytest.fixture
def start(start_host, marker):
    async def go(mode: str = "ok", **changes: Any) -> Any:
        spec = PluginSpec(
            name=NAME, version="1.0.0", command=(sys.executable, str(PLUGIN)), env={"AGENTHOST_TEST_MODE": mode}
        )
        return await start_host(spec, plugin_config={NAME: {"MARKER": str(marker)}}, **changes)

    return go


async def events_of(host: Any, name: str, text: str = "hi", **options: Any) -> list[Content | ActionResult]:
    return [e async for e in host.components.invoke_action(name, message(text), options=options)]


@pytest.mark.parametrize("mode", ["ok", "no-actions", "unary-only"])
async def test_callbacks_then_the_result_in_order_whichever_way_the_action_goes(start, ways, mode):
    host = await start(mode)
    events = await events_of(host, "STEPS", "there", n=4)
    assert [e.text for e in events] == ["step 1", "step 2", "step 3", "step 4", "done there"]
    assert isinstance(events[-1], ActionResult) and events[-1].success
    assert ways == Counter({"session" if mode == "ok" else "unary": 1})
    connection = host.plugins.get(NAME).instance.connection
    assert connection.transport == ("unary" if mode == "unary-only" else "session")


async def test_concurrent_actions_each_get_their_own_callbacks_in_order(start, ways):
    host = await start()
    runs = await asyncio.gather(*(events_of(host, "STEPS", f"m{i}", n=i) for i in range(1, 9)))
    for i, events in enumerate(runs, 1):
        assert [e.text for e in events] == [f"step {k}" for k in range(1, i + 1)] + [f"done m{i}"]
    assert ways == Counter({"session": 8})


async def test_a_failing_action_is_a_failed_result_after_its_callbacks(start, ways):
    host = await start()
    events = await events_of(host, "FAIL")
    assert [type(e).__name__ for e in events] == ["Content", "ActionResult"]
    assert events[0].text == "about to fail"
    assert not events[1].success and events[1].error == "RuntimeError: broken on purpose"
    assert ways == Counter({"session": 1})


@pytest.mark.parametrize("mode", ["ok", "no-actions"])
async def test_an_action_past_its_deadline_fails_as_invoke_action_did_and_is_cancelled(start, ways, marker, mode):
    host = await start(mode, supervision=replace(FAST, call_timeout=0.5))
    seen: list[Content | ActionResult] = []
    with pytest.raises(PluginCallError, match="did not answer InvokeAction within its deadline") as caught:
        async for event in host.components.invoke_action("HANG", message("late")):
            seen.append(event)
    assert caught.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert [e.text for e in seen] == ["started"]  # the callback came before the deadline
    assert await eventually(lambda: marker.exists() and marker.read_text() == "cancelled late\n")
    breaker = {b.name: b for b in host.components.breakers.of(NAME)}["HANG"]
    assert breaker.failures == 1  # a deadline is the action's failure, either way
    assert ways == Counter({"session" if mode == "ok" else "unary": 1})
    # the stream is still good: the next action answers on it
    assert (await events_of(host, "STEPS", "after", n=1))[-1].text == "done after"


async def test_a_caller_that_goes_away_cancels_the_action_in_the_plugin(start, marker):
    host = await start()
    started = asyncio.Event()

    async def run() -> None:
        async for event in host.components.invoke_action("HANG", message("abandoned")):
            if isinstance(event, Content):
                started.set()

    task = asyncio.create_task(run())
    await asyncio.wait_for(started.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await eventually(lambda: marker.exists() and marker.read_text() == "cancelled abandoned\n")
    connection = host.plugins.get(NAME).instance.connection
    assert await eventually(lambda: connection.in_flight == 0)
    assert {b.name: b for b in host.components.breakers.of(NAME)}.get("HANG") is None  # not the action's fault
    assert (await events_of(host, "STEPS", "next", n=1))[-1].text == "done next"


@pytest.mark.parametrize("mode", ["ok", "no-actions"])
async def test_an_unknown_action_is_not_found_either_way(start, mode):
    host = await start(mode)
    connection = host.plugins.get(NAME).instance.connection
    request = plugin_pb2.InvokeActionRequest(name="NOPE", message=memory_to_proto(message("x")))
    with pytest.raises(PluginCallError, match="has no action 'NOPE'") as caught:
        [e async for e in connection.invoke_action(request, 5.0)]
    assert caught.value.code == grpc.StatusCode.NOT_FOUND


async def test_the_greeting_offers_actions_only_to_a_host_that_asked(start):
    host = await start()
    instance = host.plugins.get(NAME).instance
    from agenthost.v1 import plugin_pb2_grpc

    from plugin_sdk.session_frames import ACTIONS_METADATA

    async with grpc.aio.insecure_channel(instance.connection.target) as channel:
        stub = plugin_pb2_grpc.PluginServiceStub(channel)
        auth = ("authorization", f"Bearer {instance.token}")
        for metadata, offered in (((auth,), False), ((auth, ACTIONS_METADATA), True)):
            stream = stub.Session(metadata=metadata, timeout=5)
            assert (await stream.read()).actions is offered
            stream.cancel()
