"""The room of the message being handled, read once for all the components that ask for it.

Providers and action validates of one message run close together: each asking the host for the
room would cost a round trip apiece. The answer is kept a moment per (agent, room) and dropped
when this plugin changes the room.
"""

from __future__ import annotations

import time

from plugin_sdk import Context, Memory
from plugin_sdk.rooms import RoomInfo

_KEEP_S = 2.0
_MAX = 512
_rooms: dict[tuple[str, str], tuple[float, RoomInfo | None]] = {}


async def room_of(ctx: Context, message: Memory) -> RoomInfo | None:
    """The message's room with its world and participants (None when the host has none)."""
    key = (message.agent_id, message.room_id)
    kept = _rooms.get(key)
    if kept is not None and time.monotonic() - kept[0] < _KEEP_S:
        return kept[1]
    info = await ctx.host.get_room(message.room_id) if message.room_id else None
    if len(_rooms) >= _MAX:
        _rooms.clear()
    _rooms[key] = (time.monotonic(), info)
    return info


def forget(message: Memory) -> None:
    """The message's room changed: read it again next time."""
    _rooms.pop((message.agent_id, message.room_id), None)


def agent_state(info: RoomInfo | None, agent_id: str) -> str:
    """The agent's participant state in the room: MUTED, FOLLOWED or ""."""
    if info is None:
        return ""
    return next((p.state for p in info.participants if p.entity_id == agent_id), "")


def display_name(entity_id: str, info: RoomInfo | None) -> str:
    """An entity's first name as the room knows it, else its id."""
    if info is not None:
        for p in info.participants:
            if p.entity_id == entity_id and p.entity is not None and p.entity.names:
                return p.entity.names[0]
    return entity_id
