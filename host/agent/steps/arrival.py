"""Steps 1-4: the message arrives, is stored as its run starts, it waits for its room."""

from __future__ import annotations

from typing import TYPE_CHECKING

from plugin_sdk.types import Content

from ...ids import new_id
from ...store import DuplicateMemory, RunRecord
from .. import attachments
from ..admission import priority_of
from ..replay import replay
from ..run import IGNORED, RUN_STARTED, RunEnded

MESSAGE_RECEIVED = "MESSAGE_RECEIVED"  # the event plugins subscribe to (elizaOS's name)

if TYPE_CHECKING:
    from ..run import Turn
    from .context import StepContext


async def self_check(p: StepContext, t: Turn) -> None:
    """The agent's own messages are not answered (nor stored again)."""
    if t.message.entity_id == p.agent_id:
        raise RunEnded(IGNORED, "the message is the agent's own")


async def persist_message(p: StepContext, t: Turn) -> None:
    """Store the message and start its run, in one transaction, before any work on it: a crash
    loses nothing, and a host killed from here on finds the run at its next start. The same hop
    reads the room's recent messages: the history, unless the room moved on before this run
    takes it (see Pipeline.arrive). A message whose id is stored already was handled (or is
    being handled) by an earlier run: that run is replayed instead (host.agent.replay)."""
    message = t.message
    message.agent_id = p.agent_id
    t.exits.enter_context(p.arrive(t))
    turns = p.turns(message.room_id)
    count = p.settings.history + turns.users + len(turns.owed)
    run = RunRecord(p.agent_id, id=t.run.id, room_id=message.room_id, message_id=message.id, host_id=p.settings.host_id)
    if not message.id:
        message.id = run.message_id = new_id()
    try:
        t.recent = await p.store.begin_run(message, run, count)
    except DuplicateMemory:
        raise await replay(p.store, p.agent_id, message.id) from None
    t.recorded = True
    t.run.event(RUN_STARTED, Content(extra={"message_id": message.id, "room_id": message.room_id}))


async def announce(p: StepContext, t: Turn) -> None:
    """MESSAGE_RECEIVED to the plugins subscribed to it (nothing is built when none is), once the
    message is stored; a plugin that cannot take it does not stop the run."""
    if not p.registry().subscribers(MESSAGE_RECEIVED):
        return
    message = t.message
    payload = {
        "agent_id": p.agent_id,
        "run_id": t.run.id,
        "message_id": message.id,
        "room_id": message.room_id,
        "entity_id": message.entity_id,
        "text": message.content.text,
        "source": message.content.source,
    }
    await p.components.emit_event(MESSAGE_RECEIVED, payload)


async def wait_for_room(p: StepContext, t: Turn) -> None:
    """Take the room: runs of one room go one at a time, in arrival order; held until the run ends."""
    await t.exits.enter_async_context(p.room(t))
    if p.turns(t.message.room_id).released != t.released:
        t.recent = None  # a run of the room ended since the history was read with the message


async def wait_for_slot(p: StepContext, t: Turn) -> None:
    """Take one of the agent's run slots (admission), held until the run ends: with all taken,
    direct conversations go before group chatter, first come first served within each."""
    room_type = p.rooms.type_of(t.message.room_id, t.room_type)
    await t.exits.enter_async_context(p.admission.slot(priority_of(room_type)))


async def read_attachments(p: StepContext, t: Turn) -> None:
    """Describe, transcribe or read the message's attachments (stored with it)."""
    await attachments.read_attachments(t.run, t.message, p.models, p.settings.attachments)
