"""A/B of the pipeline benchmark's load figures: checkouts of agenthost, interleaved.

Runs `bench/pipeline.py --quick` of each checkout in turns (A B C, then C B A, ... to even
out drift), each with its own tree first on PYTHONPATH (its host, SDK and generated protos),
and prints per side the median of each load figure at 50 rooms, elizaOS's included (measured
in each run: the box's load drifts, so the ratio to it is what compares).

    .venv/bin/python bench/pipeline_ab.py /tmp/base /tmp/change --rounds 3

`--load-only` runs only the load section at 50 rooms (each tree's `bench/pipeline_load_ab.py`,
Converse clients asking for REPLY, as `bench/pipeline.py` does; ~15 s a run instead of a minute),
with elizaOS's side once a round: more rounds in the same time, for changes within the noise.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

FIGURES = ("msgs_per_s", "cpu_ms_per_msg", "p99_ms", "elizaos_msgs_per_s", "elizaos_cpu_ms_per_msg", "elizaos_p99_ms")


def run_once(tree: Path) -> dict[str, float]:
    """One quick run of `tree`'s benchmark: its last JSON line's load figures, with the host's CPU."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tree), str(tree / "proto")])}
    done = subprocess.run(
        [sys.executable, str(tree / "bench" / "pipeline.py"), "--quick"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"the benchmark of {tree} failed: {done.stderr.strip().splitlines()[-1:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    figures = {name: float(result[name]) for name in FIGURES}
    load = result["load"]["50"]
    figures["host_cpu_ms_per_msg"] = float(load["cpu_ms_by_process"]["host"])
    figures["round_trips"] = float(sum(load["round_trips_per_plugin"].values()))
    figures["sqlite_hops"] = float(result["sqlite_hops"])
    return figures


def run_load_once(tree: Path, messages: int, elizaos: bool) -> dict[str, float]:
    """The load section alone at 50 rooms from `tree` (elizaOS's side too when `elizaos`)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tree), str(tree / "proto"), str(tree / "bench")])}
    argv = [sys.executable, str(tree / "bench" / "pipeline_load_ab.py"), "x:BENCH_EVENTS=REPLY,BENCH_CONVERSE=1"]
    argv += ["--rounds", "1", "--messages", str(messages)] + ([] if elizaos else ["--no-elizaos"])
    done = subprocess.run(argv, cwd=tree, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"the load section of {tree} failed: {done.stderr.strip().splitlines()[-3:]}")
    medians = json.loads(done.stdout.strip().splitlines()[-1])["medians"]
    figures = dict(medians["x"])
    figures["host_cpu_ms_per_msg"] = figures.pop("cpu_host")
    for k, v in medians.get("elizaOS", {}).items():
        figures[f"elizaos_{k}"] = v
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("trees", type=Path, nargs="+", help="checkouts (e.g. exported commits), A first")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each side")
    parser.add_argument("--load-only", action="store_true", help="the load section alone (50 rooms)")
    parser.add_argument("--messages", type=int, default=20, help="--load-only: timed messages per room (20)")
    args = parser.parse_args()
    sides = {chr(ord("A") + i): tree.resolve() for i, tree in enumerate(args.trees)}
    runs: dict[str, list[dict[str, float]]] = {side: [] for side in sides}
    for i in range(args.rounds):
        for side in list(sides) if i % 2 == 0 else list(sides)[::-1]:
            if args.load_only:  # elizaOS's side with the round's first tree
                runs[side].append(run_load_once(sides[side], args.messages, side == "A"))
            else:
                runs[side].append(run_once(sides[side]))
            print(f"round {i + 1} {side}: {json.dumps(runs[side][-1])}", flush=True)
    medians = {side: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for side, rs in runs.items()}
    for side, figures in medians.items():
        eliza = figures if "elizaos_msgs_per_s" in figures else medians["A"]  # --load-only: A's runs
        ratio = figures["msgs_per_s"] / eliza["elizaos_msgs_per_s"]
        cpu = figures["cpu_ms_per_msg"] / eliza["elizaos_cpu_ms_per_msg"]
        print(f"{side} ({sides[side]}): {json.dumps({k: round(v, 2) for k, v in figures.items()})}")
        print(f"   vs elizaOS in the same runs: throughput {ratio:.2f}x, CPU/msg {cpu:.2f}x")
    print(json.dumps({"rounds": args.rounds, "medians": medians}))


if __name__ == "__main__":
    main()
