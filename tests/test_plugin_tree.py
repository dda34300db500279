"""Every process a plugin started ends with it, even one that left every mark the host finds
descendants by but its parent: a new session (setsid), and an environment without the host's
AGENTHOST_PROCESS_TREE (the plugin exec'd itself with an emptied environment, and so did they)."""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path

import pytest
from support import alive, eventually

from plugin_sdk import PluginSpec

STALL_PLUGIN = Path(__file__).with_name("stall_plugin.py")


def bare_spec(directory: Path) -> PluginSpec:
    return PluginSpec(
        name="stall",
        version="1.0.0",
        command=(sys.executable, str(STALL_PLUGIN)),
        env={"STALL_DIR": str(directory), "STALL_BARE": "1", "STALL_RUN": uuid.uuid4().hex},
    )


def environ(pid: int) -> bytes:
    with open(f"/proc/{pid}/environ", "rb") as f:
        return f.read()


@pytest.mark.parametrize("how", ["unload", "host stop"])
async def test_processes_that_emptied_their_environment_end_with_their_plugin(start_host, tmp_path, how):
    host = await start_host(bare_spec(tmp_path))
    process = host.plugins.get("stall").instance.process
    children = [int(pid) for pid in (tmp_path / "children").read_text().split()]
    for pid in (process.pid, *children):  # the escape is real: no mark of the host's in them
        assert alive(pid) and b"AGENTHOST_PROCESS_TREE" not in environ(pid)
    detached = children[0]
    assert os.getsid(detached) == detached != os.getsid(process.pid)
    assert await eventually(lambda: set(children) <= set(process.descendants))  # a health check saw them
    if how == "unload":
        await host.plugins.unload("stall")
    else:
        await host.stop()
    assert [pid for pid in (process.pid, *children) if alive(pid)] == []
