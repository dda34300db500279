"""REST: what the host reports about itself: its status (as `agenthost status --json` prints
it), its logs (filtered, or followed as server-sent events, through GetLogs) and its metrics (the
Prometheus text of the same families as `serve --metrics`)."""

from __future__ import annotations

from typing import Annotated, Any, AsyncIterator, Iterable, Iterator

import grpc
from agenthost.v1 import agent_pb2, router_pb2
from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response, StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from ..api.agent_service import status_response
from ..api.log_stream import log_query
from ..cli.output import router_providers_doc, status_doc
from ..host import Host  # at run time: FastAPI reads the routes' annotations
from ..metrics import SPEND_TIMEOUT, families, router_spend
from ..plugins.connection import PluginUnavailable
from .context import host_of
from .rest_agents import ServicerDep
from .rest_calls import SSE_HEADERS, SSE_MEDIA, CallContext, doc, sse_frame

HostDep = Annotated[Host, Depends(host_of)]


class _Scraped(Collector):
    """Metric families read once, for one scrape."""

    def __init__(self, metrics: Iterable[Metric]) -> None:
        self._metrics = list(metrics)

    def collect(self) -> Iterator[Metric]:
        return iter(self._metrics)


class LogFilters:
    """The query parameters that select log records (as `agenthost logs` takes them)."""

    def __init__(
        self,
        agent: str = "",
        plugin: str = "",
        level: str = "",
        run: str = "",
        since: Annotated[int, Query(description="ms since the epoch")] = 0,
        until: Annotated[int, Query(description="ms since the epoch")] = 0,
        limit: Annotated[int, Query(description="the last N records (0: 100)")] = 0,
    ) -> None:
        self.request = agent_pb2.GetLogsRequest(
            agent=agent, plugin=plugin, level=level, run_id=run, since_ms=since, until_ms=until, tail=limit
        )


Filters = Annotated[LogFilters, Depends()]


def _spend_doc(host: Host, spend: dict[str, Any] | None) -> dict[str, Any] | None:
    if spend is None:
        return None
    each = {
        name: {"calls": s.calls, "tokens_in": s.tokens_in, "tokens_out": s.tokens_out, "cost": s.cost}
        for name, s in spend.items()
    }
    totals = {k: sum(s[k] for s in each.values()) for k in ("calls", "tokens_in", "tokens_out", "cost")}
    return {**totals, "agents": each}


async def _router_providers(host: Host) -> dict[str, dict[str, str]]:
    """The router's providers' breakers and its own models that are down, as `status` shows them."""
    try:
        request = router_pb2.ListProvidersRequest()
        reply = await host.router.stub().ListProviders(request, metadata=host.router.metadata, timeout=SPEND_TIMEOUT)
    except (grpc.RpcError, PluginUnavailable):
        return {"breakers": {}}
    return router_providers_doc(reply.providers)


def observe_routes() -> APIRouter:
    """Status, logs and metrics routes, for the app to mount behind the token check."""
    api = APIRouter(tags=["REST: status, logs, metrics"])

    @api.get("/api/status", summary="The host, its agents, plugins and router (`agenthost status --json`)")
    async def status(host: HostDep) -> dict[str, Any]:
        doc_ = status_doc(status_response(host.status()))
        if doc_["router"]["state"] == "ready":
            doc_["router"].update(await _router_providers(host))
            doc_["router"]["spend"] = _spend_doc(host, await router_spend(host))
        return doc_

    @api.get("/api/logs", summary="The log records the filters select, oldest first")
    async def logs(filters: Filters, servicer: ServicerDep) -> dict[str, Any]:
        records = servicer.GetLogs(filters.request, CallContext())  # type: ignore[arg-type]
        return {"records": [doc(r) async for r in records]}

    @api.get("/api/logs/stream", summary="The records the filters select, then each new one (server-sent events)")
    async def follow_logs(filters: Filters, host: HostDep, servicer: ServicerDep) -> StreamingResponse:
        filters.request.follow = True
        await log_query(filters.request, host.agent_infos(), CallContext())  # type: ignore[arg-type]
        records = servicer.GetLogs(filters.request, CallContext())  # type: ignore[arg-type]

        async def frames() -> AsyncIterator[bytes]:
            yield b": following\n\n"  # the headers go out now, before a record comes
            async for record in records:
                yield sse_frame("log", doc(record))

        return StreamingResponse(frames(), media_type=SSE_MEDIA, headers=SSE_HEADERS)

    @api.get("/metrics", summary="Prometheus metrics (the families `serve --metrics` serves)")
    async def metrics(host: HostDep) -> Response:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Scraped(families(host.status(), await router_spend(host))))
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return api
