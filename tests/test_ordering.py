"""Plugins are initialised dependencies first, then by priority; what cannot start says why."""

from __future__ import annotations

from support import fixture_spec

from host.plugins.manifest import Manifest
from host.plugins.ordering import initialisation_order
from plugin_sdk import Content, Memory


def manifest(name: str, deps: tuple[str, ...] = (), priority: int = 0) -> Manifest:
    return Manifest(name=name, version="1", dependencies=deps, priority=priority)


def order_of(*manifests: Manifest, loaded: set[str] = set()) -> tuple[list[str], dict[str, str]]:
    return initialisation_order({m.name: m for m in manifests}, already_loaded=loaded)


def test_dependencies_come_first_whatever_their_priority():
    order, errors = order_of(
        manifest("app", deps=("db",), priority=100), manifest("db", priority=-5), manifest("cache")
    )
    assert errors == {}
    assert order.index("db") < order.index("app")
    assert order == ["cache", "db", "app"]


def test_higher_priority_first_then_name():
    order, _ = order_of(manifest("b"), manifest("a"), manifest("z", priority=10), manifest("y", priority=-1))
    assert order == ["z", "a", "b", "y"]


def test_a_missing_dependency_fails_the_plugin_and_its_dependents():
    order, errors = order_of(manifest("app", deps=("db",)), manifest("web", deps=("app",)), manifest("ok"))
    assert order == ["ok"]
    assert errors == {
        "app": "plugin 'app' needs plugin 'db', which is not loaded",
        "web": "plugin 'web' needs plugin 'app', which cannot start",
    }


def test_an_already_loaded_dependency_counts():
    order, errors = order_of(manifest("app", deps=("db",)), loaded={"db"})
    assert order == ["app"] and errors == {}


def test_a_cycle_is_named():
    order, errors = order_of(manifest("a", deps=("b",)), manifest("b", deps=("a",)), manifest("c"))
    assert order == ["c"]
    assert errors["a"] == "plugin 'a' is in a dependency cycle: a -> b -> a"
    assert errors["b"] == "plugin 'b' is in a dependency cycle: b -> a -> b"


async def test_the_host_initialises_plugins_in_dependency_order(start_host):
    host = await start_host(
        fixture_spec("app", deps=("db",), priority=50),
        fixture_spec("db"),
        fixture_spec("early", priority=10),
        fixture_spec("orphan", deps=("nowhere",)),
    )
    inits = await host.store.get_memories(host.agent_id, "inits", "messages", 10)
    assert [m.content.text for m in reversed(inits)] == [
        "early",
        "db",
        "app",
        "service early",
        "service db",
        "service app",
    ]
    orphan = host.plugins.get("orphan")
    assert orphan.state.value == "failed"
    assert orphan.reason == "plugin 'orphan' needs plugin 'nowhere', which is not loaded"
    assert host.load_errors == [orphan.reason]


async def test_hot_loading_a_plugin_whose_dependency_is_missing_is_refused(start_host):
    import pytest

    from host.plugins.manager import PluginConflict

    host = await start_host(fixture_spec("base"))
    host.discovery.installed["needy"] = fixture_spec("needy", deps=("absent",))
    with pytest.raises(PluginConflict, match="plugin 'needy' needs plugin 'absent', which is not loaded"):
        await host.plugins.load("needy")
    host.discovery.installed["fine"] = fixture_spec("fine", deps=("base",))
    await host.plugins.load("fine")
    assert (await host.components.get_providers(["FINE_ECHO"], Memory(content=Content(text="ok"))))[
        0
    ].result.text == "ok"
