"""The time plugin: a TIME provider and an uptime service that counts the time served."""

from __future__ import annotations

import time
from datetime import datetime, timezone

from plugin_sdk import Context, Memory, Plugin, ProviderResult, State

from . import __version__

plugin = Plugin(
    "time", version=__version__, description="The current date and time, and how long the agent has been up."
)


@plugin.service("uptime")
class Uptime:
    """Remembers when the agent started."""

    started: float | None = None

    async def start(self, ctx: Context) -> None:
        Uptime.started = time.time()

    async def stop(self) -> None:
        Uptime.started = None


@plugin.provider("TIME", description="The current UTC date and time.", position=-10)
async def current_time(ctx: Context, message: Memory, state: State) -> ProviderResult:
    now = datetime.now(timezone.utc)
    zone = ctx.setting("TIMEZONE_LABEL", "UTC")
    text = f"The current date and time is {now:%A %d %B %Y, %H:%M} {zone}."
    values = {"time": now.isoformat(timespec="seconds"), "timestamp_ms": int(now.timestamp() * 1000)}
    if Uptime.started is not None:
        values["uptime_s"] = round(time.time() - Uptime.started, 3)
    return ProviderResult(text=text, values=values)
