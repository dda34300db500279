"""The plain types a plugin author works with; converted to and from protos at the edge."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Attachment:
    """A file or link carried by a message."""

    id: str = ""
    url: str = ""
    content_type: str = ""
    title: str = ""
    description: str = ""
    text: str = ""


@dataclass(slots=True)
class Content:
    """What a message or reply says."""

    text: str = ""
    actions: list[str] = field(default_factory=list)
    source: str = ""
    thought: str = ""
    attachments: list[Attachment] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Memory:
    """A stored message or fact."""

    content: Content = field(default_factory=Content)
    id: str = ""
    entity_id: str = ""
    agent_id: str = ""
    room_id: str = ""
    world_id: str = ""
    created_at_ms: int = 0
    table_name: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class State:
    """Context composed from providers for one message."""

    values: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    text: str = ""


@dataclass(slots=True)
class Entity:
    """A user, agent or other participant."""

    id: str = ""
    agent_id: str = ""
    names: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class ProviderResult:
    """One provider's contribution to state."""

    text: str = ""
    values: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class ActionResult:
    """What an action or evaluator returns."""

    success: bool = True
    text: str = ""
    values: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    error: str = ""


@dataclass(slots=True)
class ModelOutput:
    """A model call's output: text, an embedding or structured data."""

    text: str = ""
    embedding: list[float] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    served_by: str = ""
