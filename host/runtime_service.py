"""RuntimeService: plugins' calls back into the host, each authenticated by its token."""

from __future__ import annotations

from typing import Any

import grpc
from agenthost.v1 import router_pb2, runtime_pb2, runtime_pb2_grpc

from plugin_sdk._convert import (
    entity_from_proto,
    entity_to_proto,
    fill_struct,
    memory_from_proto,
    memory_to_proto,
    struct_to_dict,
)
from plugin_sdk._protocol import AUTH_METADATA_KEY, AUTH_SCHEME, PLUGIN_METADATA_KEY

from .components import Components, UnknownComponentError
from .connection import PluginCallError, PluginUnavailable
from .router_link import RouterLink
from .store import Store
from .tokens import TokenBook


class RuntimeServicer(runtime_pb2_grpc.RuntimeServiceServicer):
    """Serves plugins: memories, entities, settings, models and events."""

    def __init__(
        self,
        tokens: TokenBook,
        store: Store,
        components: Components,
        router: RouterLink,
        agent_id: str,
        agent_name: str,
        settings: dict[str, str],
        plugin_config: dict[str, dict[str, str]],
    ) -> None:
        self.tokens = tokens
        self.store = store
        self.components = components
        self.router = router
        self.agent_id = agent_id
        self.agent_name = agent_name
        self.settings = settings
        self.plugin_config = plugin_config

    async def _caller(self, context: grpc.aio.ServicerContext) -> str:
        """The calling plugin's name; aborts UNAUTHENTICATED without a valid token."""
        metadata = dict(context.invocation_metadata() or ())
        value, claimed = metadata.get(AUTH_METADATA_KEY, ""), metadata.get(PLUGIN_METADATA_KEY, "")
        if not isinstance(value, str) or not value.startswith(AUTH_SCHEME) or not claimed:
            await context.abort(
                grpc.StatusCode.UNAUTHENTICATED,
                f"missing '{AUTH_METADATA_KEY}: {AUTH_SCHEME}<token>' or '{PLUGIN_METADATA_KEY}: <plugin>' metadata: "
                "RuntimeService is for plugins the host started",
            )
        plugin = self.tokens.owner(value[len(AUTH_SCHEME) :])
        if plugin is None:
            await context.abort(
                grpc.StatusCode.UNAUTHENTICATED, "token is not valid (revoked, or never issued by this host)"
            )
        if plugin != claimed:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, f"token was not issued to plugin {claimed!r}")
        return plugin  # type: ignore[return-value]

    async def CreateMemory(
        self, request: runtime_pb2.CreateMemoryRequest, context: grpc.aio.ServicerContext
    ) -> runtime_pb2.CreateMemoryResponse:
        await self._caller(context)
        memory = memory_from_proto(request.memory)
        if not memory.room_id:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "memory.room_id is required")
        memory.agent_id = memory.agent_id or self.agent_id
        stored = await self.store.create_memory(memory)
        return runtime_pb2.CreateMemoryResponse(memory=memory_to_proto(stored))

    async def GetMemories(
        self, request: runtime_pb2.GetMemoriesRequest, context: grpc.aio.ServicerContext
    ) -> runtime_pb2.GetMemoriesResponse:
        await self._caller(context)
        if not request.room_id:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "room_id is required")
        if request.count < 0 or request.count > 1000:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"count must be 0..1000, got {request.count}")
        memories = await self.store.get_memories(
            self.agent_id, request.room_id, request.table_name or "messages", request.count or 20
        )
        return runtime_pb2.GetMemoriesResponse(memories=[memory_to_proto(m) for m in memories])

    async def GetEntity(
        self, request: runtime_pb2.GetEntityRequest, context: grpc.aio.ServicerContext
    ) -> runtime_pb2.GetEntityResponse:
        await self._caller(context)
        entity = await self.store.get_entity(request.id)
        if entity is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"no entity with id {request.id!r}")
            raise AssertionError("abort raises")
        return runtime_pb2.GetEntityResponse(entity=entity_to_proto(entity))

    async def UpsertEntity(
        self, request: runtime_pb2.UpsertEntityRequest, context: grpc.aio.ServicerContext
    ) -> runtime_pb2.UpsertEntityResponse:
        await self._caller(context)
        entity = entity_from_proto(request.entity)
        entity.agent_id = entity.agent_id or self.agent_id
        return runtime_pb2.UpsertEntityResponse(entity=entity_to_proto(await self.store.upsert_entity(entity)))

    async def GetSetting(
        self, request: runtime_pb2.GetSettingRequest, context: grpc.aio.ServicerContext
    ) -> runtime_pb2.GetSettingResponse:
        plugin = await self._caller(context)
        own = self.plugin_config.get(plugin, {})
        value = own.get(request.key, self.settings.get(request.key))
        return runtime_pb2.GetSettingResponse(value=value or "", found=value is not None)

    async def UseModel(
        self, request: runtime_pb2.RuntimeServiceUseModelRequest, context: grpc.aio.ServicerContext
    ) -> runtime_pb2.RuntimeServiceUseModelResponse:
        """Through the router when the host has one; otherwise the plugins' model handlers."""
        await self._caller(context)
        params = struct_to_dict(request.params)
        if self.router.enabled:
            return await self._through_router(request.model_type, params, context)
        try:
            output = await self.components.use_model(request.model_type, params)
        except UnknownComponentError as exc:
            await context.abort(grpc.StatusCode.NOT_FOUND, str(exc))
            raise AssertionError("abort raises") from None
        except PluginCallError as exc:
            await context.abort(exc.code, str(exc))
            raise AssertionError("abort raises") from None
        reply = runtime_pb2.RuntimeServiceUseModelResponse(
            text=output.text, embedding=output.embedding, served_by=output.served_by
        )
        fill_struct(reply.data, output.data)
        return reply

    async def _through_router(
        self, model_type: str, params: dict[str, Any], context: grpc.aio.ServicerContext
    ) -> runtime_pb2.RuntimeServiceUseModelResponse:
        try:
            invoke = router_request(model_type, params, self.agent_name)
        except ValueError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
            raise AssertionError("abort raises") from None
        try:
            reply = await self.router.stub().Invoke(invoke, timeout=context.time_remaining())
        except PluginUnavailable as exc:
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"no router: {exc}")
            raise AssertionError("abort raises") from None
        except grpc.aio.AioRpcError as exc:
            await context.abort(exc.code(), exc.details() or "")
            raise AssertionError("abort raises") from None
        return runtime_pb2.RuntimeServiceUseModelResponse(
            text=reply.text, embedding=reply.embedding, served_by=f"router:{reply.provider}:{reply.model}"
        )

    async def EmitEvent(
        self, request: runtime_pb2.EmitEventRequest, context: grpc.aio.ServicerContext
    ) -> runtime_pb2.EmitEventResponse:
        plugin = await self._caller(context)
        if not request.event_type:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "event_type is required")
        delivered = await self.components.emit_event(
            request.event_type, struct_to_dict(request.payload), exclude=plugin
        )
        return runtime_pb2.EmitEventResponse(delivered=delivered)


def router_request(model_type: str, params: dict[str, Any], agent_name: str) -> router_pb2.InvokeRequest:
    """A plugin's use_model(...) params as a router call: prompt or messages, and the call's meta."""
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
