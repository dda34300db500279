"""The background embedding queue: every memory of the agent gets a vector of the current
embedding model, off the message's hot path.

Its state is the database, not RAM: the work is the memories without a vector of the current
(model, dimension) (`Store.memories_to_embed`), so after a restart, a new model or a new
dimension the same walk finds it again, and vectors of other models or dimensions are never
mixed with the current ones (a search asks for the current pair). Nothing is dropped silently:
a text the model refuses is logged and stored as a zero vector (never found by a search, not
retried), a model that is down is retried with backoff, and a whole walk from the oldest
memory is made every `rescan_s` (5 minutes) for anything a cursor walk could miss (a memory
stored with an older time, a failure retried). The walk reads 500 memories per statement: a
2,000-memory window held the store's thread ~45 ms at 100k memories, one statement over them
all 1-1.5 s.

The model and its dimension are probed at start (and again when an answer does not fit them),
from a TEXT_EMBEDDING call through the host's `Models` (the router, else plugin model handlers).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Any, Protocol

import grpc

from plugin_sdk.types import Memory, ModelOutput

from ..store import Embedding, Store, StoreUnavailable

log = logging.getLogger("host.memory")

#: Near-duplicates: a memory this similar to an earlier one of its agent, room and type is not unique.
DUPLICATE_SIMILARITY = 0.95


class EmbeddingModel(Protocol):
    """What the queue calls: `host.agent.models.Models`."""

    async def use(self, model_type: str, params: dict[str, Any], timeout: float | None = None) -> ModelOutput: ...


@dataclass
class QueueStatus:
    """What the queue has done since start; `model` and `dimension` are "" and 0 until probed."""

    model: str = ""
    dimension: int = 0
    embedded: int = 0
    refused: int = 0
    duplicates: int = 0
    last_error: str = ""


class ModelChanged(Exception):
    """An answer came from another model, or had another length, than the probe found."""


class EmbeddingQueue:
    """Embeds the agent's memories in the background, `batch` at a time, `concurrency` calls at once."""

    def __init__(
        self,
        store: Store,
        models: EmbeddingModel,
        agent_id: str,
        *,
        batch: int = 16,
        concurrency: int = 2,
        idle_s: float = 0.5,
        rescan_s: float = 300.0,
        max_chars: int = 2000,
        call_timeout_s: float = 60.0,
    ) -> None:
        self.store, self.models, self.agent_id = store, models, agent_id
        self.batch, self.concurrency = batch, concurrency
        self.idle_s, self.rescan_s = idle_s, rescan_s
        self.max_chars = max_chars  # a longer text is embedded by its beginning (the model's context is bounded)
        self.call_timeout_s = call_timeout_s
        self.status = QueueStatus()
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._ready = asyncio.Event()
        self._requested = self._finished = 0  # walks from the oldest memory asked for, and done

    # -- lifecycle -------------------------------------------------------------

    def start(self) -> None:
        """Start the queue's task (probe, then walk); returns at once."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"embedding-queue-{self.agent_id}")

    async def stop(self) -> None:
        """Stop the task; a batch under way is abandoned (its memories are found again next start)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def notify(self) -> None:
        """New memories were stored: look now rather than after the idle wait."""
        self._wake.set()

    async def ready(self, timeout: float | None = None) -> bool:
        """Wait until the model is probed; False when `timeout` passes first."""
        try:
            await asyncio.wait_for(self._ready.wait(), timeout)
        except asyncio.TimeoutError:
            return False
        return True

    async def drained(self, timeout: float = 60.0) -> bool:
        """Wait until a walk from the oldest memory, begun after this call, finds nothing left
        to embed; False when `timeout` passes first."""
        self._requested += 1
        wanted, deadline = self._requested, time.monotonic() + timeout
        self._wake.set()
        while self._finished < wanted:
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.05)
        return True

    # -- queries ---------------------------------------------------------------

    async def embed_query(self, text: str) -> tuple[str, list[float]]:
        """The current model's name and its vector for `text` (a search's query); ModelNotReady
        before the probe has answered."""
        if not self._ready.is_set():
            raise ModelNotReady("the embedding model has not answered yet; try again in a few seconds")
        vector = await self._embed(text)
        return self.status.model, vector

    # -- the walk --------------------------------------------------------------

    async def _run(self) -> None:
        backoff = 1.0
        while True:
            try:
                await self._probe()
                backoff = 1.0
                await self._walk()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the model or the database is down: try again later
                self.status.last_error = f"{type(exc).__name__}: {exc}"
                level = logging.DEBUG if isinstance(exc, (ModelNotReady, StoreUnavailable)) else logging.WARNING
                log.log(level, "embedding queue: %s; retrying in %.0f s", self.status.last_error, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)  # the router takes seconds to start: look again soon

    async def _probe(self) -> None:
        """Find the model and its dimension; a change starts re-embedding (the walk's key changes)."""
        output = await self._call("dimension probe")
        model, dimension = output.served_by or "embedding", len(output.embedding)
        if not dimension:
            raise ModelNotReady(f"the TEXT_EMBEDDING model {model} answered with no vector")
        if (model, dimension) != (self.status.model, self.status.dimension):
            if self.status.model:
                log.warning(
                    "embedding model is now %s (%d dimensions), was %s (%d): memories are re-embedded "
                    "in the background; searches use the new model's vectors only",
                    model,
                    dimension,
                    self.status.model,
                    self.status.dimension,
                )
            else:
                log.info("embedding model %s, %d dimensions", model, dimension)
            self.status.model, self.status.dimension = model, dimension
        self._ready.set()

    async def _walk(self) -> None:
        """Embed what lacks a vector, oldest first, from a cursor; from the oldest memory again
        every `rescan_s` and when `drained` asks."""
        start: tuple[int, str] = (0, "")
        pass_number: int | None
        cursor, pass_number = start, self._requested
        rescan_at = time.monotonic() + self.rescan_s
        while True:
            found, scanned_to = await self.store.memories_to_embed(
                self.agent_id, self.status.model, self.status.dimension, self.batch, cursor
            )
            if found:
                await self._embed_batch(found)
                # A full batch may leave more in this window; a short one was all of it.
                cursor = _key(found[-1]) if len(found) == self.batch or scanned_to is None else scanned_to
                continue
            if scanned_to is not None:  # nothing to do in this window: on to the next
                cursor = scanned_to
                continue
            if pass_number is not None:  # a walk from the oldest memory found nothing more
                self._finished = max(self._finished, pass_number)
            self._wake.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.idle_s)
            if self._requested > self._finished or time.monotonic() >= rescan_at:
                cursor, pass_number = start, self._requested
                rescan_at = time.monotonic() + self.rescan_s
            else:
                pass_number = None  # new memories are newer than the cursor

    async def _embed_batch(self, memories: list[Memory]) -> None:
        limit = asyncio.Semaphore(self.concurrency)

        async def one(memory: Memory) -> None:
            async with limit:
                await self._embed_memory(memory)

        results = await asyncio.gather(*(one(m) for m in memories), return_exceptions=True)
        for result in results:
            if isinstance(result, ModelChanged):
                raise ModelNotReady(str(result))  # re-probe, then walk with the new key
            if isinstance(result, BaseException):
                raise result

    async def _embed_memory(self, memory: Memory) -> None:
        text = memory.content.text.strip()[: self.max_chars]
        vector = [0.0] * self.status.dimension
        if text:
            try:
                vector = await self._embed(text)
            except RefusedText as exc:
                self.status.refused += 1
                log.warning("memory %s not embedded (stored as a zero vector, never found): %s", memory.id, exc)
        stored = await self.store.put_embedding(Embedding(self.agent_id, memory.id, self.status.model, vector))
        if not stored:
            return  # deleted meanwhile
        self.status.embedded += 1
        if any(vector):
            await self._mark_duplicate(memory, vector)

    async def _mark_duplicate(self, memory: Memory, vector: list[float]) -> None:
        """Mark `memory` not unique when an earlier memory of its room and type is a near-duplicate."""
        similar = await self.store.search_memories(
            self.agent_id,
            vector,
            self.status.model,
            table_name=memory.table_name,
            room_id=memory.room_id,
            threshold=DUPLICATE_SIMILARITY,
            limit=4,
        )
        earlier = [
            s for s in similar if s.memory.id != memory.id and (s.memory.created_at_ms, s.memory.id) < _key(memory)
        ]
        if earlier:
            await self.store.set_unique(self.agent_id, memory.id, False)
            self.status.duplicates += 1

    async def _embed(self, text: str) -> list[float]:
        output = await self._call(text)
        model = output.served_by or "embedding"
        if (model, len(output.embedding)) != (self.status.model, self.status.dimension):
            raise ModelChanged(
                f"an embedding came from {model} with {len(output.embedding)} dimensions, "
                f"expected {self.status.model} with {self.status.dimension}"
            )
        return output.embedding

    async def _call(self, text: str) -> ModelOutput:
        # Imported here: the memory package does not otherwise depend on the agent package.
        from ..agent.models import ModelError

        try:
            return await self.models.use("TEXT_EMBEDDING", {"prompt": text}, timeout=self.call_timeout_s)
        except ModelError as exc:
            if exc.code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.OUT_OF_RANGE):
                raise RefusedText(str(exc)) from None
            raise ModelNotReady(f"TEXT_EMBEDDING failed ({exc.code.name}): {exc}") from None


def _key(memory: Memory) -> tuple[int, str]:
    return (memory.created_at_ms, memory.id)


class ModelNotReady(Exception):
    """No embedding model answers now (not started, down, or changed)."""


class RefusedText(Exception):
    """The model refuses this text (too long, not text): retrying will not help."""
