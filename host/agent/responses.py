"""The agent's reply format: the prompt that asks for it, a grammar that forces it, its parser.

A reply is XML, so a small model's output can be checked and retried:

    <response>
    <thought>why, in a few words</thought>
    <actions>REPLY,GET_WEATHER</actions>
    <providers>WEATHER_NOW</providers>   (optional: more context wanted, see the pipeline)
    <text>what the agent says</text>
    </response>
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Collection, Mapping

from ..plugins.manifest import ExampleTurn
from . import persona, templates
from .character import Character

REPLY = "REPLY"  # answer with the text; the plugins' actions come besides
BUILT_IN_ACTIONS = {REPLY: "answer the user with <text>"}
THOUGHT_MAX_CHARS = 100
MAX_ACTIONS = 4
MAX_EXAMPLES = 2  # example conversations per action in the prompt
SHARED_SAMPLE = ""  # the seed of the character's sample in reply prompts: the same for every room

_TAG = {
    name: re.compile(rf"<{name}>(.*?)(?:</{name}>|$)", re.S) for name in ("thought", "actions", "providers", "text")
}
_ACTION_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")


@dataclass(frozen=True)
class ActionChoice:
    """An action the model may pick, with what it does and example conversations."""

    name: str
    description: str
    examples: tuple[tuple[ExampleTurn, ...], ...] = ()


@dataclass(frozen=True)
class ParsedResponse:
    """A reply as parsed: actions by their offered names (similes resolved), in order."""

    thought: str
    actions: tuple[str, ...]
    text: str
    providers: tuple[str, ...] = ()  # providers the reply asks for (its <providers> tag)
    unknown: tuple[str, ...] = ()  # action names it gave that name nothing on offer


@dataclass
class ResponseError(ValueError):
    """The model's output is not a usable reply; `reason` says why (shown in retries' logs)."""

    reason: str
    output: str = field(repr=False, default="")

    def __str__(self) -> str:
        return self.reason


FORMAT = (
    "Answer in XML: <response><thought>...</thought><actions>...</actions><text>...</text></response>, "
    "where thought says why in a few words, actions lists the actions to take, comma-separated "
    "(REPLY to answer), and text is what you say to the user."
)


def system_prompt(character: Character, context: str, actions: list[ActionChoice], room: str = "") -> str:
    """The system message: who the agent is (`prompt_prefix`), what the providers said, which
    actions exist, the format. A character's `messageHandlerTemplate` replaces it (see
    templates.py for its placeholders; the character is sampled stably for `room` there); the
    format is added when the template does not ask for a <response> itself."""
    # A plugin offering REPLY (the bootstrap plugin) describes it instead; the host still says it.
    offered_names = {a.name for a in actions}
    choices = [ActionChoice(n, d) for n, d in BUILT_IN_ACTIONS.items() if n not in offered_names] + actions
    offered = "Actions: " + "; ".join(f"{a.name} ({a.description})" for a in choices) + "."
    # REPLY's own examples (the bootstrap plugin's) are left out: the character's examples show
    # how it replies, and a 135M model copies the last example it saw ("Hi! How can I help?").
    examples = [_example(c) for a in actions if a.name != REPLY for c in a.examples[:MAX_EXAMPLES]]
    action_examples = "Examples:\n" + "\n\n".join(examples) if examples else ""
    template = character.templates.get(templates.MESSAGE_HANDLER)
    if template is not None:
        values = templates.character_values(character, room)
        values.update(
            providers="\n\n".join([*templates.character_sections(character, room), context]).strip(),
            actionNames=", ".join(a.name for a in choices),
            actions=offered,
            actionExamples=action_examples,
        )
        rendered = templates.render(template, values)
        return rendered if "<response>" in rendered else f"{rendered}\n\n{FORMAT}"
    parts = [prompt_prefix(character), context, offered, action_examples, FORMAT]
    return "\n\n".join(p for p in parts if p)


def prompt_prefix(character: Character) -> str:
    """How every reply prompt of the character starts, before what the providers said: who the
    agent is (the system line, about, traits, directions, example conversations). A long
    character is sampled stably for the character, not per room: every room's prompt starts the
    same, so a local model reads it once, ahead of the first message (host/agent/warm_up.py), and
    each reply in any room reads only what follows (a per-room sample made each room's first reply
    read it all: ~350 tokens, 4-8 s of CPU for SmolLM2 here). "" when a `messageHandlerTemplate`
    makes the prompt (its layout is the character's)."""
    if templates.MESSAGE_HANDLER in character.templates:
        return ""
    cached = _PREFIXES.get(id(character))
    if cached is not None and cached[0] is character:
        return cached[1]
    prefix = _prefix(character)
    if len(_PREFIXES) >= _PREFIXES_KEPT:
        del _PREFIXES[next(iter(_PREFIXES))]
    _PREFIXES[id(character)] = (character, prefix)
    return prefix


_PREFIXES: dict[int, tuple[Character, str]] = {}
"""prompt_prefix's text per character (a Character is frozen, and the prefix samples it with a
fixed seed, so it is the same every message): it was ~2% of the host's CPU under load."""
_PREFIXES_KEPT = 256


def _prefix(character: Character) -> str:
    parts = [
        character.system or f"You are {character.name}.",
        persona.about(character, SHARED_SAMPLE),
        persona.traits(character, SHARED_SAMPLE),
        persona.directions(character, "chat"),
        character_examples(character, SHARED_SAMPLE),
    ]
    return "\n\n".join(p for p in parts if p)


def character_examples(character: Character, room: str) -> str:
    """The character's example conversations (a stable sample) in the reply format: the user's
    lines, then the character's replies as XML. A small model answers as the character when it has
    seen the character answer in the very format it writes (SmolLM2-135M: 5/14 to 9/14 in
    bench/reply_quality.py); the names' version (`persona.examples`) is what templates get."""
    rendered = []
    for conversation in persona.conversations(character, room):
        turns = tuple(
            ExampleTurn("agent" if line.mine else "user", line.text, line.actions)
            for line in persona.example_lines(character, conversation)
        )
        if turns:
            rendered.append(_example(turns))
    return f"# Example conversations with {character.name}\n" + "\n\n".join(rendered) if rendered else ""


def _example(turns: tuple[ExampleTurn, ...]) -> str:
    """An example conversation as the model should answer it: user lines, agent replies in XML."""
    lines = []
    for turn in turns:
        if turn.speaker == "user":
            lines.append(f"user: {turn.text}")
        else:
            actions = ",".join(dict.fromkeys((REPLY, *turn.actions)))
            lines.append(
                f"<response><thought>...</thought><actions>{actions}</actions><text>{turn.text}</text></response>"
            )
    return "\n".join(lines)


def response_grammar(action_names: list[str]) -> str:
    """A GBNF grammar whose every output parses, naming only these actions (plus REPLY)."""
    names = [REPLY, *(n for n in action_names if _ACTION_NAME.match(n) and n not in BUILT_IN_ACTIONS)]
    alternatives = " | ".join(f'"{n}"' for n in names)
    return "\n".join(
        (
            'root ::= "<response>\\n<thought>" thought "</thought>\\n<actions>" actions '
            '"</actions>\\n<text>" text "</text>\\n</response>"',
            f"thought ::= [^<\\n]{{0,{THOUGHT_MAX_CHARS}}}",
            f'actions ::= action ("," action){{0,{MAX_ACTIONS - 1}}}',
            f"action ::= {alternatives}",
            "text ::= [^<]*",
        )
    )


def parse_response(output: str, known_actions: Collection[str] | Mapping[str, str]) -> ParsedResponse:
    """Parse a model's XML reply. Unclosed trailing tags are accepted (a reply cut off by the
    token limit keeps what it said). `known_actions` are the names on offer, or a mapping of
    names and similes (upper case) to the names on offer; other names are dropped and listed in
    `unknown`. Raises ResponseError when no action is left, or REPLY has no text."""
    start = output.find("<response>")
    if start < 0:
        raise ResponseError("no <response> element", output)
    body = output[start:]
    found = {name: pattern.search(body) for name, pattern in _TAG.items()}
    if found["actions"] is None:
        raise ResponseError("no <actions> element", output)
    aliases = dict(known_actions) if isinstance(known_actions, Mapping) else {n: n for n in known_actions}
    aliases.update((name, name) for name in BUILT_IN_ACTIONS)
    named = _names(found["actions"].group(1))
    actions = tuple(dict.fromkeys(aliases[a] for a in named if a in aliases))
    if not actions:
        raise ResponseError(f"no known action among {named or 'none'}", output)
    text = html.unescape(found["text"].group(1)).strip() if found["text"] else ""
    if REPLY in actions and not text:
        raise ResponseError("REPLY without <text>", output)
    thought = html.unescape(found["thought"].group(1)).strip() if found["thought"] else ""
    providers = tuple(dict.fromkeys(_names(found["providers"].group(1)))) if found["providers"] else ()
    unknown = tuple(dict.fromkeys(a for a in named if a not in aliases))
    return ParsedResponse(thought, actions, text, providers, unknown)


def _names(listed: str) -> list[str]:
    """Comma-separated names, upper-cased."""
    return [a.strip().upper() for a in listed.split(",") if a.strip()]


class TextStream:
    """The <text> of a reply while the model writes it: `feed` takes the output so far and
    returns what is new of its text (a partial closing tag or entity is held back until whole)."""

    def __init__(self) -> None:
        self._sent = 0

    def feed(self, output: str) -> str:
        start = output.find("<text>")
        if start < 0:
            return ""
        body = output[start + len("<text>") :]
        end = body.find("</text>")
        if end >= 0:
            body = body[:end]
        else:
            cut = body.rfind("<")
            if cut >= 0 and "</text>".startswith(body[cut:]):
                body = body[:cut]
            amp = body.rfind("&")
            if amp >= 0 and ";" not in body[amp:]:
                body = body[:amp]
        text = html.unescape(body).lstrip()
        new, self._sent = text[self._sent :], max(self._sent, len(text))
        return new
