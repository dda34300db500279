"""A local-model worker whose llama.cpp segfaults at its first decode, as a build tuned to another
CPU did (`python -m crashing_model_worker`, with this folder on PYTHONPATH; the router runs it when
AGENTHOST_LOCAL_MODEL_WORKER names it).

It is the real worker (`router.local_worker`) with one change: `LlamaContext.decode` reads address 0,
a real SIGSEGV in native code, where the crash on CPUs with AMX happened. With CRASH_WHILE_EXISTS
set to a path, it crashes only while that file exists (to test that the model comes back).
"""

from __future__ import annotations

import ctypes
import os
from typing import Any

from llama_cpp import _internals

from router import local_worker

_decode = _internals.LlamaContext.decode


def crashing_decode(self: Any, batch: Any) -> None:
    marker = os.environ.get("CRASH_WHILE_EXISTS")
    if marker is None or os.path.exists(marker):
        ctypes.string_at(0)  # reads address 0: SIGSEGV
    _decode(self, batch)


_internals.LlamaContext.decode = crashing_decode  # type: ignore[method-assign]

if __name__ == "__main__":
    local_worker.main()
