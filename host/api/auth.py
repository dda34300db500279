"""Who may call the host's public listener: clients presenting the API token
(`authorization: Bearer <token>`) for AgentService and RouterService. Health and reflection
stay open; RuntimeService checks plugins' own tokens itself."""

from __future__ import annotations

import hmac
from typing import Any, Awaitable, Callable

import grpc

from plugin_sdk.protocol import AUTH_METADATA_KEY, AUTH_SCHEME

from ..config import TOKEN_ENV

_OPEN = ("/grpc.health.v1.Health/", "/grpc.reflection.", "/agenthost.v1.RuntimeService/")


class BearerTokenCheck(grpc.aio.ServerInterceptor):
    """Refuses calls without the API token with UNAUTHENTICATED, saying how to get it."""

    def __init__(self, token: str) -> None:
        self._expected = (AUTH_SCHEME + token).encode()

    def _authorized(self, metadata: Any) -> bool:
        for key, value in metadata or ():
            if key == AUTH_METADATA_KEY:
                given = value.encode() if isinstance(value, str) else value
                return hmac.compare_digest(given, self._expected)
        return False

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None or details.method.startswith(_OPEN) or self._authorized(details.invocation_metadata):
            return handler
        return _refusal(handler)


_REFUSED = (
    f"missing or wrong API token: send '{AUTH_METADATA_KEY}: {AUTH_SCHEME}<token>' "
    f"(`agenthost token` prints it on the host's machine; the CLI reads ${TOKEN_ENV} or the data directory)"
)


def _refusal(handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
    """A handler of the same shape as `handler` that ends the call UNAUTHENTICATED."""

    async def refuse(request: Any, context: grpc.aio.ServicerContext) -> None:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, _REFUSED)

    if handler.request_streaming and handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(refuse)
    if handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(refuse)
    if handler.response_streaming:
        return grpc.unary_stream_rpc_method_handler(refuse)
    return grpc.unary_unary_rpc_method_handler(refuse)
