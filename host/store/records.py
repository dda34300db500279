"""What the store keeps besides memories and entities (which are `plugin_sdk.types`): agents,
worlds, rooms, participants, relationships, runs and embeddings, as the host sees them.

Ids are strings (UUIDs when the store makes them; callers may bring their own), times are
milliseconds since the epoch, UTC.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from plugin_sdk.types import Memory

#: A participant's per-room state: none, or one of these.
FOLLOWED, MUTED = "FOLLOWED", "MUTED"
PARTICIPANT_STATES = (FOLLOWED, MUTED)

#: A run's status: STARTED until it ends with one of the others.
RUN_STARTED = "started"
RUN_INTERRUPTED = "interrupted"  # the host stopped (or was killed) before the run ended


def now_ms() -> int:
    """The current time, milliseconds since the epoch (UTC)."""
    return int(time.time() * 1000)


@dataclass(slots=True)
class Agent:
    """An agent the store holds rows for."""

    id: str
    name: str = ""
    enabled: bool = True
    settings: dict[str, Any] = field(default_factory=dict)
    created_at_ms: int = 0
    updated_at_ms: int = 0


@dataclass(slots=True)
class World:
    """A server or community rooms belong to (a Discord guild, a workspace)."""

    agent_id: str
    id: str = ""
    name: str = ""
    server_id: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    created_at_ms: int = 0


@dataclass(slots=True)
class Room:
    """Where messages are exchanged. `type`: DM, GROUP, API, SELF, ...; `source`: the client it comes from."""

    agent_id: str
    id: str = ""
    name: str = ""
    type: str = ""
    source: str = ""
    world_id: str = ""
    channel_id: str = ""
    server_id: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    created_at_ms: int = 0


@dataclass(slots=True)
class Participant:
    """An entity in a room, and its state there ("" when neither followed nor muted)."""

    agent_id: str
    room_id: str
    entity_id: str
    state: str = ""
    created_at_ms: int = 0


@dataclass(slots=True)
class Relationship:
    """What an agent knows of two entities together: tags and how often they interacted."""

    agent_id: str
    source_entity_id: str
    target_entity_id: str
    id: str = ""
    tags: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    interaction_count: int = 0
    created_at_ms: int = 0
    updated_at_ms: int = 0


@dataclass(slots=True)
class RunRecord:
    """One message's run as stored: `ended_at_ms` is 0 while it runs."""

    agent_id: str
    id: str = ""
    room_id: str = ""
    message_id: str = ""
    status: str = RUN_STARTED
    started_at_ms: int = 0
    ended_at_ms: int = 0
    timings: dict[str, float] = field(default_factory=dict)  # step name -> milliseconds
    error: str = ""
    events: list[dict[str, Any]] = field(default_factory=list)  # what it streamed, kept when it ended
    host_id: str = ""  # the host that runs it, in a deployment of several ("" = a host on its own)


@dataclass(slots=True)
class Embedding:
    """A memory's vector from one model; `dimension` is len(vector)."""

    agent_id: str
    memory_id: str
    model: str
    vector: list[float]
    dimension: int = 0
    created_at_ms: int = 0


@dataclass(slots=True)
class ScoredMemory:
    """A memory found by similarity search, with its cosine similarity to the query (-1 to 1)."""

    memory: Memory
    score: float
