"""RouterService served on the host: each call's bytes passed to the router unchanged."""

from __future__ import annotations

from typing import Any

import grpc
from agenthost.v1 import router_pb2

from ..plugins.connection import PluginUnavailable
from ..plugins.router_link import RouterLink
from .abort import abort


def forwarding_handler(link: RouterLink) -> grpc.GenericRpcHandler:
    """Serve RouterService on the host by passing each call's bytes to the router unchanged."""
    service = router_pb2.DESCRIPTOR.services_by_name["RouterService"]
    handlers: dict[str, grpc.RpcMethodHandler] = {}
    for method in service.methods:
        path = f"/{service.full_name}/{method.name}"
        if method.server_streaming:
            handlers[method.name] = grpc.unary_stream_rpc_method_handler(_forward_stream(link, path))
        else:
            handlers[method.name] = grpc.unary_unary_rpc_method_handler(_forward_unary(link, path))
    return grpc.method_handlers_generic_handler(service.full_name, handlers)


def _forward_unary(link: RouterLink, path: str) -> Any:
    async def forward(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        try:
            call = link.channel().unary_unary(path)(request, timeout=context.time_remaining(), metadata=link.metadata)
            return await call
        except PluginUnavailable as exc:
            await abort(context, grpc.StatusCode.UNAVAILABLE, f"no router: {exc}")
        except grpc.aio.AioRpcError as exc:
            await abort(context, exc.code(), exc.details() or "")

    return forward


def _forward_stream(link: RouterLink, path: str) -> Any:
    async def forward(request: bytes, context: grpc.aio.ServicerContext) -> Any:
        try:
            stream = link.channel().unary_stream(path)(
                request, timeout=context.time_remaining(), metadata=link.metadata
            )
            async for response in stream:
                yield response
        except PluginUnavailable as exc:
            await abort(context, grpc.StatusCode.UNAVAILABLE, f"no router: {exc}")
        except grpc.aio.AioRpcError as exc:
            await abort(context, exc.code(), exc.details() or "")

    return forward
