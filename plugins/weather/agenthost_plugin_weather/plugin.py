"""The weather plugin: GET_WEATHER reports a forecast and records it through the host.

There is no network here, so the forecast comes from a small deterministic model
of the climate (the same city and day always give the same report). What the
example shows is the shape of a real action: validate, an interim callback,
settings read from the host, a memory written back, an event emitted.
"""

from __future__ import annotations

import hashlib
import re
from datetime import date, datetime, timezone
from typing import Any, Awaitable, Callable

from plugin_sdk import ActionResult, Content, Context, Memory, Plugin, State

from . import __version__

plugin = Plugin("weather", version=__version__, description="Weather reports for a city.")

_PARTICLE = r"(?:de|do|da|del|la|le|am|upon)"
_WORD = r"[A-Z][\w'-]*"
_CITY = re.compile(rf"\b(?i:in|for|at)\s+({_WORD}(?:\s+(?:{_PARTICLE}\s+)?{_WORD})*)")
_CONDITIONS = ("sunny", "partly cloudy", "overcast", "light rain", "showers", "windy", "foggy", "snow")


def find_city(text: str) -> str | None:
    """The city a message asks about ("weather in Paris" -> "Paris"), if any."""
    match = _CITY.search(text)
    return match.group(1) if match else None


def forecast(city: str, day: date) -> dict[str, Any]:
    """A deterministic forecast: the same city and day always give the same answer."""
    digest = hashlib.sha256(f"{city.lower()}|{day.isoformat()}".encode()).digest()
    celsius = round(-5 + digest[0] / 255 * 35)
    condition = _CONDITIONS[digest[1] % len(_CONDITIONS)]
    return {"city": city, "date": day.isoformat(), "celsius": celsius, "condition": condition}


def _mentions_weather(ctx: Context, message: Memory, state: State) -> bool:
    text = message.content.text.lower()
    return (
        any(word in text for word in ("weather", "forecast", "temperature"))
        and find_city(message.content.text) is not None
    )


@plugin.action(
    "GET_WEATHER",
    description="Report today's weather for a city the user names.",
    similes=["WEATHER", "FORECAST", "CHECK_WEATHER"],
    examples=[
        [
            {"speaker": "user", "text": "What's the weather in Lisbon?"},
            {"speaker": "agent", "text": "Let me look up the weather in Lisbon.", "actions": ["GET_WEATHER"]},
        ]
    ],
    validate=_mentions_weather,
)
async def get_weather(
    ctx: Context, message: Memory, state: State, options: dict[str, Any], callback: Callable[[Content], Awaitable[None]]
) -> ActionResult:
    city = options.get("city") or find_city(message.content.text)
    if not city:
        return ActionResult(success=False, error="no city named; ask e.g. 'weather in Paris'")
    await callback(Content(text=f"Looking up the weather in {city}...", source="weather"))
    units = (await ctx.host.get_setting("WEATHER_UNITS")) or "metric"
    report = forecast(city, datetime.now(timezone.utc).date())
    if units == "imperial":
        temperature = f"{round(report['celsius'] * 9 / 5 + 32)}°F"
    else:
        temperature = f"{report['celsius']}°C"
    text = f"{city} today: {temperature} and {report['condition']}."
    if message.room_id:
        await ctx.host.create_memory(
            Memory(
                room_id=message.room_id,
                entity_id=message.agent_id or ctx.agent_id,
                table_name="weather_reports",
                content=Content(text=text, source="weather"),
                metadata=report,
            )
        )
    await ctx.host.emit_event("WEATHER_REPORTED", report)
    return ActionResult(success=True, text=text, values={"weather": text}, data=report)


@plugin.evaluator("WEATHER_FOLLOWUP", description="Notes when the agent gave a weather report.")
async def weather_followup(ctx: Context, message: Memory, state: State, responses: list[Memory]) -> ActionResult:
    reported = [r for r in responses if "GET_WEATHER" in r.content.actions]
    return ActionResult(success=True, values={"weather_reports": len(reported)})
