"""The room of the message being handled, read once for all the components that ask for it.

Providers and action validates of one message run close together: each asking the host for the
room would cost a round trip apiece. The answer is kept a moment per (agent, room) and dropped
when this plugin changes the room.
"""

from __future__ import annotations

import asyncio
import time

from plugin_sdk import Context, Memory
from plugin_sdk.rooms import RoomInfo

_KEEP_S = 2.0
_MAX = 512
# The answer, or the call under way (the providers and the validates of one message run at once:
# they share one call), by (agent, room), with when it was asked.
_rooms: dict[tuple[str, str], tuple[float, asyncio.Future[RoomInfo | None]]] = {}


async def room_of(ctx: Context, message: Memory) -> RoomInfo | None:
    """The message's room with its world and participants (None when the host has none)."""
    key = (message.agent_id, message.room_id)
    kept = _rooms.get(key)
    if kept is None or time.monotonic() - kept[0] >= _KEEP_S:
        if len(_rooms) >= _MAX:
            _rooms.clear()
        kept = (time.monotonic(), asyncio.ensure_future(_read(ctx, message.room_id)))
        _rooms[key] = kept
    try:
        return await asyncio.shield(kept[1])
    except Exception:
        if _rooms.get(key) is kept:  # a failed read is not kept
            del _rooms[key]
        raise


async def _read(ctx: Context, room_id: str) -> RoomInfo | None:
    return await ctx.host.get_room(room_id) if room_id else None


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
