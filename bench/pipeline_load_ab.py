"""A/B of the pipeline benchmark's load section between environment switches, in one run.

Each variant is a name and the environment it sets for the bench host (and so its plugin
processes); BENCH_EVENTS=REPLY,... there says which event types its clients ask for
(SendMessageRequest.events; unset: all), BENCH_CONVERSE=1 that each client keeps one Converse
stream (else a SendMessage call per message). The variants take turns (A B, then B A, ... to
even out the box's drift), each a fresh host at ROOMS rooms, and elizaOS's side runs once a
round beside them (its figure is the floor the ratios are taken to). Prints every run, then per
variant the median of each figure.

    .venv/bin/python bench/pipeline_load_ab.py all: reply:BENCH_EVENTS=REPLY --rounds 4
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from pipeline_load import agenthost_load, elizaos_load


def variant(text: str) -> tuple[str, dict[str, str]]:
    """ "name:VAR=value,VAR=value" (no assignments: the environment as it is)."""
    name, _, assignments = text.partition(":")
    env = dict(a.split("=", 1) for a in assignments.split(",") if a)
    if not name:
        raise argparse.ArgumentTypeError(f"{text!r}: give a variant as name:VAR=value,...")
    return name, env


def figures(side: dict[str, Any]) -> dict[str, float]:
    keys = ("msgs_per_s", "p50_ms", "p99_ms", "cpu_ms_per_msg", "cpu_ms_per_msg_with_client")
    out = {k: float(side[k]) for k in keys}
    out.update({f"cpu_{k}": float(v) for k, v in side["cpu_ms_by_process"].items()})
    return out


async def main(args: argparse.Namespace) -> None:
    runs: dict[str, list[dict[str, float]]] = {name: [] for name, _ in args.variants}
    base = dict(os.environ)
    with tempfile.TemporaryDirectory(prefix="agenthost-ab-") as tmp:
        for i in range(args.rounds):
            order = args.variants if i % 2 == 0 else args.variants[::-1]
            for name, env in order:
                where = Path(tmp) / f"{name}{i}"
                where.mkdir()
                os.environ.clear()
                os.environ.update({**base, **env})
                try:
                    events = () if env.get("BENCH_EVENTS", "all") == "all" else tuple(env["BENCH_EVENTS"].split(","))
                    converse = env.get("BENCH_CONVERSE") == "1"
                    load = await agenthost_load(where, [args.rooms], args.messages, args.warmup, events, converse)
                    side = load[str(args.rooms)]
                finally:
                    os.environ.clear()
                    os.environ.update(base)
                runs[name].append(figures(side))
                print(f"round {i + 1} {name}: {json.dumps(runs[name][-1])}", flush=True)
            if not args.no_elizaos:
                eliza = await elizaos_load([args.rooms], args.messages, args.warmup)
                if eliza is not None:
                    e = eliza[str(args.rooms)]
                    keys = ("msgs_per_s", "p50_ms", "p99_ms", "cpu_ms_per_msg")
                    runs.setdefault("elizaOS", []).append({k: float(e[k]) for k in keys})
                    print(f"round {i + 1} elizaOS: {json.dumps(runs['elizaOS'][-1])}", flush=True)
    medians = {name: {k: round(statistics.median(r[k] for r in rs), 3) for k in rs[0]} for name, rs in runs.items()}
    for name, m in medians.items():
        print(f"{name:12} median: {json.dumps(m)}")
    print(json.dumps({"rooms": args.rooms, "messages": args.messages, "rounds": args.rounds, "medians": medians}))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("variants", type=variant, nargs="+", help="name:VAR=value,... (A first)")
    parser.add_argument("--rounds", type=int, default=4, help="runs of each variant (4)")
    parser.add_argument("--rooms", type=int, default=50, help="rooms at once (50)")
    parser.add_argument("--messages", type=int, default=20, help="timed messages per room (20)")
    parser.add_argument("--warmup", type=int, default=2, help="warm-up messages per room (2)")
    parser.add_argument("--no-elizaos", action="store_true", help="leave out elizaOS's side")
    sys.exit(asyncio.run(main(parser.parse_args())))
