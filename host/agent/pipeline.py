"""The message pipeline: every incoming message, from persisted to RUN_ENDED.

The steps are functions held in order in `steps.STEPS` (self check, persist, run tracking, the
room's turn, attachments, room and mute, shouldRespond, compose state, actions on offer,
generate, still-latest, reply or actions, evaluators); `Pipeline._run` is the driver that runs
them, times each and ends the run. A run is a task of its own, so a client that goes away does
not cut a run short; messages of one room are processed in the order they came.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import time
from typing import Any, AsyncIterator, Awaitable, Callable, Iterator

from plugin_sdk.types import Content, Memory

from .. import tracing
from ..ids import new_id
from ..plugins.components import Components
from ..plugins.deadlines import RunDeadlineExceeded, run_deadline
from ..plugins.registry import Registry
from ..run_stats import RUNS
from ..store import ContentTooLarge, Store, StoreUnavailable
from ..store.records import RUN_INTERRUPTED
from .admission import Admission, Backlogged
from .character import Character
from .models import Models
from .replay import REPLAYED, Replay
from .rooms import Rooms
from .run import ACTION, EVALUATOR, REPLY_EVENT, RUN_ENDED, RUN_STARTED, Run, RunEnded, RunEvent, RunFailed, Turn
from .run_scope import CURRENT_RUN
from .steps import STEPS
from .steps.context import DOUBLE_MESSAGE_POLICIES, MERGE, SUPERSEDE, PipelineSettings, RoomTurns

log = logging.getLogger(__name__)

__all__ = [
    "ACTION",
    "EVALUATOR",
    "MessageNotStored",
    "REPLY_EVENT",
    "RUN_ENDED",
    "RUN_STARTED",
    "Pipeline",
    "PipelineSettings",
    "Run",
    "RunEvent",
    "RunFailed",
]
_DONE = object()
_KNOWN_AGENTS = 10_000  # senders remembered as being (or not being) an agent


class MessageNotStored(Exception):
    """The store failed before the message was in it: nothing was done with it (SendMessage:
    UNAVAILABLE, so the client sends it again), unlike a failed run, whose message is kept."""


class Pipeline:
    """Runs one agent's messages."""

    def __init__(
        self,
        agent_id: str,
        character: Character,
        store: Store,
        components: Components,
        models: Models,
        registry: Callable[[], Registry],
        settings: PipelineSettings = PipelineSettings(),
    ) -> None:
        self.agent_id = agent_id
        self.character = character
        self.store = store
        self.components = components
        self.models = models
        self.registry = registry
        self.settings = settings
        self.rooms = Rooms(store, agent_id, settings.room_state_ttl_s)
        self.policy = _policy(character, settings)
        self.admission = Admission(*_admission_bounds(character, settings))
        self._room_turns: dict[str, RoomTurns] = {}
        self.watchers: set[Callable[[RunEvent], None]] = set()  # hear every run's events (the HTTP /api/events)
        self._agents: dict[str, bool] = {}  # sender -> whether it is an agent
        self._runs: set[asyncio.Task[None]] = set()
        self._ending: set[asyncio.Task[None]] = set()  # runs whose end waits for the store to answer

    @property
    def merges(self) -> bool:
        return self.policy == MERGE

    async def send(self, message: Memory, room_type: str = "") -> AsyncIterator[RunEvent]:
        """Process `message`, yielding its run's events up to RUN_ENDED. The run carries on
        (and its reply is stored) even if the caller stops listening. `room_type` (dm, group,
        api, self, ...) is the room's type when this message makes it. Raises Backlogged, with
        nothing stored, when the agent has as many runs waiting as it keeps."""
        if self.admission.full(len(self._runs)):
            raise Backlogged(self.character.name, len(self._runs) - self.admission.running, self._retry_after())
        queue: asyncio.Queue[RunEvent | object] = asyncio.Queue()
        run = Run(new_id(), self._emitter(queue))
        task = asyncio.create_task(self._run(Turn(message, run, room_type)))
        self._runs.add(task)
        task.add_done_callback(self._runs.discard)
        while (event := await queue.get()) is not _DONE:
            if isinstance(event, MessageNotStored):
                raise event
            assert isinstance(event, RunEvent)
            yield event

    def _emitter(self, queue: asyncio.Queue[RunEvent | object]) -> Callable[[RunEvent], None]:
        """A run's emit that the watchers hear too (a watcher that fails is logged, not the run's failure)."""

        def emit(event: RunEvent) -> None:
            queue.put_nowait(event)
            if isinstance(event, RunEvent):
                for watch in list(self.watchers):
                    try:
                        watch(event)
                    except Exception:
                        log.exception("a run event watcher failed")

        return emit

    def _retry_after(self) -> float:
        """About when a slot frees for a message refused now: the waiting runs' share of the
        slots times a recent run's time (1 s at least)."""
        average_s = RUNS.agent(self.agent_id).figures(0).avg_ms / 1000 or 1.0
        waiting = len(self._runs) - self.admission.running
        return max(1.0, waiting / self.admission.max_running * average_s)

    @property
    def running(self) -> int:
        """How many runs are going."""
        return len(self._runs)

    def rooms_in_work(self) -> list[str]:
        """The rooms with a run going or waiting for its turn (a deployment hands a room over
        only once it has none here)."""
        return list(self._room_turns)

    async def close(self) -> None:
        """Cancel runs still in progress (the host is stopping)."""
        for task in list(self._runs):
            task.cancel()
        await asyncio.gather(*self._runs, return_exceptions=True)
        for task in list(self._ending):
            task.cancel()
        await asyncio.gather(*self._ending, return_exceptions=True)

    async def _run(self, turn: Turn) -> None:
        """The driver: every step in order, each timed; then RUN_ENDED, in the store too. Traced,
        the run is a span and each step one under it (host/tracing.py)."""
        if tracing.ON:
            with tracing.run_span(self.character.name, self.agent_id, turn.message.room_id, turn.run.id):
                return await self._drive(turn)
        await self._drive(turn)

    async def _drive(self, turn: Turn) -> None:
        run, message = turn.run, turn.message
        CURRENT_RUN.set(run.id)  # this task's model calls carry the run as the router's task scope
        RUNS.started(self.agent_id, run.id)  # counted, and the task's log records name the run
        started = time.monotonic()
        outcome: dict[str, object] = {"status": "completed"}
        unstored: MessageNotStored | None = None  # the store failed before the message was in it
        replayed: RunEvent | None = None  # the message was handled already: its run's RUN_ENDED
        try:
            async with turn.exits, run_deadline(self.components.run_timeout):  # the room's turn is given back here
                for step in STEPS:
                    began = time.perf_counter()
                    try:
                        if tracing.ON:
                            with tracing.step_span(step.__name__):
                                await step(self, turn)
                        else:
                            await step(self, turn)
                    finally:
                        run.timings[step.__name__] = round((time.perf_counter() - began) * 1000, 3)
        except RunEnded as ended:
            log.info("run %s in room %s %s: %s", run.id, message.room_id, ended.status, ended.reason)
            outcome = {"status": ended.status, "reason": ended.reason, **ended.extra}
        except Replay as earlier:
            log.info("message %s in room %s sent again: %s, replayed", message.id, message.room_id, earlier)
            outcome = {"status": REPLAYED}
            *events, replayed = earlier.events
            for event in events:
                run.emit(event)
        except asyncio.CancelledError:
            outcome = {"status": RUN_INTERRUPTED, "error": "the host stopped before the run finished"}
            raise
        except (StoreUnavailable, ContentTooLarge, RunFailed, RunDeadlineExceeded) as exc:
            outcome = {"status": "failed", "error": str(exc)}
            if isinstance(exc, StoreUnavailable) and not turn.recorded:
                unstored = MessageNotStored(f"the message was not stored ({exc}); nothing was done with it")
                log.warning("a message in room %s was refused, not stored: %s", message.room_id, exc)
            else:
                log.warning("run %s in room %s failed: %s", run.id, message.room_id, exc)
        except Exception as exc:  # a bug must end the run visibly, not hang the sender
            log.exception("run %s in room %s crashed", run.id, message.room_id)
            outcome = {"status": "failed", "error": f"internal error: {type(exc).__name__}: {exc}"}
        finally:
            if run.skipped:
                # "completed" means every component answered; a run that went without some says so.
                outcome["status"] = "degraded" if outcome["status"] == "completed" else outcome["status"]
                outcome["skipped"] = run.skipped
            outcome.update(run.notes)
            outcome["duration_ms"] = duration_ms = int((time.monotonic() - started) * 1000)
            outcome["timings"] = timings = {**run.timings, "total": duration_ms}
            RUNS.ended(self.agent_id, run.id, str(outcome["status"]), duration_ms)
            if tracing.ON:
                tracing.run_status(str(outcome["status"]), str(outcome.get("error", "")))
            last = RunEvent(run.id, RUN_ENDED, Content(extra=outcome))
            if turn.recorded:
                await self._end_run(run, str(outcome["status"]), str(outcome.get("error", "")), timings, last)
            run.emit(unstored or replayed or last)  # type: ignore[arg-type]
            run.emit(_DONE)  # type: ignore[arg-type]

    async def _end_run(self, run: Run, status: str, error: str, timings: dict[str, float], ended: RunEvent) -> None:
        """End the stored run, keeping its events, RUN_ENDED included (also when the run is being
        cancelled: the store closes after the runs)."""
        events = [_event_doc(e) for e in [*run.events, ended]]
        end = functools.partial(self.store.end_run, self.agent_id, run.id, status, error, timings, events)
        try:
            await asyncio.shield(end())
        except StoreUnavailable as exc:
            log.warning("run %s could not be ended in the store (%s); trying again until it can", run.id, exc)
            task = asyncio.create_task(self._end_later(run.id, end))
            self._ending.add(task)
            task.add_done_callback(self._ending.discard)
        except asyncio.CancelledError:
            # Not lost: a run left "started" is ended "interrupted" at the next start.
            log.warning("run %s could not be ended in the store (the host is stopping); its status stays open", run.id)

    async def _end_later(self, run_id: str, end: Callable[[], Awaitable[object]]) -> None:
        """End a stored run once the store answers again (1 s, doubling to 30 s, between tries).
        Cancelled when the pipeline closes: the next start ends it `interrupted`."""
        delay = 1.0
        while True:
            await asyncio.sleep(delay)
            try:
                await end()
            except StoreUnavailable:
                delay = min(delay * 2, 30.0)
                continue
            log.info("run %s ended in the store now that it answers again", run_id)
            return

    def turns(self, room_id: str) -> RoomTurns:
        """The room's runs being handled (an empty record when none is)."""
        return self._room_turns.get(room_id) or RoomTurns()

    @contextlib.contextmanager
    def arrive(self, turn: Turn) -> Iterator[None]:
        """The run is in the room's record from before its message is stored until it ends (the
        record is dropped when no run is in it): a history read with the message is known stale
        when another run of the room gave the room back since (`RoomTurns.released`)."""
        room_id = turn.message.room_id
        turns = self._room_turns.setdefault(room_id, RoomTurns())
        turns.users += 1
        turn.seq = turns.place()  # its place in the room's line, before anything awaits
        turn.released = turns.released
        try:
            yield
        finally:
            turns.give_back(turn.seq)  # a run that ended before its turn leaves the line
            turns.users -= 1
            if turns.users == 0:
                del self._room_turns[room_id]

    @contextlib.asynccontextmanager
    async def room(self, turn: Turn) -> AsyncIterator[None]:
        """The room's turn for this run (stored, announced): one run at a time per room, in the
        order their messages arrived (the places `arrive` gave them)."""
        turns = self._room_turns[turn.message.room_id]
        if turn.seq > turns.arrived:  # the newest message waiting: an older run it supersedes sees it
            turns.arrived, turns.latest = turn.seq, turn.message.id
        await turns.turn(turn.seq)
        turn.owed = list(turns.owed)  # stable while this run holds the room
        try:
            yield
        finally:
            turns.released += 1
            turns.give_back(turn.seq)

    def answered(self, turn: Turn) -> None:
        """This run answers: the superseded messages it took on are owed no more."""
        turns = self._room_turns.get(turn.message.room_id)
        if turns is not None and turn.owed:
            turns.owed = [m for m in turns.owed if all(m is not o for o in turn.owed)]

    async def is_agent(self, entity_id: str) -> bool:
        """Whether the entity is an agent (of this store), asked once per entity."""
        known = self._agents.get(entity_id)
        if known is None:
            known = self._agents[entity_id] = await self.store.get_agent(entity_id) is not None
            if len(self._agents) > _KNOWN_AGENTS:
                del self._agents[next(iter(self._agents))]
        return known

    def owner(self, kind: str, name: str) -> str:
        """The plugin offering a component, or "" when none does (any more)."""
        return self.registry().owner(kind, name) or ""

    async def say(self, message: Memory, content: Content) -> Memory:
        """Store something the agent says in the message's room."""
        return await self.store.create_memory(
            Memory(
                content=content,
                entity_id=self.agent_id,
                agent_id=self.agent_id,
                room_id=message.room_id,
                world_id=message.world_id,
                metadata={"in_reply_to": message.id},
            )
        )


def _admission_bounds(character: Character, settings: PipelineSettings) -> tuple[int, int]:
    """(max_running, max_waiting): the character's ADMISSION_MAX_RUNNING / ADMISSION_MAX_WAITING
    settings where they are whole numbers (>= 1, >= 0), else the host's."""
    bounds = []
    for key, default, least in (
        ("ADMISSION_MAX_RUNNING", settings.admission.max_running, 1),
        ("ADMISSION_MAX_WAITING", settings.admission.max_waiting, 0),
    ):
        raw = character.settings.get(key)
        try:
            value = default if raw in (None, "") or isinstance(raw, bool) else int(str(raw))
        except ValueError:
            value = least - 1
        if value < least:
            log.warning("character %s: %s %r is not a whole number >= %d; using %d", character.name, key, raw, least,
                        default)  # fmt: skip
            value = default
        bounds.append(value)
    return bounds[0], bounds[1]


def _policy(character: Character, settings: PipelineSettings) -> str:
    """The double-message policy: the character's DOUBLE_MESSAGE_POLICY setting, else the host's."""
    chosen = str(character.settings.get("DOUBLE_MESSAGE_POLICY", "") or settings.double_message_policy).lower()
    if chosen not in DOUBLE_MESSAGE_POLICIES:
        log.warning(
            "character %s: DOUBLE_MESSAGE_POLICY %r is not one of %s; using %s",
            character.name,
            chosen,
            ", ".join(DOUBLE_MESSAGE_POLICIES),
            SUPERSEDE,
        )
        return SUPERSEDE
    return chosen


def _event_doc(event: RunEvent) -> dict[str, Any]:
    """A run's event as kept with the run: its type and its content's fields that are set."""
    c = event.content
    content: dict[str, Any] = {"text": c.text, "actions": c.actions, "source": c.source, "thought": c.thought}
    if c.attachments:
        content["attachments"] = [dataclasses.asdict(a) for a in c.attachments]
    content["extra"] = c.extra
    return {"type": event.type, "content": {k: v for k, v in content.items() if v}}
