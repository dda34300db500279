"""Benchmark: what running a message through its agent (host/agent/agent.py) adds to the bare
pipeline, and whether a second agent in the host slows the first.

In one process, on one host started here (router "off", bench/pipeline_plugin.py as the only
plugin: instant provider, action validate, evaluator and model handler), messages are sent
one after another ((1) and (2) alternating, then (3)):

1. floor: `Pipeline.send` of the first agent, directly (no room check, no kept events);
2. `Agent.send` of the same agent: the room made or found, a task of its own pumping the
   events, the run's events kept in the store when it ends (one more store write);
3. the same with a second agent running in the host and taking every other message.

Prints the medians and the ratios against (1), then one JSON line.

    .venv/bin/python bench/agents.py [--messages N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pipeline import BenchDiscovery, plugin_spec  # noqa: E402 (bench/ is not a package)

from host.agent.character import load_character  # noqa: E402
from host.config import HostConfig  # noqa: E402
from host.host import Host  # noqa: E402
from plugin_sdk.types import Content, Memory  # noqa: E402

BIO = ["A benchmark agent."]


async def one(send: object, room: str, n: int) -> float:
    """Seconds for one message through `send` (an async generator of run events)."""
    message = Memory(content=Content(text=f"message {n}", source="api"), entity_id="bench-user", room_id=room)
    started = time.perf_counter()
    ended = [e async for e in send(message)]  # type: ignore[operator]
    assert ended[-1].type == "RUN_ENDED" and ended[-1].content.extra["status"] == "completed", ended[-1]
    return time.perf_counter() - started


async def main(messages: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        files = []
        for name in ("Alpha", "Beta"):
            path = root / f"{name}.json"
            path.write_text(json.dumps({"name": name, "bio": BIO}))
            files.append(path)
        config = HostConfig(
            listen=f"unix://{root / 'host.sock'}", data_dir=root / "data", router_address="off", characters=(files[0],)
        )
        host = Host(config, discovery=BenchDiscovery(plugin_spec(True)))
        await host.start()
        try:
            alpha = host.find_agent("Alpha")
            samples: dict[str, list[float]] = {"pipeline": [], "agent": [], "agent, 2 agents": []}
            for n in range(5):  # warm up
                await one(alpha.pipeline.send, "warm", n)
                await one(alpha.send, "warm", n)
            for n in range(messages):
                samples["pipeline"].append(await one(alpha.pipeline.send, "r-pipeline", n))
                samples["agent"].append(await one(alpha.send, "r-agent", n))
            await host.add_agent(load_character(files[1]))
            beta = host.find_agent("Beta")
            for n in range(messages):
                samples["agent, 2 agents"].append(await one(alpha.send, "r-two", n))
                await one(beta.send, "r-two", n)
        finally:
            await host.stop()
    floor = statistics.median(samples["pipeline"])
    keys = {"pipeline": "pipeline_p50_ms", "agent": "agent_p50_ms", "agent, 2 agents": "two_agents_p50_ms"}
    result = {keys[k]: statistics.median(v) * 1000 for k, v in samples.items()}
    for name, values in samples.items():
        median = statistics.median(values)
        print(f"{name:18} p50 {median * 1000:7.2f} ms   ratio {median / floor:5.2f}")
    result["agent_ratio"] = statistics.median(samples["agent"]) / floor
    result["two_agents_ratio"] = statistics.median(samples["agent, 2 agents"]) / floor
    print(json.dumps({k: round(v, 3) for k, v in result.items()}))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200)
    asyncio.run(main(parser.parse_args().messages))
