"""The plugin of tests/test_plugin_breakers.py, run as a real process by the host. Files in
$BREAKER_DIR steer it and record what it did (the test reads them):

  FLAKY provider   appends a line to `flaky-calls`; raises while `flaky-down` exists, else
                   answers "flaky ok"
  SLOW provider    writes "started <text>" to `slow`, sleeps 30 s; when cancelled writes
                   "cancelled <text>"
  HANG provider    while `hang` exists writes its pid to `hanging` and waits for ever (the test
                   kills the process); else answers "answered by <pid>"
  ONCE action      appends its pid to `action-calls`; while `hang` exists writes `hanging` and
                   waits for ever; else succeeds with "done by <pid>"
  TEXT_SMALL model "model of <pid>", at priority 10
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from plugin_sdk import ActionResult, Plugin, ProviderResult, serve

DIR = Path(os.environ["BREAKER_DIR"])
plugin = Plugin("breakertest", version="1.0.0")


def _append(name: str, line: str) -> None:
    with (DIR / name).open("a") as f:
        f.write(line + "\n")


@plugin.provider("FLAKY")
async def flaky(ctx, message, state):
    _append("flaky-calls", message.content.text)
    if (DIR / "flaky-down").exists():
        raise RuntimeError("flaky is down")
    return ProviderResult(text="flaky ok")


@plugin.provider("SLOW", dynamic=True)
async def slow(ctx, message, state):
    _append("slow", f"started {message.content.text}")
    try:
        await asyncio.sleep(30)
    except asyncio.CancelledError:
        _append("slow", f"cancelled {message.content.text}")
        raise
    return ProviderResult(text="slow done")


async def _hang_while_asked() -> None:
    if (DIR / "hang").exists():
        (DIR / "hanging").write_text(str(os.getpid()))
        await asyncio.Event().wait()


@plugin.provider("HANG", dynamic=True)
async def hang(ctx, message, state):
    await _hang_while_asked()
    return ProviderResult(text=f"answered by {os.getpid()}")


@plugin.action("ONCE")
async def once(ctx, message, state, options, callback):
    _append("action-calls", str(os.getpid()))
    await _hang_while_asked()
    return ActionResult(text=f"done by {os.getpid()}")


@plugin.model("TEXT_SMALL", priority=10)
async def model(ctx, params):
    return f"model of {os.getpid()}"


if __name__ == "__main__":
    serve(plugin)
