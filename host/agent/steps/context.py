"""What the steps see of the pipeline that runs them (`StepContext`), and the pipeline's settings.

The steps take the pipeline as a StepContext, so they depend on what it offers, not on the
module that runs them (which imports the steps).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Callable, Protocol

from plugin_sdk.types import Content, Memory

from ...plugins.components import Components
from ...plugins.registry import Registry
from ...store import Store
from ..admission import Admission, AdmissionSettings
from ..attachment_settings import AttachmentSettings
from ..character import Character
from ..models import Models
from ..rooms import Rooms
from ..run import Turn

QUEUE, SUPERSEDE, MERGE = "queue", "supersede", "merge"
DOUBLE_MESSAGE_POLICIES = (SUPERSEDE, QUEUE, MERGE)


@dataclass(frozen=True)
class PipelineSettings:
    """Knobs of the pipeline."""

    history: int = 8  # earlier messages of the room given to the model
    history_chars: int = 600  # each cut to this many characters
    max_reply_tokens: int = 200
    generation_attempts: int = 3  # tries at a reply (and a shouldRespond decision) that parses
    model_type: str = "TEXT_LARGE"
    model_timeout: float = 120.0
    attachments: AttachmentSettings = AttachmentSettings()  # the host config's [attachments]
    #: Room types answered without asking the shouldRespond model.
    respond_without_asking: frozenset[str] = frozenset({"DM", "API", "SELF", "VOICE_DM"})
    decision_model_type: str = "TEXT_SMALL"  # the shouldRespond model
    decision_tokens: int = 80
    #: A newer message in the room while a reply is generated: "supersede" (the older reply is not
    #: sent), "queue" (both answered in order) or "merge" (the newer answered with the older in the
    #: same turn). A character's settings.DOUBLE_MESSAGE_POLICY overrides it.
    double_message_policy: str = SUPERSEDE
    room_state_ttl_s: float = 5.0  # how long a room's mute state read from the store is trusted
    stream_replies: bool = True  # REPLY_DELTA events while the router streams the reply
    admission: AdmissionSettings = AdmissionSettings()  # the host config's [admission]
    #: This host's id in a deployment of several (each run records the host that runs it); "" on its own.
    host_id: str = ""


@dataclass
class RoomTurns:
    """The runs of one room being handled: their places in arrival order (taken when a message
    arrives, before anything awaits, so a run slower to be stored or announced keeps its place),
    whose turn it is, how many runs hold or await the room, the newest message stored, and
    messages superseded but not yet answered."""

    users: int = 0
    places: int = 0  # places given out: a run's `seq` is its place
    serving: int = 1  # the place whose turn it is
    arrived: int = 0  # the newest place whose message is stored and waits for (or has) the room
    latest: str = ""  # that message's id
    owed: list[Memory] = field(default_factory=list)
    released: int = 0  # how many runs have given the room back (a history read before is stale)
    done: set[int] = field(default_factory=set)  # places given back out of turn
    waiting: dict[int, asyncio.Future[None]] = field(default_factory=dict)

    def place(self) -> int:
        """The next place in the room's line."""
        self.places += 1
        return self.places

    async def turn(self, place: int) -> None:
        """Until every earlier place has been given back."""
        if place != self.serving:
            waiter = self.waiting[place] = asyncio.get_running_loop().create_future()
            try:
                await waiter
            finally:
                self.waiting.pop(place, None)

    def give_back(self, place: int) -> None:
        """`place` is done with the room (it had its turn, or left the line before it): the next
        place still in line gets its turn. Giving a place back twice does nothing."""
        if place < self.serving or place in self.done:
            return
        self.done.add(place)
        while self.serving in self.done:
            self.done.discard(self.serving)
            self.serving += 1
        waiter = self.waiting.get(self.serving)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class StepContext(Protocol):
    """The pipeline as its steps use it."""

    agent_id: str
    character: Character
    store: Store
    components: Components
    models: Models
    registry: Callable[[], Registry]
    settings: PipelineSettings
    rooms: Rooms
    policy: str
    admission: Admission

    @property
    def merges(self) -> bool: ...
    def turns(self, room_id: str) -> RoomTurns: ...
    def arrive(self, turn: Turn) -> contextlib.AbstractContextManager[None]: ...
    def room(self, turn: Turn) -> contextlib.AbstractAsyncContextManager[None]: ...
    def answered(self, turn: Turn) -> None: ...
    async def is_agent(self, entity_id: str) -> bool: ...
    def owner(self, kind: str, name: str) -> str: ...
    async def say(self, message: Memory, content: Content) -> Memory: ...
