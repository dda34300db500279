"""`agenthost character check FILE...`: read character files as `serve --character` does and say
what each holds (or, with --json, print it as a current elizaOS file)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from ..agent.character import Character, CharacterError, load_character
from .client import fail
from .output import dumps

REDACTED = "<redacted>"


def add_character_commands(sub: Any) -> None:
    parser = sub.add_parser("character", help="check elizaOS character files")
    commands = parser.add_subparsers(dest="action", required=True)
    check = commands.add_parser("check", help="read character files as `serve --character` does; say what each holds")
    check.add_argument("files", nargs="+", type=Path, metavar="FILE")
    check.add_argument(
        "--json",
        action="store_true",
        help="print each as a current elizaOS file (older fields migrated, unknown ones kept, secret values redacted)",
    )
    check.set_defaults(func=cmd_character_check)


def cmd_character_check(args: argparse.Namespace) -> None:
    characters = []
    for path in args.files:
        try:
            characters.append(load_character(path))
        except CharacterError as exc:
            fail(str(exc), 2)
    if args.json:
        docs = [_redacted(c.to_dict()) for c in characters]
        lines = [dumps(docs[0] if len(docs) == 1 else docs)]
    else:
        lines = [f"{path}: {summary(character)}" for path, character in zip(args.files, characters)]
    try:
        print("\n".join(lines), flush=True)
    except BrokenPipeError:  # `| head` stopped reading: not an error of ours, and no traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def summary(c: Character) -> str:
    """One line: the name, the id, and how much of each field the file has."""
    counts = {
        "bio lines": len(c.bio),
        "lore lines": len(c.lore),
        "adjectives": len(c.adjectives),
        "topics": len(c.topics),
        "example conversations": len(c.message_examples),
        "example posts": len(c.post_examples),
        "style lines": len(c.style.all) + len(c.style.chat) + len(c.style.post),
        "knowledge sources": len(c.knowledge),
        "secrets": len(c.secrets),
    }
    parts = [f"{n} {what}" for what, n in counts.items() if n]
    named = {
        "templates": list(c.templates),
        "plugins": list(c.plugins),
        "clients": list(c.clients),
        "settings": list(c.setting_values),
        "other fields kept": list(c.extra),
    }
    parts += [f"{what}: {', '.join(names)}" for what, names in named.items() if names]
    if c.model_provider:
        parts.append(f"model provider: {c.model_provider}")
    return f"{c.name} (agent id {c.agent_id}): " + "; ".join(parts or ["no other fields"])


def _redacted(doc: dict[str, Any]) -> dict[str, Any]:
    """Secret values replaced, wherever the file put them, so they do not end up on a terminal."""
    doc = dict(doc)
    if "secrets" in doc:
        doc["secrets"] = {k: REDACTED for k in doc["secrets"]}
    return doc
