"""The plugin of tests/test_session_actions.py, run as a real process by the host.

Actions: STEPS (calls back "step 1".."step N", N from the options' `n`, then answers "done
<text>"), FAIL (raises), HANG (calls back "started", then waits until cancelled, writing
"cancelled <text>" to the file named by the MARKER config key), ECHO_PROVIDER's provider.

AGENTHOST_TEST_MODE=no-actions serves Session without actions on it (an SDK from before them:
the host must call InvokeAction); unary-only answers Session UNIMPLEMENTED.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from session_modes import serve_in_mode

from plugin_sdk import ActionResult, Content, Plugin, ProviderResult
from plugin_sdk._server import PluginServicer

plugin = Plugin("actiontest", version="1.0.0")


@plugin.provider("ECHO")
async def echo(ctx, message, state):
    return ProviderResult(text=message.content.text)


@plugin.action("STEPS")
async def steps(ctx, message, state, options, callback):
    for i in range(int(options.get("n", 3))):
        await callback(Content(text=f"step {i + 1}"))
    return ActionResult(text=f"done {message.content.text}")


@plugin.action("FAIL")
async def fail(ctx, message, state, options, callback):
    await callback(Content(text="about to fail"))
    raise RuntimeError("broken on purpose")


@plugin.action("HANG")
async def hang(ctx, message, state, options, callback):
    await callback(Content(text="started"))
    try:
        await asyncio.Event().wait()
    except asyncio.CancelledError:
        with Path(ctx.config["MARKER"]).open("a") as file:
            file.write(f"cancelled {message.content.text}\n")
        raise
    return ActionResult(text="never")


def _without_actions() -> None:
    """An SDK from before actions on the Session: it serves no streamed calls there."""
    init = PluginServicer.__init__

    def __init__(self: PluginServicer, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        self.session_streams = {}

    PluginServicer.__init__ = __init__  # type: ignore[method-assign]


if __name__ == "__main__":
    if os.environ.get("AGENTHOST_TEST_MODE") == "no-actions":
        _without_actions()
    serve_in_mode(plugin, "invoke_action")
