"""A plugin whose components fail, for tests that a run shows what it went without.

Its provider, an action's validate, an action and an evaluator all raise; its TEXT_LARGE
handler answers every message with a reply that runs BROKEN_ACTION.
"""

from __future__ import annotations

from plugin_sdk import Plugin, serve

plugin = Plugin("broken", version="1.0.0", description="Fails on purpose.")


@plugin.provider("BROKEN_FACTS", description="Raises.", position=1)
async def facts(ctx, message, state):
    raise RuntimeError("the facts are out of reach")


@plugin.action("BROKEN_ACTION", description="Raises.")
async def broken_action(ctx, message, state, options, callback):
    raise RuntimeError("the action tripped")


async def _validate_raises(ctx, message, state) -> bool:
    raise RuntimeError("validate tripped")


@plugin.action("BROKEN_PICKY", description="Its validate raises.", validate=_validate_raises)
async def picky(ctx, message, state, options, callback):
    raise AssertionError("never offered, so never run")


@plugin.evaluator("BROKEN_EVAL", description="Raises.", always_run=True)
async def evaluator(ctx, message, state, responses):
    raise RuntimeError("the evaluator tripped")


@plugin.model("TEXT_LARGE")
async def brain(ctx, params):
    return "<response><thought>t</thought><actions>REPLY,BROKEN_ACTION</actions><text>trying</text></response>"


if __name__ == "__main__":
    serve(plugin)
