"""Steps 5, 6 and 9: whether the agent answers this message at all, and whether it still should.

STOP mutes: the agent's participant state in the room becomes MUTED (as elizaOS's STOP means to
stop taking part), so later messages there are ignored until one names the agent or the room
is unmuted (the store's participant state, e.g. by an UNMUTE_ROOM action).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import grpc

from plugin_sdk.types import Content, ModelOutput

from ...store.records import MUTED
from ..models import ModelError
from ..responses import ResponseError
from ..rooms import names_agent
from ..run import IGNORED, SUPERSEDED, RunEnded, RunFailed
from ..should_respond import RESPOND, STOP, Decision, decision_grammar, parse_decision, should_respond_prompt
from .context import QUEUE
from .generating import history_turns

if TYPE_CHECKING:
    from ..run import Turn
    from .context import StepContext

log = logging.getLogger("host.agent.pipeline")


async def check_room(p: StepContext, t: Turn) -> None:
    """The message's room (made with its first message); in a muted room only a message that
    names the agent (or follows one the agent was going to answer) goes on."""
    t.room = await p.rooms.view(t.message, t.room_type)
    t.named = names_agent(t.message.content.text, p.character)
    if t.room.muted and not t.named and not p.turns(t.message.room_id).owed:
        raise RunEnded(IGNORED, "the room is muted and the message does not name the agent")


async def should_respond(p: StepContext, t: Turn) -> None:
    """Answer without asking in DM, API and self rooms (PipelineSettings.respond_without_asking),
    in rooms the agent follows, when named, replied to, or owing an answer to an older message;
    ignore another agent talking to someone else; else ask the small model. IGNORE and STOP are
    stored with their reason."""
    assert t.room is not None
    message = t.message
    if t.room.type in p.settings.respond_without_asking or t.room.followed or t.named:
        return
    if p.turns(message.room_id).owed:  # an older message, superseded, was going to be answered
        return
    if await _replies_to_agent(p, t):
        return
    if message.entity_id and await p.is_agent(message.entity_id):
        raise RunEnded(IGNORED, "another agent talking to someone else")
    decision = await _decide(p, t)
    if decision.action == RESPOND:
        return
    await p.say(message, Content(thought=decision.reasoning, actions=[decision.action], source="should_respond"))
    if decision.action == STOP:
        await p.rooms.set_state(message.room_id, MUTED)
    reason = decision.reasoning or f"the model said {decision.action}"
    raise RunEnded(IGNORED, reason, decision=decision.action)


async def _replies_to_agent(p: StepContext, t: Turn) -> bool:
    """Whether the message replies to one of the agent's (metadata in_reply_to, content inReplyTo)."""
    replied = t.message.metadata.get("in_reply_to") or t.message.content.extra.get("inReplyTo")
    if not isinstance(replied, str) or not replied:
        return False
    earlier = await p.store.get_memory(p.agent_id, replied)
    return earlier is not None and earlier.entity_id == p.agent_id


async def _decide(p: StepContext, t: Turn) -> Decision:
    """The small model's RESPOND / IGNORE / STOP, retried while its answer does not parse."""
    system = should_respond_prompt(p.character, "", t.message.room_id)
    params = {
        "messages": [{"role": "system", "content": system}, *await history_turns(p, t)],
        "max_tokens": p.settings.decision_tokens,
        "grammar": decision_grammar(),
    }
    problems = []
    for attempt in range(1, p.settings.generation_attempts + 1):
        output = await _ask(p, params)
        try:
            return parse_decision(output.text)
        except ResponseError as exc:
            log.info("run %s: decision attempt %d did not parse: %s", t.run.id, attempt, exc)
            problems.append(str(exc))
    raise RunFailed(f"no usable shouldRespond decision after {len(problems)} attempts ({'; '.join(problems)})")


async def _ask(p: StepContext, params: dict[str, object]) -> ModelOutput:
    """The decision model's answer; where nothing serves it (no router, no plugin's TEXT_SMALL),
    the reply's model's."""
    small, large = p.settings.decision_model_type, p.settings.model_type
    try:
        return await p.models.use(small, params, p.settings.model_timeout)
    except ModelError as exc:
        if exc.code != grpc.StatusCode.NOT_FOUND or small == large:
            raise RunFailed(f"the shouldRespond model did not answer ({exc.code.name}): {exc}") from None
    try:
        return await p.models.use(large, params, p.settings.model_timeout)
    except ModelError as exc:
        raise RunFailed(f"the shouldRespond model did not answer ({exc.code.name}): {exc}") from None


async def newer_message_waiting(p: StepContext, t: Turn) -> None:
    """Before any model call: a newer message of the room waits already (see still_latest)."""
    _supersede_if_newer(p, t, "a newer message came in the room before the reply was generated")


async def still_latest(p: StepContext, t: Turn) -> None:
    """A newer message came in the room while the reply was generated: with `supersede` this
    reply is not sent (the newer message's run answers, this message in its history), with
    `merge` the newer run answers both in one turn, with `queue` this reply goes on."""
    _supersede_if_newer(p, t, "a newer message came in the room while the reply was generated")


def _supersede_if_newer(p: StepContext, t: Turn, why: str) -> None:
    turns = p.turns(t.message.room_id)
    if p.policy == QUEUE or turns.arrived <= t.seq:
        return
    # Owed: the newer run answers this one (it does not ask shouldRespond again, nor mutes it out).
    turns.owed.append(t.message)
    raise RunEnded(SUPERSEDED, why, superseded_by=turns.latest, policy=p.policy)
