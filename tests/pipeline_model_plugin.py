"""A scripted brain for the pipeline's step tests (tests/test_pipeline_steps.py).

TEXT_SMALL plays the shouldRespond model, from the last message's text:
  "decide ignore" -> IGNORE, "decide stop" -> STOP, "decide garbage" -> not XML, else RESPOND.
TEXT_LARGE plays the reply model:
  "gate PATH"     waits until the file PATH exists (the test opens it)
  "garbage N"     the first N answers to this text do not parse
  "act A,B"       names actions A,B (with REPLY only when listed)
  "want P"        asks for provider P (<providers>) until the prompt carries it
  "received?"     "received=yes" when its MESSAGE_RECEIVED event came before
  "announce-slow S" its MESSAGE_RECEIVED handler takes S seconds
  otherwise       "echo: <last turn> | turns=N | decided=yes|no" (whether TEXT_SMALL was asked)
Actions FIRST, SECOND (says what the actions before it returned), BROKEN (raises) and SHOUT
(simile YELL); a dynamic provider WEATHER_NOW.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections import Counter

from plugin_sdk import ActionResult, Plugin, ProviderResult, serve

plugin = Plugin("steps", version="1.0.0", description="A scripted brain for pipeline step tests.")
_answers: Counter[str] = Counter()
_decided: set[str] = set()
_received: set[str] = set()


@plugin.event("MESSAGE_RECEIVED")
async def received(ctx, payload):
    _received.add(payload["text"])
    if match := re.search(r"announce-slow ([\d.]+)", payload["text"]):  # a slow subscriber
        await asyncio.sleep(float(match.group(1)))


async def _always(ctx, message, state) -> bool:
    return True


@plugin.provider("WEATHER_NOW", description="The weather, when asked for.", dynamic=True)
async def weather(ctx, message, state):
    return ProviderResult(text="It is raining in the test.")


@plugin.action("FIRST", description="The first step of a chain.", validate=_always)
async def first(ctx, message, state, options, callback):
    return ActionResult(text="first done", values={"n": 1})


@plugin.action("SECOND", description="Says what came before it.", validate=_always)
async def second(ctx, message, state, options, callback):
    before = state.data.get("actionResults") or []
    seen = ",".join(f"{r['action']}:{r['text'] or r['error'] or '-'}" for r in before)
    return ActionResult(text=f"second saw [{seen}]")


@plugin.action("BROKEN", description="Always fails.", validate=_always)
async def broken(ctx, message, state, options, callback):
    raise RuntimeError("the broken action broke")


@plugin.action("SHOUT", description="Repeat the message in capitals.", similes=["YELL"], validate=_always)
async def shout(ctx, message, state, options, callback):
    return ActionResult(text=message.content.text.upper())


def _reply(actions: str, text: str, providers: str = "") -> str:
    tag = f"<providers>{providers}</providers>\n" if providers else ""
    head = f"<response>\n<thought>scripted</thought>\n<actions>{actions}</actions>\n"
    return f"{head}{tag}<text>{text}</text>\n</response>"


@plugin.model("TEXT_SMALL")
async def decide(ctx, params):
    text = params["messages"][-1]["content"]
    _decided.add(text)
    lowered = text.lower()
    if "decide garbage" in lowered:
        return "maybe?"
    action, why = "RESPOND", "worth answering"
    if "decide ignore" in lowered:
        action, why = "IGNORE", "not for me"
    elif "decide stop" in lowered:
        action, why = "STOP", "asked to be quiet"
    return f"<response>\n<reasoning>{why}</reasoning>\n<action>{action}</action>\n</response>"


@plugin.model("TEXT_LARGE")
async def brain(ctx, params):
    messages = params["messages"]
    system, text = messages[0]["content"], messages[-1]["content"]
    if match := re.search(r"gate (\S+)", text):
        for _ in range(1500):
            if os.path.exists(match.group(1)):
                break
            await asyncio.sleep(0.02)
    if match := re.search(r"garbage (\d+)", text):
        _answers[text] += 1
        if _answers[text] <= int(match.group(1)):
            return "I am not XML at all"
    if match := re.search(r"want (\w+)", text):
        if "It is raining in the test." in system:
            return _reply("REPLY", "It rains, I was told.")
        return _reply("REPLY", "Let me look.", providers=match.group(1))
    if "received?" in text:
        return _reply("REPLY", f"received={'yes' if text in _received else 'no'}")
    if match := re.search(r"act ([\w,]+)", text):
        return _reply(match.group(1), "Acting now.")
    decided = "yes" if text in _decided else "no"
    return _reply("REPLY", f"echo: {text} | turns={len(messages) - 2} | decided={decided}")


if __name__ == "__main__":
    serve(plugin)
