"""Prompt templates with `{{placeholders}}`, as elizaOS characters write them in `templates`.

A character may replace a prompt with its own text: `templates.messageHandlerTemplate` (the reply
prompt, see responses.system_prompt) and `templates.shouldRespondTemplate` (the respond-or-ignore
decision, see should_respond.py). Placeholders, with elizaOS's names:

| placeholder | what it becomes |
| --- | --- |
| `{{agentName}}` | the character's name |
| `{{username}}` | its username |
| `{{system}}` | its system prompt |
| `{{bio}}` | "# About NAME" and the bio and lore lines (a stable sample per room when long) |
| `{{lore}}` | the lore lines alone |
| `{{adjective}}`, `{{adjectives}}` | one adjective; a sample of them, comma-separated |
| `{{topic}}`, `{{topics}}` | one topic; a sample of them, comma-separated |
| `{{messageDirections}}`, `{{directions}}` | `style.all` and `style.chat` |
| `{{postDirections}}` | `style.all` and `style.post` |
| `{{characterMessageExamples}}`, `{{examples}}` | example conversations (a stable sample) |
| `{{characterPostExamples}}` | example posts |
| `{{providers}}` | the character's sections, then what the providers said |
| `{{actionNames}}` | the actions on offer, comma-separated |
| `{{actions}}` | the actions on offer with what each does |
| `{{actionExamples}}` | the offered actions' example conversations |
| `{{recentMessages}}` | empty: the conversation follows the prompt as chat messages |

Any other `{{name}}` (or `{{#if}}`-style block) is left as written, visible in the prompt, so a
mistyped placeholder shows up where it was meant to be filled.
"""

from __future__ import annotations

import re
from typing import Mapping

from . import persona
from .character import Character

MESSAGE_HANDLER = "messageHandlerTemplate"
SHOULD_RESPOND = "shouldRespondTemplate"

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def render(template: str, values: Mapping[str, str]) -> str:
    """`template` with each known `{{name}}` replaced; unknown ones are left as written."""
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)


def character_values(character: Character, room: str) -> dict[str, str]:
    """The placeholders that come from the character alone."""
    seed = f"{character.name}\0traits\0{room}"
    adjectives = persona.sample(character.adjectives, persona.ADJECTIVES, seed)
    topics = persona.sample(character.topics, persona.TOPICS, seed)
    chat = persona.directions(character, "chat")
    examples = persona.examples(character, room, "chat")
    return {
        "agentName": character.name,
        "username": character.username,
        "system": character.system,
        "bio": persona.about(character, room),
        "lore": "\n".join(character.lore),
        "adjective": adjectives[0] if adjectives else "",
        "adjectives": ", ".join(adjectives),
        "topic": topics[0] if topics else "",
        "topics": ", ".join(topics),
        "messageDirections": chat,
        "directions": chat,
        "postDirections": persona.directions(character, "post"),
        "characterMessageExamples": examples,
        "examples": examples,
        "characterPostExamples": persona.examples(character, room, "post"),
        "recentMessages": "",
    }


def character_sections(character: Character, room: str) -> list[str]:
    """The character's part of a prompt, in order: about, traits, directions, examples."""
    parts = (
        persona.about(character, room),
        persona.traits(character, room),
        persona.directions(character, "chat"),
        persona.examples(character, room, "chat"),
    )
    return [p for p in parts if p]
