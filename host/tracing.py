"""The host's side of OpenTelemetry tracing (README, Tracing): a span per run, per pipeline
step and per call to a plugin or the router, whose trace context the callee continues.

`configure()` (at Host.start) turns it on when the OTel environment names an exporter; the
plugins and the router the host spawns get the OTEL_* variables and trace too. Off, `ON` is
False and the pipeline and the connections skip every hook.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, ContextManager

from plugin_sdk import tracing

ON = False
"""Whether this host traces; read by the hooks on the hot path (a global: no call when off)."""


_TABLE_ENV = {
    "exporter": "OTEL_TRACES_EXPORTER",
    "endpoint": "OTEL_EXPORTER_OTLP_ENDPOINT",
    "insecure": "OTEL_EXPORTER_OTLP_INSECURE",
    "service_name": "OTEL_SERVICE_NAME",
}


def table_env(table: object) -> dict[str, str]:
    """The OTEL_* variables a `[tracing]` table of agenthost.toml stands for (exporter, endpoint,
    insecure, service_name); ValueError saying what is wrong with it."""
    if not isinstance(table, dict):
        raise ValueError("[tracing] must be a table")
    unknown = set(table) - set(_TABLE_ENV)
    if unknown:
        raise ValueError(f"unknown key(s) in [tracing]: {', '.join(sorted(unknown))}")
    env = {}
    for key, value in table.items():
        if key == "insecure":
            if not isinstance(value, bool):
                raise ValueError(f"[tracing] insecure must be true or false, not {value!r}")
            value = "true" if value else "false"
        elif not isinstance(value, str) or not value.strip():
            raise ValueError(f"[tracing] {key} must be a non-empty string, not {value!r}")
        env[_TABLE_ENV[key]] = value
    exporters = {e.strip().lower() for e in env.get("OTEL_TRACES_EXPORTER", "otlp").split(",")}
    if not exporters <= {"otlp", "console", "none"}:
        raise ValueError(f"[tracing] exporter must be otlp, console or none, not {table['exporter']!r}")
    return env


def configure(config_path: Path | None = None) -> bool:
    """Turn tracing on when the OTel environment, or the `[tracing]` table of the config file,
    asks for it (once); whether it is on. The table's settings go into the environment (where
    not set there already: the environment wins), so the plugins and the router get them too."""
    global ON
    if config_path is not None:
        with open(config_path, "rb") as config:
            table = tomllib.load(config).get("tracing")
        for name, value in (table_env(table) if table is not None else {}).items():
            os.environ.setdefault(name, value)
    ON = tracing.configure(os.environ.get("OTEL_SERVICE_NAME") or "agenthost")
    return ON


def run_span(agent: str, agent_id: str, room_id: str, run_id: str) -> ContextManager[Any]:
    """The root span of one run; the caller sets its `agenthost.run.status` at the end."""
    attributes = {"agenthost.agent": agent, "agenthost.agent_id": agent_id, "agenthost.room_id": room_id,
                  "agenthost.run_id": run_id}  # fmt: skip
    return tracing.span(f"run {agent}", attributes)


def step_span(step: str) -> ContextManager[Any]:
    """A span for one pipeline step, under the run's."""
    return tracing.span(f"step {step}")


def call_span(plugin: str, method: str) -> ContextManager[Any]:
    """The host's CLIENT span for a Session call to a plugin."""
    return tracing.span(f"{_PLUGIN_SERVICE}/{method}", {"agenthost.plugin": plugin, "rpc.method": method}, "CLIENT")


def traceparent() -> str:
    """The current span's W3C trace context, for a Session frame."""
    return tracing.headers().get(tracing.TRACEPARENT, "")


_PLUGIN_SERVICE = "/agenthost.v1.PluginService"


def _name(method: str | bytes) -> str:
    """A gRPC method path as text (grpc.aio hands interceptors bytes)."""
    return method.decode() if isinstance(method, bytes) else method


def client_interceptors(peer: str) -> list[Any]:
    """For a channel to a plugin or the router: a CLIENT span per unary and server-streaming
    call whose trace context goes in the call's metadata; [] when tracing is off."""
    if not ON:
        return []
    import grpc

    def with_context(details: Any) -> Any:
        metadata = [*(details.metadata or ()), *tracing.headers().items()]
        return grpc.aio.ClientCallDetails(
            details.method, details.timeout, metadata, details.credentials, details.wait_for_ready
        )

    class Unary(grpc.aio.UnaryUnaryClientInterceptor):
        async def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
            method = _name(details.method)
            with tracing.span(method, {"agenthost.plugin": peer, "rpc.method": method}, "CLIENT"):
                call = await continuation(with_context(details), request)
                await call  # the span lasts the call; a failure raises here, recorded on the span
                return call

    class Streaming(grpc.aio.UnaryStreamClientInterceptor):
        async def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
            method = _name(details.method)
            span = tracing.open_span(method, {"agenthost.plugin": peer, "rpc.method": method})
            try:
                with tracing.current(span):
                    call = await continuation(with_context(details), request)
            except BaseException:
                span.end()
                raise
            call.add_done_callback(lambda _: span.end())  # the span lasts until the stream ends
            return call

    return [Unary(), Streaming()]


def run_status(status: str, error: str) -> None:
    """Put the run's status (and error) on its span, the current one when the run ends."""
    from opentelemetry import trace

    span = trace.get_current_span()
    span.set_attribute("agenthost.run.status", status)
    if error:
        span.set_status(trace.Status(trace.StatusCode.ERROR, error))
