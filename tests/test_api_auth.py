"""The public API is authenticated: AgentService and RouterService need the API token,
plugins' runtime tokens work only where their plugin calls back, health stays open, and a
non-loopback listener needs TLS."""

from __future__ import annotations

import stat

import grpc
import pytest
from agenthost.v1 import agent_pb2, agent_pb2_grpc, router_pb2, router_pb2_grpc, runtime_pb2, runtime_pb2_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from support import api_channel, fixture_spec, plugin_socket

UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED


async def _code(call) -> grpc.StatusCode:  # type: ignore[no-untyped-def]
    try:
        await call
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


async def test_agent_and_router_services_refuse_calls_without_the_api_token(start_host):
    host = await start_host(fixture_spec("alpha"))
    runtime_token = host.plugins.get("alpha").instance.token
    for metadata in (
        (),
        (("authorization", "Bearer wrong"),),
        (("authorization", f"Bearer {runtime_token}"), ("x-agenthost-plugin", "alpha")),
    ):
        async with grpc.aio.insecure_channel(host.address) as channel:
            agent = agent_pb2_grpc.AgentServiceStub(channel)
            assert await _code(agent.GetStatus(agent_pb2.GetStatusRequest(), metadata=metadata)) == UNAUTHENTICATED
            stream = agent.SendMessage(
                agent_pb2.SendMessageRequest(room_id="r", content={"text": "hi"}), metadata=metadata
            )
            assert await _code(stream.read()) == UNAUTHENTICATED
            router = router_pb2_grpc.RouterServiceStub(channel)
            assert await _code(router.GetBudget(router_pb2.GetBudgetRequest(), metadata=metadata)) == UNAUTHENTICATED
    async with api_channel(host) as channel:
        status = await agent_pb2_grpc.AgentServiceStub(channel).GetStatus(agent_pb2.GetStatusRequest())
        assert status.agent_id == host.agent_id


async def test_health_stays_open(start_host):
    host = await start_host()
    async with grpc.aio.insecure_channel(host.address) as channel:
        reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def test_a_local_plugins_token_works_only_on_the_plugins_socket(start_host):
    host = await start_host(fixture_spec("alpha"))
    metadata = (
        ("authorization", f"Bearer {host.plugins.get('alpha').instance.token}"),
        ("x-agenthost-plugin", "alpha"),
    )
    request = runtime_pb2.GetSettingRequest(key="GREETING")
    async with grpc.aio.insecure_channel(host.address) as channel:
        call = runtime_pb2_grpc.RuntimeServiceStub(channel).GetSetting(request, metadata=metadata)
        assert await _code(call) == UNAUTHENTICATED
    async with grpc.aio.insecure_channel(plugin_socket(host)) as channel:
        reply = await runtime_pb2_grpc.RuntimeServiceStub(channel).GetSetting(request, metadata=metadata)
    assert reply.value == "hello from settings"
    assert stat.S_IMODE((host.socket_dir / "host.sock").stat().st_mode) == 0o600


async def test_the_api_token_is_made_once_and_kept_in_the_data_directory(start_host, host_config):
    host = await start_host()
    token_file = host_config.data_dir / "api-token"
    assert token_file.read_text().strip() == host.api_token
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    await host.stop()
    again = await start_host()
    assert again.api_token == host.api_token


async def test_a_configured_token_is_used_as_given(start_host):
    host = await start_host(api_token="from-the-config")
    assert host.api_token == "from-the-config"


async def test_listening_beyond_this_machine_without_tls_is_refused(start_host):
    with pytest.raises(OSError, match="refusing to listen on 0.0.0.0:0 without TLS"):
        await start_host(listen="0.0.0.0:0")
