"""The Node.js example plugin (plugins/node-example), installed for real, against a real host:
the protocol as a non-Python plugin speaks it."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support import alive, eventually

from host.plugins.discovery import Discovery
from host.plugins.supervisor import PluginState
from plugin_sdk import ActionResult, Content, Memory

MAIN = Path(__file__).parents[1] / "plugins" / "node-example" / "agenthost_plugin_nodeecho" / "node" / "main.js"

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None or not (MAIN.parent / "node_modules").is_dir(),
    reason="needs node and `npm ci` in plugins/node-example (make install does both)",
)


def message(text: str) -> Memory:
    return Memory(room_id="room-node", entity_id="user-1", content=Content(text=text, source="test"))


async def start(start_host):  # type: ignore[no-untyped-def]
    """A host with only the Node plugin, found through its installed entry point."""
    host = await start_host(discovery=Discovery(allow=("nodeecho",)))
    plugin = host.plugins.get("nodeecho")
    assert plugin.state == PluginState.READY, plugin.reason
    return host, plugin


async def test_it_is_discovered_as_a_command_and_loads(start_host):
    spec = Discovery(allow=("nodeecho",)).spec("nodeecho")
    assert spec.command == ("node", str(MAIN.resolve())) and spec.version == "1.0.0"
    host, plugin = await start(start_host)
    components = host.status().plugins[0].components
    assert components["providers"] == ["NODE_INFO"] and components["actions"] == ["NODE_ECHO"]
    assert components["evaluators"] == ["NODE_WORDS"]
    assert alive(plugin.instance.pid)


async def test_provider_action_with_runtime_callbacks_and_evaluator(start_host):
    host, plugin = await start(start_host)
    # main.js does not implement PluginService.Session: grpc-js answers UNIMPLEMENTED and
    # the host sends these calls unary (PROTOCOL.md §8.1, Fallback)
    assert plugin.instance.connection.transport == "unary"
    [info] = await host.components.get_providers(["NODE_INFO"], message("hi"))
    assert not info.error and info.result is not None
    assert (
        info.result.text.startswith("nodeecho runs on Node.js v") and info.result.values["pid"] == plugin.instance.pid
    )

    assert plugin.instance.connection.transport == "unary"
    verdicts = await host.components.validate_actions(["NODE_ECHO"], message("please echo this"))
    assert verdicts["NODE_ECHO"] is True
    assert (await host.components.validate_actions(["NODE_ECHO"], message("hello")))["NODE_ECHO"] is False

    events = [e async for e in host.components.invoke_action("NODE_ECHO", message("echo me"), options={"prefix": "re"})]
    assert [type(e).__name__ for e in events] == ["Content", "Content", "ActionResult"]
    assert events[0].text == "re: echo me"
    assert events[1].text == "the host's GREETING is: hello from settings"  # RuntimeService.GetSetting
    result = events[-1]
    assert isinstance(result, ActionResult) and result.success, result.error
    stored = await host.store.get_memories(host.agent_id, "room-node", "nodeecho", 10)  # RuntimeService.CreateMemory
    assert [(m.id, m.content.text, m.agent_id) for m in stored] == [
        (result.values["memory_id"], "re: echo me", host.agent_id)
    ]

    evaluated = await host.components.run_evaluator("NODE_WORDS", message("echo three words"))
    assert evaluated.success and evaluated.values == {"words": 3.0}


async def test_kill_9_restarts_it_and_reload_replaces_it(start_host):
    host, plugin = await start(start_host)
    first = plugin.instance.pid
    os.kill(first, signal.SIGKILL)
    assert await eventually(lambda: plugin.state == PluginState.READY and plugin.restarts == 1, timeout=15)
    second = plugin.instance.pid
    assert second != first
    events = [e async for e in host.components.invoke_action("NODE_ECHO", message("echo again"))]
    assert isinstance(events[-1], ActionResult) and events[-1].success, events[-1]  # a new token works

    reloaded, _ = await host.plugins.reload("nodeecho")
    assert reloaded.instance.pid != second
    assert await eventually(lambda: not alive(second), timeout=5)
    events = [e async for e in host.components.invoke_action("NODE_ECHO", message("echo once more"))]
    assert isinstance(events[-1], ActionResult) and events[-1].success

    await host.plugins.unload("nodeecho")
    socket_dir = host.socket_dir
    assert sorted(p.name for p in socket_dir.iterdir()) == ["host.sock"]  # its socket is gone too


def test_run_by_hand_it_refuses_and_prints_nothing_on_stdout():
    done = subprocess.run(
        ["node", str(MAIN)], capture_output=True, text=True, timeout=30, env={"PATH": os.environ["PATH"]}
    )
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.startswith("This is an agenthost plugin, not a program")


def test_no_common_version_is_one_line_and_exit_1(tmp_path: Path):
    env = {
        "PATH": os.environ["PATH"],
        "AGENTHOST_PLUGIN_MAGIC_COOKIE": "5b0d6c3e9a1f4e7d8c2b",
        "AGENTHOST_PLUGIN_PROTOCOL_VERSIONS": "7,8",
        "AGENTHOST_PLUGIN_SOCKET_DIR": str(tmp_path),
    }
    done = subprocess.run(["node", str(MAIN)], capture_output=True, text=True, timeout=30, env=env)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr == (
        "agenthost plugin nodeecho: no common protocol version: host speaks [7, 8], plugin speaks [1]\n"
    )


def test_host_gone_means_exit_0_even_with_broken_output_pipes(tmp_path: Path):
    """The host's end of all three pipes closes (as when it dies): the plugin's log lines now
    fail with EPIPE, and it still stops cleanly, exit status 0, socket removed."""
    env = {
        "PATH": os.environ["PATH"],
        "AGENTHOST_PLUGIN_MAGIC_COOKIE": "5b0d6c3e9a1f4e7d8c2b",
        "AGENTHOST_PLUGIN_PROTOCOL_VERSIONS": "1",
        "AGENTHOST_PLUGIN_SOCKET_DIR": str(tmp_path),
    }
    proc = subprocess.Popen(
        ["node", str(MAIN)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    line = proc.stdout.readline().decode()  # type: ignore[union-attr]
    socket = tmp_path / f"nodeecho-{proc.pid}.sock"
    assert line == f"1|1|unix|{socket}|grpc|\n" and socket.exists()
    for pipe in (proc.stdout, proc.stderr, proc.stdin):
        pipe.close()  # type: ignore[union-attr]
    assert proc.wait(timeout=10) == 0
    assert not socket.exists() and not tmp_path.exists()  # the last one out removes the directory


def test_host_sigkill_leaves_no_node_process_and_no_socket(tmp_path: Path):
    """A host process (the CLI) SIGKILLed: the Node plugin sees stdin EOF, exits 0 and removes its
    socket, the host's socket and the directory, although its stdout and stderr are broken pipes."""
    env = {**os.environ, "AGENTHOST_DATA_DIR": str(tmp_path / "data")}
    address = f"unix://{tmp_path}/api.sock"
    config = tmp_path / "agenthost.toml"
    config.write_text('data_dir = "data"\nrouter_address = "off"\n[plugins]\nallow = ["nodeecho"]\n')
    agenthost = str(Path(sys.executable).with_name("agenthost"))
    host = subprocess.Popen(
        [agenthost, "serve", "--listen", address, "--config", str(config)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        cli_env = {**env, "AGENTHOST_ADDR": address}
        waited = subprocess.run([agenthost, "wait", "--timeout", "30"], env=cli_env, capture_output=True, text=True)
        assert waited.returncode == 0, waited.stderr
        # --host before the command works as well as after it
        status = subprocess.run(
            [agenthost, "--host", address, "status", "--json"], env=env, capture_output=True, text=True
        )
        assert status.returncode == 0, status.stderr
        [plugin] = json.loads(status.stdout)["plugins"]
        pid, socket = plugin["pid"], plugin["address"].removeprefix("unix://")
        assert plugin["name"] == "nodeecho" and alive(pid) and os.path.exists(socket)
    finally:
        host.send_signal(signal.SIGKILL)
        host.wait(timeout=5)
    deadline_ok = _wait_gone(pid, 5)
    assert deadline_ok, "the Node plugin outlived its host by 5 s"
    assert not os.path.exists(socket)
    assert not os.path.exists(os.path.dirname(socket)), os.listdir(os.path.dirname(socket))


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    time.sleep(0.2)  # its last unlink/rmdir come just before exit
    return True
