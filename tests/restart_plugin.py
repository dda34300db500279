"""The plugin of tests/test_plugin_restarts.py, run as a real process by the host. Files in
$RESTART_DIR steer it:

  WAITING evaluator  while `hang` exists writes its pid to `hanging` and waits for ever (the
                     test kills the process); else answers "evaluated by <pid>"
  BROKEN evaluator   its validate always raises
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from plugin_sdk import ActionResult, Plugin, serve

DIR = Path(os.environ["RESTART_DIR"])
plugin = Plugin("restarttest", version="1.0.0")


@plugin.evaluator("WAITING", always_run=True)
async def waiting(ctx, message, state, responses):
    if (DIR / "hang").exists():
        (DIR / "hanging").write_text(str(os.getpid()))
        await asyncio.Event().wait()
    return ActionResult(text=f"evaluated by {os.getpid()}")


async def _raise(ctx, message, state):
    raise RuntimeError("broken evaluator")


@plugin.evaluator("BROKEN", always_run=True, validate=_raise)
async def broken(ctx, message, state, responses):
    return ActionResult(text="never runs")


if __name__ == "__main__":
    serve(plugin)
