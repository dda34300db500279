"""The host client: a plugin's way back into the host (RuntimeService)."""

from __future__ import annotations

import os
from contextvars import ContextVar
from typing import Any, Protocol

import grpc
from agenthost.v1 import runtime_pb2, runtime_pb2_grpc

from .protocol import AUTH_METADATA_KEY, AUTH_SCHEME, ENV_TLS_CLIENT_CA, PLUGIN_METADATA_KEY
from .rooms import Relationship, RoomInfo, relationship_from_proto, relationship_to_proto, room_info_from_proto
from .types import Entity, Memory, ModelOutput
from .wire import (
    entity_from_proto,
    entity_to_proto,
    fill_struct,
    memory_from_proto,
    memory_to_proto,
    model_output_from_proto,
)

#: The agent whose message the current call handles ("" outside one): a host running several
#: agents shares this process among them, and every RuntimeService call says which it acts for.
CURRENT_AGENT: ContextVar[str] = ContextVar("agenthost_plugin_current_agent", default="")


class HostClient(Protocol):
    """What a plugin can ask of the host. `GrpcHostClient` talks to a real host;
    `plugin_sdk.testing.FakeHost` stands in for one in unit tests."""

    async def create_memory(self, memory: Memory) -> Memory:
        """Store a memory in the agent's store and return it as stored. Empty `id`,
        `created_at_ms`, `agent_id` and `table_name` are filled in (a new id, now, this agent,
        "messages"); `room_id` is required; an id already stored fails (ALREADY_EXISTS).
        Numbers in `metadata` and `content.extra` come back as floats."""
        ...

    async def get_memories(self, room_id: str, table_name: str = "messages", count: int = 20) -> list[Memory]:
        """The room's `count` most recent memories of `table_name`, newest first."""
        ...

    async def get_entity(self, entity_id: str) -> Entity | None:
        """An entity (a user, the agent, anyone named in a room) by id; None if unknown."""
        ...

    async def upsert_entity(self, entity: Entity) -> Entity:
        """Create an entity (empty `id`: one is made) or replace the one with its id; returns it as stored."""
        ...

    async def get_setting(self, key: str) -> str | None:
        """A setting from the host's configuration ([settings], or a secret this plugin is
        granted); None if there is none. `ctx.setting(key)` reads the plugin's own config
        without a round trip."""
        ...

    async def use_model(self, model_type: str, **params: Any) -> ModelOutput:
        """Call a model of `model_type` ("TEXT_SMALL", "TEXT_LARGE", "TEXT_EMBEDDING", ...)
        through the host: its router when it has one, else the plugins' model handlers. `params`
        are JSON-like: `messages` ([{"role", "content"}]) or `prompt`, `max_tokens`,
        `temperature`, `grammar`, ... (proto/PROTOCOL.md lists them). Text comes back in
        `.text`, embeddings in `.embedding`; `.served_by` names who answered."""
        ...

    async def emit_event(self, event_type: str, payload: dict[str, Any] | None = None) -> int:
        """Deliver an event to every other plugin subscribed to `event_type` (not to this one)
        and wait for them; returns how many handled it. `payload` is JSON-like."""
        ...

    async def find_memories(
        self,
        table_name: str = "messages",
        count: int = 20,
        *,
        room_id: str = "",
        entity_id: str = "",
        world_id: str = "",
    ) -> list[Memory]:
        """The agent's `count` latest memories of `table_name` matching every filter given
        (room, entity, world; empty matches all), newest first."""
        ...

    async def get_room(self, room_id: str) -> RoomInfo | None:
        """The room with its world and participants (each with its entity); None if unknown."""
        ...

    async def set_participant_state(self, room_id: str, state: str) -> str:
        """Set the agent's own state in the room: "MUTED", "FOLLOWED" or "" (neither); the
        pipeline honours it from the next message. Returns the state before."""
        ...

    async def get_relationships(self, entity_id: str, tags: list[str] | None = None) -> list[Relationship]:
        """The entity's relationships (either side), only those with every tag in `tags` when given."""
        ...

    async def upsert_relationship(self, relationship: Relationship, count_interaction: bool = False) -> Relationship:
        """Store the pair's tags and metadata (unless both are empty) and, with
        `count_interaction`, add one to its interaction count; returns it as stored."""
        ...

    async def search_memories(
        self,
        query: str,
        table_name: str = "fragments",
        count: int = 5,
        *,
        room_id: str = "",
        min_score: float | None = None,
    ) -> list[tuple[Memory, float]]:
        """The agent's memories of `table_name` ("fragments": its knowledge) most similar to
        `query`, best first, with their similarity (cosine, -1..1). The host embeds the query
        with its embedding model; before that model answers, the call fails UNAVAILABLE."""
        ...


class GrpcHostClient:
    """HostClient over the host's RuntimeService, authenticated with this process's token."""

    def __init__(self, address: str, plugin: str, token: str, timeout: float = 30.0, tls: bool = False) -> None:
        """`tls`: the host's listener has a certificate; it is checked against the CA in
        AGENTHOST_PLUGIN_TLS_CLIENT_CA (the deployment's CA, which signed the host's client
        certificate too)."""
        if tls:
            with open(os.environ[ENV_TLS_CLIENT_CA], "rb") as ca:
                self._channel = grpc.aio.secure_channel(address, grpc.ssl_channel_credentials(ca.read()))
        else:
            self._channel = grpc.aio.insecure_channel(address)
        self._stub = runtime_pb2_grpc.RuntimeServiceStub(self._channel)
        self._metadata = ((AUTH_METADATA_KEY, AUTH_SCHEME + token), (PLUGIN_METADATA_KEY, plugin))
        self._timeout = timeout

    async def close(self) -> None:
        await self._channel.close()

    async def create_memory(self, memory: Memory) -> Memory:
        if not memory.agent_id:
            memory.agent_id = CURRENT_AGENT.get()
        reply = await self._stub.CreateMemory(
            runtime_pb2.CreateMemoryRequest(memory=memory_to_proto(memory)),
            metadata=self._metadata,
            timeout=self._timeout,
        )
        return memory_from_proto(reply.memory)

    async def get_memories(self, room_id: str, table_name: str = "messages", count: int = 20) -> list[Memory]:
        reply = await self._stub.GetMemories(
            runtime_pb2.GetMemoriesRequest(
                room_id=room_id, table_name=table_name, count=count, agent_id=CURRENT_AGENT.get()
            ),
            metadata=self._metadata,
            timeout=self._timeout,
        )
        return [memory_from_proto(m) for m in reply.memories]

    async def get_entity(self, entity_id: str) -> Entity | None:
        try:
            reply = await self._stub.GetEntity(
                runtime_pb2.GetEntityRequest(id=entity_id, agent_id=CURRENT_AGENT.get()),
                metadata=self._metadata,
                timeout=self._timeout,
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise
        return entity_from_proto(reply.entity)

    async def upsert_entity(self, entity: Entity) -> Entity:
        if not entity.agent_id:
            entity.agent_id = CURRENT_AGENT.get()
        reply = await self._stub.UpsertEntity(
            runtime_pb2.UpsertEntityRequest(entity=entity_to_proto(entity)),
            metadata=self._metadata,
            timeout=self._timeout,
        )
        return entity_from_proto(reply.entity)

    async def get_setting(self, key: str) -> str | None:
        reply = await self._stub.GetSetting(
            runtime_pb2.GetSettingRequest(key=key, agent_id=CURRENT_AGENT.get()),
            metadata=self._metadata,
            timeout=self._timeout,
        )
        return reply.value if reply.found else None

    async def use_model(self, model_type: str, **params: Any) -> ModelOutput:
        request = runtime_pb2.RuntimeServiceUseModelRequest(model_type=model_type, agent_id=CURRENT_AGENT.get())
        fill_struct(request.params, params)
        reply = await self._stub.UseModel(request, metadata=self._metadata, timeout=self._timeout)
        return model_output_from_proto(reply)

    async def emit_event(self, event_type: str, payload: dict[str, Any] | None = None) -> int:
        request = runtime_pb2.EmitEventRequest(event_type=event_type, agent_id=CURRENT_AGENT.get())
        fill_struct(request.payload, payload or {})
        reply = await self._stub.EmitEvent(request, metadata=self._metadata, timeout=self._timeout)
        return reply.delivered

    async def find_memories(
        self,
        table_name: str = "messages",
        count: int = 20,
        *,
        room_id: str = "",
        entity_id: str = "",
        world_id: str = "",
    ) -> list[Memory]:
        request = runtime_pb2.FindMemoriesRequest(
            table_name=table_name,
            count=count,
            room_id=room_id,
            entity_id=entity_id,
            world_id=world_id,
            agent_id=CURRENT_AGENT.get(),
        )
        reply = await self._stub.FindMemories(request, metadata=self._metadata, timeout=self._timeout)
        return [memory_from_proto(m) for m in reply.memories]

    async def get_room(self, room_id: str) -> RoomInfo | None:
        try:
            reply = await self._stub.GetRoom(
                runtime_pb2.GetRoomRequest(room_id=room_id, agent_id=CURRENT_AGENT.get()),
                metadata=self._metadata,
                timeout=self._timeout,
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise
        return room_info_from_proto(reply)

    async def set_participant_state(self, room_id: str, state: str) -> str:
        reply = await self._stub.SetParticipantState(
            runtime_pb2.SetParticipantStateRequest(room_id=room_id, state=state, agent_id=CURRENT_AGENT.get()),
            metadata=self._metadata,
            timeout=self._timeout,
        )
        return reply.previous_state

    async def get_relationships(self, entity_id: str, tags: list[str] | None = None) -> list[Relationship]:
        reply = await self._stub.GetRelationships(
            runtime_pb2.GetRelationshipsRequest(entity_id=entity_id, tags=tags or [], agent_id=CURRENT_AGENT.get()),
            metadata=self._metadata,
            timeout=self._timeout,
        )
        return [relationship_from_proto(r) for r in reply.relationships]

    async def upsert_relationship(self, relationship: Relationship, count_interaction: bool = False) -> Relationship:
        request = runtime_pb2.UpsertRelationshipRequest(
            relationship=relationship_to_proto(relationship),
            count_interaction=count_interaction,
            agent_id=CURRENT_AGENT.get(),
        )
        reply = await self._stub.UpsertRelationship(request, metadata=self._metadata, timeout=self._timeout)
        return relationship_from_proto(reply.relationship)

    async def search_memories(
        self,
        query: str,
        table_name: str = "fragments",
        count: int = 5,
        *,
        room_id: str = "",
        min_score: float | None = None,
    ) -> list[tuple[Memory, float]]:
        request = runtime_pb2.SearchMemoriesRequest(
            query=query, table_name=table_name, count=count, room_id=room_id, agent_id=CURRENT_AGENT.get()
        )
        if min_score is not None:
            request.min_score = min_score
        reply = await self._stub.SearchMemories(request, metadata=self._metadata, timeout=self._timeout)
        return [(memory_from_proto(r.memory), r.score) for r in reply.results]
