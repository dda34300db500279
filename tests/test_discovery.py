"""Discovery through pluggy entry points, with the example plugins installed for real."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from host.plugins.discovery import Discovery, DiscoveryError

ROOT = Path(__file__).resolve().parent.parent


def test_installed_plugins_are_found_by_entry_point():
    specs = Discovery().specs()
    assert specs["time"].module == "agenthost_plugin_time" and specs["time"].version == "1.0.0"
    assert specs["weather"].module == "agenthost_plugin_weather"


def test_the_allow_list_restricts_what_is_found():
    discovery = Discovery(allow=("time",))
    assert set(discovery.specs()) == {"time"}
    with pytest.raises(DiscoveryError, match="plugin 'weather' is not in the host's allow list"):
        discovery.spec("weather")


def test_the_host_imports_no_plugin_code_and_the_scan_only_spec_modules():
    code = (
        "import json, sys; from host.plugins.discovery import Discovery, scan_here; Discovery().specs(); "
        "host = sorted(m for m in sys.modules if m.startswith('agenthost_plugin')); scan_here(None); "
        "print(json.dumps([host, sorted(m for m in sys.modules if m.startswith('agenthost_plugin'))]))"
    )
    in_host, in_scan = json.loads(
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    )
    assert in_host == []  # the host's scan ran in a child interpreter
    # The scan imports each installed plugin's spec module (and so its package), nothing more.
    packages = [p.parent.name for p in (ROOT / "plugins").glob("*/agenthost_plugin_*/spec.py")]
    assert in_scan == sorted([*packages, *(f"{name}.spec" for name in packages)])
    assert {"agenthost_plugin_bootstrap", "agenthost_plugin_time"} <= set(in_scan)


def _install_fake(site: Path, name: str, module: str, source: str) -> None:
    """A distribution as pip leaves it (dist-info with an entry point) and its spec module."""
    info = site / f"agenthost_plugin_{name}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: agenthost-plugin-{name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[agenthost.plugins]\n{name} = {module}\n")
    if source:
        (site / f"{module}.py").write_text(textwrap.dedent(source))


SPEC = "from plugin_sdk import PluginSpec, hookimpl\n@hookimpl\ndef agenthost_plugin_spec():\n    return {}\n"


def test_broken_entry_points_are_reported_with_their_reason_and_hide_nothing(tmp_path, monkeypatch):
    _install_fake(tmp_path, "missing", "fake_missing_spec", "")
    _install_fake(tmp_path, "raising", "fake_raising_spec", "raise RuntimeError('spec module exploded')\n")
    _install_fake(tmp_path, "failing", "fake_failing_spec", SPEC.format("1 / 0"))
    _install_fake(tmp_path, "wrongtype", "fake_wrongtype_spec", SPEC.format("'not a spec'"))
    _install_fake(tmp_path, "misnamed", "fake_misnamed_spec", SPEC.format("PluginSpec(name='other', module='m')"))
    chatty = SPEC.format("PluginSpec(name='chatty', module='m')").replace("@hookimpl", "print('hello')\n@hookimpl")
    _install_fake(tmp_path, "chatty", "fake_chatty_spec", chatty)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    found = Discovery().scan()
    assert {"time", "weather", "chatty"} <= set(found.specs)  # a spec module's print does not corrupt the scan
    assert found.broken == {
        "missing": "entry point fake_missing_spec cannot be imported: "
        "ModuleNotFoundError: No module named 'fake_missing_spec'",
        "raising": "entry point fake_raising_spec cannot be imported: RuntimeError: spec module exploded",
        "failing": "agenthost_plugin_spec() failed: ZeroDivisionError: division by zero",
        "wrongtype": "agenthost_plugin_spec() returned str, not a PluginSpec",
        "misnamed": "the entry point is named 'misnamed' but its spec 'other'; they must match",
    }
    with pytest.raises(DiscoveryError, match="plugin 'raising' is installed but cannot be loaded: entry point"):
        Discovery().spec("raising")
    assert Discovery(allow=("time",)).scan().broken == {}  # what is not allowed is not even imported


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
