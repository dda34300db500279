"""serve(): run a Plugin as a process the host can start, dial and stop."""

from __future__ import annotations

import asyncio
import sys
from typing import NoReturn

import grpc
from agenthost.v1 import plugin_pb2, plugin_pb2_grpc

from . import tracing
from ._plugin import Plugin
from ._server import PluginServicer
from .process import fail, serve_until_stopped, start_checks
from .protocol import HandshakeError


def serve(plugin: Plugin) -> NoReturn:
    """Serve `plugin` until the host stops it; call this from the plugin's `__main__`.

    Run by hand (without the host's magic cookie) it prints that it is a plugin and exits 1.
    """
    app_version = start_checks(plugin.name)
    try:
        asyncio.run(_serve(plugin, app_version))
    except HandshakeError as exc:
        fail(plugin.name, str(exc))
    sys.exit(0)


async def _serve(plugin: Plugin, app_version: int) -> None:
    servicer = PluginServicer(plugin)
    tracing.configure(f"agenthost-plugin-{plugin.name}")
    server = grpc.aio.server(interceptors=tracing.server_interceptors())
    plugin_pb2_grpc.add_PluginServiceServicer_to_server(servicer, server)
    service_name = plugin_pb2.DESCRIPTOR.services_by_name["PluginService"].full_name
    await serve_until_stopped(plugin.name, app_version, server, (service_name,), asyncio.Event(), servicer.close)
