"""The time plugin: the TIME provider and the uptime service."""

from datetime import datetime, timedelta, timezone

import pytest
from agenthost_plugin_time.plugin import plugin

from plugin_sdk import Content, Memory
from plugin_sdk.testing import PluginHarness

MESSAGE = Memory(content=Content(text="what time is it?"))


@pytest.fixture
async def harness():
    harness = PluginHarness(plugin)
    yield harness
    await harness.stop_services()  # the uptime start time is process-wide; leave it unset


def utc_dates_around_now():
    # Two samples so that a test running across midnight UTC still passes.
    return {f"{datetime.now(timezone.utc):%A %d %B %Y}" for _ in range(2)}


async def test_time_text_has_todays_utc_date(harness):
    before = utc_dates_around_now()
    result = await harness.get_provider("TIME", MESSAGE)
    after = utc_dates_around_now()
    assert result.text.startswith("The current date and time is ")
    assert any(day in result.text for day in before | after)
    assert result.text.endswith(" UTC.")


async def test_time_honours_the_timezone_label():
    harness = PluginHarness(plugin, config={"TIMEZONE_LABEL": "Europe/Lisbon"})
    result = await harness.get_provider("TIME", MESSAGE)
    assert result.text.endswith(" Europe/Lisbon.")
    assert "UTC" not in result.text


async def test_time_values_carry_an_iso_time(harness):
    result = await harness.get_provider("TIME", MESSAGE)
    when = datetime.fromisoformat(result.values["time"])
    assert when.utcoffset() == timedelta(0)
    assert abs(datetime.now(timezone.utc) - when) < timedelta(seconds=5)
    assert abs(result.values["timestamp_ms"] / 1000 - when.timestamp()) < 1


async def test_uptime_appears_once_the_service_has_started(harness):
    assert "uptime_s" not in (await harness.get_provider("TIME", MESSAGE)).values
    await harness.start_service("uptime")
    uptime = (await harness.get_provider("TIME", MESSAGE)).values["uptime_s"]
    assert 0 <= uptime < 60
    await harness.stop_services()
    assert "uptime_s" not in (await harness.get_provider("TIME", MESSAGE)).values


def test_manifest_declares_the_provider_and_service():
    manifest = plugin.manifest()
    assert [(p.name, p.position) for p in manifest.providers] == [("TIME", -10)]
    assert [s.name for s in manifest.services] == ["uptime"]
