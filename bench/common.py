"""What the benchmark scripts share: percentiles, CPU time, and running one to its report."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any, Awaitable, Callable, Sequence


def percentile(sorted_ns: Sequence[int], q: float) -> float:
    """Nearest-rank percentile of sorted nanosecond samples, in microseconds."""
    if not sorted_ns:
        return float("nan")
    index = min(len(sorted_ns) - 1, max(0, int(round(q * (len(sorted_ns) - 1)))))
    return sorted_ns[index] / 1000.0


def tree_cpu_s() -> float:
    """CPU seconds (user + system) of this process and every process under it, alive now."""
    import psutil

    me = psutil.Process()
    total = 0.0
    for proc in [me, *me.children(recursive=True)]:
        try:
            times = proc.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


async def end_by_stdin(proc: asyncio.subprocess.Process, timeout_s: float = 30.0) -> None:
    """Stop a child that exits at the end of its input: close its stdin, wait up to `timeout_s`,
    then kill it."""
    if proc.stdin is not None:
        proc.stdin.close()
    try:
        await asyncio.wait_for(proc.wait(), timeout_s)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()


def run_and_report(
    run: Callable[[argparse.Namespace], Awaitable[dict[str, Any]]],
    report: Callable[[dict[str, Any]], None],
    args: argparse.Namespace,
) -> int:
    """Run a benchmark and print its report; a failure is one line on stderr and exit 1."""
    try:
        result = asyncio.run(run(args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # one line, not a traceback
        print(f"bench: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    report(result)
    return 0
