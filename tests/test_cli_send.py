"""The several-agents CLI as a user runs it (subprocesses against a real host): send, runs,
run, agents list/add/remove, serve with several characters; errors are one line."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path
from typing import Any

from agents_support import AGENTHOST, ScriptedRouter, character, router_fixture, run_cli  # noqa: F401 (a fixture)

from host.host import Host


async def error_of(host: Host, *args: str) -> str:
    """The command's error: it must exit non-zero with one line on stderr."""
    code, _, err = await run_cli(host, *args)
    assert code != 0 and len(err.splitlines()) == 1 and err.startswith("agenthost: "), err
    return err.strip()


async def test_send_runs_run_and_agents_through_the_cli(
    start_host: Any, router: tuple[ScriptedRouter, str], tmp_path: Path
) -> None:
    alpha, beta = character(tmp_path, "Alpha"), character(tmp_path, "Beta")
    host = await start_host(characters=(alpha, beta), router_address=router[1])

    code, out, err = await run_cli(host, "send", "--agent", "Alpha", "--room", "r1", "--room-type", "dm", "hello")
    assert code == 0, err
    assert out.startswith("I am Alpha | turns=0") and len(out.splitlines()) == 1
    room = await host.store.get_room(host.find_agent("Alpha").id, "r1")
    assert room is not None and room.type == "DM"  # the room is made with its first message, of its type
    code, out, err = await run_cli(host, "send", "--agent", "Beta", "--json", "--user", "u2", "--action", "REPLY", "hi")
    assert code == 0, err
    events = [json.loads(line) for line in out.splitlines() if '"REPLY_DELTA"' not in line]  # the streamed reply
    assert [e["event"] for e in events] == ["RUN_STARTED", "REPLY", "RUN_ENDED"]
    assert events[1]["text"].startswith("I am Beta") and events[2]["extra"]["status"] == "completed"
    beta_run = events[0]["run_id"]

    code, out, err = await run_cli(host, "runs", "--json")
    assert code == 0, err
    runs = json.loads(out)["runs"]
    assert {r["agent_id"] for r in runs} == {host.find_agent("Alpha").id, host.find_agent("Beta").id}
    assert all(r["status"] == "completed" and r["duration_ms"] >= 0 for r in runs)
    code, out, _ = await run_cli(host, "runs", "--agent", "Alpha", "--room", "r1")
    lines = out.splitlines()
    assert lines[0].split() == ["RUN", "ROOM", "STATUS", "STARTED", "DURATION", "ERROR"] and len(lines) == 2
    assert " r1 " in lines[1] and " completed " in lines[1]

    code, out, err = await run_cli(host, "run", beta_run)
    assert code == 0, err
    assert f"run {beta_run}" in out and "status completed" in out and "REPLY: I am Beta" in out
    code, out, _ = await run_cli(host, "run", beta_run, "--json")
    assert [e["event"] for e in json.loads(out)["events"]] == ["RUN_STARTED", "REPLY", "RUN_ENDED"]

    code, out, _ = await run_cli(host, "agents", "list")
    assert [line.split()[0] for line in out.splitlines()] == ["NAME", "Alpha", "Beta"]
    gamma = character(tmp_path, "Gamma")
    code, out, err = await run_cli(host, "agents", "add", str(gamma))
    assert code == 0 and out.startswith("added agent Gamma ("), err
    code, out, err = await run_cli(host, "send", "--agent", "Gamma", "who are you?")
    assert code == 0 and out.startswith("I am Gamma"), err
    code, out, err = await run_cli(host, "agents", "remove", "Gamma", "--json")
    assert code == 0 and json.loads(out)["state"] == "STOPPED", err
    code, out, _ = await run_cli(host, "agents", "list", "--json")
    assert [a["name"] for a in json.loads(out)["agents"]] == ["Alpha", "Beta"]

    # Errors: one line, non-zero exit, and the host keeps serving.
    assert "no agent 'Zed'; agents: Alpha (" in await error_of(host, "send", "--agent", "Zed", "hi")
    assert "name an agent; agents: " in await error_of(host, "send", "hi")
    assert "no run 'nope'" in await error_of(host, "run", "nope")
    assert "no agent 'Gamma'" in await error_of(host, "agents", "remove", "Gamma")
    assert "cannot read character file" in await error_of(host, "agents", "add", str(tmp_path / "none.json"))
    dup = await error_of(host, "agents", "add", str(alpha))
    assert "have the same id" in dup
    code, _, err = await run_cli(host, "send", "--agent", "Alpha", "--room-type", "forum", "x")
    assert code == 2 and "invalid choice" in err  # argparse's own usage error
    code, out, _ = await run_cli(host, "send", "--agent", "Alpha", "still there?")
    assert code == 0 and out.startswith("I am Alpha")

    # chat keeps its behaviour, and talks to the agent --agent names.
    chat = await asyncio.create_subprocess_exec(
        AGENTHOST,
        "chat",
        "--agent",
        "Beta",
        "--host",
        host.address,
        env={**os.environ, "AGENTHOST_TOKEN": host.api_token},
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out_bytes, err_bytes = await asyncio.wait_for(chat.communicate(b"hello\n"), 60)
    assert chat.returncode == 0, err_bytes
    assert out_bytes.decode().startswith("I am Beta")


def test_serve_runs_a_directory_of_characters_and_refuses_a_missing_plugin(tmp_path: Path) -> None:
    agents = tmp_path / "agents"
    agents.mkdir()
    character(agents, "Alpha")
    character(agents, "Beta")
    config = tmp_path / "agenthost.toml"
    config.write_text('router_address = "off"\n[plugins]\nallow = []\n')
    address = f"unix://{tmp_path}/host.sock"
    env = {**os.environ, "AGENTHOST_DATA_DIR": str(tmp_path / "data"), "AGENTHOST_ADDR": address}
    serve = [AGENTHOST, "serve", "--config", str(config), "--listen", address, "--log-level", "warn"]
    host = subprocess.Popen([*serve, "--character", str(agents)], env=env, stdout=subprocess.PIPE, text=True)
    try:
        subprocess.run([AGENTHOST, "wait", "--timeout", "60"], env=env, check=True, timeout=90)
        listed = subprocess.run([AGENTHOST, "agents", "list", "--json"], env=env, capture_output=True, text=True)
        assert [(a["name"], a["state"]) for a in json.loads(listed.stdout)["agents"]] == [
            ("Alpha", "READY"),
            ("Beta", "READY"),
        ]
    finally:
        host.terminate()
        host.wait(30)

    nova = character(tmp_path, "Nova", ["@elizaos/plugin-skywatch"])
    done = subprocess.run([*serve, "--character", str(nova)], env=env, capture_output=True, text=True, timeout=90)
    assert done.returncode == 2
    assert done.stderr.startswith("agenthost: character Nova (") and "'@elizaos/plugin-skywatch'" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
