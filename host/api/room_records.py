"""The store's rooms, worlds, participants and relationships as RuntimeService carries them
(through the SDK's dataclasses, whose proto conversion the plugins use too)."""

from __future__ import annotations

from plugin_sdk import rooms as sdk
from plugin_sdk.types import Entity

from ..store.records import Participant, Relationship, Room, World


def room_info(room: Room, world: World | None, participants: list[tuple[Participant, Entity | None]]) -> sdk.RoomInfo:
    """A room as GetRoom answers it: its world when it has one, each participant with its entity."""
    return sdk.RoomInfo(
        sdk.Room(
            room.id,
            room.name,
            room.type,
            room.source,
            room.world_id,
            room.channel_id,
            room.server_id,
            dict(room.metadata),
            room.created_at_ms,
        ),
        None if world is None else sdk.World(world.id, world.name, world.server_id, dict(world.metadata)),
        [sdk.Participant(p.entity_id, p.state, entity) for p, entity in participants],
    )


def relationship_out(relationship: Relationship) -> sdk.Relationship:
    """A stored relationship as a plugin sees it (the agent is implied)."""
    r = relationship
    return sdk.Relationship(
        r.source_entity_id, r.target_entity_id, list(r.tags), dict(r.metadata), r.interaction_count, r.updated_at_ms
    )


def relationship_in(agent_id: str, relationship: sdk.Relationship) -> Relationship:
    """A plugin's relationship as the store keeps it, for `agent_id` (its count is the store's)."""
    r = relationship
    return Relationship(agent_id, r.source_entity_id, r.target_entity_id, tags=list(r.tags), metadata=dict(r.metadata))
