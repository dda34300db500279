"""Whether to answer a message at all: the prompt a small model decides from, and its answer.

In a group room the agent should not answer everything. The decision is asked of a model as XML,
so it can be checked (and forced by a grammar on local models):

    <response>
    <reasoning>why, in a few words</reasoning>
    <action>RESPOND</action>
    </response>

The prompt is the character's `templates.shouldRespondTemplate` when it has one (with the
placeholders of templates.py), else DEFAULT_TEMPLATE. The room's messages follow the prompt as
chat messages, as for a reply.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Literal

from . import templates
from .character import Character
from .responses import ResponseError

RESPOND, IGNORE, STOP = "RESPOND", "IGNORE", "STOP"
Action = Literal["RESPOND", "IGNORE", "STOP"]
_ACTIONS: dict[str, Action] = {"RESPOND": "RESPOND", "IGNORE": "IGNORE", "STOP": "STOP"}
REASONING_MAX_CHARS = 120

DEFAULT_TEMPLATE = """You decide for {{agentName}} whether to take part in a group conversation.

{{providers}}

Choose one action:
- RESPOND when the last message speaks to or names {{agentName}}, or asks what {{agentName}} can help with;
- IGNORE when the message is for someone else, or needs no answer from {{agentName}};
- STOP when someone asks {{agentName}} to be quiet or to leave the conversation.

Answer in XML: <response><reasoning>...</reasoning><action>RESPOND, IGNORE or STOP</action></response>"""

_ACTION = re.compile(r"<action>\s*([A-Za-z_]+)\s*(?:</action>|$)", re.S)
_REASONING = re.compile(r"<reasoning>(.*?)(?:</reasoning>|$)", re.S)


@dataclass(frozen=True)
class Decision:
    """What the model decided, and why (stored with an IGNORE)."""

    action: Action
    reasoning: str = ""


def should_respond_prompt(character: Character, context: str, room: str = "") -> str:
    """The decision's system message, from the character's template or the default one."""
    template = character.templates.get(templates.SHOULD_RESPOND, DEFAULT_TEMPLATE)
    values = templates.character_values(character, room)
    values["providers"] = "\n\n".join([*templates.character_sections(character, room), context]).strip()
    return templates.render(template, values)


def decision_grammar() -> str:
    """A GBNF grammar whose every output parses as a Decision."""
    return "\n".join(
        (
            'root ::= "<response>\\n<reasoning>" reasoning "</reasoning>\\n<action>" action "</action>\\n</response>"',
            f"reasoning ::= [^<\\n]{{0,{REASONING_MAX_CHARS}}}",
            f'action ::= "{RESPOND}" | "{IGNORE}" | "{STOP}"',
        )
    )


def parse_decision(output: str) -> Decision:
    """The decision in a model's output (elizaOS's `<action>` element; its `<name>` and other
    elements are ignored). Raises ResponseError when there is none or it is not one of the three."""
    if "<response>" not in output:
        raise ResponseError("no <response> element", output)
    body = output[output.index("<response>") :]
    found = _ACTION.search(body)
    if found is None:
        raise ResponseError("no <action> element", output)
    action = _ACTIONS.get(found.group(1).upper())
    if action is None:
        raise ResponseError(f"<action> is {found.group(1)}, not RESPOND, IGNORE or STOP", output)
    reasoning = _REASONING.search(body)
    return Decision(action, html.unescape(reasoning.group(1)).strip() if reasoning else "")
