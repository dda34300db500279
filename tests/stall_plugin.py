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

  STALL_BARE   1: the plugin execs itself with an empty environment first (it keeps what it
               needs in memory), and on Init starts a `setsid sleep` and a `sleep` with an
               empty environment too: nothing of this plugin carries the host's tree mark nor
               STALL_RUN. Their pids go to `children` in STALL_DIR.
"""

from __future__ import annotations

import json
import os
import sys

if os.environ.get("STALL_BARE") == "1" and len(sys.argv) == 1:
    kept = {k: v for k, v in os.environ.items() if k not in ("AGENTHOST_PROCESS_TREE", "STALL_RUN")}
    os.execve(sys.executable, [sys.executable, __file__, json.dumps(kept)], {})
if len(sys.argv) == 2:
    os.environ.update(json.loads(sys.argv[1]))  # not in /proc/<pid>/environ: that is the exec's, empty

import asyncio  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from plugin_sdk import Plugin, ProviderResult, serve  # noqa: E402

DIR = Path(os.environ["STALL_DIR"])
AT = os.environ.get("STALL_AT", "")
with (DIR / "starts").open("a") as starts:
    starts.write(f"{os.getpid()}\n")
START = len((DIR / "starts").read_text().split())
STALLS = START >= int(os.environ.get("STALL_FROM", "2"))

plugin = Plugin("stall", version="1.0.0")


def stalled() -> None:
    (DIR / f"stalled-{START}").write_text(str(os.getpid()))


BARE_CHILDREN = (["setsid", "sleep", "600"], ["sleep", "600"])


def spawn_detached() -> None:
    subprocess.Popen(["setsid", "sleep", "600"], stdin=subprocess.DEVNULL)


@plugin.provider("STALL_ECHO")
async def echo(ctx, message, state):
    return ProviderResult(text=message.content.text)


@plugin.on_init
async def init(ctx):
    if os.environ.get("STALL_BARE") == "1":
        children = [subprocess.Popen(argv, env={}, stdin=subprocess.DEVNULL) for argv in BARE_CHILDREN]
        await asyncio.sleep(0.2)  # setsid has exec'd sleep by now
        (DIR / "children").write_text(" ".join(str(child.pid) for child in children))
        return
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
