"""Helpers for the pipeline's tests: character files with the settings a test needs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def character_file(folder: Path, name: str = "Ada", **fields: Any) -> Path:
    """A v1 character file named `name` with `fields` (settings=..., username=..., templates=...)."""
    path = folder / f"{name.lower()}.character.json"
    path.write_text(json.dumps({"name": name, "bio": ["A test agent."], **fields}))
    return path


def queueing(folder: Path) -> Path:
    """A character whose double-message policy is `queue`: every message of a room is answered."""
    return character_file(folder, settings={"DOUBLE_MESSAGE_POLICY": "queue"})
