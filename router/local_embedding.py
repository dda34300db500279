"""Offline text embeddings: a GGUF run by llama.cpp in embedding mode, in a worker process of its own.

Why a model of its own: llama.cpp fixes embedding mode and pooling when it makes a
context, so a chat `Llama` cannot embed; this is a second `Llama` over the same
GGUF (memory-mapped, so the weights are shared in the page cache). It has its own
worker process, so a short embedding does not queue behind a long generation.

The vector of a text is the mean of its tokens' final hidden states, L2-normalised
(cosine similarity is then a dot product); `router.local_worker` says how.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .local_model import WorkerModel, model_name_for
from .local_types import Embeddings, Loaded
from .worker_protocol import EMBED

DEFAULT_EMBEDDING_NAME = "smollm2-135m-embed"

__all__ = ["DEFAULT_EMBEDDING_NAME", "Embeddings", "LocalEmbeddingModel"]


class LocalEmbeddingModel(WorkerModel):
    """A GGUF model embedding texts off the event loop, in a worker process; the router creates one and owns it.

    Nothing is started until the first call (or `load()`). A text may be up to `n_ctx`
    tokens long; longer or empty texts are refused (status 400), not truncated.
    `dimension` is the vector length, known once the model is loaded.
    """

    kind = "embed"

    def __init__(
        self, model_path: str | Path, *, n_ctx: int = 2048, n_threads: int | None = None, name: str | None = None
    ) -> None:
        super().__init__(
            model_path, n_ctx=n_ctx, n_threads=n_threads, name=name or f"{model_name_for(Path(model_path))}-embed"
        )
        self.dimension: int | None = None

    async def embed(self, texts: Sequence[str]) -> Embeddings:
        """One vector per text, computed in as few llama.cpp batches as fit the context."""
        texts = list(texts)
        if not texts:
            return Embeddings([], 0)
        result: Embeddings = await self._call(EMBED, texts)
        return result

    def _on_loaded(self, loaded: Loaded) -> None:
        self.dimension = loaded.dimension
