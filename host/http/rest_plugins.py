"""REST: the plugins (list; load, unload, reload one), through AgentService's own methods."""

from __future__ import annotations

from typing import Any

from agenthost.v1 import agent_pb2
from fastapi import APIRouter

from ..cli.output import plugin_doc  # the JSON `agenthost plugins --json` prints
from .rest_agents import ServicerDep
from .rest_calls import CallContext


async def _listed(servicer: Any, name: str) -> dict[str, Any]:
    """Plugin `name` as ListPlugins shows it (an unloaded one as available, or gone)."""
    reply = await servicer.ListPlugins(agent_pb2.ListPluginsRequest(), CallContext())
    found = [plugin_doc(p) for p in reply.plugins if p.name == name]
    return found[0] if found else {"name": name, "state": "unloaded", "pid": 0}


def plugins_routes() -> APIRouter:
    """The plugins' routes, for the app to mount behind the token check."""
    api = APIRouter(prefix="/api/plugins", tags=["REST: plugins"])

    @api.get("", summary="The loaded plugins and the ones available to load")
    async def list_plugins(servicer: ServicerDep) -> dict[str, Any]:
        reply = await servicer.ListPlugins(agent_pb2.ListPluginsRequest(), CallContext())  # type: ignore[arg-type]
        return {"plugins": [plugin_doc(p) for p in reply.plugins]}

    @api.post("/{name}/load", summary="Start a plugin")
    async def load(name: str, servicer: ServicerDep) -> dict[str, Any]:
        reply = await servicer.LoadPlugin(agent_pb2.LoadPluginRequest(name=name), CallContext())  # type: ignore[arg-type]
        return {"plugin": plugin_doc(reply.plugin)}

    @api.post("/{name}/unload", summary="Stop a plugin (its components leave the agents)")
    async def unload(name: str, servicer: ServicerDep) -> dict[str, Any]:
        await servicer.UnloadPlugin(agent_pb2.UnloadPluginRequest(name=name), CallContext())  # type: ignore[arg-type]
        return {"plugin": await _listed(servicer, name)}

    @api.post("/{name}/reload", summary="Restart a plugin in a new process")
    async def reload(name: str, servicer: ServicerDep) -> dict[str, Any]:
        request = agent_pb2.ReloadPluginRequest(name=name)
        reply = await servicer.ReloadPlugin(request, CallContext())  # type: ignore[arg-type]
        return {"plugin": plugin_doc(reply.plugin), "duration_ms": reply.duration_ms}

    return api
