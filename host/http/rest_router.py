"""REST: the router (providers, usage, budgets, the routing decision for a request), asked
through the host's link to it, as the host's forwarding RouterService does."""

from __future__ import annotations

from typing import Annotated, Any

import grpc
from agenthost.v1 import router_pb2
from fastapi import APIRouter, Depends, Query
from google.protobuf.message import Message
from pydantic import BaseModel, Field

from ..host import Host  # at run time: FastAPI reads the routes' annotations
from ..plugins.connection import PluginUnavailable
from .context import host_of
from .errors import SERVER_ERROR, ApiError, from_grpc
from .rest_calls import doc

HostDep = Annotated[Host, Depends(host_of)]
ROUTER_TIMEOUT = 30.0


async def ask_router(host: Host, method: str, request: Message) -> dict[str, Any]:
    """The router's answer to `request` (RouterService.`method`) as JSON; its gRPC status as the HTTP error."""
    router = host.router
    if not router.enabled:
        raise ApiError(503, "no router: this host runs without one ([router] enabled = false)", SERVER_ERROR)
    try:
        call = getattr(router.stub(), method)
        return doc(await call(request, metadata=router.metadata, timeout=ROUTER_TIMEOUT))
    except PluginUnavailable as exc:
        raise ApiError(503, f"no router: {exc}", SERVER_ERROR, "unavailable") from None
    except grpc.aio.AioRpcError as exc:
        raise from_grpc(exc.code(), exc.details() or "") from None


class Said(BaseModel):
    role: str = "user"
    content: str


class ExplainBody(BaseModel):
    """A model call to explain: its text (or chat messages) and what it asks of the router."""

    text: str | None = Field(None, description="The prompt")
    messages: list[Said] | None = Field(None, description="Or the chat messages")
    quality: str = ""
    confidential: bool = False
    agent: str = Field("", description="The agent the call would be booked to")
    max_output_tokens: int = Field(0, ge=0)


def router_routes() -> APIRouter:
    """The router's routes, for the app to mount behind the token check."""
    api = APIRouter(prefix="/api/router", tags=["REST: router"])

    @api.get("/providers", summary="The router's providers (ListProviders)")
    async def providers(host: HostDep) -> dict[str, Any]:
        request = router_pb2.ListProvidersRequest()
        return await ask_router(host, "ListProviders", request)

    @api.get("/usage", summary="The ledger's rows and totals (GetUsage)")
    async def usage(
        host: HostDep,
        agent: str = "",
        task: str = "",
        provider: str = "",
        period: str = "",
        limit: Annotated[int, Query(ge=0, le=10000)] = 100,
    ) -> dict[str, Any]:
        request = router_pb2.GetUsageRequest(
            agent_name=agent, task_id=task, provider=provider, period=period, limit=limit
        )
        return await ask_router(host, "GetUsage", request)

    @api.get("/budget", summary="Each budget: spent, reserved and left of its limit in its period (GetBudget)")
    async def budget(host: HostDep) -> dict[str, Any]:
        request = router_pb2.GetBudgetRequest()
        return await ask_router(host, "GetBudget", request)

    @api.post("/explain", summary="The routing decision for a call, without making it (Explain)")
    async def explain(body: ExplainBody, host: HostDep) -> dict[str, Any]:
        if not (body.text or "").strip() and not body.messages:
            raise ApiError(400, "give the call as text or messages: nothing to route", param="text")
        meta = router_pb2.CallMeta(
            quality=body.quality,
            confidential=body.confidential,
            agent_name=body.agent,
            max_output_tokens=body.max_output_tokens,
        )
        call = router_pb2.InvokeRequest(
            prompt=body.text or "",
            messages=[router_pb2.ChatMessage(role=m.role, content=m.content) for m in body.messages or ()],
            meta=meta,
        )
        request = router_pb2.ExplainRequest(request=call)
        return await ask_router(host, "Explain", request)

    return api
