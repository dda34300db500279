"""What observability costs per message and per status request, as ratios against floors measured
in the same run.

- Per run: the pipeline's two calls into host.run_stats (RUNS.started, RUNS.ended) against the
  uuid4 every run already makes for its id (the floor).
- Per log record: a record through the host's LogBuffer with secrets redacted (two configured
  values, the key shapes) against the same record through a LogBuffer without redaction (the floor).
- Per status request: host.figures.measured (the host process and N plugin-like processes sampled
  with psutil, the runs' figures) against one bare psutil memory_info() call (the floor).

    .venv/bin/python bench/observability.py [--processes 5]

The last line is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psutil  # noqa: E402

from host import logs  # noqa: E402
from host.figures import measured  # noqa: E402
from host.plugins.supervisor import PluginInfo, PluginState  # noqa: E402
from host.run_stats import RUNS  # noqa: E402
from host.status import HostStatus, Lifecycle  # noqa: E402


def per_call_us(fn: Callable[[], object], count: int, rounds: int = 5) -> float:
    """The median over `rounds` of the mean time of one call, in microseconds."""
    times = []
    for _ in range(rounds):
        began = time.perf_counter()
        for _ in range(count):
            fn()
        times.append((time.perf_counter() - began) / count * 1e6)
    return statistics.median(times)


def runs(count: int) -> dict[str, float]:
    def hooks() -> None:
        RUNS.started("bench-agent", "run")
        RUNS.ended("bench-agent", "run", "completed", 12.5)

    floor = per_call_us(lambda: str(uuid.uuid4()), count)
    cost = per_call_us(hooks, count)
    return {
        "run_hooks_us": round(cost, 3),
        "uuid4_floor_us": round(floor, 3),
        "run_hooks_ratio": round(cost / floor, 2),
    }


def records(count: int) -> dict[str, float]:
    logger = logging.getLogger("bench.observability")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(logs.LogBuffer())
    plain = ("run %s in room %s failed: model call failed: provider answered 503 for model %s", "gpt-4o-mini")
    keyed = ("run %s in room %s failed: provider said: bad request with Authorization: Bearer %s", "eyJhbGciOi.x.y")
    run, room = "0b5c7a1e-2f44-4a51-9c3e-5d8f0e7a9b21", "room-42"

    def one(message: tuple[str, str]) -> Callable[[], None]:
        return lambda: logger.warning(message[0], run, room, message[1])

    redact = logs.Redactor.__call__
    logs.Redactor.__call__ = lambda self, text: text  # type: ignore[method-assign]
    floor = per_call_us(one(plain), count)
    logs.Redactor.__call__ = redact  # type: ignore[method-assign]
    logs.redact_values(["hunter2-configured-value", "another-configured-secret"])
    cost = per_call_us(one(plain), count)
    cost_keyed = per_call_us(one(keyed), count)
    return {
        "record_redacted_us": round(cost, 3),
        "record_with_key_redacted_us": round(cost_keyed, 3),
        "record_unredacted_floor_us": round(floor, 3),
        "record_ratio": round(cost / floor, 2),
        "record_with_key_ratio": round(cost_keyed / floor, 2),
    }


def status(processes: int, count: int) -> dict[str, float]:
    children = [subprocess.Popen(["sleep", "60"]) for _ in range(processes)]
    try:
        plugins = [PluginInfo(f"p{i}", "1", PluginState.READY, pid=c.pid) for i, c in enumerate(children)]
        base = HostStatus("a", "A", Lifecycle.READY, 0, "0", None, plugins)
        cost = per_call_us(lambda: measured(base, []), count)
        floor = per_call_us(lambda: psutil.Process(children[0].pid).memory_info(), count)
    finally:
        for child in children:
            child.kill()
            child.wait()
    return {
        "status_figures_us": round(cost, 1),
        "memory_info_floor_us": round(floor, 1),
        "status_ratio": round(cost / floor, 2),
        "processes": processes + 1,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=5, help="plugin-like processes sampled per status")
    args = parser.parse_args()
    figures = {**runs(100_000), **records(50_000), **status(args.processes, 500)}
    print(f"per run: {figures['run_hooks_us']} us ({figures['run_hooks_ratio']}x a uuid4)")
    print(
        f"per log record: {figures['record_redacted_us']} us ({figures['record_ratio']}x without redaction), "
        f"with a key to blank {figures['record_with_key_redacted_us']} us ({figures['record_with_key_ratio']}x)"
    )
    print(
        f"per status request, {figures['processes']} processes: {figures['status_figures_us']} us "
        f"({figures['status_ratio']}x one memory_info call)"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
