"""The agent's character: name, bio, system prompt, style and settings."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any


class CharacterError(ValueError):
    """A character file that cannot be used; the message names the file and field."""


@dataclass(frozen=True)
class Character:
    name: str
    bio: tuple[str, ...] = ()
    system: str = ""
    topics: tuple[str, ...] = ()
    style: tuple[str, ...] = ()
    settings: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)  # `settings.secrets` and `secrets`: only for granted plugins

    @property
    def agent_id(self) -> str:
        """A stable id derived from the name, used when the config gives none."""
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"agenthost:agent:{self.name}"))


def load_character(path: Path | None) -> Character:
    """Read a character JSON file, or the shipped default when `path` is None."""
    where = str(path) if path else "the default character"
    try:
        text = (
            path.read_text() if path else resources.files("host.agent").joinpath("characters/default.json").read_text()
        )
        raw: Any = json.loads(text)
    except FileNotFoundError:
        raise CharacterError(f"character file {where} does not exist") from None
    except json.JSONDecodeError as exc:
        raise CharacterError(f"character file {where} is not valid JSON: {exc}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str) or not raw["name"].strip():
        raise CharacterError(f"character file {where}: 'name' must be a non-empty string")
    try:
        settings = raw.get("settings", {})
        return Character(
            name=raw["name"].strip(),
            bio=tuple(raw.get("bio", ())),
            system=str(raw.get("system", "")),
            topics=tuple(raw.get("topics", ())),
            style=tuple(raw.get("style", ())),
            settings={str(k): str(v) for k, v in settings.items() if k != "secrets"},
            secrets={str(k): str(v) for k, v in {**settings.get("secrets", {}), **raw.get("secrets", {})}.items()},
        )
    except (TypeError, AttributeError) as exc:
        raise CharacterError(f"character file {where}: {exc}") from None
