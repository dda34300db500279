"""The plugin of tests/test_compose_call.py, run as a real process by the host.

Providers: FACT (values fact=1 and the state's text it was given), BROKEN (raises). Actions:
POLITE (applies to a message with "please"), SEES_FACT (applies when the state it is given
has FACT's value: never when validated with the providers), PICKY (its validate raises on "boom").

AGENTHOST_TEST_MODE (tests/session_modes.py): unary-only, a plugin from before Session;
old-sdk, an SDK from before Compose.
"""

from __future__ import annotations

from session_modes import serve_in_mode

from plugin_sdk import ActionResult, Plugin, ProviderResult

plugin = Plugin("composetest", version="1.0.0")


@plugin.provider("FACT")
async def fact(ctx, message, state):
    return ProviderResult(text=f"fact for {message.content.text}", values={"fact": 1, "given": state.text})


@plugin.provider("BROKEN")
async def broken(ctx, message, state):
    raise RuntimeError("provider tripped")


def _picky(ctx, message, state):
    if message.content.text == "boom":
        raise ValueError("picky tripped")
    return True


async def _done(ctx, message, state, options, callback):
    return ActionResult(text="done")


plugin.action("POLITE", validate=lambda ctx, message, state: "please" in message.content.text)(_done)
plugin.action("SEES_FACT", validate=lambda ctx, message, state: bool(state.values.get("fact")))(_done)
plugin.action("PICKY", validate=_picky)(_done)


if __name__ == "__main__":
    serve_in_mode(plugin, "compose")
