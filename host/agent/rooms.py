"""Rooms as the pipeline sees them: each room's type and whether the agent muted it, read from
the store once and then kept (a few seconds for the mute state, which plugins may change).

A room is made with its first message (type as the client gave it, the message's source and
world) with the sender and the agent as participants; a new sender of a known room is added
once. The agent's own participant state (MUTED, FOLLOWED or "") is what mute and follow mean.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

from plugin_sdk.types import Memory

from ..store import Store
from ..store.records import FOLLOWED, MUTED, Room
from .character import Character

#: Room types as clients give them -> as stored (elizaOS channel types); others are kept upper-cased.
ROOM_TYPES = {"": "API", "api": "API", "dm": "DM", "group": "GROUP", "self": "SELF"}
_KNOWN_ROOMS = 10_000  # rooms remembered per pipeline; beyond that the oldest is read again when next seen


@dataclass
class RoomView:
    """What the pipeline knows of a room."""

    type: str
    agent_state: str = ""  # the agent's participant state: MUTED, FOLLOWED or ""
    read_at: float = 0.0  # monotonic time agent_state was read
    senders: set[str] = field(default_factory=set)  # entities known to be participants

    @property
    def muted(self) -> bool:
        return self.agent_state == MUTED

    @property
    def followed(self) -> bool:
        """The agent follows the room: it answers there without asking shouldRespond."""
        return self.agent_state == FOLLOWED


def stored_type(given: str) -> str:
    """A room type as a client gives it ("dm", "" ...) as it is stored ("DM", "API" ...)."""
    return ROOM_TYPES.get(given.strip().lower(), given.strip().upper())


class Rooms:
    """The agent's rooms, read once each and kept (bounded); `forget` drops one (its state changed)."""

    def __init__(self, store: Store, agent_id: str, state_ttl_s: float) -> None:
        self.store, self.agent_id, self.state_ttl_s = store, agent_id, state_ttl_s
        self._rooms: dict[str, RoomView] = {}

    async def view(self, message: Memory, room_type: str = "") -> RoomView:
        """The message's room, made if new, the sender made a participant if new to it."""
        room_id = message.room_id
        view = self._rooms.get(room_id)
        if view is None:
            view = await self._load(message, room_type)
            self._rooms[room_id] = view
            if len(self._rooms) > _KNOWN_ROOMS:
                del self._rooms[next(iter(self._rooms))]
        elif time.monotonic() - view.read_at > self.state_ttl_s:
            participant = await self.store.get_participant(self.agent_id, room_id, self.agent_id)
            view.agent_state, view.read_at = (participant.state if participant else ""), time.monotonic()
        sender = message.entity_id
        if sender and sender not in view.senders:
            await self.store.add_participant(self.agent_id, room_id, sender)
            view.senders.add(sender)
        return view

    async def _load(self, message: Memory, room_type: str) -> RoomView:
        store, agent, room_id = self.store, self.agent_id, message.room_id
        room = await store.get_room(agent, room_id)
        participants: dict[str, str] = {}
        if room is None:
            kind = stored_type(room_type)
            source = message.content.source or "api"
            room = await store.upsert_room(Room(agent, id=room_id, type=kind, source=source, world_id=message.world_id))
        else:  # a new room has none yet
            participants = {p.entity_id: p.state for p in await store.list_participants(agent, room_id)}
        if agent not in participants:
            await store.add_participant(agent, room_id, agent)
        return RoomView(room.type or "API", participants.get(agent, ""), time.monotonic(), {agent, *participants})

    def type_of(self, room_id: str, given: str = "") -> str:
        """The room's stored type if the room has been read, else the type `given` for it
        (what a new room is made with): no store read."""
        view = self._rooms.get(room_id)
        return view.type if view is not None else stored_type(given)

    async def set_state(self, room_id: str, state: str) -> None:
        """Set the agent's state in the room (MUTED, FOLLOWED, "") in the store and here."""
        await self.store.set_participant_state(self.agent_id, room_id, self.agent_id, state)
        view = self._rooms.get(room_id)
        if view is not None:
            view.agent_state, view.read_at = state, time.monotonic()

    def forget(self, room_id: str) -> None:
        """Read the room from the store again when next seen (call it when its state changed)."""
        self._rooms.pop(room_id, None)


def names_agent(text: str, character: Character) -> bool:
    """Whether `text` names the agent: its name or username as a word, any case."""
    for name in {character.name, character.username}:
        name = name.strip()
        if name and re.search(rf"(?<!\w){re.escape(name)}(?!\w)", text, re.IGNORECASE):
            return True
    return False
