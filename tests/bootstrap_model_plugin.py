"""A scripted model for the bootstrap plugin's end-to-end tests (tests/test_bootstrap.py).

TEXT_LARGE, from the last user turn:
  "act A,B"    names actions A,B (no text)
  "show NAME"  replies with the prompt's "# NAME" section, on one line ("none" when absent)
  otherwise    "ok"
TEXT_SMALL plays the reflection model: a recent line "...: remember CLAIM" becomes the fact
CLAIM; with no such line it answers with no facts.
"""

from __future__ import annotations

import re

from plugin_sdk import Plugin, serve

plugin = Plugin("bootbrain", version="1.0.0", description="A scripted model for bootstrap tests.")


def _reply(actions: str, text: str) -> str:
    return f"<response>\n<thought>scripted</thought>\n<actions>{actions}</actions>\n<text>{text}</text>\n</response>"


def _section(system: str, name: str) -> str:
    match = re.search(rf"^# {name}\n(.*?)(?=\n\n|\Z)", system, re.S | re.M)
    return " / ".join(match.group(1).splitlines()) if match else "none"


@plugin.model("TEXT_LARGE")
async def brain(ctx, params):
    messages = params["messages"]
    system, text = messages[0]["content"], messages[-1]["content"]
    if match := re.search(r"act ([\w,]+)", text):
        return _reply(match.group(1), "")
    if match := re.search(r"show (\w+)", text):
        return _reply("REPLY", _section(system, match.group(1)))
    return _reply("REPLY", "ok")


@plugin.model("TEXT_SMALL")
async def reflect(ctx, params):
    prompt = params["messages"][-1]["content"]
    claims = re.findall(r"^[^:\n]+: remember (.+)$", prompt, re.M)
    facts = "".join(f"<fact><claim>{c.strip()}</claim><type>fact</type></fact>" for c in claims[-1:])
    return f"<response><thought>reflecting</thought><facts>{facts}</facts><relationships></relationships></response>"


if __name__ == "__main__":
    serve(plugin)
