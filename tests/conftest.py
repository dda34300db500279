"""Shared fixtures: a real host (in this process) whose plugins are real processes."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import AsyncIterator, Callable

import pytest
from support import FAST, StaticDiscovery

from host.config import HostConfig
from host.host import Host
from plugin_sdk import PluginSpec


@pytest.fixture
def host_config(tmp_path: Path) -> HostConfig:
    return HostConfig(
        listen=f"unix://{tmp_path}/host.sock",
        data_dir=tmp_path / "data",
        supervision=FAST,
        router_address="off",  # tests of the router spawn one where they need it
        settings={"GREETING": "hello from settings"},
    )


@pytest.fixture
async def start_host(host_config: HostConfig) -> AsyncIterator[Callable[..., object]]:
    """start_host(*specs, **config_changes) -> a started Host; stopped after the test."""
    hosts: list[Host] = []

    async def start(*specs: PluginSpec, discovery: object = None, **changes: object) -> Host:
        host = Host(replace(host_config, **changes), discovery=discovery or StaticDiscovery(*specs))  # type: ignore[arg-type]
        hosts.append(host)
        await host.start()
        return host

    yield start
    for host in hosts:
        await host.stop()
