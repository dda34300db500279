"""What of the character goes into a prompt, as sections of text.

elizaOS samples bio and lore lines, topics, an adjective and example conversations at random for
every message. Here the choice is bounded and deterministic: everything when it is short, else a
sample that is stable per room (the same room sees the same lines, so a conversation does not
change its character's description between messages, and a prompt cache keeps working).
"""

from __future__ import annotations

import hashlib
import re
from typing import Literal, NamedTuple, Sequence, TypeVar

from .character import Character, ExampleMessage

ABOUT_CHARS = 1200  # bio and lore up to this long go in whole; longer ones are sampled
ABOUT_LINES = 8  # bio and lore lines in a sample
ADJECTIVES = 3
TOPICS = 5
DIRECTION_LINES = 16
EXAMPLES = 5  # example conversations
EXAMPLE_MESSAGES = 6  # messages of one example conversation
POST_EXAMPLES = 5
EXAMPLE_CHARS = 300  # each example message cut to this many characters

# Names the example conversations' placeholders ({{user1}}, {{name2}}, {{user}}) stand for.
_NAMES = ("Alex", "Robin", "Kim", "Jordan", "Lee", "Max", "Noa", "Ari", "Sky")
_PLACEHOLDER = re.compile(r"\{\{\s*(user|name)(\d*)\s*\}\}", re.I)
_AGENT = re.compile(r"\{\{\s*(agentName|char)\s*\}\}", re.I)

T = TypeVar("T")

Kind = Literal["chat", "post"]


def sample(items: Sequence[T], count: int, seed: str) -> list[T]:
    """Up to `count` of `items`, chosen by `seed` alone, in their original order."""
    if len(items) <= count:
        return list(items)
    rank = sorted(range(len(items)), key=lambda i: hashlib.sha256(f"{seed}\0{i}".encode()).digest())
    return [items[i] for i in sorted(rank[:count])]


def about(character: Character, room: str) -> str:
    """The bio, then the lore: whole when short, else a stable sample of lines."""
    lines = [*character.bio, *character.lore]
    if sum(len(line) for line in lines) > ABOUT_CHARS:
        lines = sample(lines, ABOUT_LINES, f"{character.name}\0about\0{room}")
    return f"# About {character.name}\n" + "\n".join(lines) if lines else ""


def traits(character: Character, room: str) -> str:
    """A sentence of adjectives and one of topics."""
    seed = f"{character.name}\0traits\0{room}"
    sentences = []
    if character.adjectives:
        sentences.append(f"{character.name} is {_listing(sample(character.adjectives, ADJECTIVES, seed))}.")
    if character.topics:
        sentences.append(f"{character.name} is interested in {_listing(sample(character.topics, TOPICS, seed))}.")
    return " ".join(sentences)


def directions(character: Character, kind: Kind = "chat") -> str:
    """`style.all` with `style.chat` (or `style.post` for posts), as a list of directions."""
    lines = [*character.style.all, *(character.style.chat if kind == "chat" else character.style.post)]
    if not lines:
        return ""
    heading = "Message" if kind == "chat" else "Post"
    return f"# {heading} directions for {character.name}\n" + "\n".join(f"- {d}" for d in lines[:DIRECTION_LINES])


def examples(character: Character, room: str, kind: Kind = "chat") -> str:
    """Example conversations (or posts), a stable sample, placeholders replaced by names."""
    if kind == "post":
        posts = sample(character.post_examples, POST_EXAMPLES, f"{character.name}\0posts\0{room}")
        return f"# Example posts by {character.name}\n" + "\n".join(posts) if posts else ""
    rendered = [_conversation(character, c) for c in conversations(character, room)]
    if not rendered:
        return ""
    return f"# Example conversations with {character.name}\n" + "\n\n".join(rendered)


def conversations(character: Character, room: str) -> list[Sequence[ExampleMessage]]:
    """The example conversations a chat prompt shows: a stable sample, each cut to EXAMPLE_MESSAGES."""
    chosen = sample(character.message_examples, EXAMPLES, f"{character.name}\0examples\0{room}")
    return [c[:EXAMPLE_MESSAGES] for c in chosen if c]


class Line(NamedTuple):
    """An example message as a prompt shows it: placeholders replaced, text cut to EXAMPLE_CHARS."""

    speaker: str
    text: str
    mine: bool  # said by the agent
    actions: tuple[str, ...]


def example_lines(character: Character, conversation: Sequence[ExampleMessage]) -> list[Line]:
    """A conversation's messages that say or do something, placeholders replaced by names."""
    names = iter(_NAMES)
    chosen: dict[str, str] = {}

    def name_for(match: re.Match[str]) -> str:
        key = (match.group(2) or "1").lstrip("0") or "0"
        if key not in chosen:
            chosen[key] = next(names, f"User {key}")
        return chosen[key]

    def fill(text: str) -> str:
        return _AGENT.sub(character.name, _PLACEHOLDER.sub(name_for, text))

    out = []
    for message in conversation:
        if not message.text and not message.actions:
            continue  # nothing said: nothing to show
        mine = character.is_agent(message.speaker)
        speaker = character.name if mine else fill(message.speaker)
        out.append(Line(speaker, fill(message.text)[:EXAMPLE_CHARS], mine, tuple(message.actions)))
    return out


def example_messages(character: Character, conversation: Sequence[ExampleMessage]) -> list[tuple[str, str, bool]]:
    """A conversation's messages as (speaker, text, said by the agent), placeholders replaced,
    actions other than REPLY noted after the text."""
    out = []
    for line in example_lines(character, conversation):
        text = line.text
        if line.actions and set(line.actions) != {"REPLY"}:
            text += f" (actions: {', '.join(line.actions)})"
        out.append((line.speaker, text, line.mine))
    return out


def _conversation(character: Character, conversation: Sequence[ExampleMessage]) -> str:
    return "\n".join(f"{speaker}: {text}" for speaker, text, _ in example_messages(character, conversation))


def _listing(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"
