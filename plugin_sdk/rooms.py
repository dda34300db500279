"""Rooms, worlds, participants and relationships as a plugin sees them through the host client,
and their conversion to and from the RuntimeService protos (the host converts with these too).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agenthost.v1 import runtime_pb2

from .types import Entity
from .wire import entity_from_proto, entity_to_proto, fill_struct, struct_to_dict

#: The agent's participant states in a room ("" is neither).
MUTED, FOLLOWED = "MUTED", "FOLLOWED"
PARTICIPANT_STATES = ("", MUTED, FOLLOWED)


@dataclass(slots=True)
class Room:
    """Where messages are exchanged. `type`: DM, GROUP, API, SELF, ...; `source`: its client."""

    id: str = ""
    name: str = ""
    type: str = ""
    source: str = ""
    world_id: str = ""
    channel_id: str = ""
    server_id: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    created_at_ms: int = 0


@dataclass(slots=True)
class World:
    """A server or community rooms belong to."""

    id: str = ""
    name: str = ""
    server_id: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Participant:
    """An entity in a room, its state there, and the entity itself (None when unknown)."""

    entity_id: str
    state: str = ""
    entity: Entity | None = None


@dataclass(slots=True)
class RoomInfo:
    """A room with its world (None when it has none) and its participants."""

    room: Room
    world: World | None = None
    participants: list[Participant] = field(default_factory=list)


@dataclass(slots=True)
class Relationship:
    """What the agent knows of two entities together: tags, metadata, how often they interacted."""

    source_entity_id: str
    target_entity_id: str
    tags: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    interaction_count: int = 0
    updated_at_ms: int = 0


def room_info_to_proto(info: RoomInfo) -> runtime_pb2.GetRoomResponse:
    room = info.room
    reply = runtime_pb2.GetRoomResponse(
        room=runtime_pb2.Room(
            id=room.id,
            name=room.name,
            type=room.type,
            source=room.source,
            world_id=room.world_id,
            channel_id=room.channel_id,
            server_id=room.server_id,
            created_at_ms=room.created_at_ms,
        )
    )
    fill_struct(reply.room.metadata, room.metadata)
    if info.world is not None:
        reply.world.id, reply.world.name, reply.world.server_id = info.world.id, info.world.name, info.world.server_id
        fill_struct(reply.world.metadata, info.world.metadata)
    for p in info.participants:
        participant = reply.participants.add(entity_id=p.entity_id, state=p.state)
        if p.entity is not None:
            participant.entity.CopyFrom(entity_to_proto(p.entity))
    return reply


def room_info_from_proto(msg: runtime_pb2.GetRoomResponse) -> RoomInfo:
    r = msg.room
    room = Room(
        r.id,
        r.name,
        r.type,
        r.source,
        r.world_id,
        r.channel_id,
        r.server_id,
        struct_to_dict(r.metadata),
        r.created_at_ms,
    )
    world = None
    if msg.HasField("world"):
        w = msg.world
        world = World(w.id, w.name, w.server_id, struct_to_dict(w.metadata))
    participants = [
        Participant(p.entity_id, p.state, entity_from_proto(p.entity) if p.HasField("entity") else None)
        for p in msg.participants
    ]
    return RoomInfo(room, world, participants)


def relationship_to_proto(relationship: Relationship) -> runtime_pb2.Relationship:
    msg = runtime_pb2.Relationship(
        source_entity_id=relationship.source_entity_id,
        target_entity_id=relationship.target_entity_id,
        tags=relationship.tags,
        interaction_count=relationship.interaction_count,
        updated_at_ms=relationship.updated_at_ms,
    )
    fill_struct(msg.metadata, relationship.metadata)
    return msg


def relationship_from_proto(msg: runtime_pb2.Relationship) -> Relationship:
    return Relationship(
        msg.source_entity_id,
        msg.target_entity_id,
        list(msg.tags),
        struct_to_dict(msg.metadata),
        msg.interaction_count,
        msg.updated_at_ms,
    )
