"""Stopping the host (or unloading) while a plugin is starting: a restart in its backoff or
at any stage of its launch, a load, a reload. Stop must end it, return, and leave no process
of the plugin behind. The plugin (tests/stall_plugin.py) stalls the stage under test for good,
so only the stop can end it; `asyncio.wait_for` turns a hang into a failure, with a margin
far above what a stop takes (it is no measure of speed)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from dataclasses import replace
from pathlib import Path

import pytest
from support import FAST, alive, eventually

from host.plugins.manager import PluginConflict, PluginNotFound
from host.plugins.supervisor import PluginState, PluginStopped
from plugin_sdk import PluginSpec

STALL_PLUGIN = Path(__file__).with_name("stall_plugin.py")
HANG = 30.0  # a stop that takes this long is hung


def stall_spec(directory: Path, at: str, first: int = 2) -> PluginSpec:
    run = uuid.uuid4().hex
    return PluginSpec(
        name="stall",
        version="1.0.0",
        command=(sys.executable, str(STALL_PLUGIN)),
        env={"STALL_DIR": str(directory), "STALL_AT": at, "STALL_FROM": str(first), "STALL_RUN": run},
    )


def processes_of_run(spec: PluginSpec) -> list[int]:
    """Live processes (not zombies) whose environment carries the spec's STALL_RUN."""
    needle = f"STALL_RUN={spec.env['STALL_RUN']}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0") and alive(int(entry.name)):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def starts(directory: Path) -> list[int]:
    path = directory / "starts"
    return [int(pid) for pid in path.read_text().split()] if path.exists() else []


async def stop_host(host: object) -> None:
    await asyncio.wait_for(host.stop(), HANG)  # type: ignore[attr-defined]


SLOW_TO_GIVE_UP = replace(FAST, start_timeout=HANG * 2)  # only the stop can end a stalled start


@pytest.mark.parametrize("stage", ["handshake", "describe", "init", "init-forking", "service"])
async def test_host_stop_during_a_restart_ends_it_and_leaves_no_process(start_host, tmp_path, stage):
    spec = stall_spec(tmp_path, stage)
    host = await start_host(spec, supervision=SLOW_TO_GIVE_UP)
    plugin = host.plugins.get("stall")
    assert len(processes_of_run(spec)) == 2  # the plugin and its setsid sleep
    os.kill(plugin.instance.pid, signal.SIGKILL)
    assert await eventually(lambda: (tmp_path / "stalled-2").exists(), timeout=20)
    assert plugin.state is PluginState.RESTARTING
    await stop_host(host)
    assert processes_of_run(spec) == []
    assert not host.socket_dir.exists()


async def test_host_stop_during_a_restart_backoff_does_not_wait_for_it(start_host, tmp_path):
    spec = stall_spec(tmp_path, "none")
    host = await start_host(spec, supervision=replace(FAST, backoff_initial=HANG * 4, backoff_max=HANG * 8))
    plugin = host.plugins.get("stall")
    os.kill(plugin.instance.pid, signal.SIGKILL)
    assert await eventually(lambda: plugin.state is PluginState.RESTARTING and processes_of_run(spec) == [])
    await stop_host(host)
    assert starts(tmp_path) == starts(tmp_path)[:1]  # no restart began


async def test_host_stop_during_a_reload_ends_the_reload_and_both_instances(start_host, tmp_path):
    spec = stall_spec(tmp_path, "init")
    host = await start_host(spec, supervision=SLOW_TO_GIVE_UP)
    old_pid = host.plugins.get("stall").instance.pid
    reload = asyncio.create_task(host.plugins.reload("stall"))
    assert await eventually(lambda: (tmp_path / "stalled-2").exists(), timeout=20)
    await stop_host(host)
    with pytest.raises(PluginStopped, match="plugin 'stall' was stopped during its reload"):
        await reload
    assert not alive(old_pid)
    assert processes_of_run(spec) == []


async def test_host_stop_during_a_load_ends_the_load(start_host, tmp_path):
    spec = stall_spec(tmp_path, "init", first=1)
    host = await start_host(supervision=SLOW_TO_GIVE_UP)
    host.discovery.installed["stall"] = spec
    load = asyncio.create_task(host.plugins.load("stall"))
    assert await eventually(lambda: (tmp_path / "stalled-1").exists(), timeout=20)
    await stop_host(host)
    with pytest.raises(PluginStopped, match="plugin 'stall' was stopped during its start"):
        await load
    assert processes_of_run(spec) == []
    with pytest.raises(PluginConflict, match="cannot start plugin 'stall': the host is stopping"):
        await host.plugins.load("stall")
    assert processes_of_run(spec) == []


async def test_host_stop_during_an_unload_stops_each_process_once(start_host, tmp_path):
    spec = stall_spec(tmp_path, "none")
    host = await start_host(spec)
    unload = asyncio.create_task(host.plugins.unload("stall"))
    await asyncio.sleep(0)  # the unload has begun: its entry is gone, its stop under way
    await stop_host(host)
    await unload
    assert processes_of_run(spec) == []
    with pytest.raises(PluginNotFound):
        await host.plugins.unload("stall")


async def test_unload_during_a_restart_ends_it(start_host, tmp_path):
    spec = stall_spec(tmp_path, "init")
    host = await start_host(spec, supervision=SLOW_TO_GIVE_UP)
    os.kill(host.plugins.get("stall").instance.pid, signal.SIGKILL)
    assert await eventually(lambda: (tmp_path / "stalled-2").exists(), timeout=20)
    await asyncio.wait_for(host.plugins.unload("stall"), HANG)
    assert processes_of_run(spec) == []
    assert "stall" not in host.plugins.plugins
