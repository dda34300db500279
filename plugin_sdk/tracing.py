"""OpenTelemetry tracing shared by the host, plugins and the router (README, Tracing).

Off unless the standard OTel environment names an exporter (OTEL_TRACES_EXPORTER=otlp or
console, or OTEL_EXPORTER_OTLP_ENDPOINT); off, nothing of OpenTelemetry is imported and each
hook costs one check of a module global. On, each process exports its own spans and the W3C
trace context crosses processes in gRPC metadata, or in a Session frame's `traceparent`.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import os
from typing import Any, ContextManager, Iterable, Mapping

log = logging.getLogger("plugin_sdk")

TRACEPARENT = "traceparent"
"""The W3C trace context header: the gRPC metadata key and the Session frame's field."""

_tracer: Any = None  # the process's Tracer once configure() turned tracing on
_OFF: ContextManager[Any] = contextlib.nullcontext()


def wanted(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether the OTel environment names an exporter (OTEL_TRACES_EXPORTER=none: no)."""
    exporters = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporters:
        return exporters != "none"
    return bool(environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def enabled() -> bool:
    """Whether this process records spans."""
    return _tracer is not None


def configure(service: str) -> bool:
    """Turn tracing on for this process when `wanted()`; True when it is on. `service` is the
    process's service.name unless OTEL_SERVICE_NAME names one."""
    global _tracer
    if _tracer is not None or not wanted():
        return _tracer is not None
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    for exporter in _exporters(os.environ.get("OTEL_TRACES_EXPORTER", "otlp")):
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)  # shut down (its spans flushed) at exit
    _tracer = provider.get_tracer("agenthost")
    return True


def _exporters(names: str) -> list[Any]:
    """The span exporters OTEL_TRACES_EXPORTER names (otlp over gRPC, console)."""
    chosen: list[Any] = []
    for name in filter(None, (n.strip().lower() for n in names.split(","))):
        if name == "otlp":
            protocol = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or os.environ.get(
                "OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"
            )
            if protocol != "grpc":
                log.warning("OTEL_EXPORTER_OTLP_PROTOCOL %r is not served: spans go over OTLP/gRPC", protocol)
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

            chosen.append(OTLPSpanExporter())
        elif name == "console":
            from opentelemetry.sdk.trace.export import ConsoleSpanExporter

            chosen.append(ConsoleSpanExporter())
        elif name != "none":
            log.warning("OTEL_TRACES_EXPORTER %r is not one of otlp, console: ignored", name)
    return chosen


def span(name: str, attributes: Mapping[str, Any] | None = None, kind: str = "INTERNAL") -> ContextManager[Any]:
    """A span under the current one (a no-op context when tracing is off); `kind` names a
    SpanKind (INTERNAL, CLIENT, SERVER)."""
    if _tracer is None:
        return _OFF
    from opentelemetry.trace import SpanKind

    return _tracer.start_as_current_span(name, kind=SpanKind[kind], attributes=attributes)


def served(
    name: str, carrier: Iterable[tuple[str, Any]] | None, attributes: Mapping[str, Any] | None = None
) -> ContextManager[Any]:
    """A SERVER span whose parent is the trace context in `carrier` (gRPC metadata pairs)."""
    if _tracer is None:
        return _OFF
    from opentelemetry.propagate import extract
    from opentelemetry.trace import SpanKind

    headers = {k: v for k, v in carrier or () if isinstance(v, str)}
    return _tracer.start_as_current_span(name, context=extract(headers), kind=SpanKind.SERVER, attributes=attributes)


def headers() -> dict[str, str]:
    """The current trace context as headers (traceparent, tracestate); {} when off."""
    if _tracer is None:
        return {}
    from opentelemetry.propagate import inject

    carrier: dict[str, str] = {}
    inject(carrier)
    return carrier


def server_interceptors() -> list[Any]:
    """For grpc.aio.server(interceptors=...): a SERVER span per unary and server-streaming
    call, the child of the caller's trace context; [] when tracing is off."""
    return [_server_spans()()] if _tracer is not None else []


def _server_spans() -> type:
    import grpc

    class ServerSpans(grpc.aio.ServerInterceptor):
        async def intercept_service(self, continuation: Any, details: Any) -> Any:
            handler = await continuation(details)
            if handler is None:
                return None
            method, metadata = details.method, details.invocation_metadata
            if handler.unary_unary is not None:
                inner = handler.unary_unary

                async def unary(request: Any, context: Any) -> Any:
                    with served(method, metadata, {"rpc.method": method}):
                        return await inner(request, context)

                return handler._replace(unary_unary=unary)
            if handler.unary_stream is not None and not inspect.isasyncgenfunction(handler.unary_stream):
                writer = handler.unary_stream  # answers with context.write: a coroutine

                async def written(request: Any, context: Any) -> Any:
                    with served(method, metadata, {"rpc.method": method}):
                        return await writer(request, context)

                return handler._replace(unary_stream=written)
            if handler.unary_stream is not None:
                generator = handler.unary_stream

                async def streamed(request: Any, context: Any) -> Any:
                    with served(method, metadata, {"rpc.method": method}):
                        async for reply in generator(request, context):
                            yield reply

                return handler._replace(unary_stream=streamed)
            return handler

    return ServerSpans


def open_span(name: str, attributes: Mapping[str, Any] | None = None, kind: str = "CLIENT") -> Any:
    """A span the caller ends (`.end()`), e.g. when a streaming call is done; tracing must be on.
    Make it current with `current(span)`."""
    from opentelemetry.trace import SpanKind

    return _tracer.start_span(name, kind=SpanKind[kind], attributes=attributes)


def current(span: Any) -> ContextManager[Any]:
    """Make `span` the current span for a while, without ending it."""
    from opentelemetry.trace import use_span

    return use_span(span, end_on_exit=False)
