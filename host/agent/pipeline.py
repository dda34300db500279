"""The message pipeline: every incoming message, from persisted to RUN_ENDED.

Each step is a method named for what it does: self check, persist, compose state,
choose the actions on offer, generate (validated, retried), reply, run actions,
run evaluators. A run is a task of its own, so a client that goes away does not
cut a run short; messages of one room are processed in the order they came.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import AsyncIterator, Callable

from plugin_sdk.types import ActionResult, Content, Memory, State

from ..plugins.components import Components
from ..plugins.connection import PluginCallError
from ..plugins.manifest import Action
from ..plugins.registry import Registry
from ..store import ContentTooLarge, RunRecord, Store, StoreUnavailable
from ..store.records import RUN_INTERRUPTED
from .attachment_settings import AttachmentSettings
from .attachments import prompt_lines, read_attachments
from .character import Character
from .models import ModelError, Models
from .responses import REPLY, ActionChoice, ParsedResponse, ResponseError, parse_response, response_grammar
from .responses import system_prompt as build_system_prompt
from .run_scope import CURRENT_RUN

log = logging.getLogger(__name__)

RUN_STARTED, REPLY_EVENT, ACTION, EVALUATOR, RUN_ENDED = "RUN_STARTED", "REPLY", "ACTION", "EVALUATOR", "RUN_ENDED"
_DONE = object()


@dataclass(frozen=True)
class PipelineSettings:
    """Knobs of the pipeline."""

    history: int = 8  # earlier messages of the room given to the model
    history_chars: int = 600  # each cut to this many characters
    max_reply_tokens: int = 200
    generation_attempts: int = 3  # tries at a reply that parses
    model_type: str = "TEXT_LARGE"
    model_timeout: float = 120.0
    attachments: AttachmentSettings = AttachmentSettings()  # the host config's [attachments]


@dataclass(frozen=True)
class RunEvent:
    """One step of a run, as streamed to the sender."""

    run_id: str
    type: str
    content: Content = field(default_factory=Content)


@dataclass
class Run:
    """One message's run: its id, where its events go, and the components it went without."""

    id: str
    emit: Callable[[RunEvent], None]
    skipped: list[dict[str, str]] = field(default_factory=list)

    def event(self, kind: str, content: Content) -> None:
        self.emit(RunEvent(self.id, kind, content))

    def skip(self, kind: str, name: str, plugin: str, why: str) -> None:
        """Note a component the run went without (it did not answer, or it failed), and why: RUN_ENDED
        lists them, so a run whose components failed does not look like a clean one."""
        log.warning("run %s: %s %s (%s) skipped: %s", self.id, kind, name, plugin or "no plugin", why)
        self.skipped.append({"kind": kind, "name": name, "plugin": plugin, "error": why})


class RunFailed(Exception):
    """A step the run cannot go on without failed; the message says which and why."""


class Pipeline:
    """Runs messages through the agent. One per host."""

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
        self._room_locks: dict[str, tuple[asyncio.Lock, int]] = {}  # room -> (lock, runs using it)
        self._runs: set[asyncio.Task[None]] = set()

    async def send(self, message: Memory) -> AsyncIterator[RunEvent]:
        """Process `message`, yielding its run's events up to RUN_ENDED. The run carries on
        (and its reply is stored) even if the caller stops listening."""
        queue: asyncio.Queue[RunEvent | object] = asyncio.Queue()
        task = asyncio.create_task(self._run(message, queue.put_nowait))
        self._runs.add(task)
        task.add_done_callback(self._runs.discard)
        while (event := await queue.get()) is not _DONE:
            assert isinstance(event, RunEvent)
            yield event

    async def close(self) -> None:
        """Cancel runs still in progress (the host is stopping)."""
        for task in list(self._runs):
            task.cancel()
        await asyncio.gather(*self._runs, return_exceptions=True)

    async def _run(self, message: Memory, emit: Callable[[RunEvent | object], None]) -> None:
        run = Run(str(uuid.uuid4()), emit)
        CURRENT_RUN.set(run.id)  # this task's model calls carry the run as the router's task scope
        started = time.monotonic()
        outcome: dict[str, object] = {"status": "completed"}
        recorded = False  # the run is in the store: it is ended there too
        try:
            if message.entity_id == self.agent_id:
                outcome = {"status": "ignored", "reason": "the message is the agent's own"}
                return
            message.agent_id = self.agent_id
            await self.store.create_memory(message)  # before any work: a crash loses nothing
            record = RunRecord(self.agent_id, id=run.id, room_id=message.room_id, message_id=message.id)
            await self.store.start_run(record)  # a host killed from here on finds it at its next start
            recorded = True
            run.event(RUN_STARTED, Content(extra={"message_id": message.id, "room_id": message.room_id}))
            async with self._room(message.room_id):
                await read_attachments(run, message, self.models, self.settings.attachments)
                await self._respond(run, message)
        except asyncio.CancelledError:
            outcome = {"status": RUN_INTERRUPTED, "error": "the host stopped before the run finished"}
            raise
        except (StoreUnavailable, ContentTooLarge) as exc:
            log.warning("run %s in room %s failed: %s", run.id, message.room_id, exc)
            outcome = {"status": "failed", "error": str(exc)}
        except RunFailed as exc:
            log.warning("run %s in room %s failed: %s", run.id, message.room_id, exc)
            outcome = {"status": "failed", "error": str(exc)}
        except Exception as exc:  # a bug must end the run visibly, not hang the sender
            log.exception("run %s in room %s crashed", run.id, message.room_id)
            outcome = {"status": "failed", "error": f"internal error: {type(exc).__name__}: {exc}"}
        finally:
            if run.skipped:
                # "completed" means every component answered; a run that went without some says so.
                outcome["status"] = "degraded" if outcome["status"] == "completed" else outcome["status"]
                outcome["skipped"] = run.skipped
            outcome["duration_ms"] = duration_ms = int((time.monotonic() - started) * 1000)
            if recorded:
                await self._end_run(run.id, str(outcome["status"]), str(outcome.get("error", "")), duration_ms)
            run.event(RUN_ENDED, Content(extra=outcome))
            emit(_DONE)

    async def _end_run(self, run_id: str, status: str, error: str, duration_ms: int) -> None:
        """End the stored run (also when the run is being cancelled: the store closes after the runs)."""
        try:
            await asyncio.shield(self.store.end_run(self.agent_id, run_id, status, error, {"total": duration_ms}))
        except (StoreUnavailable, asyncio.CancelledError) as exc:
            # Not lost: a run left "started" is ended "interrupted" at the next start.
            log.warning("run %s could not be ended in the store (%s); its status stays open", run_id, exc)

    @contextlib.asynccontextmanager
    async def _room(self, room_id: str) -> AsyncIterator[None]:
        """One run at a time per room, in arrival order (asyncio locks are fair); a room's
        lock is dropped when no run holds or awaits it."""
        lock, users = self._room_locks.get(room_id, (asyncio.Lock(), 0))
        self._room_locks[room_id] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._room_locks[room_id]
            if users == 1:
                del self._room_locks[room_id]
            else:
                self._room_locks[room_id] = (lock, users - 1)

    async def _respond(self, run: Run, message: Memory) -> None:
        state = await self.compose_state(run, message)
        choices = await self.actions_on_offer(run, message, state)
        response = await self.generate(message, state, choices)
        responses: list[Memory] = []
        if REPLY in response.actions:
            reply = await self._say(
                message, Content(text=response.text, thought=response.thought, actions=list(response.actions))
            )
            responses.append(reply)
            run.event(REPLY_EVENT, reply.content)
        for name in response.actions:
            if name != REPLY:
                responses += await self.run_action(run, name, message, state)
        await self.run_evaluators(run, message, state, responses)

    async def compose_state(self, run: Run, message: Memory) -> State:
        """Ask every provider that is not dynamic or private, in position order."""
        names = [spec.name for _, spec in self.registry().providers() if not spec.dynamic and not spec.private]
        state = State()
        if not names:
            return state
        sections = []
        for outcome in await self.components.get_providers(names, message):
            if outcome.result is None:
                run.skip("provider", outcome.name, outcome.plugin, outcome.error or "it did not answer")
                continue
            state.values.update(outcome.result.values)
            state.data[outcome.name] = outcome.result.data
            if outcome.result.text:
                sections.append(f"# {outcome.name}\n{outcome.result.text}")
        state.text = "\n\n".join(sections)
        return state

    async def actions_on_offer(self, run: Run, message: Memory, state: State) -> list[ActionChoice]:
        """The plugins' actions whose validate accepts this message."""
        owners = {spec.name: (plugin, spec) for plugin, spec in self.registry().actions()}
        if not owners:
            return []
        valid = await self.components.validate_actions(list(owners), message, state)
        for name, why in valid.errors.items():
            run.skip("action", name, owners[name][0], f"its validate failed: {why}")
        return [_choice(owners[name][1]) for name, ok in valid.items() if ok]

    async def generate(self, message: Memory, state: State, choices: list[ActionChoice]) -> ParsedResponse:
        """Ask the model for an XML reply; retry (up to generation_attempts) while it does not parse."""
        params = {
            "messages": await self._prompt(message, state, choices),
            "max_tokens": self.settings.max_reply_tokens,
            "grammar": response_grammar([c.name for c in choices]),
        }
        known = {c.name for c in choices}
        problems = []
        for attempt in range(1, self.settings.generation_attempts + 1):
            try:
                output = await self.models.use(self.settings.model_type, params, self.settings.model_timeout)
            except ModelError as exc:
                raise RunFailed(f"the model did not answer ({exc.code.name}): {exc}") from None
            try:
                return parse_response(output.text, known)
            except ResponseError as exc:
                log.info("reply attempt %d did not parse: %s", attempt, exc)
                problems.append(str(exc))
        raise RunFailed(f"no usable reply after {len(problems)} attempts ({'; '.join(problems)})")

    async def _prompt(self, message: Memory, state: State, choices: list[ActionChoice]) -> list[dict[str, str]]:
        """System message, the room's recent messages, then this one."""
        # Newer messages of runs waiting for this room are fetched too, then left out.
        waiting = self._room_locks.get(message.room_id, (None, 1))[1]
        newest_first = await self.store.get_memories(
            self.agent_id, message.room_id, "messages", self.settings.history + waiting
        )
        ordered = list(reversed(newest_first))  # in insertion order, ties of the clock included
        position = next((i for i, m in enumerate(ordered) if m.id == message.id), len(ordered))
        # The agent's replies so far count (earlier runs of this room have finished), but not
        # messages that arrived after this one: their turn comes after.
        limit = self.settings.history_chars
        turns = [
            {"role": "assistant" if m.entity_id == self.agent_id else "user", "content": m.content.text[:limit]}
            for i, m in enumerate(ordered)
            if i != position and m.content.text and (i < position or m.entity_id == self.agent_id)
        ][-self.settings.history :]
        system = build_system_prompt(self.character, state.text, choices, message.room_id)
        said = _with_attachments(message, self.settings.attachments.prompt_chars)
        return [{"role": "system", "content": system}, *turns, {"role": "user", "content": said}]

    async def run_action(self, run: Run, name: str, message: Memory, state: State) -> list[Memory]:
        """Run one action; its callbacks are said in the room, its result reported."""
        said: list[Memory] = []
        try:
            async for event in self.components.invoke_action(name, message, state):
                if isinstance(event, ActionResult):
                    extra = {"success": event.success, "error": event.error, "values": event.values}
                    run.event(ACTION, Content(text=event.text, actions=[name], source=name, extra=extra))
                    if not event.success:
                        run.skip("action", name, self._owner("action", name), event.error or "it reported a failure")
                    if event.text:
                        said.append(await self._say(message, Content(text=event.text, actions=[name], source=name)))
                else:
                    event.actions = event.actions or [name]
                    said.append(await self._say(message, event))
                    run.event(ACTION, event)
        except (PluginCallError, LookupError) as exc:
            run.event(ACTION, Content(actions=[name], source=name, extra={"success": False, "error": str(exc)}))
            run.skip("action", name, self._owner("action", name), str(exc))
        return said

    async def run_evaluators(self, run: Run, message: Memory, state: State, responses: list[Memory]) -> None:
        """Evaluators that want this message (always_run ones even when the agent said nothing)."""
        owners = {spec.name: plugin for plugin, spec in self.registry().evaluators() if responses or spec.always_run}
        if not owners:
            return
        # Validated and run in one round trip per plugin (two where the plugin cannot take it).
        outcomes = await self.components.evaluate(list(owners), message, state, responses)
        for outcome in outcomes:
            if outcome.error:
                run.skip("evaluator", outcome.name, owners[outcome.name], f"its validate failed: {outcome.error}")
        for outcome in outcomes:
            if not outcome.valid:
                continue
            result = outcome.result or ActionResult(success=False, error=outcome.run_error)
            extra = {"success": result.success, "error": result.error, "values": result.values}
            run.event(EVALUATOR, Content(text=result.text, source=outcome.name, extra=extra))
            if not result.success:
                run.skip("evaluator", outcome.name, owners[outcome.name], result.error or "it reported a failure")

    def _owner(self, kind: str, name: str) -> str:
        """The plugin offering a component, or "" when none does (any more)."""
        return self.registry().owner(kind, name) or ""

    async def _say(self, message: Memory, content: Content) -> Memory:
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


def _choice(action: Action) -> ActionChoice:
    """An action on offer, with its manifest's example conversations."""
    return ActionChoice(action.name, action.description, action.examples)


def _with_attachments(message: Memory, limit: int) -> str:
    """The message's text, then a line per attachment with what read_attachments found in it."""
    lines = [message.content.text] if message.content.text else []
    return "\n".join(lines + prompt_lines(message.content.attachments, limit))
