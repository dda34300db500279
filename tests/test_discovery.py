"""Discovery through pluggy entry points, with the example plugins installed for real."""

from __future__ import annotations

import json
import subprocess
import sys

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from host.plugins.discovery import Discovery, DiscoveryError


def test_installed_plugins_are_found_by_entry_point():
    specs = Discovery().specs()
    assert specs["time"].module == "agenthost_plugin_time" and specs["time"].version == "1.0.0"
    assert specs["weather"].module == "agenthost_plugin_weather"


def test_the_allow_list_restricts_what_is_found():
    discovery = Discovery(allow=("time",))
    assert set(discovery.specs()) == {"time"}
    with pytest.raises(DiscoveryError, match="plugin 'weather' is not in the host's allow list"):
        discovery.spec("weather")


def test_discovery_imports_only_the_spec_modules():
    code = (
        "import json, sys; from host.plugins.discovery import Discovery; Discovery().specs(); "
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('agenthost_plugin'))))"
    )
    imported = json.loads(
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    )
    assert imported == [
        "agenthost_plugin_time",
        "agenthost_plugin_time.spec",
        "agenthost_plugin_weather",
        "agenthost_plugin_weather.spec",
    ]


async def test_every_plugin_serves_health_and_reflection(start_host):
    host = await start_host(discovery=Discovery(allow=("time",)))
    address = host.plugins.get("time").instance.connection.target
    async with grpc.aio.insecure_channel(address) as channel:
        health = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service="agenthost.v1.PluginService"), timeout=5
        )
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        stream = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5
        )
        services = {s.name async for reply in stream for s in reply.list_services_response.service}
    assert {"agenthost.v1.PluginService", "agenthost.v1.ControllerService", "grpc.health.v1.Health"} <= services
