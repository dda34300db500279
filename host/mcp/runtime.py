"""The MCP servers of an agent added while the host runs (`agenthost agents add`): its
character's `settings.mcp` servers join the host's configured plugins and are started, as the
host's start does for the characters it begins with."""

from __future__ import annotations

import logging
from typing import Iterable

from ..agent.agent import AgentError
from ..agent.character import Character
from ..config import Grant
from ..plugins.manager import PluginConflict, PluginManager
from ..plugins.supervisor import PluginState
from .servers import McpServer, host_servers, servers_from_character

log = logging.getLogger("host.mcp")


async def start_character_servers(
    plugins: PluginManager, configured: tuple[McpServer, ...], running: Iterable[Character], character: Character
) -> list[str]:
    """Start the MCP servers `character` names that the host does not run yet (`running`: the
    characters of its agents, `configured`: its [mcp.servers]); their plugin names. AgentError
    when the character's settings.mcp is malformed, names a server the host runs differently, or
    a server cannot start (its plugin is left FAILED in the status, as at the host's start)."""
    try:
        servers_from_character(character.setting_values, character.name)  # its own errors first
        servers = host_servers(configured, {c.name: c.setting_values for c in (*running, character)})
    except ValueError as exc:
        raise AgentError(str(exc)) from None
    mine = {s.plugin for s in servers_from_character(character.setting_values, character.name)}
    started: list[str] = []
    for name in sorted(mine):
        server = servers[name]
        before = plugins.configured.get(name)
        plugins.configured[name] = server.spec()
        plugins.ctx.grants = {**plugins.ctx.grants, name: Grant(env=server.env)}
        loaded = plugins.plugins.get(name)
        try:
            if loaded is None or loaded.state is PluginState.FAILED:
                await plugins.load(name)
            elif before != plugins.configured[name]:  # a removed agent's server, configured otherwise now
                await plugins.reload(name)
            else:
                continue  # another agent's character runs it already
        except PluginConflict:
            continue  # loaded meanwhile
        except Exception as exc:
            raise AgentError(f"character {character.name!r}: MCP server {server.name!r} did not start: {exc}") from None
        log.info("MCP server %s started for agent %s", server.name, character.name)
        started.append(name)
    return started


async def stop_character_servers(
    plugins: PluginManager, configured: tuple[McpServer, ...], remaining: Iterable[Character], character: Character
) -> list[str]:
    """Unload the MCP servers only `character` (an agent removed) named: not in the host's
    [mcp.servers], not named by the characters of the agents that remain; their plugin names."""
    try:
        gone = {s.plugin for s in servers_from_character(character.setting_values, character.name)}
    except ValueError:
        return []  # it could not have started with a malformed settings.mcp
    kept = {s.plugin for s in configured}
    for other in remaining:
        try:
            kept |= {s.plugin for s in servers_from_character(other.setting_values, other.name)}
        except ValueError:
            continue
    stopped: list[str] = []
    for name in sorted(gone - kept):
        if name not in plugins.plugins:
            continue
        try:
            await plugins.unload(name)
        except Exception as exc:  # said, not fatal: the agent is removed either way
            log.warning("MCP server plugin %s of removed agent %s did not unload: %s", name, character.name, exc)
            continue
        plugins.configured.pop(name, None)
        log.info("MCP server plugin %s stopped: agent %s, the only one naming it, was removed", name, character.name)
        stopped.append(name)
    return stopped
