"""Shared fixtures: a real host (in this process) whose plugins are real processes."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import AsyncIterator, Callable

import pytest
from support import FAST, StaticDiscovery

import router  # noqa: F401  # the package, imported before a test puts bench/ (and its router.py) on sys.path
from host.config import HTTP_ENV, HTTP_OFF, HostConfig
from host.host import Host
from plugin_sdk import PluginSpec

# Hosts started by `agenthost serve` in tests (many at once) serve no HTTP face unless a test asks
# for one (--http 127.0.0.1:0): a fixed default port would collide. In-process configs have it off.
os.environ.setdefault(HTTP_ENV, HTTP_OFF)


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
        if host.config.http != "off":  # as `agenthost serve` does after the start
            from host.http.server import serve_http_of

            await serve_http_of(host)
        return host

    yield start
    for host in hosts:
        await host.stop()
