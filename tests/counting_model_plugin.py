"""A model that counts its calls, for tests of sending a message again (tests/test_idempotent_send.py).

TEXT_LARGE answers "call N: <text>", N the how-many-th call for that text; "slow S ..." first
takes S seconds; "calls?" answers how many calls there were in all (before this one).
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter

from plugin_sdk import Plugin, serve

plugin = Plugin("counting", version="1.0.0", description="A model that counts its calls.")
_calls: Counter[str] = Counter()


@plugin.model("TEXT_LARGE")
async def brain(ctx, params):
    text = params["messages"][-1]["content"]
    if text.strip().lower() == "calls?":
        reply = f"calls={sum(_calls.values())}"
    else:
        if match := re.search(r"slow ([\d.]+)", text.lower()):
            await asyncio.sleep(float(match.group(1)))
        _calls[text] += 1
        reply = f"call {_calls[text]}: {text}"
    return f"<response>\n<thought>counted</thought>\n<actions>REPLY</actions>\n<text>{reply}</text>\n</response>"


if __name__ == "__main__":
    serve(plugin)
