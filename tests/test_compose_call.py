"""Components.compose against real plugin processes: a plugin's providers asked and its actions
validated in one Compose round trip on the Session stream, with the same outcomes as
GetProviders and ValidateActions, which a plugin without Session, or with an SDK from before
Compose, still gets (both at once). The validates see the state given, not the providers'."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from session_modes import calls_fixture  # noqa: F401  (the `calls` fixture)
from support import FAST

from plugin_sdk import Content, Memory, PluginSpec
from plugin_sdk.types import State

PLUGIN = Path(__file__).with_name("compose_plugin.py")
NAME = "composetest"
PROVIDERS = ["FACT", "BROKEN"]
ACTIONS = ["POLITE", "SEES_FACT", "PICKY"]


def spec(mode: str = "ok") -> PluginSpec:
    return PluginSpec(
        name=NAME, version="1.0.0", command=(sys.executable, str(PLUGIN)), env={"AGENTHOST_TEST_MODE": mode}
    )


def message(text: str) -> Memory:
    return Memory(room_id="room-c", entity_id="user-1", content=Content(text=text, source="test"))


async def composed(host: Any, text: str) -> tuple[list[tuple[Any, ...]], dict[str, bool], dict[str, str]]:
    found, verdicts = await host.components.compose(PROVIDERS, ACTIONS, message(text), State(text="st"))
    return [(o.name, o.plugin, o.result, o.error) for o in found], dict(verdicts), verdicts.errors


async def apart(host: Any, text: str) -> tuple[list[tuple[Any, ...]], dict[str, bool], dict[str, str]]:
    """What GetProviders and ValidateActions answer for the same message and state."""
    found = await host.components.get_providers(PROVIDERS, message(text), State(text="st"))
    verdicts = await host.components.validate_actions(ACTIONS, message(text), State(text="st"))
    return [(o.name, o.plugin, o.result, o.error) for o in found], dict(verdicts), verdicts.errors


async def test_providers_and_validates_go_in_one_round_trip(start_host, calls):
    # BROKEN and PICKY fail on every call: their breakers must stay closed to compare answers
    host = await start_host(spec(), supervision=replace(FAST, breaker_failures=1000))
    assert host.plugins.get(NAME).connection().transport == "session"
    for text in ("please", "hello", "boom"):
        calls.clear()
        got = await composed(host, text)
        assert calls == {"Compose": 1}, text
        assert got == await apart(host, text), text
    providers, verdicts, errors = await composed(host, "please")
    fact, broken = providers
    assert fact[2].text == "fact for please" and fact[2].values == {"fact": 1, "given": "st"} and fact[3] == ""
    assert broken[2] is None and broken[3] == "RuntimeError: provider tripped"
    # SEES_FACT's validate ran beside FACT, with the state given: without FACT's value.
    assert verdicts == {"POLITE": True, "SEES_FACT": False, "PICKY": True} and errors == {}
    _, verdicts, errors = await composed(host, "boom")
    assert verdicts["PICKY"] is False and errors == {"PICKY": "ValueError: picky tripped"}


@pytest.mark.parametrize("mode", ["unary-only", "old-sdk"])
async def test_a_plugin_that_cannot_take_compose_gets_both_calls(start_host, calls, mode):
    host = await start_host(spec(mode))
    first = await composed(host, "please")
    assert first[1] == {"POLITE": True, "SEES_FACT": False, "PICKY": True}
    calls.clear()
    assert await composed(host, "please") == first
    assert calls == {"GetProviders": 1, "ValidateActions": 1}  # Compose is not tried again
    assert host.plugins.get(NAME).connection().transport == ("unary" if mode == "unary-only" else "session")


async def test_only_providers_or_only_actions_make_their_own_call(start_host, calls):
    host = await start_host(spec())
    found, verdicts = await host.components.compose(["FACT"], [], message("x"), State())
    assert [o.name for o in found] == ["FACT"] and verdicts == {} and calls == {"GetProviders": 1}
    calls.clear()
    found, verdicts = await host.components.compose([], ["POLITE"], message("please"), State())
    assert found == [] and verdicts == {"POLITE": True} and calls == {"ValidateActions": 1}


async def test_a_plugin_that_is_down_answers_nothing(start_host):
    host = await start_host(spec())
    host.plugins.get(NAME).connection().abort("was stopped by the test")  # as when its process dies
    found, verdicts = await host.components.compose(PROVIDERS, ACTIONS, message("please"), State())
    assert [o.result for o in found] == [None, None] and all("was stopped by the test" in o.error for o in found)
    assert verdicts == dict.fromkeys(ACTIONS, False)
    assert all("was stopped by the test" in why for why in verdicts.errors.values())
