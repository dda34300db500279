"""PluginService.Session against real plugin processes: the same answers as the unary calls,
concurrent calls answered out of order, deadlines and cancellation reaching the plugin, a
plugin killed mid-call, the unary fallback, and the stream's token check."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from dataclasses import replace
from pathlib import Path

import grpc
import pytest
from agenthost.v1 import plugin_pb2, plugin_pb2_grpc
from support import FAST, eventually

from host.plugins.connection import PluginCallError, PluginUnavailable
from host.plugins.supervisor import PluginState
from plugin_sdk import Content, Memory, PluginSpec
from plugin_sdk.limits import MAX_RECEIVE_BYTES
from plugin_sdk.types import State
from plugin_sdk.wire import fill_struct, memory_to_proto, state_to_proto

PLUGIN = Path(__file__).with_name("session_plugin.py")
NAME = "sessiontest"


def spec(mode: str = "ok") -> PluginSpec:
    return PluginSpec(
        name=NAME, version="1.0.0", command=(sys.executable, str(PLUGIN)), env={"AGENTHOST_TEST_MODE": mode}
    )


def message(text: str) -> Memory:
    return Memory(room_id="room-s", entity_id="user-1", content=Content(text=text, source="test"))


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    return tmp_path / "cancelled.txt"


@pytest.fixture
def start(start_host, marker):
    async def go(mode: str = "ok", **changes):
        return await start_host(spec(mode), plugin_config={NAME: {"MARKER": str(marker)}}, **changes)

    return go


def requests(text: str) -> dict[str, object]:
    """One request per call kind the Session carries."""
    msg, state = memory_to_proto(message(text)), state_to_proto(State(text="st"))
    use_model = plugin_pb2.UseModelRequest(model_type="TEXT_SMALL")
    fill_struct(use_model.params, {"prompt": text})
    event = plugin_pb2.HandleEventRequest(event_type="PING")
    fill_struct(event.payload, {"x": 1})
    return {
        "GetProviders": plugin_pb2.GetProvidersRequest(
            names=["ECHO", "SLEEP"], message=memory_to_proto(message("3")), state=state
        ),
        "ValidateActions": plugin_pb2.ValidateActionsRequest(names=["SHOUT"], message=msg, state=state),
        "ValidateEvaluators": plugin_pb2.ValidateEvaluatorsRequest(names=["COUNT"], message=msg, state=state),
        "RunEvaluator": plugin_pb2.RunEvaluatorRequest(name="COUNT", message=msg, state=state, responses=[msg, msg]),
        "UseModel": use_model,
        "HandleEvent": event,
    }


async def test_the_stream_answers_every_call_kind_as_the_unary_calls_do(start):
    host = await start()
    connection = host.plugins.get(NAME).connection()
    assert connection.transport == "session"
    for text in ("hi!", "quiet"):
        for method, request in requests(text).items():
            assert await connection.call(method, request) == await connection.unary(method, request), method
    assert connection.transport == "session"
    # errors are the unary ones too: status code and message
    unknown = plugin_pb2.GetProvidersRequest(names=["NOPE"])
    failing = plugin_pb2.HandleEventRequest(event_type="PING")
    fill_struct(failing.payload, {"fail": True})
    for request, method in ((unknown, "GetProviders"), (failing, "HandleEvent")):
        with pytest.raises(PluginCallError) as over_stream:
            await connection.call(method, request)
        with pytest.raises(PluginCallError) as over_unary:
            await connection.unary(method, request)
        assert (over_stream.value.code, str(over_stream.value)) == (over_unary.value.code, str(over_unary.value))
    assert over_stream.value.code == grpc.StatusCode.INTERNAL and "asked to fail" in str(over_stream.value)
    # and through the host's components
    outcomes = await host.components.get_providers(["ECHO"], message("through components"))
    assert outcomes[0].result.text == "through components" and outcomes[0].result.values == {"n": 18}
    assert await host.components.validate_actions(["SHOUT"], message("go!")) == {"SHOUT": True}
    assert (await host.components.run_evaluator("COUNT", message("abc"))).values == {"length": 3}


async def test_many_concurrent_calls_on_one_stream_are_answered_out_of_order(start):
    host = await start()
    components = host.components
    waiting = asyncio.create_task(components.get_providers(["WAIT"], message("first")))
    texts = [str(n) for n in range(60)]
    sleeps = [components.get_providers(["SLEEP"], message(t)) for t in reversed(texts[:20])]
    echoes = [components.get_providers(["ECHO"], message(f"echo {t}")) for t in texts]
    answered = await asyncio.gather(*sleeps, *echoes)
    assert [o[0].result.text for o in answered] == [*reversed(texts[:20]), *(f"echo {t}" for t in texts)]
    assert not waiting.done()  # the first call is still running; every later one was answered
    assert (await components.get_providers(["RELEASE"], message("go")))[0].result.text == "released"
    assert (await waiting)[0].result.text == "released first"
    assert host.plugins.get(NAME).connection().transport == "session"


async def test_a_deadline_that_expires_cancels_the_call_in_the_plugin(start, marker):
    host = await start(supervision=replace(FAST, call_timeout=0.5))
    outcomes = await host.components.get_providers(["WAIT"], message("too slow"))
    assert "did not answer GetProviders within its deadline" in outcomes[0].error
    assert await eventually(lambda: marker.exists() and "cancelled too slow" in marker.read_text())
    assert (await host.components.get_providers(["ECHO"], message("still here")))[0].result.text == "still here"


async def test_a_caller_that_goes_away_cancels_its_call_in_the_plugin(start, marker):
    host = await start()
    connection = host.plugins.get(NAME).connection()
    call = asyncio.create_task(host.components.get_providers(["WAIT"], message("abandoned")))
    assert await eventually(lambda: connection.in_flight == 1)
    call.cancel()
    assert await eventually(lambda: marker.exists() and "cancelled abandoned" in marker.read_text())
    assert connection.in_flight == 0


async def test_a_plugin_killed_mid_call_fails_its_calls_at_once_and_its_restart_has_a_fresh_stream(start):
    host = await start()
    managed = host.plugins.get(NAME)
    old = managed.instance
    calls = [
        asyncio.create_task(
            old.connection.call(
                "GetProviders", plugin_pb2.GetProvidersRequest(names=["WAIT"], message=memory_to_proto(message(str(n))))
            )
        )
        for n in range(5)
    ]
    assert await eventually(lambda: old.connection.in_flight == 5)
    os.kill(old.pid, signal.SIGKILL)
    # long before the 5 s call deadline: the broken stream fails every call in flight
    done, _ = await asyncio.wait(calls, timeout=FAST.call_timeout / 2)
    assert len(done) == 5
    for call in done:
        error = call.exception()
        assert isinstance(error, PluginUnavailable), error
        assert "did not answer" not in str(error)
    assert await eventually(lambda: managed.state is PluginState.READY and managed.instance is not old, timeout=20)
    assert managed.instance.connection.transport == "session"
    assert (await host.components.get_providers(["ECHO"], message("back")))[0].result.text == "back"


async def test_a_plugin_without_the_stream_gets_unary_calls(start):
    host = await start("unary-only")
    connection = host.plugins.get(NAME).connection()
    assert connection.transport == "unary"
    outcomes = await host.components.get_providers(["ECHO", "SLEEP"], message("1"))
    assert [o.result.text for o in outcomes] == ["1", "1"]
    assert await host.components.validate_evaluators(["COUNT"], message("x")) == {"COUNT": True}
    assert connection.transport == "unary"


async def test_the_stream_needs_the_instances_token(start):
    host = await start()
    instance = host.plugins.get(NAME).instance
    async with grpc.aio.insecure_channel(instance.connection.target) as channel:
        stub = plugin_pb2_grpc.PluginServiceStub(channel)
        for metadata in ((), (("authorization", "Bearer forged"),), (("authorization", instance.token),)):
            stream = stub.Session(metadata=metadata, timeout=5)
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stream.read()
            assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED, metadata
        stream = stub.Session(metadata=(("authorization", f"Bearer {instance.token}"),), timeout=5)
        assert await stream.read() == plugin_pb2.SessionResponse()  # the greeting
        await stream.write(
            plugin_pb2.SessionRequest(
                id=7,
                get_providers=plugin_pb2.GetProvidersRequest(
                    names=["ECHO"], message=memory_to_proto(message("direct"))
                ),
            )
        )
        reply = await stream.read()
        assert reply.id == 7 and reply.get_providers.results[0].text == "direct"
        # the plugin keeps the frame's own deadline: WAIT never finishes, the plugin gives up
        wait = plugin_pb2.GetProvidersRequest(names=["WAIT"], message=memory_to_proto(message("raw")))
        await stream.write(plugin_pb2.SessionRequest(id=8, timeout_ms=50, get_providers=wait))
        reply = await stream.read()
        assert reply.id == 8 and reply.error.code == grpc.StatusCode.DEADLINE_EXCEEDED.value[0]
        await stream.write(plugin_pb2.SessionRequest(id=0, get_providers=plugin_pb2.GetProvidersRequest()))
        reply = await stream.read()
        assert reply.id == 0 and reply.error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
        stream.cancel()


async def test_a_stream_that_breaks_is_reopened_for_the_next_call(start):
    host = await start()
    connection = host.plugins.get(NAME).connection()
    broken = connection._session
    assert broken is not None
    broken.close("broke in the test")
    assert connection.transport == "unary"
    outcomes = await host.components.get_providers(["ECHO"], message("again"))
    assert outcomes[0].result.text == "again"
    assert connection._session is not broken and connection.transport == "session"


async def test_a_call_or_reply_over_the_size_limit_fails_alone_and_the_stream_stays(start):
    host = await start()
    connection = host.plugins.get(NAME).connection()
    waiting = asyncio.create_task(host.components.get_providers(["WAIT"], message("patient")))
    assert await eventually(lambda: connection.in_flight == 1)
    big_state = State(text="y" * (MAX_RECEIVE_BYTES + 1))
    too_big = await host.components.get_providers(["ECHO"], message("big request"), big_state)
    assert too_big[0].result is None and "larger than max" in too_big[0].error  # unary's RESOURCE_EXHAUSTED
    reply = await host.components.get_providers(["BIG"], message(str(MAX_RECEIVE_BYTES)))
    assert reply[0].result is None and "over the limit" in reply[0].error
    assert not waiting.done() and connection.transport == "session"
    await host.components.get_providers(["RELEASE"], message("go"))
    assert (await waiting)[0].result.text == "released patient"
