"""RuntimeService: plugins' calls back into the host, each authenticated by its token."""

from __future__ import annotations

import grpc
from agenthost.v1 import runtime_pb2, runtime_pb2_grpc

from plugin_sdk.protocol import AUTH_METADATA_KEY, AUTH_SCHEME, PLUGIN_METADATA_KEY
from plugin_sdk.wire import (
    entity_from_proto,
    entity_to_proto,
    fill_struct,
    memory_from_proto,
    memory_to_proto,
    struct_to_dict,
)

from ..agent.models import ModelError, Models
from ..plugins.components import Components
from ..plugins.settings import PluginSettings
from ..plugins.tokens import TokenBook
from ..store import Store
from .abort import abort


class RuntimeServicer(runtime_pb2_grpc.RuntimeServiceServicer):
    """Serves plugins: memories, entities, settings, models and events."""

    def __init__(
        self,
        tokens: TokenBook,
        store: Store,
        components: Components,
        models: Models,
        agent_id: str,
        settings: PluginSettings,
        public: bool,
    ) -> None:
        """`public`: served on the public listener, for remote plugins; else on the plugins' socket."""
        self.tokens = tokens
        self.store = store
        self.components = components
        self.models = models
        self.agent_id = agent_id
        self.settings = settings
        self.public = public

    async def _caller(self, context: grpc.aio.ServicerContext) -> str:
        """The calling plugin's name; aborts UNAUTHENTICATED without a valid token."""
        metadata = dict(context.invocation_metadata() or ())
        value, claimed = metadata.get(AUTH_METADATA_KEY, ""), metadata.get(PLUGIN_METADATA_KEY, "")
        if not isinstance(value, str) or not value.startswith(AUTH_SCHEME) or not claimed:
            await abort(
                context,
                grpc.StatusCode.UNAUTHENTICATED,
                f"missing '{AUTH_METADATA_KEY}: {AUTH_SCHEME}<token>' or '{PLUGIN_METADATA_KEY}: <plugin>' metadata: "
                "RuntimeService is for plugins the host started",
            )
        owner = self.tokens.owner(value[len(AUTH_SCHEME) :])
        if owner is None:
            await abort(
                context, grpc.StatusCode.UNAUTHENTICATED, "token is not valid (revoked, or never issued by this host)"
            )
        if owner.plugin != claimed:
            await abort(context, grpc.StatusCode.UNAUTHENTICATED, f"token was not issued to plugin {claimed!r}")
        if owner.remote != self.public:
            where = "the host's public address" if owner.remote else "the plugins' socket (runtime_address)"
            await abort(context, grpc.StatusCode.UNAUTHENTICATED, f"this plugin's token is accepted only on {where}")
        return owner.plugin

    async def CreateMemory(
        self, request: runtime_pb2.CreateMemoryRequest, context: grpc.aio.ServicerContext
    ) -> runtime_pb2.CreateMemoryResponse:
        await self._caller(context)
        memory = memory_from_proto(request.memory)
        if not memory.room_id:
            await abort(context, grpc.StatusCode.INVALID_ARGUMENT, "memory.room_id is required")
        memory.agent_id = memory.agent_id or self.agent_id
        stored = await self.store.create_memory(memory)
        return runtime_pb2.CreateMemoryResponse(memory=memory_to_proto(stored))

    async def GetMemories(
        self, request: runtime_pb2.GetMemoriesRequest, context: grpc.aio.ServicerContext
    ) -> runtime_pb2.GetMemoriesResponse:
        await self._caller(context)
        if not request.room_id:
            await abort(context, grpc.StatusCode.INVALID_ARGUMENT, "room_id is required")
        if request.count < 0 or request.count > 1000:
            await abort(context, grpc.StatusCode.INVALID_ARGUMENT, f"count must be 0..1000, got {request.count}")
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
            await abort(context, grpc.StatusCode.NOT_FOUND, f"no entity with id {request.id!r}")
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
        value = self.settings.get(plugin, request.key)
        return runtime_pb2.GetSettingResponse(value=value or "", found=value is not None)

    async def UseModel(
        self, request: runtime_pb2.RuntimeServiceUseModelRequest, context: grpc.aio.ServicerContext
    ) -> runtime_pb2.RuntimeServiceUseModelResponse:
        """Through the router when the host has one; otherwise the plugins' model handlers."""
        await self._caller(context)
        try:
            output = await self.models.use(request.model_type, struct_to_dict(request.params), context.time_remaining())
        except ModelError as exc:
            await abort(context, exc.code, str(exc))
        reply = runtime_pb2.RuntimeServiceUseModelResponse(
            text=output.text, embedding=output.embedding, served_by=output.served_by
        )
        fill_struct(reply.data, output.data)
        return reply

    async def EmitEvent(
        self, request: runtime_pb2.EmitEventRequest, context: grpc.aio.ServicerContext
    ) -> runtime_pb2.EmitEventResponse:
        plugin = await self._caller(context)
        if not request.event_type:
            await abort(context, grpc.StatusCode.INVALID_ARGUMENT, "event_type is required")
        delivered = await self.components.emit_event(
            request.event_type, struct_to_dict(request.payload), exclude=plugin
        )
        return runtime_pb2.EmitEventResponse(delivered=delivered)
