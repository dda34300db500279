"""The weather plugin: city extraction, the deterministic forecast, GET_WEATHER and WEATHER_FOLLOWUP."""

from datetime import date

import pytest
from agenthost_plugin_weather.plugin import find_city, forecast, plugin

from plugin_sdk import Content, Memory
from plugin_sdk.testing import FakeHost, PluginHarness

DAY = date(2024, 6, 1)


def ask(text, room_id="room-1"):
    return Memory(content=Content(text=text), room_id=room_id, agent_id="agent-1")


@pytest.mark.parametrize(
    "text, city",
    [
        ("What's the weather in Paris?", "Paris"),
        ("forecast for New York please", "New York"),
        ("temperature at Lisbon today", "Lisbon"),
        ("What is it like in paris?", None),
        ("hello", None),
    ],
)
def test_find_city(text, city):
    assert find_city(text) == city


def test_forecast_is_deterministic_for_one_city_and_day():
    assert forecast("Paris", DAY) == forecast("Paris", DAY)
    assert forecast("Paris", DAY) == {**forecast("paris", DAY), "city": "Paris"}


def test_forecast_varies_across_cities():
    cities = ["Paris", "Lisbon", "Oslo", "Cairo", "Lima", "Tokyo", "Perth", "Quito"]
    reports = {(forecast(c, DAY)["celsius"], forecast(c, DAY)["condition"]) for c in cities}
    assert len(reports) > 1


def test_forecast_fields():
    report = forecast("Paris", DAY)
    assert report["city"] == "Paris" and report["date"] == "2024-06-01"
    assert -5 <= report["celsius"] <= 30
    assert isinstance(report["condition"], str) and report["condition"]


@pytest.mark.parametrize(
    "text, applies",
    [
        ("What's the weather in Paris?", True),
        ("hello", False),
        ("what's the weather like?", False),
        ("I live in Paris", False),
    ],
)
async def test_validate(text, applies):
    assert await PluginHarness(plugin).validate_action("GET_WEATHER", ask(text)) is applies


async def test_get_weather_reports_records_and_emits():
    host = FakeHost()
    callbacks, result = await PluginHarness(plugin, host=host).invoke_action(
        "GET_WEATHER", ask("What's the weather in Paris?")
    )

    assert [c.text for c in callbacks] == ["Looking up the weather in Paris..."]
    assert result.success
    # data crossed the wire as a Struct, as with the real host: the whole degrees are a float there
    assert result.text == f"Paris today: {result.data['celsius']:.0f}°C and {result.data['condition']}."
    assert result.values == {"weather": result.text}
    assert result.data["city"] == "Paris"

    (stored,) = await host.get_memories("room-1", table_name="weather_reports")
    assert stored.content.text == result.text
    assert stored.metadata == result.data
    assert await host.get_memories("room-1") == []  # not mixed into the conversation

    assert host.events == [("WEATHER_REPORTED", result.data)]


async def test_get_weather_reads_units_through_the_host():
    host = FakeHost(settings={"WEATHER_UNITS": "imperial"})
    _, result = await PluginHarness(plugin, host=host).invoke_action("GET_WEATHER", ask("weather in Oslo"))
    fahrenheit = round(result.data["celsius"] * 9 / 5 + 32)
    assert result.text.startswith(f"Oslo today: {fahrenheit}°F and ")
    assert "°C" not in result.text


async def test_get_weather_takes_the_city_from_options():
    _, result = await PluginHarness(plugin).invoke_action("GET_WEATHER", ask("and there?"), options={"city": "Lima"})
    assert result.success and result.text.startswith("Lima today: ")


async def test_get_weather_without_a_room_writes_no_memory():
    host = FakeHost()
    _, result = await PluginHarness(plugin, host=host).invoke_action("GET_WEATHER", ask("weather in Oslo", room_id=""))
    assert result.success
    assert host.memories == []
    assert [event for event, _ in host.events] == ["WEATHER_REPORTED"]


async def test_get_weather_fails_clearly_without_a_city():
    host = FakeHost()
    callbacks, result = await PluginHarness(plugin, host=host).invoke_action("GET_WEATHER", ask("what's the weather?"))
    assert not result.success
    assert "no city" in result.error and "weather in Paris" in result.error
    assert callbacks == [] and host.memories == [] and host.events == []


async def test_weather_followup_counts_weather_responses():
    responses = [
        Memory(content=Content(text="Paris: sunny", actions=["GET_WEATHER"])),
        Memory(content=Content(text="ok", actions=["REPLY"])),
        Memory(content=Content(text="both", actions=["REPLY", "GET_WEATHER"])),
    ]
    result = await PluginHarness(plugin).run_evaluator("WEATHER_FOLLOWUP", ask("hi"), responses=responses)
    assert result.success and result.values == {"weather_reports": 2}


async def test_weather_followup_with_no_responses_counts_zero():
    result = await PluginHarness(plugin).run_evaluator("WEATHER_FOLLOWUP", ask("hi"))
    assert result.values == {"weather_reports": 0}


def test_manifest_declares_the_action_with_similes_and_examples():
    manifest = plugin.manifest()
    (action,) = manifest.actions
    assert action.name == "GET_WEATHER"
    assert "WEATHER" in action.similes
    assert action.examples[0].turns[-1].actions == ["GET_WEATHER"]
    assert [e.name for e in manifest.evaluators] == ["WEATHER_FOLLOWUP"]
