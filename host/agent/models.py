"""Model calls made by the host: through the router when it has one, else plugin model handlers."""

from __future__ import annotations

from typing import Any

import grpc
from agenthost.v1 import router_pb2

from plugin_sdk.types import ModelOutput

from ..plugins.components import Components, UnknownComponentError
from ..plugins.connection import PluginCallError, PluginUnavailable
from ..plugins.router_link import RouterLink


class ModelError(Exception):
    """A model call that did not answer; `code` is the gRPC status to report."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code


class Models:
    """One entry point for the host's and the plugins' model calls."""

    def __init__(self, components: Components, router: RouterLink, agent_name: str) -> None:
        self.components = components
        self.router = router
        self.agent_name = agent_name

    async def use(self, model_type: str, params: dict[str, Any], timeout: float | None = None) -> ModelOutput:
        """Call a model of `model_type` with `params` (prompt or messages, max_tokens, grammar, ...)."""
        if self.router.enabled:
            return await self._through_router(model_type, params, timeout)
        try:
            return await self.components.use_model(model_type, params)
        except UnknownComponentError as exc:
            raise ModelError(grpc.StatusCode.NOT_FOUND, str(exc)) from None
        except PluginCallError as exc:
            raise ModelError(exc.code, str(exc)) from None

    async def _through_router(self, model_type: str, params: dict[str, Any], timeout: float | None) -> ModelOutput:
        try:
            request = router_request(model_type, params, self.agent_name)
        except ValueError as exc:
            raise ModelError(grpc.StatusCode.INVALID_ARGUMENT, str(exc)) from None
        try:
            reply = await self.router.stub().Invoke(request, timeout=timeout)
        except PluginUnavailable as exc:
            raise ModelError(grpc.StatusCode.UNAVAILABLE, f"no router: {exc}") from None
        except grpc.aio.AioRpcError as exc:
            raise ModelError(exc.code(), exc.details() or exc.code().name) from None
        return ModelOutput(
            text=reply.text,
            embedding=list(reply.embedding),
            served_by=f"router:{reply.provider}:{reply.model}",
            data={"cost": reply.cost, "tokens_in": reply.tokens_in, "tokens_out": reply.tokens_out},
        )


def router_request(model_type: str, params: dict[str, Any], agent_name: str) -> router_pb2.InvokeRequest:
    """use_model(...) params as a router call: prompt or messages, and the call's meta."""
    try:
        kind = router_pb2.ModelType.Value(f"MODEL_TYPE_{model_type}")
    except ValueError:
        names = ", ".join(n.removeprefix("MODEL_TYPE_") for n in router_pb2.ModelType.keys()[1:])
        raise ValueError(f"unknown model type {model_type!r}; use one of {names}") from None
    meta = router_pb2.CallMeta(
        model_type=kind,
        confidential=bool(params.get("confidential", False)),
        quality=str(params.get("quality", "")),
        task_id=str(params.get("task_id", "")),
        agent_name=agent_name,
        max_output_tokens=int(params.get("max_tokens", 0)),
        grammar=str(params.get("grammar", "")),
    )
    if "temperature" in params:
        meta.temperature = float(params["temperature"])
    messages = [
        router_pb2.ChatMessage(role=str(m["role"]), content=str(m["content"])) for m in params.get("messages", [])
    ]
    return router_pb2.InvokeRequest(prompt=str(params.get("prompt", "")), messages=messages, meta=meta)
