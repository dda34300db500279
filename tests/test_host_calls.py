"""A host with real plugin processes: lifecycle, component calls, callbacks into the host."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import grpc
import pytest
from agenthost.v1 import agent_pb2, runtime_pb2, runtime_pb2_grpc
from support import FAST, alive, api_channel, eventually, fixture_spec, plugin_socket

from host.plugins.connection import PluginCallError
from host.plugins.supervisor import PluginState
from host.status import Lifecycle
from plugin_sdk import ActionResult, Content, Memory


def message(text: str = "hello", room: str = "room-1") -> Memory:
    return Memory(room_id=room, entity_id="user-1", content=Content(text=text, source="test"))


async def test_host_reaches_ready_with_every_plugin_up(start_host):
    host = await start_host(fixture_spec("alpha"), fixture_spec("beta"))
    status = host.status()
    assert status.state == Lifecycle.READY
    assert [p.name for p in status.plugins] == ["alpha", "beta"]
    for plugin in status.plugins:
        assert plugin.state == PluginState.READY
        assert alive(plugin.pid)
        assert f"{plugin.name.upper()}_ECHO" in plugin.components["providers"]
        assert f"{plugin.name.upper()}_SLOW" in plugin.components["actions"]
        assert plugin.components["model_handlers"] == ["TEXT_SMALL"]


async def test_providers_of_several_plugins_answer_in_one_call(start_host):
    host = await start_host(fixture_spec("alpha"), fixture_spec("beta"))
    outcomes = await host.components.get_providers(["BETA_ECHO", "ALPHA_ECHO", "ALPHA_FAILING"], message("ping"))
    assert [o.name for o in outcomes] == ["BETA_ECHO", "ALPHA_ECHO", "ALPHA_FAILING"]
    assert outcomes[0].result.text == "ping" and outcomes[0].plugin == "beta"
    assert outcomes[1].result.text == "ping" and outcomes[1].plugin == "alpha"
    assert outcomes[2].result is None
    assert "this provider always fails" in outcomes[2].error


async def test_action_streams_callbacks_then_result(start_host):
    host = await start_host(fixture_spec("alpha"))
    events = [e async for e in host.components.invoke_action("ALPHA_SLOW", message(), options={"seconds": 0.01})]
    assert [type(e).__name__ for e in events] == ["Content", "ActionResult"]
    assert events[0].text == "working"
    assert events[1].success and events[1].text.startswith("done by ")


async def test_plugin_calls_back_into_the_host_for_memories_entities_settings_models_events(start_host):
    host = await start_host(fixture_spec("alpha"), fixture_spec("beta"))
    events = [e async for e in host.components.invoke_action("ALPHA_CALLBACK_HOST", message())]
    result = events[-1]
    assert isinstance(result, ActionResult) and result.success, result.error
    values = result.values
    assert values["stored_id"]
    assert values["recent"] == ["remember me"]
    assert values["entity_names"] == ["Bob"]
    assert values["missing_is_none"] is True
    assert values["setting"] == "hello from settings"
    assert values["unset_is_none"] is True
    assert values["model_text"].endswith("says: PING")
    assert values["model_served_by"] in ("alpha", "beta")
    assert values["delivered"] == 1  # beta subscribes; the sender is not sent its own event
    stored = await host.store.get_memories(host.agent_id, "room-1", "messages", 10)
    assert [m.content.text for m in stored] == ["remember me"]


async def test_plugin_config_reaches_the_plugin_and_wins_over_host_settings(start_host):
    host = await start_host(fixture_spec("alpha"), plugin_config={"alpha": {"GREETING": "alpha's own"}})
    result = [e async for e in host.components.invoke_action("ALPHA_CALLBACK_HOST", message())][-1]
    assert result.values["setting"] == "alpha's own"


async def test_runtime_service_refuses_calls_without_the_plugins_own_token(start_host):
    host = await start_host(fixture_spec("alpha"), fixture_spec("beta"))
    alpha_token = host.plugins.get("alpha").instance.token
    request = runtime_pb2.GetSettingRequest(key="GREETING")
    async with grpc.aio.insecure_channel(plugin_socket(host)) as channel:
        stub = runtime_pb2_grpc.RuntimeServiceStub(channel)
        cases = {
            "no metadata": (),
            "unknown token": (("authorization", "Bearer forged"), ("x-agenthost-plugin", "alpha")),
            "another plugin's token": (("authorization", f"Bearer {alpha_token}"), ("x-agenthost-plugin", "beta")),
        }
        for case, metadata in cases.items():
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.GetSetting(request, metadata=metadata, timeout=5)
            assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED, case
        good = (("authorization", f"Bearer {alpha_token}"), ("x-agenthost-plugin", "alpha"))
        reply = await stub.GetSetting(request, metadata=good, timeout=5)
        assert reply.found and reply.value == "hello from settings"


async def test_a_stopped_plugins_token_is_revoked(start_host):
    host = await start_host(fixture_spec("alpha"))
    token = host.plugins.get("alpha").instance.token
    await host.plugins.unload("alpha")
    async with grpc.aio.insecure_channel(plugin_socket(host)) as channel:
        stub = runtime_pb2_grpc.RuntimeServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.GetSetting(
                runtime_pb2.GetSettingRequest(key="GREETING"),
                metadata=(("authorization", f"Bearer {token}"), ("x-agenthost-plugin", "alpha")),
                timeout=5,
            )
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_plugin_output_reaches_the_host_log_tagged_with_its_name(start_host):
    host = await start_host(fixture_spec("alpha"), fixture_spec("beta"))
    [e async for e in host.components.invoke_action("ALPHA_CALLBACK_HOST", message())]
    assert await eventually(
        lambda: any(
            r.message == "event from alpha" and r.level == "info" for r in host.log_buffer.tail(1000, plugin="beta")
        )
    )
    failing = await host.components.get_providers(["ALPHA_FAILING"], message())
    assert failing[0].error
    assert await eventually(
        lambda: any(
            r.level == "error" and "ALPHA_FAILING failed" in r.message
            for r in host.log_buffer.tail(1000, plugin="alpha")
        )
    )


async def test_a_call_that_hangs_fails_at_its_deadline(start_host, host_config):
    from dataclasses import replace

    host = await start_host(fixture_spec("alpha"), supervision=replace(host_config.supervision, call_timeout=0.5))
    with pytest.raises(PluginCallError, match="did not answer InvokeAction within its deadline"):
        [e async for e in host.components.invoke_action("ALPHA_HANG", message())]
    outcomes = await host.components.get_providers(["ALPHA_ECHO"], message("still here"))
    assert outcomes[0].result.text == "still here"


async def test_an_action_result_that_cannot_be_sent_arrives_as_a_failure_saying_why(start_host):
    host = await start_host(fixture_spec("alpha"))
    events = [e async for e in host.components.invoke_action("ALPHA_BAD_RESULT", message())]
    assert len(events) == 1 and not events[0].success
    assert events[0].error == (
        "action 'ALPHA_BAD_RESULT' returned a result that cannot be sent: "
        "values['when'] (object) is not JSON-like (use str, number, bool, None, list, dict)"
    )


async def test_get_logs_follows_new_records_of_one_plugin(start_host):
    from agenthost.v1 import agent_pb2_grpc

    host = await start_host(fixture_spec("alpha"), fixture_spec("beta"))
    [e async for e in host.components.invoke_action("ALPHA_CALLBACK_HOST", message())]
    assert await eventually(lambda: host.log_buffer.tail(1, plugin="beta"))
    async with api_channel(host) as channel:
        stream = agent_pb2_grpc.AgentServiceStub(channel).GetLogs(
            agent_pb2.GetLogsRequest(tail=1, plugin="beta", follow=True), timeout=10
        )
        backlog = await stream.read()  # once this arrives the stream is following
        assert backlog.plugin == "beta" and backlog.message == "event from alpha"
        [e async for e in host.components.invoke_action("ALPHA_CALLBACK_HOST", message())]
        record = await stream.read()
        assert record.plugin == "beta" and record.message == "event from alpha"
        assert record.time_ms >= backlog.time_ms
        stream.cancel()


async def test_an_invalid_log_level_is_a_clear_error(start_host):
    from agenthost.v1 import agent_pb2_grpc

    host = await start_host()
    async with api_channel(host) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            [
                r
                async for r in agent_pb2_grpc.AgentServiceStub(channel).GetLogs(
                    agent_pb2.GetLogsRequest(level="loud"), timeout=5
                )
            ]
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details() == "unknown log level 'loud'; use one of trace, debug, info, warn, error, fatal"


async def test_validate_actions_asks_each_plugin_once_and_a_plugin_that_is_down_validates_nothing(start_host):
    host = await start_host(fixture_spec("alpha"), fixture_spec("beta"))
    verdicts = await host.components.validate_actions(["ALPHA_SLOW", "BETA_SLOW", "ALPHA_PICKY"], message())
    assert verdicts == {"ALPHA_SLOW": True, "BETA_SLOW": True, "ALPHA_PICKY": False}
    polite = await host.components.validate_actions(["ALPHA_PICKY"], message("please help"))
    assert polite == {"ALPHA_PICKY": True}
    await host.plugins.get("beta").stop()
    verdicts = await host.components.validate_actions(["ALPHA_SLOW", "BETA_SLOW"], message())
    assert verdicts == {"ALPHA_SLOW": True, "BETA_SLOW": False}


@pytest.mark.parametrize("process", ["plugin", "router"])
async def test_every_spawned_process_stops_itself_when_asked_to_shut_down(start_host, process):
    """ControllerService.Shutdown: the process replies, then exits 0 by itself, no signal sent."""
    # Health checks far apart: the supervisor must not SIGKILL the stopping process before it exits.
    supervision = replace(FAST, health_interval=60.0)
    host = await start_host(
        fixture_spec("alpha"), router_address="" if process == "router" else "off", supervision=supervision
    )
    managed = host.plugins.get("alpha") if process == "plugin" else host.router.managed
    assert managed is not None
    assert await eventually(lambda: managed.instance is not None, timeout=60)
    instance = managed.instance
    assert await instance.connection.shutdown(timeout=5)
    assert await asyncio.wait_for(instance.process.proc.wait(), 10) == 0
