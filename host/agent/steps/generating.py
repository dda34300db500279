"""Steps 7 and 8: compose state from the providers, offer the actions, generate the reply."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Callable

from plugin_sdk.types import Content, Memory

from ...plugins.components import ProviderOutcome
from ...plugins.manifest import Action
from ..attachments import prompt_lines
from ..models import ModelError
from ..responses import ActionChoice, ParsedResponse, ResponseError, TextStream, parse_response, response_grammar
from ..responses import system_prompt as build_system_prompt
from ..run import REPLY_DELTA, RunFailed
from ..streaming import stream_model

if TYPE_CHECKING:
    from ..run import Turn
    from .context import StepContext

log = logging.getLogger("host.agent.pipeline")

# Greedy: the reply the prompt was measured for (bench/reply_quality.py runs at 0). Unset,
# llama-cpp-python samples at 0.2, and a 135M model drifts from the character and the context.
REPLY_TEMPERATURE = 0.0


async def compose_state(p: StepContext, t: Turn) -> None:
    """Ask every provider that is not dynamic or private, in position order, and validate the
    plugins' actions at the same time (one round trip per plugin): the validates see the message
    and the state without these providers (as elizaOS validates while it composes)."""
    registry = p.registry()
    names = [spec.name for _, spec in registry.providers() if not spec.dynamic and not spec.private]
    t.owners = {spec.name: (plugin, spec) for plugin, spec in registry.actions()}
    t.composed.update(names)
    if not names and not t.owners:
        return
    outcomes, t.verdicts = await p.components.compose(names, list(t.owners), t.message, t.state)
    _add(t, outcomes)


async def _compose(p: StepContext, t: Turn, names: list[str]) -> None:
    """Add what these providers say to the turn's state (in the order given)."""
    t.composed.update(names)
    if names:
        _add(t, await p.components.get_providers(names, t.message, t.state))


def _add(t: Turn, outcomes: list[ProviderOutcome]) -> None:
    """The providers' results into the turn's state, in order; one that did not answer is skipped."""
    state, sections = t.state, [t.state.text] if t.state.text else []
    trace = t.run.notes.setdefault("providers", [])  # each provider composed: RUN_ENDED, the run's page
    for outcome in outcomes:
        ok, said = outcome.result is not None, len(outcome.result.text) if outcome.result is not None else 0
        trace.append({"name": outcome.name, "plugin": outcome.plugin, "ms": outcome.ms, "chars": said, "ok": ok})
        if outcome.result is None:
            t.run.skip("provider", outcome.name, outcome.plugin, outcome.error or "it did not answer")
            continue
        state.values.update(outcome.result.values)
        state.data[outcome.name] = outcome.result.data
        if outcome.result.text:
            sections.append(f"# {outcome.name}\n{outcome.result.text}")
    state.text = "\n\n".join(sections)


async def offer_actions(p: StepContext, t: Turn) -> None:
    """The plugins' actions whose validate accepted this message (asked with the providers), and
    their similes."""
    owners, valid = t.owners, t.verdicts
    if not owners or valid is None:
        return
    for name, why in valid.errors.items():
        t.run.skip("action", name, owners[name][0], f"its validate failed: {why}")
    offered = [owners[name][1] for name, ok in valid.items() if ok]
    t.choices = [_choice(action) for action in offered]
    for action in offered:  # a simile never shadows another action's own name
        t.aliases.update((simile.upper(), action.name) for simile in action.similes)
    t.aliases.update((action.name, action.name) for action in offered)


async def generate(p: StepContext, t: Turn) -> None:
    """Ask the model for an XML reply, retried while it does not parse; when the reply asks for
    providers not composed yet (its <providers>), compose them and generate once more."""
    t.response = await _generate(p, t)
    known = {spec.name for _, spec in p.registry().providers()}
    wanted = [name for name in t.response.providers if name in known and name not in t.composed]
    if wanted:
        t.run.notes["providers_asked"] = wanted
        await _compose(p, t, wanted)
        t.response = await _generate(p, t)
    if t.response.unknown:  # named by the model, but neither on offer nor a simile of one
        t.run.notes["actions_not_run"] = list(t.response.unknown)


async def _generate(p: StepContext, t: Turn) -> ParsedResponse:
    settings = p.settings
    system = build_system_prompt(p.character, t.state.text, t.choices, t.message.room_id)
    params = {
        "messages": [{"role": "system", "content": system}, *await history_turns(p, t)],
        "max_tokens": settings.max_reply_tokens,
        "grammar": response_grammar([c.name for c in t.choices]),
        "temperature": REPLY_TEMPERATURE,
    }
    problems = []
    for attempt in range(1, settings.generation_attempts + 1):
        try:
            if settings.stream_replies:
                on_text = _deltas(t, attempt)
                output = await stream_model(p.models, settings.model_type, params, settings.model_timeout, on_text)
            else:
                output = await p.models.use(settings.model_type, params, settings.model_timeout)
        except ModelError as exc:
            raise RunFailed(f"the model did not answer ({exc.code.name}): {exc}") from None
        try:
            return parse_response(output.text, t.aliases)
        except ResponseError as exc:
            log.info("run %s: reply attempt %d did not parse: %s", t.run.id, attempt, exc)
            problems.append(str(exc))
    raise RunFailed(f"no usable reply after {len(problems)} attempts ({'; '.join(problems)})")


def _deltas(t: Turn, attempt: int) -> Callable[[str], None]:
    """What hands the reply's text to the sender as REPLY_DELTA events while the model writes it
    (extra.attempt: a later attempt's deltas start the text again)."""
    stream = TextStream()

    def on_text(output: str) -> None:
        if delta := stream.feed(output):
            t.run.event(REPLY_DELTA, Content(text=delta, extra={"attempt": attempt}))

    return on_text


async def history_turns(p: StepContext, t: Turn) -> list[dict[str, str]]:
    """The room's recent messages as chat turns, then this message (with the older messages it
    answers too, under the `merge` policy)."""
    merged = t.owed if p.merges else []
    skip = {m.id for m in merged}
    limit = p.settings.history_chars
    turns = [
        {"role": "assistant" if m.entity_id == p.agent_id else "user", "content": m.content.text[:limit]}
        for m in await _history(p, t)
        if m.id not in skip
    ][-p.settings.history :]
    said = [_with_attachments(m, p) for m in [*merged, t.message]]
    return [*turns, {"role": "user", "content": "\n".join(s for s in said if s)}]


async def _history(p: StepContext, t: Turn) -> list[Memory]:
    """The room's messages before this one, oldest first, read once per run. The agent's replies
    so far count (earlier runs of the room have finished), but not messages that arrived after
    this one: their turn comes after."""
    if t.history is None:
        newest_first = t.recent
        if newest_first is None:  # not read with the message, or stale since
            turns = p.turns(t.message.room_id)
            # Newer messages of runs waiting for this room are fetched too, then left out.
            count = p.settings.history + turns.users + len(turns.owed)
            newest_first = await p.store.get_memories(p.agent_id, t.message.room_id, "messages", count)
        ordered = list(reversed(newest_first))  # in insertion order, ties of the clock included
        position = next((i for i, m in enumerate(ordered) if m.id == t.message.id), len(ordered))
        t.history = [
            m
            for i, m in enumerate(ordered)
            if i != position and m.content.text and (i < position or m.entity_id == p.agent_id)
        ]
    return t.history


def _choice(action: Action) -> ActionChoice:
    """An action on offer, with its manifest's example conversations."""
    return ActionChoice(action.name, action.description, action.examples)


def _with_attachments(message: Memory, p: StepContext) -> str:
    """The message's text, then a line per attachment with what read_attachments found in it."""
    lines = [message.content.text] if message.content.text else []
    return "\n".join(lines + prompt_lines(message.content.attachments, p.settings.attachments.prompt_chars))
