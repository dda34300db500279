"""A run's deadline, which caps the deadline of every plugin call made for it.

The pipeline runs each message in a task of its own under `run_deadline`: the run is cancelled
when it expires (and with it every call under way: a Session call's cancel frame, a unary call's
gRPC cancellation reach the plugin), and each call made meanwhile gets at most what is left of
the run (`capped`), so the plugin's own deadline (Session timeout_ms, gRPC deadline) ends its
work no later than the run's.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from contextvars import ContextVar
from typing import AsyncIterator

#: When the current task's run must end (time.monotonic()); inf outside a run.
RUN_DEADLINE: ContextVar[float] = ContextVar("agenthost_run_deadline", default=math.inf)

_LEAST = 0.001  # a call is never given less (0 would mean no deadline on the wire)


def capped(timeout: float) -> float:
    """`timeout`, or what is left of the current run's deadline when that is sooner."""
    left = RUN_DEADLINE.get() - time.monotonic()
    return timeout if timeout <= left else max(left, _LEAST)


def run_over() -> bool:
    """Whether the current run's deadline has passed (a call timing out then is not its fault)."""
    return time.monotonic() >= RUN_DEADLINE.get() - _LEAST


class RunDeadlineExceeded(Exception):
    """A run did not finish within its deadline; what it was doing was cancelled."""


@contextlib.asynccontextmanager
async def run_deadline(seconds: float) -> AsyncIterator[None]:
    """Run the body within `seconds`: its calls' deadlines are capped to it, and it is cancelled
    when they pass (RunDeadlineExceeded out of the block)."""
    token = RUN_DEADLINE.set(time.monotonic() + seconds)
    scope = asyncio.timeout(seconds)
    try:
        async with scope:
            yield
    except TimeoutError:
        if not scope.expired():
            raise
        raise RunDeadlineExceeded(f"the run did not finish within its deadline ({seconds:g} s)") from None
    finally:
        RUN_DEADLINE.reset(token)
