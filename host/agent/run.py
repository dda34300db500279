"""What one message's run carries from step to step: its events, its timings, what it found.

A step is `async def step(pipeline, turn) -> None`; it reads and fills the Turn, emits events
through `turn.run`, and ends the run early by raising RunEnded (ignored, superseded) or
RunFailed (a step the run cannot go on without failed).
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any, Callable

from plugin_sdk.types import Content, Memory, State

from ..plugins.components import Verdicts
from ..plugins.manifest import Action
from .responses import ActionChoice, ParsedResponse
from .rooms import RoomView

log = logging.getLogger("host.agent.pipeline")

#: Event types of a run (agent.proto's SendMessageResponse lists them for clients).
RUN_STARTED, REPLY_EVENT, ACTION, EVALUATOR, RUN_ENDED = "RUN_STARTED", "REPLY", "ACTION", "EVALUATOR", "RUN_ENDED"
REPLY_DELTA = "REPLY_DELTA"  # a piece of the reply's text as the model writes it (when the router streams)
EVENT_TYPES = (RUN_STARTED, REPLY_DELTA, REPLY_EVENT, ACTION, EVALUATOR, RUN_ENDED)
"""Every type of run event, as SendMessage streams them (SendMessageRequest.events picks some)."""
#: Statuses a run ends with besides "completed" and "failed".
IGNORED, SUPERSEDED = "ignored", "superseded"


@dataclass(frozen=True)
class RunEvent:
    """One step of a run, as streamed to the sender."""

    run_id: str
    type: str
    content: Content = field(default_factory=Content)


@dataclass
class Run:
    """One message's run: its id, where its events go, the components it went without, and how
    long each step took (milliseconds, by step name)."""

    id: str
    emit: Callable[[RunEvent], None]
    skipped: list[dict[str, str]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)  # added to RUN_ENDED's extra (unknown actions, ...)

    events: list[RunEvent] = field(default_factory=list)  # kept with the run (not REPLY_DELTA)

    def event(self, kind: str, content: Content) -> None:
        event = RunEvent(self.id, kind, content)
        if kind != REPLY_DELTA:
            self.events.append(event)
        self.emit(event)

    def skip(self, kind: str, name: str, plugin: str, why: str) -> None:
        """Note a component the run went without (it did not answer, or it failed), and why: RUN_ENDED
        lists them, so a run whose components failed does not look like a clean one."""
        log.warning("run %s: %s %s (%s) skipped: %s", self.id, kind, name, plugin or "no plugin", why)
        self.skipped.append({"kind": kind, "name": name, "plugin": plugin, "error": why})


class RunFailed(Exception):
    """A step the run cannot go on without failed; the message says which and why."""


class RunEnded(Exception):
    """A step ended the run early, on purpose: `status` (ignored, superseded) and why."""

    def __init__(self, status: str, reason: str, **extra: Any) -> None:
        super().__init__(reason)
        self.status, self.reason, self.extra = status, reason, extra


@dataclass
class Turn:
    """The message being handled and what the steps found so far."""

    message: Memory
    run: Run
    room_type: str = ""  # as the client gave it when this message makes the room ("" = API)
    recorded: bool = False  # the run is in the store: it is ended there too
    seq: int = 0  # its place among the room's messages being handled (see Pipeline.room)
    room: RoomView | None = None  # the room (read by check_room)
    named: bool = False  # the message names the agent
    exits: contextlib.AsyncExitStack = field(default_factory=contextlib.AsyncExitStack)
    history: list[Memory] | None = None  # the room's earlier messages, oldest first (read once)
    recent: list[Memory] | None = None  # the room's latest memories as read with the message, newest first
    released: int = -1  # the room's `released` count when `recent` was read
    owed: list[Memory] = field(default_factory=list)  # older (superseded) messages this run answers too
    state: State = field(default_factory=State)
    composed: set[str] = field(default_factory=set)  # providers already in `state`
    owners: dict[str, tuple[str, Action]] = field(default_factory=dict)  # actions asked: name -> plugin, spec
    verdicts: Verdicts | None = None  # their validates' answers (with the providers')
    choices: list[ActionChoice] = field(default_factory=list)
    aliases: dict[str, str] = field(default_factory=dict)  # offered actions' names and similes -> name
    response: ParsedResponse | None = None
    responses: list[Memory] = field(default_factory=list)  # what the agent said, stored
