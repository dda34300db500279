"""Random ids as UUID version 4 text, from a pool of os.urandom bytes read 1 KiB at a time.

`str(uuid.uuid4())` makes a getrandom system call per id and builds a UUID object to print it:
~6 µs here against ~1 µs for this, and a message takes three (its run, itself, its reply),
about 3% of the host's CPU under load (py-spy, bench/pipeline.py's load section). The bits are
the same kernel randomness, 122 of them per id as uuid4's; a forked child starts a pool of its own.
"""

from __future__ import annotations

import os
import threading

__all__ = ["new_id"]

_POOL_BYTES = 1024
_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}  # RFC 4122's variant: 10xx

_lock = threading.Lock()
_pool = ""  # hex digits not handed out yet, from _at on
_at = 0


def new_id() -> str:
    """A random UUID (version 4) as text, as str(uuid.uuid4()) gives it."""
    global _pool, _at
    with _lock:
        if _at + 32 > len(_pool):
            _pool, _at = os.urandom(_POOL_BYTES).hex(), 0
        h = _pool[_at : _at + 32]
        _at += 32
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"


def _forget_pool() -> None:
    """In a forked child: never hand out the parent's digits again."""
    global _pool, _at
    _pool, _at = "", 0


os.register_at_fork(after_in_child=_forget_pool)
