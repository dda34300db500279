"""The plugin of tests/test_evaluate_call.py, run as a real process by the host.

Evaluators: COUNT (applies to a message with text; answers how many responses it got),
PICKY (its validate raises on "boom"), FAILS (applies always, its run raises).

AGENTHOST_TEST_MODE (tests/session_modes.py): unary-only, a plugin from before Session;
old-sdk, an SDK from before Evaluate.
"""

from __future__ import annotations

from session_modes import serve_in_mode

from plugin_sdk import ActionResult, Plugin

plugin = Plugin("evaluatetest", version="1.0.0")


@plugin.evaluator("COUNT", validate=lambda ctx, message, state: bool(message.content.text))
async def count(ctx, message, state, responses):
    return ActionResult(text=str(len(responses)), values={"length": len(message.content.text), "state": state.text})


def _picky(ctx, message, state):
    if message.content.text == "boom":
        raise ValueError("picky tripped")
    return True


@plugin.evaluator("PICKY", validate=_picky)
async def picky(ctx, message, state, responses):
    return ActionResult(text="picky ran")


@plugin.evaluator("FAILS", validate=lambda ctx, message, state: True)
async def fails(ctx, message, state, responses):
    raise RuntimeError("evaluator tripped")


if __name__ == "__main__":
    serve_in_mode(plugin, "evaluate")
