"""The router as users meet it: spawned by the host, reached through it, answering offline."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import replace
from pathlib import Path
from typing import Iterator

import pytest
from support import alive, eventually, fixture_spec

from plugin_sdk import Content, Memory

AGENTHOST = str(Path(sys.executable).with_name("agenthost"))


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    tmp = tmp_path_factory.mktemp("router-e2e")
    config = tmp / "agenthost.toml"
    config.write_text(
        textwrap.dedent("""
        data_dir = "data"
        [[router.budgets]]
        scope = "global"
        period = "monthly"
        limit = 5.0
        [[router.budgets]]
        scope = "agent:tester"
        period = "daily"
        limit = 1.0
    """)
    )
    env = {**os.environ, "AGENTHOST_ADDR": f"unix://{tmp}/host.sock", "AGENTHOST_DATA_DIR": str(tmp / "data")}
    for key in ("OPENROUTER_API_KEY", "REQUESTY_API_KEY", "LOCALAI_API_KEY"):
        env.pop(key, None)
    log = open(tmp / "host.log", "w")
    proc = subprocess.Popen(
        [AGENTHOST, "serve", "--config", str(config), "--listen", env["AGENTHOST_ADDR"]],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        waited = subprocess.run([AGENTHOST, "wait", "--timeout", "120"], env=env, capture_output=True, text=True)
        assert waited.returncode == 0, waited.stderr + (tmp / "host.log").read_text()
        yield env
    finally:  # a host that never got READY is stopped too, not left running after the tests
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    log.close()


def cli(env: dict[str, str], *args: str) -> dict:
    result = subprocess.run([AGENTHOST, *args, "--json"], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_status_shows_the_spawned_router_and_its_breakers(host):
    router = cli(host, "status")["router"]
    assert router["state"] == "ready" and alive(router["pid"])
    assert router["breakers"]["local:smollm2-135m"] == "closed"


def test_explain_confidential_routes_to_the_local_model(host):
    decision = cli(host, "router", "explain", "--confidential", "What is my salary?")
    assert (decision["provider"], decision["model"], decision["rule"]) == ("local", "smollm2-135m", "privacy")
    dropped = {c["provider"]: c["reason"] for c in decision["candidates"] if not c["kept"]}
    assert dropped["openrouter:gpt-4o-mini"] == "confidential call and the provider is not local"


def test_invoke_answers_offline_and_books_the_call(host):
    reply = cli(host, "router", "invoke", "--agent", "tester", "--max-tokens", "12", "Say hello.")
    assert reply["text"].strip() and (reply["provider"], reply["model"]) == ("local", "smollm2-135m")
    assert reply["tokens_in"] > 0 and reply["tokens_out"] > 0
    assert [(r["attempt"], r["status"]) for r in reply["ledger"]] == [(1, "ok")]
    usage = cli(host, "router", "usage", "--agent", "tester")
    assert usage["calls"] >= 1 and usage["rows"][0]["request_id"] == reply["request_id"]
    budgets = {b["scope"]: b for b in cli(host, "router", "budget")["budgets"]}
    assert budgets["global"]["limit"] == 5.0 and budgets["agent:tester"]["period"] == "daily"
    assert budgets["global"]["reserved"] == 0


def test_chat_answers_offline_from_the_local_model_and_keeps_the_conversation(host):
    result = subprocess.run(
        [AGENTHOST, "chat", "--json", "--room", "e2e"],
        input="Hello! Who are you?\nWhat is the capital of France?\n",
        env=host,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    replies = [e for e in events if e["event"] == "REPLY"]
    assert len(replies) == 2 and all(r["text"].strip() for r in replies)
    assert [e["extra"]["status"] for e in events if e["event"] == "RUN_ENDED"] == ["completed", "completed"]
    usage = cli(host, "router", "usage", "--agent", "Ada")
    # The replies from the local chat model; the messages' embeddings (the host's background queue)
    # from the local embedding model, booked to the same agent.
    chat = [r for r in usage["rows"] if r["model"] == "smollm2-135m"]
    assert len(chat) >= 2 and {r["provider"] for r in chat} == {"local"}
    models = {(r["provider"], r["model"]) for r in usage["rows"]}
    assert models <= {("local", "smollm2-135m"), ("local", "all-minilm-l6-v2")}


def test_serve_chat_runs_the_host_and_chats_on_the_terminal(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    result = subprocess.run(
        [AGENTHOST, "serve", "--chat", "--listen", f"unix://{tmp_path}/h.sock"],
        input="Say hello.\n",
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    chatting = next(i for i, line in enumerate(lines) if line.startswith("Chatting in room 'terminal'"))
    assert lines[chatting + 1].strip()  # the agent's reply
    assert not (tmp_path / "h.sock").exists()  # end of input stopped the host cleanly


def test_chat_with_no_host_is_one_line_and_a_failure(tmp_path):
    env = {**os.environ, "AGENTHOST_ADDR": f"unix://{tmp_path}/nobody.sock"}
    result = subprocess.run([AGENTHOST, "chat"], input="hi\n", env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr == f"agenthost: cannot reach the host at unix://{tmp_path}/nobody.sock\n"


def test_a_killed_router_is_restarted(host):
    pid = cli(host, "status")["router"]["pid"]
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        router = cli(host, "status")["router"]
        if router["state"] == "ready" and router["pid"] != pid:
            break
        time.sleep(0.5)
    assert router["restarts"] == 1 and router["state"] == "ready"
    assert cli(host, "router", "explain", "hi")["provider"] == "local"


async def test_a_plugins_model_call_goes_through_the_router(start_host, host_config):
    supervision = replace(host_config.supervision, call_timeout=120.0)
    host = await start_host(fixture_spec("alpha"), router_address="", supervision=supervision)
    assert await eventually(lambda: host.router.status().state.value == "ready", timeout=5)
    message = Memory(room_id="room-1", content=Content(text="hi"))
    result = [e async for e in host.components.invoke_action("ALPHA_CALLBACK_HOST", message)][-1]
    assert result.success, result.error
    assert result.values["model_served_by"] == "router:local:smollm2-135m"
    assert result.values["model_text"].strip()


async def test_a_spawned_router_books_in_the_database_the_config_names(start_host, host_config, tmp_path):
    import uuid

    import asyncpg
    from agenthost.v1 import router_pb2

    from router.accounting import open_accounting

    postgres = os.environ.get("AGENTHOST_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
    url = f"{postgres}?schema=e2e_{uuid.uuid4().hex[:12]}"
    config = tmp_path / "agenthost.toml"
    config.write_text(f'[router]\ndatabase = "{url}"\n')
    host = await start_host(router_address="", path=config)
    assert await eventually(lambda: host.router.status().state.value == "ready", timeout=5)
    request = router_pb2.InvokeRequest(
        prompt="Say hi.", request_id="shared-1", meta=router_pb2.CallMeta(max_output_tokens=4, agent_name="pg")
    )
    await host.router.stub().Invoke(request, timeout=120)

    shared = await open_accounting(url)
    try:
        assert [r.request_id for r in (await shared.usage(agent_name="pg")).rows] == ["shared-1"]
    finally:
        await shared.close()
        admin = await asyncpg.connect(postgres)
        await admin.execute(f'DROP SCHEMA IF EXISTS "{url.rsplit("=", 1)[1]}" CASCADE')
        await admin.close()
    local = await open_accounting(f"sqlite://{host_config.data_dir.resolve()}/agenthost.db")
    try:
        assert (await local.usage(agent_name="pg")).rows == []  # not in the host's SQLite file
    finally:
        await local.close()


async def test_stopping_the_host_stops_its_router_at_once(start_host):
    host = await start_host(router_address="")
    assert await eventually(lambda: host.router.status().state.value == "ready", timeout=5)
    pid = host.router.status().pid
    started = time.monotonic()
    await host.stop()
    # The router answers ControllerService.Shutdown and exits at once: no grace period is waited out.
    assert time.monotonic() - started < 2.0
    assert not alive(pid)
