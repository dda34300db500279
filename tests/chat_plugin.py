"""A plugin with a deterministic model, for tests of the message pipeline.

Its TEXT_LARGE handler plays the LLM: it reads the chat messages the host sends
and answers in the reply format, so each test can steer it from the message text:

  "... shout ..."      picks REPLY,SHOUT when the host offers SHOUT
  "... insist ..."     picks SHOUT even when the host does not offer it
  "... alone ..."      picks SHOUT without REPLY
  "garbage N ..."      the first N answers to this text do not parse
  "slow S ..."         takes S seconds
Anything else is echoed with what the model saw (history turns, provider facts).
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter

from plugin_sdk import ActionResult, Content, Plugin, ProviderResult, serve

plugin = Plugin("chat", version="1.0.0", description="A scripted brain for pipeline tests.")
_answers: Counter[str] = Counter()


@plugin.provider("CHAT_FACTS", description="A fact only this provider knows.", position=1)
async def facts(ctx, message, state):
    return ProviderResult(text="The sky here is green.", values={"sky": "green"})


async def _wants_shout(ctx, message, state) -> bool:
    return "shout" in message.content.text.lower()


@plugin.action(
    "SHOUT",
    description="Repeat the message in capitals.",
    validate=_wants_shout,
    examples=[
        [{"speaker": "user", "text": "shout hello"}, {"speaker": "agent", "text": "HELLO", "actions": ["SHOUT"]}]
    ],
)
async def shout(ctx, message, state, options, callback):
    await callback(Content(text="Taking a deep breath..."))
    return ActionResult(text=message.content.text.upper(), values={"length": len(message.content.text)})


@plugin.evaluator("CHAT_COUNTER", description="Counts what the agent said.", always_run=True)
async def counter(ctx, message, state, responses):
    if match := re.search(r"reflect ([\d.]+)", message.content.text.lower()):  # a slow evaluator
        await asyncio.sleep(float(match.group(1)))
    return ActionResult(text=f"{len(responses)} response(s)", values={"responses": len(responses)})


@plugin.model("TEXT_LARGE")
async def brain(ctx, params):
    messages = params["messages"]
    system, text = messages[0]["content"], messages[-1]["content"]
    lowered = text.lower()
    if match := re.search(r"slow ([\d.]+)", lowered):
        await asyncio.sleep(float(match.group(1)))
    if match := re.search(r"garbage (\d+)", lowered):
        _answers[text] += 1
        if _answers[text] <= int(match.group(1)):
            return "I am not XML at all"
    if "alone" in lowered:
        actions, reply = "SHOUT", ""
    elif "insist" in lowered or ("shout" in lowered and "SHOUT (" in system):
        example = "user: shout hello\n<response><thought>...</thought><actions>REPLY,SHOUT</actions><text>HELLO</text>"
        actions, reply = "REPLY,SHOUT", "Shouting now." if example in system else "Shouting without an example."
    else:
        facts = "green" if "The sky here is green." in system else "none"
        reply = f"echo: {text} | turns={len(messages) - 2} | sky={facts}"
        actions = "REPLY"
    return f"<response>\n<thought>scripted</thought>\n<actions>{actions}</actions>\n<text>{reply}</text>\n</response>"


if __name__ == "__main__":
    serve(plugin)
