"""The router's side of one local-model worker process (`router.local_worker`): starting it, its
calls in flight, and how it ended.

The pipes are served by two threads (one writes requests, one reads replies), not by an event
loop's transports, so one worker serves callers on any event loop (a test suite runs each test on
a loop of its own, with one model shared by them). A reply reaches its caller through the caller's
loop (`call_soon_threadsafe`). When the process ends, every call in flight fails with what ended it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass, field
from queue import SimpleQueue
from typing import IO, Any

from .local_types import Delta, Loaded, LocalModelCrashed, LocalModelError
from .worker_protocol import (
    CALL,
    CANCEL,
    DEFAULT_WORKER_MODULE,
    DELTA,
    DONE,
    ERROR,
    LOADED,
    WORKER_MODULE_ENV,
    read_frame,
    write_frame,
)

log = logging.getLogger("router.local_model")

_EXIT = "exit"  # the message a call gets when the process has ended
# Signals of a native fault in llama.cpp itself, rather than of something done to the process,
# and what to do about each.
_REBUILD = (
    "llama-cpp-python may be built for another CPU: rebuild it with GGML_NATIVE=OFF "
    "(as `make install` does: the Makefile's LLAMA_CMAKE_ARGS)"
)
NATIVE_FAULTS = {
    signal.SIGSEGV: _REBUILD,
    signal.SIGILL: _REBUILD,
    signal.SIGBUS: _REBUILD,
    signal.SIGFPE: "a fault in llama.cpp: see the log above it",
    signal.SIGABRT: "llama.cpp stopped on a failed check: see the log above it",
}
_DOING = {
    "load": "while loading",
    "generate": "during a generation",
    "stream": "during a generation",
    "embed": "during an embedding",
}


def worker_argv(kind: str, name: str, path: os.PathLike[str] | str, n_ctx: int, n_threads: int | None) -> list[str]:
    """The command line of a worker serving one model (`kind` "chat" or "embed")."""
    module = os.environ.get(WORKER_MODULE_ENV) or DEFAULT_WORKER_MODULE
    argv = [sys.executable, "-m", module, "--kind", kind, "--name", name, "--model", str(path), "--n-ctx", str(n_ctx)]
    if n_threads is not None:
        argv += ["--n-threads", str(n_threads)]
    return argv


def describe_exit(returncode: int) -> str:
    """How a worker ended, in words: "crashed (SIGSEGV)", "was killed (SIGKILL)", "exited with code 1"."""
    if returncode >= 0:
        return f"exited with code {returncode}"
    try:
        sig = signal.Signals(-returncode)
    except ValueError:
        return f"was killed by signal {-returncode}"
    return f"crashed ({sig.name})" if sig in NATIVE_FAULTS else f"was killed ({sig.name})"


@dataclass
class _Call:
    op: str
    loop: asyncio.AbstractEventLoop
    replies: asyncio.Queue[tuple[Any, ...]] = field(default_factory=asyncio.Queue)


class WorkerProcess:
    """A started worker. `call` and `stream` may be used from any event loop; `close` blocks (run it
    off the loop). `ended` says how the process ended ("" while it runs); `on_exit` hears of the end
    (from the reader thread) and `on_loaded` of each model load, both with this object."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        on_loaded: Callable[[Loaded], None],
        on_exit: Callable[[WorkerProcess], None],
    ) -> None:
        self.name = name
        self.ended = ""
        self.returncode: int | None = None
        self.closing = False
        self.crash = ""  # the message calls get when the process died without being asked to:
        self.crash_what = ""  # what happened ("local model m crashed (SIGSEGV) while loading")
        self.crash_hint = ""  # and what to do about it, for a native fault
        self._on_loaded = on_loaded
        self._on_exit = on_exit
        self._calls: dict[int, _Call] = {}
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._outbox: SimpleQueue[tuple[Any, ...] | None] = SimpleQueue()
        try:
            self._process = subprocess.Popen(list(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        except OSError as exc:
            raise LocalModelError(f"could not start the worker process of local model {name}: {exc}") from exc
        assert self._process.stdin is not None and self._process.stdout is not None
        self.pid = self._process.pid
        self._writer = threading.Thread(target=self._write, args=(self._process.stdin,), daemon=True)
        self._reader = threading.Thread(target=self._read, args=(self._process.stdout,), daemon=True)
        self._writer.name = self._reader.name = f"local-model-{name}-io"
        self._writer.start()
        self._reader.start()

    @property
    def alive(self) -> bool:
        return not self.ended and not self.closing

    async def call(self, op: str, argument: Any) -> Any:
        """Run `op` in the worker and return its result."""
        call_id, call = self._open(op, argument)
        try:
            while True:
                reply = await call.replies.get()
                if reply[0] == DONE:
                    return reply[2]
                if reply[0] != DELTA:
                    self._raise(reply)
        finally:
            self._forget(call_id)

    async def stream(self, op: str, argument: Any) -> AsyncGenerator[Delta, None]:
        """Run `op` in the worker, yielding its deltas; leaving early cancels it in the worker."""
        call_id, call = self._open(op, argument)
        try:
            while True:
                reply = await call.replies.get()
                if reply[0] == DELTA:
                    yield reply[2]
                elif reply[0] == DONE:
                    return
                else:
                    self._raise(reply)
        finally:
            self._forget(call_id)

    def close(self, timeout: float = 2.0) -> None:
        """End the worker now. It holds nothing to save, and it may be busy for a while (importing
        llama.cpp, or in a long native call) before it would read the end of its stdin, so it is
        sent SIGTERM (Python leaves it at its default: the process ends at once), SIGKILL after `timeout`."""
        self.closing = True
        self._outbox.put(None)
        with contextlib.suppress(ProcessLookupError):
            self._process.terminate()
        self._reader.join(timeout)
        if self._reader.is_alive():
            self._process.kill()
            self._reader.join()

    # -- any thread --------------------------------------------------------

    def _open(self, op: str, argument: Any) -> tuple[int, _Call]:
        call = _Call(op, asyncio.get_running_loop())
        with self._lock:
            if not self.alive:
                raise self._ended_error()
            call_id = next(self._ids)
            self._calls[call_id] = call
        self._outbox.put((CALL, call_id, op, argument))
        return call_id, call

    def _forget(self, call_id: int) -> None:
        """The caller is done with a call; if the worker still runs it, it is cancelled there."""
        with self._lock:
            pending = self._calls.pop(call_id, None) is not None
        if pending and self.alive:
            self._outbox.put((CANCEL, call_id))

    def _raise(self, reply: tuple[Any, ...]) -> None:
        if reply[0] == ERROR:
            raise LocalModelError(reply[2], reply[3])
        raise self._ended_error()

    def _ended_error(self) -> LocalModelError:
        if self.crash:
            return LocalModelCrashed(self.crash, 500)
        return LocalModelError(f"local model {self.name} was closed", 503)

    # -- the I/O threads ---------------------------------------------------

    def _write(self, pipe: IO[bytes]) -> None:
        while (message := self._outbox.get()) is not None:
            try:
                write_frame(pipe, message)
            except (BrokenPipeError, ValueError):  # the worker is gone: the reader reports how
                break
        try:
            pipe.close()
        except BrokenPipeError:
            pass

    def _read(self, pipe: IO[bytes]) -> None:
        try:
            while (message := read_frame(pipe)) is not None:
                if message[0] == LOADED:
                    self._on_loaded(message[1])
                    continue
                with self._lock:
                    call = self._calls.get(message[1])
                    if call is not None and message[0] != DELTA:
                        del self._calls[message[1]]
                if call is not None:
                    self._deliver(message[1], call, message)
        except Exception:  # a reply that cannot be read: the calls would wait for ever, so end it
            log.exception("local model %s: unreadable reply from its worker; killing it", self.name)
            self._process.kill()
        returncode = self._process.wait()
        with self._lock:
            in_flight = list(self._calls.values())
            self._calls.clear()
            self.returncode, self.ended = returncode, describe_exit(returncode)
            if not self.closing:
                self.crash_what, self.crash_hint = crash_message(self.name, returncode, [c.op for c in in_flight])
                self.crash = f"{self.crash_what}: {self.crash_hint}" if self.crash_hint else self.crash_what
        self._outbox.put(None)  # ends the writer
        self._on_exit(self)  # first: a caller that hears of the crash finds the model already down
        for call in in_flight:
            self._deliver(0, call, (_EXIT,))

    def _deliver(self, call_id: int, call: _Call, message: tuple[Any, ...]) -> None:
        try:
            call.loop.call_soon_threadsafe(call.replies.put_nowait, message)
        except RuntimeError:  # the caller's loop is closed: nobody waits for this call any more
            self._forget(call_id)


def crash_message(name: str, returncode: int, ops: Sequence[str]) -> tuple[str, str]:
    """What calls and status say about a worker that died unasked: how and doing what, and, for a
    native fault, what to do about it ("" otherwise)."""
    doing = next((_DOING[op] for op in ops if op in _DOING), "while idle")
    try:
        hint = NATIVE_FAULTS.get(signal.Signals(-returncode), "")
    except ValueError:
        hint = ""
    return f"local model {name} {describe_exit(returncode)} {doing}", hint
