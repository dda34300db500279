"""RuntimeService: plugins' calls back into the host, each authenticated by its token."""

from __future__ import annotations

import functools
from typing import Awaitable, Callable, Sequence, TypeVar

import grpc
from agenthost.v1 import runtime_pb2, runtime_pb2_grpc, types_pb2

from plugin_sdk.limits import MAX_RECEIVE_BYTES, memory_problem, quote
from plugin_sdk.protocol import AUTH_METADATA_KEY, AUTH_SCHEME, MANIFEST_CHANGED, PLUGIN_METADATA_KEY
from plugin_sdk.rooms import PARTICIPANT_STATES, relationship_from_proto, relationship_to_proto, room_info_to_proto
from plugin_sdk.types import Memory
from plugin_sdk.wire import (
    entity_from_proto,
    entity_to_proto,
    fill_struct,
    memory_from_proto,
    memory_to_proto,
    struct_to_dict,
)

from ..agent.agent import Agent, AgentError
from ..agent.models import ModelError
from ..memory import ModelNotReady
from ..memory.embedding_queue import ModelChanged, RefusedText
from ..plugins.components import Components
from ..plugins.settings import PluginSettings
from ..plugins.tokens import TokenBook
from ..store import ContentTooLarge, DuplicateMemory, Store, StoreUnavailable
from .abort import abort
from .room_records import relationship_in, relationship_out, room_info

MEMORIES_LEFT_OUT = "x-agenthost-memories-left-out"
"""Trailing metadata of a GetMemories reply cut short: how many older memories did not fit."""


Request = TypeVar("Request")
Reply = TypeVar("Reply")
Handler = Callable[["RuntimeServicer", Request, grpc.aio.ServicerContext], Awaitable[Reply]]


def store_errors(handler: Handler[Request, Reply]) -> Handler[Request, Reply]:
    """A handler whose store calls fail as gRPC statuses: the database gone is UNAVAILABLE (retry
    later; the host keeps serving), a memory over the store's size limit INVALID_ARGUMENT."""

    @functools.wraps(handler)
    async def handle(self: RuntimeServicer, request: Request, context: grpc.aio.ServicerContext) -> Reply:
        try:
            return await handler(self, request, context)
        except StoreUnavailable as exc:
            await abort(context, grpc.StatusCode.UNAVAILABLE, str(exc))
        except ContentTooLarge as exc:
            await abort(context, grpc.StatusCode.INVALID_ARGUMENT, str(exc))

    return handle


def fitting(memories: list[types_pb2.Memory]) -> list[types_pb2.Memory]:
    """The longest run of `memories`, from the first, whose reply fits in the receive limit of
    the plugin's channel: a reply over it would fail there with nothing returned at all."""
    room = MAX_RECEIVE_BYTES
    for index, memory in enumerate(memories):
        size = memory.ByteSize()
        room -= 1 + _varint_size(size) + size  # the field's tag, its length, its bytes
        if room < 0:
            return memories[:index]
    return memories


def _varint_size(value: int) -> int:
    return max(1, (value.bit_length() + 6) // 7)


async def _fitting_reply(
    context: grpc.aio.ServicerContext, memories: list[Memory], which: str
) -> list[types_pb2.Memory]:
    """`memories` as protos, cut to what a reply carries; the trailing metadata says how many were
    left out (the protos have no field for it), and not even the first fitting is RESOURCE_EXHAUSTED."""
    protos = fitting([memory_to_proto(m) for m in memories])
    if len(protos) < len(memories):
        if not protos:
            await abort(
                context,
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"the newest memory {which} is larger than a reply can carry "
                f"({MAX_RECEIVE_BYTES} bytes); it was stored before the host bounded memories",
            )
        context.set_trailing_metadata(((MEMORIES_LEFT_OUT, str(len(memories) - len(protos))),))
    return protos


class RuntimeServicer(runtime_pb2_grpc.RuntimeServiceServicer):
    """Serves plugins: memories, entities, rooms, relationships, settings, models and events,
    each call for one agent the calling plugin serves."""

    def __init__(
        self,
        tokens: TokenBook,
        store: Store,
        components: Components,
        agents: Callable[[], Sequence[Agent]],
        public: bool,
    ) -> None:
        """`agents`: the host's agents now; `public`: served on the public listener, for remote
        plugins; else on the plugins' socket."""
        self.tokens = tokens
        self.store = store
        self.components = components
        self.agents = agents
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
            await abort(context, grpc.StatusCode.UNAUTHENTICATED, f"token was not issued to plugin {quote(claimed)}")
        if owner.remote != self.public:
            where = "the host's public address" if owner.remote else "the plugins' socket (runtime_address)"
            await abort(context, grpc.StatusCode.UNAUTHENTICATED, f"this plugin's token is accepted only on {where}")
        return owner.plugin

    async def _agent(self, context: grpc.aio.ServicerContext, plugin: str, agent_id: str) -> Agent:
        """The agent a call of `plugin` acts for: `agent_id`, which the plugin must serve (its
        character names the plugin, or names none); empty: the one agent the plugin serves."""
        agents = list(self.agents())
        serving = [a for a in agents if a.serves(plugin)]
        if agent_id:
            agent = next((a for a in serving if a.id == agent_id), None)
            if agent is None:
                served = ", ".join(a.id for a in serving) or "none"
                await abort(
                    context,
                    grpc.StatusCode.PERMISSION_DENIED,
                    f"agent_id {quote(agent_id)} is not the agent this plugin serves ({plugin} serves: {served})",
                )
            return agent
        if len(serving) == 1:
            return serving[0]
        if not serving:
            await abort(
                context,
                grpc.StatusCode.FAILED_PRECONDITION,
                f"no running agent uses plugin {plugin} (no character names it)",
            )
        names = ", ".join(f"{a.name} ({a.id})" for a in serving)
        await abort(
            context,
            grpc.StatusCode.INVALID_ARGUMENT,
            f"plugin {plugin} serves several agents ({names}): say which in agent_id "
            "(the SDK sends the agent of the message being handled)",
        )

    @store_errors
    async def CreateMemory(
        self, request: runtime_pb2.CreateMemoryRequest, context: grpc.aio.ServicerContext
    ) -> runtime_pb2.CreateMemoryResponse:
        plugin = await self._caller(context)
        problem = memory_problem(request.memory)
        if problem:
            await abort(context, grpc.StatusCode.INVALID_ARGUMENT, problem)
        memory = memory_from_proto(request.memory)
        if not memory.room_id:
            await abort(context, grpc.StatusCode.INVALID_ARGUMENT, "memory.room_id is required")
        memory.agent_id = (await self._agent(context, plugin, memory.agent_id)).id
        try:
            stored = await self.store.create_memory(memory)
        except DuplicateMemory:
            await abort(
                context,
                grpc.StatusCode.ALREADY_EXISTS,
                f"a memory with id {quote(memory.id)} is already stored; leave the id empty and the host picks one",
            )
        return runtime_pb2.CreateMemoryResponse(memory=memory_to_proto(stored))

    @store_errors
    async def GetMemories(
        self, request: runtime_pb2.GetMemoriesRequest, context: grpc.aio.ServicerContext
    ) -> runtime_pb2.GetMemoriesResponse:
        plugin = await self._caller(context)
        if not request.room_id:
            await abort(context, grpc.StatusCode.INVALID_ARGUMENT, "room_id is required")
        if request.count < 0 or request.count > 1000:
            await abort(context, grpc.StatusCode.INVALID_ARGUMENT, f"count must be 0..1000, got {request.count}")
        agent = await self._agent(context, plugin, request.agent_id)
        memories = await self.store.get_memories(
            agent.id, request.room_id, request.table_name or "messages", request.count or 20
        )
        found = await _fitting_reply(context, memories, f"of room {quote(request.room_id)}")
        return runtime_pb2.GetMemoriesResponse(memories=found)

    @store_errors
    async def GetEntity(
        self, request: runtime_pb2.GetEntityRequest, context: grpc.aio.ServicerContext
    ) -> runtime_pb2.GetEntityResponse:
        plugin = await self._caller(context)
        agent = await self._agent(context, plugin, request.agent_id)
        entity = await self.store.get_entity(request.id, agent.id)
        if entity is None:
            await abort(context, grpc.StatusCode.NOT_FOUND, f"no entity with id {quote(request.id)}")
        return runtime_pb2.GetEntityResponse(entity=entity_to_proto(entity))

    @store_errors
    async def UpsertEntity(
        self, request: runtime_pb2.UpsertEntityRequest, context: grpc.aio.ServicerContext
    ) -> runtime_pb2.UpsertEntityResponse:
        plugin = await self._caller(context)
        entity = entity_from_proto(request.entity)
        entity.agent_id = (await self._agent(context, plugin, entity.agent_id)).id
        return runtime_pb2.UpsertEntityResponse(entity=entity_to_proto(await self.store.upsert_entity(entity)))

    async def GetSetting(
        self, request: runtime_pb2.GetSettingRequest, context: grpc.aio.ServicerContext
    ) -> runtime_pb2.GetSettingResponse:
        plugin = await self._caller(context)
        serving = [a for a in self.agents() if a.serves(plugin)]
        if not request.agent_id and len(serving) > 1:
            # A service starting for several agents reads what they share: no character's settings.
            parts = serving[0].parts
            shared = PluginSettings(parts.plugin_config, parts.settings, parts.secrets, parts.grants)
            value = shared.get(plugin, request.key)
        else:
            value = (await self._agent(context, plugin, request.agent_id)).settings.get(plugin, request.key)
        return runtime_pb2.GetSettingResponse(value=value or "", found=value is not None)

    async def UseModel(
        self, request: runtime_pb2.RuntimeServiceUseModelRequest, context: grpc.aio.ServicerContext
    ) -> runtime_pb2.RuntimeServiceUseModelResponse:
        """Through the router when the host has one; otherwise the plugins' model handlers."""
        plugin = await self._caller(context)
        agent = await self._agent(context, plugin, request.agent_id)
        try:
            output = await agent.models.use(
                request.model_type, struct_to_dict(request.params), context.time_remaining()
            )
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
        if request.event_type == MANIFEST_CHANGED:  # the host's own: the plugin's components changed
            problem = await self.components.refresh_manifest(plugin)
            if problem:
                await abort(context, grpc.StatusCode.FAILED_PRECONDITION, problem)
            return runtime_pb2.EmitEventResponse(delivered=0)
        agent = await self._agent(context, plugin, request.agent_id)
        payload = {**struct_to_dict(request.payload), "agent_id": agent.id}  # whose event it is
        delivered = await self.components.emit_event(request.event_type, payload, exclude=plugin)
        return runtime_pb2.EmitEventResponse(delivered=delivered)

    @store_errors
    async def FindMemories(
        self, request: runtime_pb2.FindMemoriesRequest, context: grpc.aio.ServicerContext
    ) -> runtime_pb2.FindMemoriesResponse:
        plugin = await self._caller(context)
        if request.count < 0 or request.count > 1000:
            await abort(context, grpc.StatusCode.INVALID_ARGUMENT, f"count must be 0..1000, got {request.count}")
        agent = await self._agent(context, plugin, request.agent_id)
        memories = await self.store.find_memories(
            agent.id,
            request.table_name or "messages",
            request.count or 20,
            room_id=request.room_id or None,
            entity_id=request.entity_id or None,
            world_id=request.world_id or None,
        )
        return runtime_pb2.FindMemoriesResponse(memories=await _fitting_reply(context, memories, "found"))

    @store_errors
    async def GetRoom(
        self, request: runtime_pb2.GetRoomRequest, context: grpc.aio.ServicerContext
    ) -> runtime_pb2.GetRoomResponse:
        plugin = await self._caller(context)
        if not request.room_id:
            await abort(context, grpc.StatusCode.INVALID_ARGUMENT, "room_id is required")
        agent = await self._agent(context, plugin, request.agent_id)
        room = await self.store.get_room(agent.id, request.room_id)
        if room is None:
            await abort(context, grpc.StatusCode.NOT_FOUND, f"agent {agent.id} has no room {quote(request.room_id)}")
        world = await self.store.get_world(agent.id, room.world_id) if room.world_id else None
        participants = await self.store.list_participants(agent.id, room.id)
        entities = [(p, await self.store.get_entity(p.entity_id, agent.id)) for p in participants]
        return room_info_to_proto(room_info(room, world, entities))

    @store_errors
    async def SetParticipantState(
        self, request: runtime_pb2.SetParticipantStateRequest, context: grpc.aio.ServicerContext
    ) -> runtime_pb2.SetParticipantStateResponse:
        """The agent's own state; its pipeline forgets the room, so the next message reads it."""
        plugin = await self._caller(context)
        if not request.room_id:
            await abort(context, grpc.StatusCode.INVALID_ARGUMENT, "room_id is required")
        if request.state not in PARTICIPANT_STATES:
            states = ", ".join(repr(s) for s in PARTICIPANT_STATES)
            await abort(
                context, grpc.StatusCode.INVALID_ARGUMENT, f"state must be one of {states}, got {quote(request.state)}"
            )
        agent = await self._agent(context, plugin, request.agent_id)
        store, room_id = self.store, request.room_id
        if await store.get_room(agent.id, room_id) is None:
            await abort(context, grpc.StatusCode.NOT_FOUND, f"agent {agent.id} has no room {quote(room_id)}")
        before = await store.get_participant(agent.id, room_id, agent.id)
        if before is None:
            await store.add_participant(agent.id, room_id, agent.id)
        await store.set_participant_state(agent.id, room_id, agent.id, request.state)
        try:
            agent.pipeline.rooms.forget(room_id)
        except AgentError:
            pass  # not started: it reads the room when it does
        return runtime_pb2.SetParticipantStateResponse(previous_state=before.state if before else "")

    @store_errors
    async def GetRelationships(
        self, request: runtime_pb2.GetRelationshipsRequest, context: grpc.aio.ServicerContext
    ) -> runtime_pb2.GetRelationshipsResponse:
        plugin = await self._caller(context)
        if not request.entity_id:
            await abort(context, grpc.StatusCode.INVALID_ARGUMENT, "entity_id is required")
        agent = await self._agent(context, plugin, request.agent_id)
        found = await self.store.list_relationships(agent.id, request.entity_id, list(request.tags) or None)
        return runtime_pb2.GetRelationshipsResponse(
            relationships=[relationship_to_proto(relationship_out(r)) for r in found]
        )

    @store_errors
    async def UpsertRelationship(
        self, request: runtime_pb2.UpsertRelationshipRequest, context: grpc.aio.ServicerContext
    ) -> runtime_pb2.UpsertRelationshipResponse:
        plugin = await self._caller(context)
        given = relationship_from_proto(request.relationship)
        if not given.source_entity_id or not given.target_entity_id:
            await abort(
                context,
                grpc.StatusCode.INVALID_ARGUMENT,
                "relationship.source_entity_id and target_entity_id are required",
            )
        agent = await self._agent(context, plugin, request.agent_id)
        source, target = given.source_entity_id, given.target_entity_id
        stored = None
        if request.count_interaction:
            stored = await self.store.record_interaction(agent.id, source, target)
        if given.tags or given.metadata or stored is None:
            stored = await self.store.upsert_relationship(relationship_in(agent.id, given))
        return runtime_pb2.UpsertRelationshipResponse(relationship=relationship_to_proto(relationship_out(stored)))

    @store_errors
    async def SearchMemories(
        self, request: runtime_pb2.SearchMemoriesRequest, context: grpc.aio.ServicerContext
    ) -> runtime_pb2.SearchMemoriesResponse:
        """The query embedded by the agent's embedding queue's model, searched among the vectors
        of that model; before that model has answered once, UNAVAILABLE (try again)."""
        plugin = await self._caller(context)
        if not request.query.strip():
            await abort(context, grpc.StatusCode.INVALID_ARGUMENT, "query is required")
        if request.count < 0 or request.count > 100:
            await abort(context, grpc.StatusCode.INVALID_ARGUMENT, f"count must be 0..100, got {request.count}")
        agent = await self._agent(context, plugin, request.agent_id)
        if agent.embeddings is None:
            await abort(context, grpc.StatusCode.FAILED_PRECONDITION, f"agent {agent.name} is not started")
        try:
            model, vector = await agent.embeddings.embed_query(request.query)
        except (ModelNotReady, ModelChanged) as exc:
            await abort(context, grpc.StatusCode.UNAVAILABLE, f"no embedding model answers now: {exc}")
        except RefusedText as exc:
            await abort(context, grpc.StatusCode.INVALID_ARGUMENT, f"the embedding model refused the query: {exc}")
        found = await self.store.search_memories(
            agent.id,
            vector,
            model,
            table_name=request.table_name or "fragments",
            room_id=request.room_id or None,
            threshold=request.min_score if request.HasField("min_score") else -1.0,
            limit=request.count or 5,
        )
        results = [runtime_pb2.ScoredMemory(memory=memory_to_proto(s.memory), score=s.score) for s in found]
        return runtime_pb2.SearchMemoriesResponse(results=results)
