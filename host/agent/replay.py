"""A message sent again is not run again: its run's stored events are sent instead.

A client that lost its connection sends the message again with the same id, and so does a host
forwarding a message after the owner of its room changed: the store refuses the id
(DuplicateMemory), and the sender is given what the message's run streamed, as it was kept with
the run, RUN_ENDED last with `extra.replayed` true. A run still going (here, or on another host
of the deployment) is waited for: it ends, or the deployment's sweep ends it `interrupted` when
its host died.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from plugin_sdk.types import Content

from ..plugins.deadlines import RUN_DEADLINE
from ..store import Store
from ..store.records import RUN_STARTED, RunRecord
from .run import RUN_ENDED, RunEvent, RunFailed
from .run_events import stored_events

POLL_S = 0.2  # how often a run still going is read again
REPLAYED = "replayed"  # a replay's status in the run figures (its RUN_ENDED keeps the run's own)


class Replay(Exception):
    """The message was handled already: `events` are its run's, to send in place of a new run's."""

    def __init__(self, run: RunRecord, events: list[RunEvent]) -> None:
        super().__init__(f"message {run.message_id} was handled by run {run.id} ({run.status})")
        self.run, self.events = run, events


async def replay(store: Store, agent_id: str, message_id: str, poll_s: float = POLL_S) -> Replay:
    """The Replay of the message's latest run, once that has ended (read again every `poll_s`
    while it goes, until shortly before the current run's deadline). RunFailed when the agent has
    no run of the message (the id is another memory's) or the run is still going at the deadline."""
    found = await store.runs_of_message(agent_id, message_id)
    if not found:
        raise RunFailed(
            f"a memory with id {message_id!r} is stored already, and no run of this agent handled it: "
            "give the message a new id (or none)"
        )
    run: RunRecord | None = found[0]
    while run is not None and run.status == RUN_STARTED:
        left = RUN_DEADLINE.get() - time.monotonic()
        if left <= poll_s:
            where = f" on host {run.host_id}" if run.host_id else ""
            raise RunFailed(
                f"message {message_id} is being handled by run {run.id}{where}, still going: "
                f"its outcome is run {run.id}'s (GetRun)"
            )
        await asyncio.sleep(poll_s)
        run = await store.get_run(agent_id, run.id)
    if run is None:  # deleted meanwhile (its agent removed): nothing to replay
        raise RunFailed(f"message {message_id}'s run {found[0].id} is no longer stored")
    return Replay(run, replayed_events(run))


def replayed_events(run: RunRecord) -> list[RunEvent]:
    """The ended run's kept events, RUN_ENDED last with extra.replayed, run_id and status (one
    is made from the run's status and error when none was kept: a run the host never ended)."""
    stored = stored_events(run)
    events = [e for e in stored if e.type != RUN_ENDED]
    kept = [e for e in stored if e.type == RUN_ENDED]
    extra: dict[str, Any] = dict(kept[-1].content.extra) if kept else {"error": run.error} if run.error else {}
    extra.update(replayed=True, run_id=run.id, status=run.status)
    return [*events, RunEvent(run.id, RUN_ENDED, Content(extra=extra))]
