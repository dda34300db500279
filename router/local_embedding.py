"""Offline text embeddings: a GGUF run by llama.cpp in embedding mode, on its own worker thread.

Why a model of its own: llama.cpp fixes embedding mode and pooling when it makes a
context, so a chat `Llama` cannot embed; this is a second `Llama` over the same
GGUF (memory-mapped, so the weights are shared in the page cache). It has its own
worker thread, so a short embedding does not queue behind a long generation.

The vector of a text is the mean of its tokens' final hidden states, L2-normalised
(cosine similarity is then a dot product). The shipped SmolLM2 GGUF names no pooling
of its own (llama.cpp would return one vector per token), so mean pooling is asked
for; llama.cpp notes the override with one line on stderr when the model loads.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import llama_cpp

from router.local_model import LocalModelError, ThreadedLlama, model_name_for, translate_errors

DEFAULT_EMBEDDING_NAME = "smollm2-135m-embed"


class Embeddings(NamedTuple):
    """Unit-length vectors, one per input text in order, and the tokens they took (llama.cpp's count)."""

    vectors: list[list[float]]
    prompt_tokens: int


class LocalEmbeddingModel(ThreadedLlama[llama_cpp.Llama]):
    """A GGUF model embedding texts off the event loop; the router creates one and owns it.

    Nothing is loaded until the first call (or `load()`). A text may be up to `n_ctx`
    tokens long; longer or empty texts are refused (status 400), not truncated.
    `dimension` is the vector length, known once the model is loaded.
    """

    def __init__(
        self, model_path: str | Path, *, n_ctx: int = 2048, n_threads: int | None = None, name: str | None = None
    ) -> None:
        super().__init__(
            model_path, n_ctx=n_ctx, n_threads=n_threads, name=name or f"{model_name_for(Path(model_path))}-embed"
        )
        self.dimension: int | None = None

    async def embed(self, texts: Sequence[str]) -> Embeddings:
        """One vector per text, computed in as few llama.cpp batches as fit the context."""
        return await self._submit(self._run_embed, list(texts))

    # -- the worker thread side: the only code that touches Llama ------------

    def _make_llama(self, **kwargs: Any) -> llama_cpp.Llama:
        # Pooling needs each text whole in one physical batch, so a batch is the whole context.
        # llama.cpp also computes logits for every token in this mode, which costs memory, not
        # correctness: ~0.4 MB per token of the largest batch so far (+0.8 GB after 2,000 tokens),
        # held until `aclose()`.
        llama = llama_cpp.Llama(
            embedding=True,
            pooling_type=llama_cpp.LLAMA_POOLING_TYPE_MEAN,
            n_batch=self.n_ctx,
            n_ubatch=self.n_ctx,
            **kwargs,
        )
        self.dimension = llama.n_embd()
        return llama

    def _run_embed(self, texts: list[str]) -> Embeddings:
        if not texts:
            return Embeddings([], 0)
        llama = self._ensure_loaded()
        # Checked here because llama.cpp fails on both after filling its batch, and an empty
        # sequence leaves the context broken (a later call can abort the process).
        for i, text in enumerate(texts):
            n_tokens = len(llama.tokenize(text.encode("utf-8")))
            if n_tokens == 0:
                raise LocalModelError(f"input {i} is empty: there is nothing to embed", status=400)
            if n_tokens > self.n_ctx:
                raise LocalModelError(
                    f"input {i} is {n_tokens} tokens; {self.name} embeds at most {self.n_ctx}", status=400
                )
        with translate_errors():
            vectors, prompt_tokens = llama.embed(texts, normalize=True, truncate=False, return_count=True)
        return Embeddings([[float(x) for x in vector] for vector in vectors], int(prompt_tokens))
