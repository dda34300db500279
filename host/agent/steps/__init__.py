"""The message pipeline's steps, in the order they run (issue 10's list).

Each step is `async def step(pipeline, turn) -> None`: it does one job on the Turn and may end
the run early (RunEnded: ignored, superseded; RunFailed). Pipeline._run is the driver: it runs
them in this order, times each (the run's `timings`) and ends the run. Adding a step is adding
a function and a line here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Awaitable, Callable

from .acting import reply_or_act, run_evaluators
from .arrival import announce, persist_message, read_attachments, self_check, wait_for_room, wait_for_slot
from .deciding import check_room, newer_message_waiting, should_respond, still_latest
from .generating import compose_state, generate, offer_actions

if TYPE_CHECKING:
    from ..run import Turn
    from .context import StepContext

Step = Callable[["StepContext", "Turn"], Awaitable[None]]

STEPS: tuple[Step, ...] = (
    self_check,  # 1. the agent's own messages are skipped (MESSAGE_RECEIVED: `announce`, once stored)
    persist_message,  # 2, 3. stored, and the run started, before any other work; RUN_STARTED
    announce,  # 1. MESSAGE_RECEIVED to subscribed plugins
    wait_for_room,  # one run at a time per room, in arrival order
    wait_for_slot,  # admission: a bounded number of runs at once, DMs and API first
    read_attachments,  # 4. descriptions, transcriptions, document text
    check_room,  # 5. the room (made with its first message), mute
    should_respond,  # 6. bypass, fast path, or a small model's decision
    newer_message_waiting,  # 9 (early). a newer message supersedes this one before any model call
    compose_state,  # 7. providers
    offer_actions,  # the actions whose validate accepts the message
    generate,  # 8. the reply, parsed, retried; more providers when it asks for them
    still_latest,  # 9. a newer message came while generating: the double-message policy
    reply_or_act,  # 10. REPLY, then the named actions in order
    run_evaluators,  # 11. evaluators
)  # 12. RUN_ENDED: the driver

__all__ = ["STEPS", "Step"]
