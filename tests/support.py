"""Helpers for tests that run a real host with real plugin processes."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Callable

import grpc

from host.config import SupervisionConfig
from host.host import Host
from host.plugins.discovery import DiscoveryError, Scan
from plugin_sdk import PluginSpec

FIXTURE = Path(__file__).with_name("fixture_plugin.py")

FAST = SupervisionConfig(
    start_timeout=5.0,
    call_timeout=5.0,
    health_interval=0.3,
    health_timeout=0.5,
    max_failures=3,
    restart_window=30.0,
    backoff_initial=0.05,
    backoff_max=0.5,
    drain_timeout=10.0,
)


def fixture_spec(
    name: str,
    mode: str = "ok",
    prefix: str | None = None,
    version: str = "1.0.0",
    deps: tuple[str, ...] = (),
    priority: int = 0,
) -> PluginSpec:
    """A spec that runs tests/fixture_plugin.py as plugin `name` in `mode`."""
    return PluginSpec(
        name=name,
        version=version,
        command=(sys.executable, str(FIXTURE)),
        env={
            "AGENTHOST_TEST_MODE": mode,
            "AGENTHOST_TEST_NAME": name,
            "AGENTHOST_TEST_VERSION": version,
            "AGENTHOST_TEST_PREFIX": prefix or name.upper(),
            "AGENTHOST_TEST_DEPS": ",".join(deps),
            "AGENTHOST_TEST_PRIORITY": str(priority),
        },
    )


class StaticDiscovery:
    """Discovery over a dict the test controls (installing = adding a spec)."""

    def __init__(self, *specs: PluginSpec) -> None:
        self.installed = {s.name: s for s in specs}

    def specs(self) -> dict[str, PluginSpec]:
        return dict(self.installed)

    def scan(self) -> Scan:
        return Scan(dict(self.installed))

    def spec(self, name: str) -> PluginSpec:
        if name not in self.installed:
            raise DiscoveryError(
                f"no installed plugin named {name!r} (installed: {', '.join(sorted(self.installed)) or 'none'})"
            )
        return self.installed[name]


def alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


async def eventually(check: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll `check` until it is true or `timeout` passes; returns its last value."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


def _with_token(details, token: str):  # type: ignore[no-untyped-def]
    return details._replace(metadata=[*(details.metadata or ()), ("authorization", f"Bearer {token}")])


# grpc.aio files an interceptor under the first kind it is an instance of: one class per kind.
class _BearerUnary(grpc.aio.UnaryUnaryClientInterceptor):
    def __init__(self, token: str) -> None:
        self.token = token

    async def intercept_unary_unary(self, continuation, details, request):  # type: ignore[no-untyped-def]
        return await continuation(_with_token(details, self.token), request)


class _BearerStream(grpc.aio.UnaryStreamClientInterceptor):
    def __init__(self, token: str) -> None:
        self.token = token

    async def intercept_unary_stream(self, continuation, details, request):  # type: ignore[no-untyped-def]
        return await continuation(_with_token(details, self.token), request)


def api_channel(host: Host) -> grpc.aio.Channel:
    """A channel to the host's public listener that sends its API token, as a client would."""
    token = host.api_token
    return grpc.aio.insecure_channel(host.address, interceptors=[_BearerUnary(token), _BearerStream(token)])


def plugin_socket(host: Host) -> str:
    """The address the host's own plugins call back on (RuntimeService)."""
    return f"unix://{host.socket_dir}/host.sock"
