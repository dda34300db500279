"""The bootstrap actions: REPLY, IGNORE, NONE, and the agent's own state in the room.

REPLY is said by the host itself (it has the text, and streams it while the model writes):
declaring it here gives the prompt its description and examples; the host never needs to call
it, and calling it says nothing more. MUTE_ROOM, UNMUTE_ROOM, FOLLOW_ROOM and UNFOLLOW_ROOM set
the agent's participant state through the host, which the pipeline honours from the next
message (muted: only a message naming the agent is answered; followed: answered without asking
the shouldRespond model).

Small local models pick from whatever is offered, so offers are narrow: IGNORE and NONE (which
say nothing on their own) only in rooms where the host asks before answering (not DM, API or
self rooms, where the sender talks to the agent); a room action only when the message speaks of
it (mute, quiet, follow, ...) and the agent's state allows it.
"""

from __future__ import annotations

import re
from typing import Any, Awaitable, Callable

from plugin_sdk import ActionResult, Content, Context, Memory, State
from plugin_sdk.rooms import FOLLOWED, MUTED

from . import room_cache
from .plugin import plugin

Callback = Callable[[Content], Awaitable[None]]

#: Room types whose messages are addressed to the agent: it answers them without asking.
ADDRESSED_ROOMS = frozenset({"DM", "API", "SELF", "VOICE_DM"})


async def _always(ctx: Context, message: Memory, state: State) -> bool:
    return True


async def _silence_allowed(ctx: Context, message: Memory, state: State) -> bool:
    """Saying nothing is a choice only where the host asks whether to answer at all."""
    info = await room_cache.room_of(ctx, message)
    return info is not None and info.room.type not in ADDRESSED_ROOMS


@plugin.action(
    "REPLY",
    description="answer the user with <text>",
    similes=["RESPOND", "ANSWER", "GREET"],
    examples=[[{"speaker": "user", "text": "Hello!"}, {"speaker": "agent", "text": "Hi! How can I help?"}]],
    validate=_always,
)
async def reply(
    ctx: Context, message: Memory, state: State, options: dict[str, Any], callback: Callback
) -> ActionResult:
    return ActionResult(values={"replied": True})


@plugin.action(
    "IGNORE",
    description="say nothing: the message is not for you, or the conversation is over",
    similes=["STOP_TALKING", "END_CONVERSATION"],
    validate=_silence_allowed,
)
async def ignore(
    ctx: Context, message: Memory, state: State, options: dict[str, Any], callback: Callback
) -> ActionResult:
    return ActionResult(values={"ignored": True})


@plugin.action("NONE", description="no action besides the reply", similes=["NO_ACTION"], validate=_silence_allowed)
async def none(
    ctx: Context, message: Memory, state: State, options: dict[str, Any], callback: Callback
) -> ActionResult:
    return ActionResult()


def _state_change(name: str, new: str, wanted_before: Callable[[str], bool], words: str) -> Any:
    """An action setting the agent's state in the room to `new`, offered when the message has
    one of `words` (a regex) and the state now passes `wanted_before`."""
    spoken = re.compile(rf"\b(?:{words})", re.IGNORECASE)

    async def validate(ctx: Context, message: Memory, state: State) -> bool:
        if not spoken.search(message.content.text):
            return False
        info = await room_cache.room_of(ctx, message)
        return info is not None and wanted_before(room_cache.agent_state(info, message.agent_id))

    async def handler(
        ctx: Context, message: Memory, state: State, options: dict[str, Any], callback: Callback
    ) -> ActionResult:
        previous = await ctx.host.set_participant_state(message.room_id, new)
        room_cache.forget(message)
        return ActionResult(values={"roomState": new, "previousRoomState": previous}, data={"action": name})

    return validate, handler


_ROOM_ACTIONS = (
    (
        "MUTE_ROOM",
        MUTED,
        lambda s: s != MUTED,
        "mute|quiet|shut up|silen|stop talking",
        "stop answering in this room unless named",
        ["SHUT_UP", "BE_QUIET"],
    ),
    (
        "UNMUTE_ROOM",
        "",
        lambda s: s == MUTED,
        "unmute|talk again|speak again|come back",
        "answer in this room again",
        ["UNSILENCE"],
    ),
    (
        "FOLLOW_ROOM",
        FOLLOWED,
        lambda s: s != FOLLOWED,
        "follow|join|take part|chime in",
        "take part in every message of this room",
        ["JOIN_IN"],
    ),
    (
        "UNFOLLOW_ROOM",
        "",
        lambda s: s == FOLLOWED,
        "unfollow|stop following|leave",
        "stop following this room",
        ["STOP_FOLLOWING"],
    ),
)

for _name, _new, _before, _words, _description, _similes in _ROOM_ACTIONS:
    _validate, _handler = _state_change(_name, _new, _before, _words)
    plugin.action(_name, description=_description, similes=_similes, validate=_validate)(_handler)
