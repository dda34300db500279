"""Steps 10 and 11: say the reply, run the named actions in order, run the evaluators."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from plugin_sdk.types import ActionResult, Content, Memory

from ...plugins.connection import PluginCallError
from ..responses import REPLY
from ..run import ACTION, EVALUATOR, REPLY_EVENT

if TYPE_CHECKING:
    from ..run import Turn
    from .context import StepContext

#: Where an action finds the results of the actions before it in the run (state.data and values).
ACTION_RESULTS = "actionResults"


async def reply_or_act(p: StepContext, t: Turn) -> None:
    """REPLY goes straight to the sender; the other named actions (the model's, then those the
    sender named in content.actions that are on offer) run in order, each seeing the results
    before it; a failing one is reported and the next still runs."""
    assert t.response is not None
    p.answered(t)
    response, message = t.response, t.message
    actions = list(response.actions)
    for named in message.content.actions:  # the sender's, by name or simile, when on offer
        name = t.aliases.get(named.strip().upper())
        if name is not None and name not in actions:
            actions.append(name)
    if REPLY in actions:
        content = Content(text=response.text, thought=response.thought, actions=list(response.actions))
        reply = await p.say(message, content)
        t.responses.append(reply)
        t.run.event(REPLY_EVENT, reply.content)
    results: list[dict[str, Any]] = []
    for name in actions:
        if name == REPLY:
            continue
        t.state.data[ACTION_RESULTS] = t.state.values[ACTION_RESULTS] = list(results)
        results.append(await _run_action(p, t, name))


async def _run_action(p: StepContext, t: Turn, name: str) -> dict[str, Any]:
    """Run one action; its callbacks are said in the room, its result reported and returned."""
    run, message = t.run, t.message
    outcome: dict[str, Any] = {"action": name, "success": False, "text": "", "error": "", "values": {}}
    try:
        async for event in p.components.invoke_action(name, message, t.state):
            if isinstance(event, ActionResult):
                extra = {"success": event.success, "error": event.error, "values": event.values}
                outcome.update(extra, text=event.text)
                run.event(ACTION, Content(text=event.text, actions=[name], source=name, extra=extra))
                if not event.success:
                    run.skip("action", name, p.owner("action", name), event.error or "it reported a failure")
                if event.text:
                    t.responses.append(await p.say(message, Content(text=event.text, actions=[name], source=name)))
            else:
                event.actions = event.actions or [name]
                t.responses.append(await p.say(message, event))
                run.event(ACTION, event)
    except (PluginCallError, LookupError) as exc:
        outcome["error"] = str(exc)
        run.event(ACTION, Content(actions=[name], source=name, extra={"success": False, "error": str(exc)}))
        run.skip("action", name, p.owner("action", name), str(exc))
    return outcome


async def run_evaluators(p: StepContext, t: Turn) -> None:
    """Evaluators that want this message (always_run ones even when the agent said nothing).

    The room is given back first: the reply is said and stored, so the room's next message need
    not wait for evaluators (a reflection's model call takes seconds on a local model)."""
    await t.exits.aclose()
    responses: list[Memory] = t.responses
    owners = {spec.name: plugin for plugin, spec in p.registry().evaluators() if responses or spec.always_run}
    if not owners:
        return
    # Validated and run in one round trip per plugin (two where the plugin cannot take it).
    outcomes = await p.components.evaluate(list(owners), t.message, t.state, responses)
    for outcome in outcomes:
        if outcome.error:
            t.run.skip("evaluator", outcome.name, owners[outcome.name], f"its validate failed: {outcome.error}")
    for outcome in outcomes:
        if not outcome.valid:
            continue
        result = outcome.result or ActionResult(success=False, error=outcome.run_error)
        extra = {"success": result.success, "error": result.error, "values": result.values}
        t.run.event(EVALUATOR, Content(text=result.text, source=outcome.name, extra=extra))
        if not result.success:
            t.run.skip("evaluator", outcome.name, owners[outcome.name], result.error or "it reported a failure")
