"""How the router talks to a local-model worker process: pickled frames, each preceded by its
length (4 bytes, big-endian): requests on the worker's stdin, replies on its stdout (which the
worker keeps for itself, pointing its file descriptor 1 at stderr for llama.cpp's chatter).

Requests: `(CALL, id, op, argument)` and `(CANCEL, id)`. Replies: `(DELTA, id, Delta)` for each
piece of a stream, then `(DONE, id, result)` or `(ERROR, id, message, status)`; `(LOADED, Loaded)`
whenever the worker has made its model. Pickle is safe here: both ends are this package, and the
worker is this process's child.
"""

from __future__ import annotations

import pickle
from typing import IO, Any

CALL = "call"
CANCEL = "cancel"
DELTA = "delta"
DONE = "done"
ERROR = "error"
LOADED = "loaded"

# The operations a worker serves. LOAD makes the model and proves it with one decode.
LOAD = "load"
GENERATE = "generate"
STREAM = "stream"
EMBED = "embed"

WORKER_MODULE_ENV = "AGENTHOST_LOCAL_MODEL_WORKER"
"""The module run (`python -m`) as a local model's worker process; `router.local_worker` when unset.
Fault-injection tests point it at a worker whose llama.cpp crashes."""
DEFAULT_WORKER_MODULE = "router.local_worker"

_HEADER = 4


def write_frame(stream: IO[bytes], message: tuple[Any, ...]) -> None:
    """Write one message and flush it."""
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(len(data).to_bytes(_HEADER, "big") + data)
    stream.flush()


def read_frame(stream: IO[bytes]) -> tuple[Any, ...] | None:
    """The next message, or None at the end of the stream (a frame cut short counts as the end)."""
    header = stream.read(_HEADER)
    if len(header) < _HEADER:
        return None
    size = int.from_bytes(header, "big")
    data = stream.read(size)
    if len(data) < size:
        return None
    message = pickle.loads(data)
    assert isinstance(message, tuple)
    return message
