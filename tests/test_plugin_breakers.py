"""Plugin calls under faults, against real plugin processes (tests/breaker_plugin.py): a
component's circuit breaker opens after failures in a row (the component is skipped at once and
the run says so), half-opens after its cooldown and closes on success; status, the CLI and the
metrics show it; a provider call is tried again after its plugin is killed and restarted, an
action that may have run is not; a deadline that expires (a call's, its run's) cancels the work
in the plugin."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from agenthost.v1 import agent_pb2, agent_pb2_grpc, router_pb2
from support import FAST, api_channel, eventually
from test_pipeline import CHAT, of, send

from host.agent.models import Models
from host.cli.output import status_doc, status_text
from host.config import ConfigError, load_config
from host.metrics import families
from host.plugins.breakers import Breakers
from host.plugins.connection import PluginUnavailable
from host.plugins.deadlines import RunDeadlineExceeded, run_deadline
from host.plugins.supervisor import PluginState
from plugin_sdk import Content, Memory, PluginSpec

PLUGIN = Path(__file__).with_name("breaker_plugin.py")
NAME = "breakertest"


def spec(folder: Path) -> PluginSpec:
    return PluginSpec(
        name=NAME, version="1.0.0", command=(sys.executable, str(PLUGIN)), env={"BREAKER_DIR": str(folder)}
    )


def message(text: str) -> Memory:
    return Memory(room_id="room-b", entity_id="user-1", content=Content(text=text, source="test"))


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def breakers(host: Any) -> dict[str, tuple[str, int]]:
    """The plugin's breakers as status reports them: 'kind NAME' -> (state, failures)."""
    (info,) = [p for p in host.status().plugins if p.name == NAME]
    return {f"{b.kind} {b.name}": (b.state, b.failures) for b in info.breakers}


async def provider(host: Any, name: str, text: str) -> Any:
    (outcome,) = await host.components.get_providers([name], message(text))
    return outcome


async def test_a_failing_provider_opens_its_breaker_then_half_opens_and_closes(start_host, tmp_path):
    host = await start_host(spec(tmp_path), supervision=replace(FAST, breaker_failures=3, breaker_cooldown=0.6))
    calls = tmp_path / "flaky-calls"
    (tmp_path / "flaky-down").touch()
    for n in range(3):
        assert "flaky is down" in (await provider(host, "FLAKY", f"try {n}")).error
    assert len(lines(calls)) == 3 and breakers(host) == {"provider FLAKY": ("open", 3)}
    # open: skipped at once, the plugin is not asked
    began = time.monotonic()
    skipped = await provider(host, "FLAKY", "while open")
    assert time.monotonic() - began < 0.05
    assert skipped.result is None and skipped.error.startswith("breaker open after 3 failure(s) in a row")
    assert len(lines(calls)) == 3
    # after the cooldown, half-open: one trial call goes through, the others meanwhile are skipped
    await asyncio.sleep(0.7)
    assert breakers(host) == {"provider FLAKY": ("half-open", 3)}
    trial, other = await asyncio.gather(provider(host, "FLAKY", "trial"), provider(host, "FLAKY", "other"))
    assert "flaky is down" in trial.error and other.error == "breaker half-open: its trial call is under way"
    assert lines(calls)[-1] == "trial" and len(lines(calls)) == 4
    assert breakers(host)["provider FLAKY"][0] == "open"  # the trial failed: open for another cooldown
    assert (await provider(host, "FLAKY", "open again")).error.startswith("breaker open")
    # the provider mends: the next trial closes the breaker, and calls go through again
    (tmp_path / "flaky-down").unlink()
    await asyncio.sleep(0.7)
    assert (await provider(host, "FLAKY", "mended")).result.text == "flaky ok"
    assert breakers(host) == {"provider FLAKY": ("closed", 0)}
    assert (await provider(host, "FLAKY", "after")).result.text == "flaky ok"
    assert lines(calls)[-2:] == ["mended", "after"]


async def test_an_open_breaker_shows_in_the_run_status_cli_and_metrics(start_host, tmp_path):
    host = await start_host(CHAT, spec(tmp_path), supervision=replace(FAST, breaker_failures=1, breaker_cooldown=60))
    (tmp_path / "flaky-down").touch()
    first = of(await send(host, "hello"), "RUN_ENDED")[0]["extra"]
    assert first["status"] == "degraded"
    assert [(s["name"], "flaky is down" in s["error"]) for s in first["skipped"]] == [("FLAKY", True)]
    second = of(await send(host, "hello again"), "RUN_ENDED")[0]["extra"]
    assert second["status"] == "degraded"  # answered, without the provider, which was not asked
    (skip,) = second["skipped"]
    assert (skip["kind"], skip["name"], skip["plugin"]) == ("provider", "FLAKY", NAME)
    assert skip["error"].startswith("breaker open after 1 failure(s) in a row")
    assert len(lines(tmp_path / "flaky-calls")) == 1
    # GetStatus, as `agenthost status` (--json) shows it
    async with api_channel(host) as channel:
        status = await agent_pb2_grpc.AgentServiceStub(channel).GetStatus(agent_pb2.GetStatusRequest(), timeout=10)
    doc = status_doc(status)
    (plugin,) = [p for p in doc["plugins"] if p["name"] == NAME]
    (breaker,) = plugin["breakers"]
    assert {k: breaker[k] for k in ("kind", "name", "state", "failures")} == {
        "kind": "provider",
        "name": "FLAKY",
        "state": "open",
        "failures": 1,
    }
    assert 0 < breaker["retry_in_s"] <= 60
    assert [p["breakers"] for p in doc["plugins"] if p["name"] == "chat"] == [[]]
    assert f"{NAME} breakers: provider FLAKY open (1 failures, trial call in" in status_text(doc)
    # Prometheus: one sample per state, 1 for the current one
    (family,) = [f for f in families(host.status(), None) if f.name == "agenthost_plugin_breaker_state"]
    samples = {s.labels["state"]: s.value for s in family.samples if s.labels["component"] == "FLAKY"}
    assert samples == {"closed": 0.0, "open": 1.0, "half-open": 0.0}


async def test_a_provider_call_is_tried_again_after_its_plugin_is_killed_and_restarted(start_host, tmp_path):
    host = await start_host(spec(tmp_path), supervision=FAST)
    (tmp_path / "hang").touch()

    async def in_a_run() -> Any:
        async with run_deadline(30):
            return await provider(host, "HANG", "x")

    call = asyncio.create_task(in_a_run())
    assert await eventually(lambda: (tmp_path / "hanging").exists())
    killed = int((tmp_path / "hanging").read_text())
    (tmp_path / "hang").unlink()
    os.kill(killed, signal.SIGKILL)
    outcome = await asyncio.wait_for(call, FAST.call_timeout + 1)
    restarted = host.plugins.get(NAME).instance.pid
    assert restarted != killed and outcome.error == "" and outcome.result.text == f"answered by {restarted}"
    assert breakers(host) == {}  # it answered in the end: no failure counted


async def test_an_action_that_may_have_run_is_not_tried_again_one_not_sent_is(start_host, tmp_path):
    host = await start_host(spec(tmp_path), supervision=FAST)
    managed = host.plugins.get(NAME)
    calls = tmp_path / "action-calls"

    async def invoke(text: str) -> list[Any]:
        return [event async for event in host.components.invoke_action("ONCE", message(text))]

    (tmp_path / "hang").touch()
    call = asyncio.create_task(invoke("mid-call"))
    assert await eventually(lambda: (tmp_path / "hanging").exists())
    killed = int((tmp_path / "hanging").read_text())
    (tmp_path / "hang").unlink()
    os.kill(killed, signal.SIGKILL)
    with pytest.raises(PluginUnavailable):
        await asyncio.wait_for(call, FAST.call_timeout)
    assert await eventually(lambda: managed.state is PluginState.READY and managed.instance.pid != killed, 20)
    await asyncio.sleep(0.5)  # time enough for a retry, were there one
    assert lines(calls) == [str(killed)]  # it ran once, in the killed process
    # while the plugin restarts a call is not sent at all: that one waits for the restart
    second = managed.instance.pid
    os.kill(second, signal.SIGKILL)
    assert await eventually(lambda: managed.state is PluginState.RESTARTING)
    (result,) = await invoke("while restarting")
    assert result.success and result.text == f"done by {managed.instance.pid}" != f"done by {second}"
    assert lines(calls) == [str(killed), str(managed.instance.pid)]


async def test_a_providers_deadline_cancels_it_in_the_plugin_and_counts_for_its_breaker_only(start_host, tmp_path):
    host = await start_host(spec(tmp_path), supervision=replace(FAST, provider_timeout=0.5))
    began = time.monotonic()
    outcome = await provider(host, "SLOW", "late")
    assert 0.4 < time.monotonic() - began < 2.0
    assert "did not answer GetProviders within its deadline" in outcome.error
    assert await eventually(lambda: "cancelled late" in lines(tmp_path / "slow"))
    assert breakers(host) == {"provider SLOW": ("closed", 1)}
    # asked in one Compose with an action's validate: the provider is late, not the validate
    (late,), verdicts = await host.components.compose(["SLOW"], ["ONCE"], message("composed"))
    assert "did not answer Compose within its deadline" in late.error and verdicts == {"ONCE": False}
    assert breakers(host) == {"provider SLOW": ("closed", 2)}


async def test_a_runs_deadline_caps_its_calls_and_cancels_them_in_the_plugin(start_host, tmp_path):
    host = await start_host(spec(tmp_path), supervision=FAST)  # providers get 5 s; the run has 0.5
    began = time.monotonic()
    with pytest.raises(RunDeadlineExceeded, match="within its deadline"):
        async with run_deadline(0.5):
            await provider(host, "SLOW", "in a run")
            await asyncio.sleep(10)  # the call failed at its capped deadline: the run ends anyway
    assert time.monotonic() - began < 2.0
    assert await eventually(lambda: "cancelled in a run" in lines(tmp_path / "slow"))
    assert breakers(host) == {}  # cut short by its run: not the provider's failure


async def test_a_run_past_its_deadline_fails_and_says_so(start_host, tmp_path):
    host = await start_host(CHAT, supervision=replace(FAST, run_timeout=1.0))
    began = time.monotonic()
    ended = of(await send(host, "slow 3 please"), "RUN_ENDED")[0]["extra"]
    assert time.monotonic() - began < 2.5
    assert ended["status"] == "failed" and "deadline" in ended["error"], ended


async def test_a_router_call_in_a_run_gets_at_most_what_is_left_of_the_run():
    seen: list[float | None] = []

    class Stub:
        async def Invoke(self, request: Any, timeout: float | None, metadata: Any, wait_for_ready: bool = False) -> Any:
            seen.append(timeout)
            return router_pb2.InvokeResponse(text="ok")

    class Router:
        enabled, metadata, shared = True, (), False

        def stub(self) -> Stub:
            return Stub()

    models = Models(None, Router(), "Ada")  # type: ignore[arg-type]
    await models.use("TEXT_SMALL", {"prompt": "hi"}, 120.0)
    async with run_deadline(2.0):
        await models.use("TEXT_SMALL", {"prompt": "hi"}, 120.0)
        await models.use("TEXT_SMALL", {"prompt": "hi"}, 0.5)
    assert seen[0] == 120.0 and 1.5 < seen[1] <= 2.0 and seen[2] == 0.5


def test_a_trial_call_never_reported_holds_the_half_open_slot_for_one_cooldown_only():
    now = [0.0]
    breakers = Breakers(2, 10.0, clock=lambda: now[0])
    key = (NAME, "provider", "FLAKY")
    breakers.failed(key)
    assert breakers.refusal(key) == ""  # one failure: still closed
    breakers.failed(key)
    assert breakers.refusal(key).startswith("breaker open after 2 failure(s)")
    now[0] = 10.0
    assert breakers.refusal(key) == ""  # half-open: this caller takes the trial call...
    assert breakers.refusal(key) == "breaker half-open: its trial call is under way"
    now[0] = 19.9  # ...and never reports its end
    assert breakers.refusal(key) == "breaker half-open: its trial call is under way"
    now[0] = 20.0
    assert breakers.refusal(key) == ""  # the slot is free again after a cooldown
    breakers.succeeded(key)
    assert [(b.state, b.failures) for b in breakers.of(NAME)] == [("closed", 0)]


async def test_composing_while_the_plugin_restarts_waits_for_it(start_host, tmp_path):
    host = await start_host(spec(tmp_path), supervision=FAST)
    managed = host.plugins.get(NAME)
    killed = managed.instance.pid
    os.kill(killed, signal.SIGKILL)
    assert await eventually(lambda: managed.state is PluginState.RESTARTING)
    (outcome,), verdicts = await host.components.compose(["FLAKY"], ["ONCE"], message("during"))
    assert outcome.error == "" and outcome.result.text == "flaky ok"
    assert verdicts == {"ONCE": True} and not verdicts.errors
    assert managed.instance.pid != killed


@pytest.mark.parametrize(
    ("line", "named"),
    [
        ("breaker_failures = 0", "breaker_failures must be a whole number, 1 or more"),
        ("breaker_cooldown = -1", "breaker_cooldown must be a number, 0 or more"),
        ("provider_timeout = 0", "provider_timeout must be more than 0 s"),
        ('run_timeout = "soon"', "run_timeout must be a number"),
    ],
)
def test_supervision_settings_are_checked_and_named(tmp_path, line, named):
    path = tmp_path / "host.toml"
    path.write_text(f"[supervision]\n{line}\n")
    with pytest.raises(ConfigError, match=named):
        load_config(path)


def test_supervision_settings_are_read(tmp_path):
    path = tmp_path / "host.toml"
    path.write_text("[supervision]\nbreaker_failures = 2\nbreaker_cooldown = 1.5\nrun_timeout = 60\n")
    supervision = load_config(path).supervision
    assert (supervision.breaker_failures, supervision.breaker_cooldown, supervision.run_timeout) == (2, 1.5, 60)
    assert (supervision.provider_timeout, supervision.action_timeout) == (10.0, 30.0)  # the defaults


async def test_a_model_call_goes_to_the_next_plugin_at_once_while_the_first_restarts(start_host, tmp_path):
    session_plugin = Path(__file__).with_name("session_plugin.py")
    other = PluginSpec(name="sessiontest", version="1.0.0", command=(sys.executable, str(session_plugin)))
    host = await start_host(spec(tmp_path), other, supervision=FAST)
    managed = host.plugins.get(NAME)
    first = await host.components.use_model("TEXT_SMALL", {"prompt": "a"})
    assert (first.served_by, first.text) == (NAME, f"model of {managed.instance.pid}")
    os.kill(managed.instance.pid, signal.SIGKILL)
    assert await eventually(lambda: managed.state is PluginState.RESTARTING)
    began = time.monotonic()
    fallback = await host.components.use_model("TEXT_SMALL", {"prompt": "b"})
    assert (fallback.served_by, fallback.text) == ("sessiontest", "model says b")
    assert time.monotonic() - began < 0.5, "no waiting for the restart while another plugin serves the type"
