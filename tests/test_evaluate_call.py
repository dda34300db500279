"""Components.evaluate against real plugin processes: evaluators validated and run in one
Evaluate round trip on the Session stream, with the same outcomes as ValidateEvaluators then
RunEvaluator, which a plugin without Session, or with an SDK from before Evaluate, still gets."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from session_modes import calls_fixture  # noqa: F401  (the `calls` fixture)

from plugin_sdk import Content, Memory, PluginSpec
from plugin_sdk.types import State

PLUGIN = Path(__file__).with_name("evaluate_plugin.py")
NAME = "evaluatetest"
NAMES = ["COUNT", "PICKY", "FAILS"]


def spec(mode: str = "ok") -> PluginSpec:
    return PluginSpec(
        name=NAME, version="1.0.0", command=(sys.executable, str(PLUGIN)), env={"AGENTHOST_TEST_MODE": mode}
    )


def message(text: str) -> Memory:
    return Memory(room_id="room-e", entity_id="user-1", content=Content(text=text, source="test"))


async def outcomes(host: Any, text: str) -> list[tuple[Any, ...]]:
    replies = [message("ok"), message("fine")]
    found = await host.components.evaluate(NAMES, message(text), State(text="st"), replies)
    return [(o.name, o.plugin, o.valid, o.error, o.result, o.run_error) for o in found]


async def two_step(host: Any, text: str) -> list[tuple[Any, ...]]:
    """What ValidateEvaluators then RunEvaluator answer for the same message."""
    replies = [message("ok"), message("fine")]
    verdicts = await host.components.validate_evaluators(NAMES, message(text), State(text="st"))
    out = []
    for name in NAMES:
        result = None
        if verdicts[name]:
            result = await host.components.run_evaluator(name, message(text), State(text="st"), replies)
        out.append((name, NAME, verdicts[name], verdicts.errors.get(name, ""), result, ""))
    return out


async def test_evaluators_are_validated_and_run_in_one_round_trip(start_host, calls):
    host = await start_host(spec())
    assert host.plugins.get(NAME).connection().transport == "session"
    for text in ("hello", "", "boom"):
        calls.clear()
        got = await outcomes(host, text)
        assert calls == {"Evaluate": 1}, text
        assert got == await two_step(host, text), text
    count, picky, fails = await outcomes(host, "boom")
    assert count[2:] == (True, "", count[4], "") and count[4].text == "2" and count[4].values["state"] == "st"
    assert picky[2:4] == (False, "ValueError: picky tripped") and picky[4] is None
    assert fails[2] is True and not fails[4].success and fails[4].error == "RuntimeError: evaluator tripped"
    count, *_ = await outcomes(host, "")
    assert count[2:] == (False, "", None, "")  # its validate said no: it did not run


@pytest.mark.parametrize("mode", ["unary-only", "old-sdk"])
async def test_a_plugin_that_cannot_take_evaluate_gets_validate_then_run(start_host, calls, mode):
    host = await start_host(spec(mode))
    first = await outcomes(host, "boom")
    assert first[0][4].text == "2" and first[1][3] == "ValueError: picky tripped" and not first[2][4].success
    calls.clear()
    assert await outcomes(host, "boom") == first
    # validate once for all, then one run per evaluator that applied; Evaluate is not tried again
    assert calls == {"ValidateEvaluators": 1, "RunEvaluator": 2}
    assert host.plugins.get(NAME).connection().transport == ("unary" if mode == "unary-only" else "session")


async def test_a_plugin_that_is_down_validates_nothing(start_host):
    host = await start_host(spec())
    host.plugins.get(NAME).connection().abort("was stopped by the test")  # as when its process dies
    found = await host.components.evaluate(NAMES, message("x"), State(), [])
    assert [(o.valid, o.result) for o in found] == [(False, None)] * 3
    assert all("was stopped by the test" in o.error for o in found)
