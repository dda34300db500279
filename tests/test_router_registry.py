"""The providers file: the shipped registry loads; errors name the entry and the field."""

from __future__ import annotations

import json

import pytest

from router.registry import RegistryError, load_providers, parse_providers

GOOD = {
    "name": "p",
    "model": "m",
    "litellm_model": "openai/m",
    "cost_in": 0.001,
    "cost_out": 0.002,
    "max_context": 8000,
    "latency_ms": 100,
}


def test_the_shipped_registry_has_the_seeds_five_entries_and_the_local_model():
    ids = [p.id for p in load_providers()]
    assert ids == [
        "openrouter:gpt-4o-mini",
        "requesty:claude-3-sonnet",
        "openrouter:mistral-7b",
        "openrouter:qwen2-72b",
        "localai:phi-4-14b",
        "local:smollm2-135m",
        "local:all-minilm-l6-v2",
    ]


def test_a_provider_without_its_key_is_not_configured():
    local, cloud = parse_providers(
        [{**GOOD, "name": "l", "capabilities": ["chat", "local"]}, {**GOOD, "endpoint_env": "P_KEY"}], "t"
    )
    assert local.not_configured_reason({}) == ""
    assert cloud.not_configured_reason({}) == "P_KEY is not set"
    assert cloud.not_configured_reason({"P_KEY": "secret"}) == ""


def test_cost_is_per_thousand_tokens():
    (provider,) = parse_providers([GOOD], "t")
    assert provider.cost(1000, 500) == pytest.approx(0.001 + 0.001)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"cost_in": -1}, "t: entry 1 (p:m): field 'cost_in' must not be negative"),
        ({"cost_in": "cheap"}, "t: entry 1 (p:m): field 'cost_in' must be a number, got 'cheap'"),
        ({"max_context": 0}, "t: entry 1 (p:m): field 'max_context' must be positive"),
        ({"capabilities": ["chat", "telepathy"]}, "t: entry 1 (p:m): field 'capabilities' has unknown ['telepathy']"),
        ({"colour": "red"}, "t: entry 1 (p:m): unknown field 'colour'"),
        ({"litellm_model": " "}, "t: entry 1 (p:m): field 'litellm_model' must not be empty"),
    ],
)
def test_validation_errors_name_the_entry_and_field(change, message):
    with pytest.raises(RegistryError) as caught:
        parse_providers([{**GOOD, **change}], "t")
    assert str(caught.value).startswith(message)


def test_a_missing_field_and_a_duplicate_id_are_named():
    missing = {k: v for k, v in GOOD.items() if k != "latency_ms"}
    with pytest.raises(RegistryError, match=r"^t: entry 1 \(p:m\): field 'latency_ms' is missing$"):
        parse_providers([missing], "t")
    with pytest.raises(RegistryError, match=r"^t: entry 2 \(p:m\): provider id is listed twice$"):
        parse_providers([GOOD, GOOD], "t")


def test_files_json_and_toml(tmp_path):
    (tmp_path / "p.json").write_text(json.dumps([GOOD]))
    assert load_providers(tmp_path / "p.json")[0].id == "p:m"
    (tmp_path / "p.toml").write_text(
        '[[providers]]\nname = "p"\nmodel = "m"\nlitellm_model = "openai/m"\ncost_in = 0.001\ncost_out = 0.002\n'
        "max_context = 8000\nlatency_ms = 100\n"
    )
    assert load_providers(tmp_path / "p.toml")[0].id == "p:m"
    (tmp_path / "bad.json").write_text("[{")
    with pytest.raises(RegistryError, match="bad.json: not valid JSON"):
        load_providers(tmp_path / "bad.json")
    with pytest.raises(RegistryError, match="does not exist"):
        load_providers(tmp_path / "none.json")
