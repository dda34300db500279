"""The load section's host, in a process of its own so its CPU time can be told apart from the
client's and the plugins' (bench/pipeline_load.py starts it).

Usage: pipeline_host.py DATA_DIR SOCKET_PATH API_TOKEN

Starts a host.host.Host (router "off") with bench/pipeline_plugin.py twice, as plugins
"benchpipelinea" and "benchpipelineb", prints "READY" once READY, then reads commands on
stdin: "calls" prints, as one JSON line, the plugin calls (PluginConnection.call and
invoke_action: one round trip each, whether on the Session stream or unary) per plugin and
method since the last "calls"; end of input stops the host.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from host.config import HostConfig
from host.host import Host
from host.plugins.connection import PluginConnection
from host.plugins.discovery import Discovery, Scan
from host.status import Lifecycle
from plugin_sdk.spec import PluginSpec

SCRIPT = Path(__file__).resolve().with_name("pipeline_plugin.py")
SPECS = {
    f"benchpipeline{part}": PluginSpec(
        name=f"benchpipeline{part}",
        version="1.0.0",
        command=(sys.executable, str(SCRIPT)),
        env={"AGENTHOST_BENCH_PART": part},
    )
    for part in ("a", "b")
}


class BenchDiscovery(Discovery):
    """Only the two halves of the benchmark's plugin are installed."""

    def __init__(self) -> None:
        super().__init__(allow=tuple(SPECS))

    def scan(self) -> Scan:
        return Scan(dict(SPECS))


def count_calls() -> Counter[str]:
    """Count every plugin round trip the host makes, as "plugin method"."""
    calls: Counter[str] = Counter()
    call, invoke_action = PluginConnection.call, PluginConnection.invoke_action

    def counted_call(self: PluginConnection, method: str, *args: Any, **kwargs: Any) -> Any:
        calls[f"{self.plugin} {method}"] += 1
        return call(self, method, *args, **kwargs)

    def counted_invoke_action(self: PluginConnection, *args: Any, **kwargs: Any) -> Any:
        calls[f"{self.plugin} InvokeAction"] += 1
        return invoke_action(self, *args, **kwargs)

    PluginConnection.call = counted_call  # type: ignore[method-assign]
    PluginConnection.invoke_action = counted_invoke_action  # type: ignore[method-assign]
    return calls


async def main(data_dir: str, socket_path: str, token: str) -> None:
    calls = count_calls()
    config = HostConfig(listen=f"unix://{socket_path}", data_dir=Path(data_dir), router_address="off", api_token=token)
    host = Host(config, discovery=BenchDiscovery())
    loop = asyncio.get_running_loop()
    try:
        await host.start()
        if host.state() is not Lifecycle.READY:
            raise RuntimeError(f"host not READY: {'; '.join(host.load_errors)}")
        print("READY", flush=True)
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            if line.strip() == "calls":
                print(json.dumps(dict(calls)), flush=True)
                calls.clear()
    finally:
        await host.stop()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
