"""A plugin that stalls one stage of its start, from its Nth start on: the helper process for
tests that stop the host (or unload, or reload) while a plugin is starting or restarting.

  STALL_DIR    a directory: each start appends its pid to `starts` there, and writes
               `stalled-<n>` when its start number n reaches the stall
  STALL_AT     handshake     ignores SIGTERM and never prints its handshake
               describe      Describe blocks its event loop for good
               init          Init spawns a process that left its group (setsid), then waits forever
               init-forking  Init keeps spawning such processes, one every 20 ms
               service       its service's start never returns
  STALL_FROM   the first start number that stalls (1: every start; default 2: restarts only)

Every start spawns one `setsid sleep` on Init (before any stall there), so a stop that leaves a
plugin's descendants behind shows. STALL_RUN, any value, is inherited by all of them: the tests
find every process of one run by it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from pathlib import Path

from plugin_sdk import Plugin, ProviderResult, serve

DIR = Path(os.environ["STALL_DIR"])
AT = os.environ.get("STALL_AT", "")
with (DIR / "starts").open("a") as starts:
    starts.write(f"{os.getpid()}\n")
START = len((DIR / "starts").read_text().split())
STALLS = START >= int(os.environ.get("STALL_FROM", "2"))

plugin = Plugin("stall", version="1.0.0")


def stalled() -> None:
    (DIR / f"stalled-{START}").write_text(str(os.getpid()))


def spawn_detached() -> None:
    subprocess.Popen(["setsid", "sleep", "600"], stdin=subprocess.DEVNULL)


@plugin.provider("STALL_ECHO")
async def echo(ctx, message, state):
    return ProviderResult(text=message.content.text)


@plugin.on_init
async def init(ctx):
    spawn_detached()
    if STALLS and AT == "init":
        stalled()
        await asyncio.Event().wait()
    if STALLS and AT == "init-forking":
        stalled()
        while True:
            spawn_detached()
            await asyncio.sleep(0.02)


@plugin.service("stall-service")
class StallService:
    async def start(self, ctx):
        if STALLS and AT == "service":
            stalled()
            await asyncio.Event().wait()

    async def stop(self):
        pass


if __name__ == "__main__":
    if STALLS and AT == "handshake":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stalled()
        time.sleep(3600)
    if STALLS and AT == "describe":
        manifest = plugin.manifest

        def blocking_manifest():  # type: ignore[no-untyped-def]
            stalled()
            time.sleep(3600)
            return manifest()

        plugin.manifest = blocking_manifest  # type: ignore[method-assign]
    serve(plugin)
