"""Tracing across processes: `agenthost serve` with OTEL_TRACES_EXPORTER=otlp sends one trace per
message to a collector (a tiny OTLP/gRPC one here): the run, its steps, each plugin call in the
host with the plugin process's span as its child, the router call with the router process's
span as its child. Without the OTel variables nothing is sent and OpenTelemetry is not loaded."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator

import grpc
import pytest
from agenthost.v1 import agent_pb2, types_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from host.config import load_config

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.append(str(BENCH))
import load as load_bench  # noqa: E402 - bench/load.py: a host with a spawned router on a mock provider
from mock_provider import MockProvider  # noqa: E402

pytestmark = pytest.mark.timeout(240)


@dataclass(frozen=True)
class Span:
    service: str
    name: str
    trace_id: str
    span_id: str
    parent_id: str
    attributes: dict[str, Any]


class Collector(trace_service_pb2_grpc.TraceServiceServicer):
    """An OTLP/gRPC trace collector keeping what it is sent."""

    def __init__(self) -> None:
        self.spans: list[Span] = []

    async def Export(self, request: Any, context: Any) -> trace_service_pb2.ExportTraceServiceResponse:
        for resource_spans in request.resource_spans:
            resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            for scope in resource_spans.scope_spans:
                for s in scope.spans:
                    attributes = {a.key: a.value.string_value for a in s.attributes}
                    self.spans.append(
                        Span(
                            resource["service.name"],
                            s.name,
                            s.trace_id.hex(),
                            s.span_id.hex(),
                            s.parent_span_id.hex(),
                            attributes,
                        )  # fmt: skip
                    )
        return trace_service_pb2.ExportTraceServiceResponse()


@pytest.fixture
async def collector() -> AsyncIterator[tuple[Collector, str]]:
    kept, server = Collector(), grpc.aio.server()
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(kept, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield kept, f"http://127.0.0.1:{port}"
    await server.stop(0)


async def one_message(tmp: Path, config_tail: str = "") -> str:
    """Serve (bootstrap plugin, spawned router on the mock provider; `config_tail` added to its
    agenthost.toml), send one message; its run id."""
    mock = MockProvider()
    api_base = await mock.start()
    config = load_bench.write_config(tmp, api_base, "")
    config.write_text(config.read_text() + config_tail)
    host = load_bench.HostProcess(tmp, config)
    try:
        await host.wait_ready(180)
        request = agent_pb2.SendMessageRequest(
            room_id="traced-room", entity_id="user-1", content=types_pb2.Content(text="hello, are you there?")
        )
        events = [e async for e in host.stub.SendMessage(request, metadata=load_bench.AUTH, timeout=60)]
        assert events[-1].event_type == "RUN_ENDED", events
        return events[-1].run_id
    finally:
        await host.stop()
        await mock.stop()


@pytest.mark.parametrize("configured_by", ["environment", "config file"])
async def test_one_message_is_one_trace_across_host_plugin_and_router(
    collector, tmp_path, monkeypatch, configured_by
) -> None:
    kept, endpoint = collector
    for name in [k for k in os.environ if k.startswith("OTEL_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "100")
    tail = ""
    if configured_by == "environment":
        monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp")
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_INSECURE", "true")
    else:
        tail = f'[tracing]\nexporter = "otlp"\nendpoint = "{endpoint}"\ninsecure = true\n'
    run_id = await one_message(tmp_path, tail)

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # the host flushes at exit; the others every 100 ms
        runs = [s for s in kept.spans if s.attributes.get("agenthost.run_id") == run_id]
        if runs and any(s.service == "agenthost-router" and s.trace_id == runs[0].trace_id for s in kept.spans):
            break
        await asyncio.sleep(0.2)
    [run] = [s for s in kept.spans if s.attributes.get("agenthost.run_id") == run_id]
    assert run.service == "agenthost" and run.parent_id == "" and run.attributes["agenthost.room_id"]
    assert run.attributes["agenthost.run.status"] in ("completed", "degraded")
    trace = [s for s in kept.spans if s.trace_id == run.trace_id]
    by_id = {s.span_id: s for s in trace}

    steps = [s for s in trace if s.name.startswith("step ")]
    expected = {"step persist_message", "step compose_state", "step generate"}
    assert expected <= {s.name for s in steps}, sorted(s.name for s in trace)
    assert all(s.parent_id == run.span_id for s in steps)

    # A plugin call: the host's CLIENT span, the plugin process's span its child, in the same trace.
    served = [s for s in trace if s.service == "agenthost-plugin-bootstrap"]
    assert served, sorted((s.service, s.name) for s in trace)
    for plugin_span in served:
        caller = by_id[plugin_span.parent_id]
        assert caller.service == "agenthost" and "PluginService/" in caller.name
        assert caller.attributes["agenthost.plugin"] == "bootstrap"
        assert by_id[caller.parent_id].name.startswith("step ")

    # The model call: the host's span for RouterService.Invoke*, the router process's its child.
    routed = [s for s in trace if s.service == "agenthost-router"]
    assert routed and all("RouterService/Invoke" in s.name for s in routed), routed
    for router_span in routed:
        caller = by_id[router_span.parent_id]
        assert caller.service == "agenthost" and caller.name == router_span.name
        assert caller.attributes["agenthost.plugin"] == "router"

    # One message, one trace: every span of the host's run is in it.
    assert len({s.trace_id for s in kept.spans if s.service == "agenthost" and s.name.startswith("run ")}) == 1


async def test_without_the_otel_variables_nothing_is_sent_and_opentelemetry_is_not_loaded(
    collector, tmp_path, monkeypatch
) -> None:
    kept, endpoint = collector
    for name in [k for k in os.environ if k.startswith("OTEL_")]:
        monkeypatch.delenv(name)
    await one_message(tmp_path)
    await asyncio.sleep(0.5)
    assert kept.spans == []
    # Host, plugin SDK and router configured with tracing off: host and SDK import no OpenTelemetry,
    # and nothing imports its SDK or exporters (litellm, in the router, imports the OTel API for
    # its own integration when FastAPI is installed: that is litellm's, and costs no spans).
    probe = (
        "import sys, host.host, host.tracing, plugin_sdk._serve\n"
        "from plugin_sdk import tracing\n"
        "assert host.tracing.configure() is False and tracing.configure('x') is False\n"
        "assert tracing.server_interceptors() == [] and host.tracing.client_interceptors('p') == []\n"
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))\n"
        "import router.server\n"
        "print(sorted(m for m in sys.modules if m.startswith(('opentelemetry.sdk', 'opentelemetry.exporter'))))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.split() == ["[]", "[]"], done.stderr + done.stdout


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        ('exporter = "jaeger"', "[tracing] exporter must be otlp, console or none, not 'jaeger'"),
        ("endpoint = 4317", "[tracing] endpoint must be a non-empty string, not 4317"),
        ('insecure = "yes"', "[tracing] insecure must be true or false, not 'yes'"),
        ('sampler = "always_on"', "unknown key(s) in [tracing]: sampler"),
    ],
)
def test_a_bad_tracing_table_is_refused_when_the_config_is_read(tmp_path, table, problem) -> None:
    config = tmp_path / "agenthost.toml"
    config.write_text(f"[tracing]\n{table}\n")
    with pytest.raises(ValueError) as refused:
        load_config(config)
    assert problem in str(refused.value)


UNARY_PROBE = """
import asyncio, grpc
from agenthost.v1 import plugin_pb2, plugin_pb2_grpc
from host import tracing as host_tracing
from host.plugins.connection import PluginCallError, PluginConnection
from plugin_sdk import tracing

class Served(plugin_pb2_grpc.PluginServiceServicer):
    async def Describe(self, request, context):
        return plugin_pb2.DescribeResponse()

async def main():
    assert host_tracing.configure()
    server = grpc.aio.server(interceptors=tracing.server_interceptors())
    plugin_pb2_grpc.add_PluginServiceServicer_to_server(Served(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    connection = PluginConnection("probe", f"127.0.0.1:{port}", 5)
    with tracing.span("outer"):
        await connection.unary("Describe", plugin_pb2.DescribeRequest())
        try:
            await connection.unary("GetProviders", plugin_pb2.GetProvidersRequest())
        except PluginCallError as exc:
            print("FAILED", exc.code.name, flush=True)
    await connection.close()
    await server.stop(0)

asyncio.run(main())
"""


def test_unary_plugin_calls_carry_the_trace_in_metadata_and_keep_their_errors(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env["OTEL_TRACES_EXPORTER"] = "console"  # spans as JSON on stdout, flushed at exit
    done = subprocess.run([sys.executable, "-c", UNARY_PROBE], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    out, spans, decoder = done.stdout, [], json.JSONDecoder()
    assert "FAILED UNIMPLEMENTED" in out  # the interceptor leaves a failed call's status as it was
    position = out.index("{")
    while position < len(out):
        span, end = decoder.raw_decode(out, position)
        spans.append(span)
        position = out.find("{", end) if "{" in out[end:] else len(out)
    by_name: dict[str, list[dict[str, Any]]] = {}
    for span in spans:
        by_name.setdefault((span["name"], span["kind"]), []).append(span)
    [outer] = by_name[("outer", "SpanKind.INTERNAL")]
    for method in ("Describe", "GetProviders"):
        [client] = by_name[(f"/agenthost.v1.PluginService/{method}", "SpanKind.CLIENT")]
        assert client["parent_id"] == outer["context"]["span_id"]
        assert client["context"]["trace_id"] == outer["context"]["trace_id"]
        assert client["attributes"]["agenthost.plugin"] == "probe"
    [served] = by_name[("/agenthost.v1.PluginService/Describe", "SpanKind.SERVER")]
    [describe] = by_name[("/agenthost.v1.PluginService/Describe", "SpanKind.CLIENT")]
    assert served["parent_id"] == describe["context"]["span_id"]
    [failed] = by_name[("/agenthost.v1.PluginService/GetProviders", "SpanKind.CLIENT")]
    assert failed["status"]["status_code"] == "ERROR"
