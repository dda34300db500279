"""The router's offline default model: a small GGUF run by llama.cpp in a worker process.

Why a worker process: llama.cpp is native code, and its crashes end the process they happen in (a
build tuned to another CPU segfaults at its first decode; a failed assertion aborts). In a worker,
a crash costs the calls that worker had: the router, its other calls and a test run live on, and
the model says why it is down (`down`) until a restarted worker proves it again. Requests and
replies are small frames on pipes (`router.worker_protocol`); a stream is one frame per token.

The worker runs one call at a time, streamed ones first (llama.cpp's `Llama` is not thread-safe), and
loads the model once, on the first call that needs it or on `load()`. `WorkerModel` is that
discipline; `LocalModel` (chat) and, in `router.local_embedding`, `LocalEmbeddingModel` are built
on it. Nothing here imports llama.cpp: the router process never loads it.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncGenerator, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

from .local_types import (
    DEFAULT_MODEL_NAME,
    Delta,
    Generation,
    GenerationRequest,
    Loaded,
    LocalModelCrashed,
    LocalModelError,
    Usage,
    default_model_path,
    model_name_for,
)
from .worker_process import WorkerProcess, worker_argv
from .worker_protocol import GENERATE, LOAD, STREAM

__all__ = [
    "DEFAULT_MODEL_NAME",
    "Delta",
    "Generation",
    "GenerationRequest",
    "LocalModel",
    "LocalModelCrashed",
    "LocalModelError",
    "Usage",
    "WorkerModel",
    "default_model_path",
    "model_name_for",
]

# After a crash the model is down for RETRY_FIRST_S, doubling with each crash in a row up to
# RETRY_MAX_S: a crash that every start repeats (a build for another CPU) costs a worker start per
# minute, not a loop of them; a one-off (one input that crashes) costs half a second.
RETRY_FIRST_S = 0.5
RETRY_MAX_S = 60.0


class WorkerModel:
    """A llama.cpp model served by a worker process, started on the first call or by `load()`.

    `loads` counts loads (a restarted worker loads again), `load_seconds` is the last one's time,
    `system_info` llama.cpp's build features. `down` says why the model cannot answer now ("" when
    it can); calls while it is down fail at once (status 503), and the first call after `retry_at`
    (or `load()`) starts a new worker. `on_change` listeners hear of each change of `down`.
    """

    kind: ClassVar[str]  # the worker's --kind

    def __init__(self, model_path: str | Path, *, n_ctx: int, n_threads: int | None, name: str | None) -> None:
        self.path = Path(model_path)
        self.name = name or model_name_for(self.path)
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.loads = 0
        self.load_seconds: float | None = None
        self.system_info = ""
        self.down = ""
        self.crashes = 0  # in a row: reset by a call that succeeds
        self.retry_at = 0.0  # time.monotonic() after which a new worker may be tried
        self._worker: WorkerProcess | None = None
        self._proven: WorkerProcess | None = None  # the worker whose LOAD succeeded
        self._starting = threading.Lock()
        self._state = threading.Lock()
        self._listeners: list[Callable[[WorkerModel], None]] = []
        self._closed = False

    @property
    def pid(self) -> int | None:
        """The running worker's process id."""
        worker = self._worker
        return worker.pid if worker is not None and worker.alive else None

    def on_change(self, listener: Callable[[WorkerModel], None]) -> None:
        """Call `listener(model)` whenever `down` changes; it may be called from any thread."""
        self._listeners.append(listener)

    async def load(self) -> None:
        """Start the worker (a new one if the model is down), load the model and prove it with one
        decode. Raises LocalModelCrashed if the worker dies doing it, LocalModelError if it cannot
        load (a missing or bad file); either way the model is then down, saying why, until `retry_at`."""
        self._check_open()
        worker = await asyncio.to_thread(self._start_worker)
        if self._proven is not worker:
            try:
                await worker.call(LOAD, None)
            except LocalModelCrashed:
                raise  # counted by _exited, which ran first
            except LocalModelError as exc:
                with self._state:
                    self.retry_at = time.monotonic() + RETRY_MAX_S  # a file does not fix itself soon
                self._set_down(str(exc))
                raise
            self._proven = worker
        self._set_down("")

    async def aclose(self) -> None:
        """End the worker; calls in flight fail."""
        self._closed = True
        worker = await asyncio.to_thread(self._take_worker)
        if worker is not None:
            await asyncio.to_thread(worker.close)

    # -- for subclasses: calls on the worker, from the event loop ------------

    async def _call(self, op: str, argument: Any) -> Any:
        worker = await self._worker_for_call()
        result = await worker.call(op, argument)
        self.crashes = 0
        return result

    async def _stream(self, op: str, argument: Any) -> AsyncGenerator[Delta, None]:
        worker = await self._worker_for_call()
        async with contextlib.aclosing(worker.stream(op, argument)) as deltas:
            async for delta in deltas:
                self.crashes = 0  # the worker answers: a crash before was not this request's doing
                yield delta

    # -- internals ---------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise LocalModelError(f"local model {self.name} is closed")

    async def _worker_for_call(self) -> WorkerProcess:
        self._check_open()
        if self.down:
            wait = self.retry_at - time.monotonic()
            if wait > 0:
                raise LocalModelError(f"{self.down} (next try in {wait:.1f}s)", 503)
            await self.load()
        return await asyncio.to_thread(self._start_worker)

    def _start_worker(self) -> WorkerProcess:
        """The running worker, or a new one (blocking: spawns a process; run off the loop)."""
        with self._starting:
            self._check_open()
            worker = self._worker
            if worker is None or not worker.alive:
                argv = worker_argv(self.kind, self.name, self.path, self.n_ctx, self.n_threads)
                worker = self._worker = WorkerProcess(self.name, argv, self._loaded, self._exited)
            return worker

    def _take_worker(self) -> WorkerProcess | None:
        """The worker, now no longer the model's; under the start lock, so none starts after it."""
        with self._starting:
            worker, self._worker = self._worker, None
            return worker

    def _loaded(self, loaded: Loaded) -> None:
        self.loads += 1
        self.load_seconds = loaded.seconds
        self.system_info = loaded.system_info
        self._on_loaded(loaded)

    def _on_loaded(self, loaded: Loaded) -> None:
        """What a subclass learns from a load (on the worker's reader thread)."""

    def _exited(self, worker: WorkerProcess) -> None:
        """A worker ended (on its reader thread): unless it was asked to, the model is down for a while."""
        if not worker.crash:
            return
        with self._state:
            self.crashes += 1
            self.retry_at = time.monotonic() + min(RETRY_MAX_S, RETRY_FIRST_S * 2 ** (self.crashes - 1))
            times = f" ({self.crashes} times in a row)" if self.crashes > 1 else ""
            down = f"{worker.crash_what}{times}" + (f": {worker.crash_hint}" if worker.crash_hint else "")
        self._set_down(down)

    def _set_down(self, down: str) -> None:
        with self._state:
            changed, self.down = self.down != down, down
        if changed:
            for listener in self._listeners:
                listener(self)


class LocalModel(WorkerModel):
    """A chat GGUF model served off the event loop by a worker process; the router creates one and owns it.

    Nothing is started until the first call (or `load()`); `loads` counts loads.
    Calls queue in the worker: streams (replies someone reads as they come) first, then the others
    in arrival order; a stream stops a running whole completion, which runs again after it.
    """

    kind = "chat"

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

    async def generate(self, request: GenerationRequest) -> Generation:
        """The whole completion at once."""
        result: Generation = await self._call(GENERATE, self._complete(request))
        return result

    async def stream(self, request: GenerationRequest) -> AsyncGenerator[Delta, None]:
        """Text deltas as they are generated, then a final Delta with finish reason and usage.

        Leaving the iteration early stops generation at the next token.
        """
        async with contextlib.aclosing(self._stream(STREAM, self._complete(request))) as deltas:
            async for delta in deltas:
                yield delta
                if delta.finish_reason is not None:
                    return
        raise LocalModelError(f"local model {self.name} stopped before finishing")

    def _complete(self, request: GenerationRequest) -> GenerationRequest:
        if request.max_tokens is not None:
            return request
        return replace(request, max_tokens=self.default_max_tokens)
