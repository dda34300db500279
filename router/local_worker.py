"""`python -m router.local_worker --kind chat|embed --name NAME --model PATH --n-ctx N`: one
llama.cpp model in a process of its own, serving the router's `LocalModel` or `LocalEmbeddingModel`.

Why a process: llama.cpp is native code, and a native crash (a build tuned to another CPU
segfaults at its first decode; a failed assertion aborts) ends the process it happens in. Here it
ends this worker, the router reports it and starts another; the router and its other calls live on.

Requests arrive on stdin, replies leave on stdout (`router.worker_protocol`); file descriptor 1 is
pointed at stderr for anything llama.cpp prints. Calls run one at a time on one thread (llama.cpp's
`Llama` is not thread-safe), streamed calls first, the others in arrival order (`Worker`), while
the main thread keeps reading, so a cancel reaches the call it stops. End of stdin (the router
closed it, or died) ends the worker at once.
"""

from __future__ import annotations

import argparse
import contextlib
import heapq
import itertools
import os
import sys
import threading
import time
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import llama_cpp
from llama_cpp import LlamaGrammar

from .local_types import (
    Delta,
    Embeddings,
    Generation,
    GenerationRequest,
    Loaded,
    LocalModelError,
    Usage,
    missing_model_hint,
)
from .worker_protocol import (
    CALL,
    CANCEL,
    DELTA,
    DONE,
    EMBED,
    ERROR,
    GENERATE,
    LOAD,
    LOADED,
    STREAM,
    read_frame,
    write_frame,
)

_GRAMMAR_CACHE_SIZE = 32
#: Evaluated prompts the chat worker keeps (llama-cpp-python's LlamaRAMCache, least recently used
#: out): a prompt that shares its start with a kept one (the system prompt, the conversation so
#: far) evaluates only what follows. llama.cpp alone keeps just the last prompt, so the
#: shouldRespond or reflection call between two replies made each reply's whole prompt cold:
#: ~9 CPU-s for SmolLM2 at ~500 tokens, ~1.5-2.5 with this (BENCHMARKS.md). A state is about 23 kB
#: per token for SmolLM2-135M (11.5 MB at 500 tokens).
PROMPT_CACHE_BYTES = 256 << 20
_PROBE = "The capital of France is"
#: Prompt tokens evaluated at a time: where a whole completion can stop for a streamed call.
EVAL_PIECE = 64
_PRIORITY = {STREAM: 0}  # served first; every other call after
_LATER = 1
_PREEMPTIBLE = frozenset({GENERATE})  # what a streamed call may stop (a whole completion: nothing sent yet)
Emit = Callable[[Delta], None]


class Preempted(Exception):
    """A whole completion stopped for a streamed call; the worker runs it again after that."""


class ServedModel(ABC):
    """One `Llama`, made on the first call that needs it; `on_loaded` hears of each load."""

    embeds = False

    def __init__(
        self, name: str, path: Path, n_ctx: int, n_threads: int | None, on_loaded: Callable[[Loaded], None]
    ) -> None:
        self.name = name
        self.path = path
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.on_loaded = on_loaded

    @abstractmethod
    def serve(
        self, op: str, argument: Any, cancel: threading.Event, emit: Emit, preempt: threading.Event | None = None
    ) -> Any:
        """Run one operation; a stream's pieces go to `emit` as they come. A whole completion stops
        (Preempted) once `preempt` is set."""

    @abstractmethod
    def _make_llama(self, **kwargs: Any) -> llama_cpp.Llama:
        """A new `Llama` from the common arguments (path, context size, threads, quiet)."""

    def _load(self) -> llama_cpp.Llama:
        if not self.path.is_file():
            raise LocalModelError(f"local model file not found: {self.path}{missing_model_hint(self.path)}")
        started = time.perf_counter()
        kwargs: dict[str, Any] = {"model_path": str(self.path), "n_ctx": self.n_ctx, "verbose": False}
        if self.n_threads is not None:
            kwargs["n_threads"] = self.n_threads
        try:
            llama = self._make_llama(**kwargs)
        except Exception as exc:  # llama.cpp reports a bad file as a bare ValueError
            raise LocalModelError(f"could not load local model {self.path}: {exc}") from exc
        dimension = llama.n_embd() if self.embeds else None
        info = llama_cpp.llama_print_system_info().decode(errors="replace").strip()
        self.on_loaded(Loaded(time.perf_counter() - started, dimension, info))
        return llama


class ChatModel(ServedModel):
    """Chat completions, whole (GENERATE) or streamed (STREAM); LOAD proves the model with one token."""

    _llama: _CountingLlama | None = None

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._grammars: OrderedDict[str, LlamaGrammar] = OrderedDict()

    def _make_llama(self, **kwargs: Any) -> _CountingLlama:
        llama = _CountingLlama(**kwargs)
        llama.set_cache(llama_cpp.LlamaRAMCache(capacity_bytes=PROMPT_CACHE_BYTES))
        return llama

    def _ensure_loaded(self) -> _CountingLlama:
        if self._llama is None:
            llama = self._load()
            assert isinstance(llama, _CountingLlama)
            self._llama = llama
        return self._llama

    def serve(
        self, op: str, argument: Any, cancel: threading.Event, emit: Emit, preempt: threading.Event | None = None
    ) -> Any:
        if op == LOAD:
            # A build that cannot run on this CPU fails here, not at the first real call: a prompt of
            # a few tokens (a batch) and one generated token (a single-token decode), the two kinds of
            # decode a generation makes; a few ms.
            llama = self._ensure_loaded()
            llama.begin(cancel)
            llama.create_completion(_PROBE, max_tokens=2, temperature=0.0)
            return None
        if op == GENERATE:
            return self._generate(argument, cancel, preempt)
        if op == STREAM:
            self._stream(argument, cancel, emit)
            return None
        raise LocalModelError(f"a chat model does not serve {op!r}", 400)

    def _generate(
        self, request: GenerationRequest, cancel: threading.Event, preempt: threading.Event | None
    ) -> Generation:
        llama = self._ensure_loaded()
        args = self._completion_args(llama, request, cancel, preempt)
        with translate_errors():
            result: Any = llama.create_chat_completion(**args)
        choice = result["choices"][0]
        usage = result["usage"]
        return Generation(
            text=choice["message"]["content"] or "",
            finish_reason=choice["finish_reason"] or "stop",
            usage=Usage(usage["prompt_tokens"], usage["completion_tokens"]),
        )

    def _stream(self, request: GenerationRequest, cancel: threading.Event, emit: Emit) -> None:
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

    def _completion_args(
        self,
        llama: _CountingLlama,
        request: GenerationRequest,
        cancel: threading.Event,
        preempt: threading.Event | None = None,
    ) -> dict[str, Any]:
        llama.begin(cancel, preempt)
        args: dict[str, Any] = {
            "messages": [{"role": m["role"], "content": m["content"]} for m in request.messages],
            "max_tokens": request.max_tokens,
            "stop": list(request.stop),
        }
        if request.temperature is not None:
            args["temperature"] = request.temperature
        if request.seed is not None:
            args["seed"] = request.seed
        if request.grammar:
            args["grammar"] = self._grammar(llama, request.grammar)
        return args

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


class EmbeddingModel(ServedModel):
    """Embeddings (EMBED); LOAD proves the model with one short text.

    The vector of a text is pooled from its tokens' final hidden states the way the GGUF says
    (all-MiniLM-L6-v2: the mean), L2-normalised. A GGUF that names no pooling (SmolLM2, a chat
    model: llama.cpp would return one vector per token) is mean-pooled.
    """

    embeds = True
    _llama: llama_cpp.Llama | None = None

    def _make_llama(self, **kwargs: Any) -> llama_cpp.Llama:
        # Pooling needs each text whole in one physical batch, so a batch is the whole context (512
        # tokens for BERT models, their positions); several texts share a batch while they fit.
        # llama.cpp also computes logits for every token in this mode, which costs memory, not
        # correctness (a chat model: ~0.4 MB per token of the largest batch, held for the worker's
        # life; an encoder has no vocabulary head).
        # One thread unless told otherwise (llama.cpp's default for a batch is every core): embedding is
        # background work, and on two busy cores one thread took 210-270 ms per 1,000-character text
        # where two took 375-660 ms (their threads wait for each other on shared cores); the other
        # core is left to the chat worker.
        threads = kwargs.pop("n_threads", 1)
        settings: dict[str, Any] = {"embedding": True, "n_batch": self.n_ctx, "n_ubatch": self.n_ctx, **kwargs}
        settings.update(n_threads=threads, n_threads_batch=threads)
        llama = llama_cpp.Llama(**settings)
        if llama.pooling_type() == llama_cpp.LLAMA_POOLING_TYPE_NONE:
            llama.close()
            llama = llama_cpp.Llama(pooling_type=llama_cpp.LLAMA_POOLING_TYPE_MEAN, **settings)
        return llama

    def serve(
        self, op: str, argument: Any, cancel: threading.Event, emit: Emit, preempt: threading.Event | None = None
    ) -> Any:
        if op == LOAD:
            self._embed(["ok"])
            return None
        if op == EMBED:
            return self._embed(argument)
        raise LocalModelError(f"an embedding model does not serve {op!r}", 400)

    def _embed(self, texts: list[str]) -> Embeddings:
        if not texts:
            return Embeddings([], 0)
        if self._llama is None:
            self._llama = self._load()
        llama = self._llama
        # Checked here because llama.cpp fails on both after filling its batch, and an empty
        # sequence leaves the context broken (a later call can abort the process).
        # An empty text is refused even where the model adds tokens of its own (BERT's [CLS] and [SEP]).
        for i, text in enumerate(texts):
            data = text.encode("utf-8")
            if not llama.tokenize(data, add_bos=False):
                raise LocalModelError(f"input {i} is empty: there is nothing to embed", status=400)
            n_tokens = len(llama.tokenize(data))
            if n_tokens > self.n_ctx:
                raise LocalModelError(f"input {i} is {n_tokens} tokens; {self.name} embeds at most {self.n_ctx}", 400)
        with translate_errors():
            vectors, prompt_tokens = llama.embed(texts, normalize=True, truncate=False, return_count=True)
        return Embeddings([[float(x) for x in vector] for vector in vectors], int(prompt_tokens))


class _CountingLlama(llama_cpp.Llama):
    """A `Llama` that counts the tokens it samples (llama.cpp reports no usage in streams), stops
    sampling once its caller is gone, and checks grammars before llama.cpp uses them."""

    _prompt_tokens = 0
    _sampled: list[int] = []
    _cancel: threading.Event | None = None
    _preempt: threading.Event | None = None
    prompt_cache_hits = 0  # generations that started from a kept prompt's state
    evaluated_tokens = 0  # tokens the model has read (prompts' uncached parts, then each sampled token)

    def load_state(self, state: llama_cpp.LlamaState) -> None:
        self.prompt_cache_hits += 1  # only the prompt cache loads states
        super().load_state(state)

    def eval(self, tokens: Any) -> None:
        # In pieces, so a preempted generation stops within one (~1 s of a loaded core for
        # SmolLM2) rather than after its whole prompt; the pieces add up to the same state.
        for start in range(0, len(tokens), EVAL_PIECE):
            self._check_preempt()
            piece = tokens[start : start + EVAL_PIECE]
            self.evaluated_tokens += len(piece)
            super().eval(piece)

    def begin(self, cancel: threading.Event, preempt: threading.Event | None = None) -> None:
        """Start counting for a new generation, which stops when `cancel` is set (LocalModelError
        499) or `preempt` is (Preempted)."""
        self._prompt_tokens = -1
        self._sampled = []
        self._cancel = cancel
        self._preempt = preempt

    def _check_preempt(self) -> None:
        if self._preempt is not None and self._preempt.is_set():
            raise Preempted()

    def sample(self, *args: Any, **kwargs: Any) -> Any:
        if self._cancel is not None and self._cancel.is_set():
            # create_chat_completion takes no stopping criteria: unwinding is the way out.
            raise LocalModelError("the caller went away", status=499)
        self._check_preempt()
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


@dataclass(order=True)
class _Call:
    """A call waiting or running: served by priority (a stream first), then in arrival order."""

    priority: int
    number: int
    call_id: int = field(compare=False)
    op: str = field(compare=False)
    argument: Any = field(compare=False)
    cancel: threading.Event = field(compare=False, default_factory=threading.Event)
    preempt: threading.Event = field(compare=False, default_factory=threading.Event)
    stopped: bool = field(compare=False, default=False)  # stopped once for a stream: not again


class Worker:
    """Reads requests until end of input, runs calls one at a time, writes replies.

    A streamed call goes first: it is someone reading the reply as it is written (the pipeline
    streams its replies), where a whole completion is work nobody watches (a reflection, a
    summary). One that arrives while a whole completion runs stops it at its next 64 tokens
    (`_CountingLlama.eval`) or sample, runs, and the stopped call starts again after it: a
    reflection started right after a reply (~200 prompt tokens, 4-7 CPU-s here) no longer holds
    up the next reply by its whole length (BENCHMARKS.md, the first chat). A call is stopped
    once at most: its caller's deadline (the host gives an evaluator 30 s) must not run out
    while a quick conversation keeps it waiting.
    """

    def __init__(self, replies: IO[bytes]) -> None:
        self._replies = replies
        self._writing = threading.Lock()
        self._queue: list[_Call] = []
        self._changed = threading.Condition()
        self._running: _Call | None = None
        self._numbers = itertools.count()
        self._cancels: dict[int, threading.Event] = {}

    def send(self, message: tuple[Any, ...]) -> None:
        with self._writing:
            write_frame(self._replies, message)

    def run(self, model: ServedModel, requests: IO[bytes]) -> None:
        """Serve until stdin ends; then leave at once (a call in progress has nobody to answer)."""
        threading.Thread(target=self._serve_calls, args=(model,), name="local-model", daemon=True).start()
        while (message := read_frame(requests)) is not None:
            if message[0] == CALL:
                _, call_id, op, argument = message
                call = _Call(_PRIORITY.get(op, _LATER), next(self._numbers), call_id, op, argument)
                self._cancels[call_id] = call.cancel
                with self._changed:
                    heapq.heappush(self._queue, call)
                    running = self._running
                    if (
                        running is not None
                        and running.op in _PREEMPTIBLE
                        and not running.stopped
                        and call.priority < running.priority
                    ):
                        running.preempt.set()
                    self._changed.notify()
            elif message[0] == CANCEL and (found := self._cancels.get(message[1])) is not None:
                found.set()
        sys.stderr.flush()
        os._exit(0)

    def _serve_calls(self, model: ServedModel) -> None:
        while True:
            with self._changed:
                while not self._queue:
                    self._changed.wait()
                call = self._running = heapq.heappop(self._queue)
                call.preempt.clear()
            finished = self._serve(model, call)
            with self._changed:
                self._running = None
                if not finished:
                    call.stopped = True
                    heapq.heappush(self._queue, call)  # its place again: after what stopped it

    def _serve(self, model: ServedModel, call: _Call) -> bool:
        """Run one call and answer it; False when a streamed call stopped it (it runs again later)."""
        call_id = call.call_id
        try:
            if call.cancel.is_set():
                raise LocalModelError("cancelled before it started", 499)
            emit: Emit = lambda delta: self.send((DELTA, call_id, delta))  # noqa: E731
            result = model.serve(call.op, call.argument, call.cancel, emit, call.preempt)
            self.send((DONE, call_id, result))
        except Preempted:
            return False
        except LocalModelError as exc:
            self.send((ERROR, call_id, str(exc), exc.status))
        except Exception as exc:  # a bug here must reach the caller as an error, not hang it
            self.send((ERROR, call_id, f"{type(exc).__name__}: {exc}", 500))
        self._cancels.pop(call_id, None)
        return True


def main(argv: list[str] | None = None) -> None:
    """Parse the arguments, take stdout for replies, serve."""
    parser = argparse.ArgumentParser(prog="python -m router.local_worker")
    parser.add_argument("--kind", choices=["chat", "embed"], required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--n-ctx", type=int, required=True)
    parser.add_argument("--n-threads", type=int)
    args = parser.parse_args(argv)
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    worker = Worker(replies)
    kind = ChatModel if args.kind == "chat" else EmbeddingModel
    model = kind(args.name, args.model, args.n_ctx, args.n_threads, lambda loaded: worker.send((LOADED, loaded)))
    worker.run(model, sys.stdin.buffer)


if __name__ == "__main__":
    main()
