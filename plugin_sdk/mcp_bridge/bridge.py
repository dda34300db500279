"""The bridge process: connect to the MCP server, read what it offers, serve that as a plugin
until the host stops it or the server is gone.

Why a plugin process per server (not MCP clients inside the host): the host then supervises an
MCP server exactly as it does any plugin (health checks, restarts with backoff, breakers,
deadlines, status, load/unload/reload, and no orphans: the bridge dies with the host, and the
server with the bridge, see die_with_parent.py), and a misbehaving server or the SDK's client
can only take down its own bridge.

Why the bridge exits when the server is gone (a crash mid-call, a dead connection): the host
restarts the bridge with its backoff, the bridge starts a fresh server, and the restart is
counted and shown in status like any plugin's.

When the server's tools change (tools/list_changed), the bridge lists them again, serves the new
actions and tells the host (the MANIFEST_CHANGED event), which reads its manifest again: no
restart, the server keeps its state.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import sys
import urllib.parse
from typing import Any, Awaitable, Callable, NoReturn

import grpc
import mcp_types as types
from agenthost.v1 import plugin_pb2, plugin_pb2_grpc
from mcp import Client
from mcp.client.subscriptions import ListenNotSupportedError
from mcp.shared.exceptions import MCPError
from mcp_types.jsonrpc import CONNECTION_CLOSED, HEADER_MISMATCH
from pydantic import ValidationError

from .. import tracing
from .._host_client import GrpcHostClient
from .._plugin import Plugin
from .._server import PluginServicer
from ..process import fail, serve_until_stopped, start_checks
from ..protocol import MANIFEST_CHANGED, HandshakeError
from ..types import ActionResult, Content, Memory, ProviderResult, State
from . import arguments, results
from .config import BridgeConfig, from_environment
from .connect import make_client

log = logging.getLogger("mcp_bridge")

EXIT_SERVER_GONE = 3
"""The bridge's exit status when its server died or its connection broke (the host restarts it)."""
EXIT_TOOLS_CHANGED = 4
"""The bridge's exit status when the server's tools changed (tools/list_changed) and the host
could not take the new manifest in place: the host's restart reads it."""
PING_INTERVAL = 5.0
"""Seconds between two pings of an idle server: how soon a server that died between calls is seen."""
_UNSAFE = re.compile(r"[^A-Z0-9_]+")
_VARIABLE = re.compile(r"\{([^}]+)\}")  # a URI template's variable (RFC 6570, simple forms)


def component_name(server: str, item: str) -> str:
    """An action's or provider's name for a server's tool or resource: SERVER_ITEM, upper case,
    so the model's <actions> can name it (the server's name first keeps two servers' tools apart)."""
    return _UNSAFE.sub("_", f"{server}_{item}".upper()).strip("_")


class Bridge:
    """One connected MCP server as a plugin."""

    def __init__(self, config: BridgeConfig, client: Client) -> None:
        self.config = config
        self.client = client
        self.tools: dict[str, types.Tool] = {}  # by action name
        self.resources: dict[str, types.Resource] = {}  # by provider name
        self.templates: list[types.ResourceTemplate] = []
        self.prompts: list[types.Prompt] = []
        self.stop = asyncio.Event()
        self.exit_code = 0
        self.served: Plugin | None = None  # the plugin being served, its servicer (set by _serve)
        self.servicer: BridgeServicer | None = None
        self._refreshing: asyncio.Task[None] | None = None

    async def read_listings(self) -> None:
        """The server's tools, static resources, resource templates and prompts (each listed
        only when the server says it has that capability), every page."""
        caps = self.client.server_capabilities
        if caps.tools is not None:
            self.tools = {component_name(self.config.name, t.name): t for t in await self._tools()}
        if caps.resources is not None:
            found = await _pages(lambda c: self.client.list_resources(cursor=c), "resources")
            self.resources = {component_name(self.config.name, r.name): r for r in found}
            self.templates = await _pages(lambda c: self.client.list_resource_templates(cursor=c), "resource_templates")
        if caps.prompts is not None:
            self.prompts = await _pages(lambda c: self.client.list_prompts(cursor=c), "prompts")

    async def _tools(self) -> list[types.Tool]:
        return await _pages(lambda c: self.client.list_tools(cursor=c, cache_mode="refresh"), "tools")

    def plugin(self) -> Plugin:
        """The plugin: each tool an action, each static resource a provider; the templates and
        prompts listed in its description."""
        info = self.client.server_info
        about = f"MCP server {self.config.name}" + (f" ({info.name} {info.version})" if info else "")
        if self.templates:
            about += "; resource templates: " + ", ".join(t.uri_template for t in self.templates)
        if self.prompts:
            about += "; prompts: " + ", ".join(_described(p.name, p.description) for p in self.prompts)
        plugin = Plugin(
            self.config.plugin, version=info.version if info and info.version else "0.0.0", description=about
        )
        self._add_actions(plugin)
        for name, resource in self.resources.items():
            description = _described(resource.name, resource.description) + f" ({resource.uri})"
            plugin.provider(name, description=description, position=50)(self._provider(resource))
        for template in self.templates:
            name = component_name(self.config.name, template.name)
            if name in plugin.providers:
                continue  # a static resource of that name came first
            description = _described(template.name, template.description) + f" ({template.uri_template})"
            plugin.provider(name, description=description, position=50, dynamic=True)(self._template(template))
        return plugin

    def _add_actions(self, plugin: Plugin) -> None:
        """Each tool an action of `plugin`."""
        for name, tool in self.tools.items():
            plugin.action(name, description=self._describe(tool))(self._action(name, tool))

    def _describe(self, tool: types.Tool) -> str:
        """What the model reads of a tool: its description and its parameters' JSON schema."""
        description = (tool.description or tool.title or tool.name).strip()
        if arguments.takes_arguments(tool.input_schema):
            description += f"; parameters (JSON schema): {arguments.schema_text(tool.input_schema)}"
        return description

    def _action(self, name: str, tool: types.Tool) -> Callable[..., Awaitable[ActionResult]]:
        async def handler(
            ctx: Any, message: Memory, state: State, options: dict[str, Any], callback: Callable[[Content], Any]
        ) -> ActionResult:
            return await self.call(ctx, tool, message, options)

        return handler

    def _provider(self, resource: types.Resource) -> Callable[..., Awaitable[ProviderResult]]:
        async def get(ctx: Any, message: Memory, state: State) -> ProviderResult:
            return await self.read(resource)

        return get

    def _asker(self, ctx: Any) -> Callable[[list[dict[str, str]]], Awaitable[str]]:
        """Asks the model (through the host, for the call's agent) and returns its text."""

        async def ask(prompt: list[dict[str, str]]) -> str:
            return (await ctx.host.use_model(self.config.model_type, messages=prompt)).text

        return ask

    def _template(self, template: types.ResourceTemplate) -> Callable[..., Awaitable[ProviderResult]]:
        """A resource template, read when the reply names it (a dynamic provider): the model
        fills its variables from the message, as it fills a tool's arguments."""
        variables = [v.lstrip("+#./;?&") for v in _VARIABLE.findall(template.uri_template)]
        schema = {
            "type": "object",
            "properties": {v: {"type": "string"} for v in variables},
            "required": variables,
        }

        async def get(ctx: Any, message: Memory, state: State) -> ProviderResult:
            description = template.description or template.name
            filled = await arguments.fill(self._asker(ctx), template.name, description, schema, message.content.text)
            if filled.arguments is None:
                raise RuntimeError(filled.error)
            values = {k: urllib.parse.quote(str(v), safe="") for k, v in filled.arguments.items()}
            uri = _VARIABLE.sub(lambda m: values.get(m.group(1).lstrip("+#./;?&"), ""), template.uri_template)
            return await self.read(types.Resource(name=template.name, uri=uri))

        return get

    async def call(self, ctx: Any, tool: types.Tool, message: Memory, options: dict[str, Any]) -> ActionResult:
        """Fill the tool's arguments, check them, call it; any failure is the action's, said plainly."""
        description = tool.description or tool.name
        try:
            given = options.get("arguments")  # a host that parses parameters passes them; none does yet
            filled = await arguments.fill(
                self._asker(ctx), tool.name, description, tool.input_schema, message.content.text, given
            )
        except Exception as exc:  # the model could not be asked (no router, a deadline, ...)
            return ActionResult(success=False, error=f"could not ask the model for {tool.name}'s arguments: {exc}")
        if filled.arguments is None:
            return ActionResult(success=False, error=filled.error, data={"tool": tool.name, "sent": False})
        try:
            answer = await self._call_tool(tool.name, filled.arguments)
        except MCPError as exc:
            return ActionResult(success=False, error=self._failed(f"tools/call {tool.name}", exc))
        except ValidationError as exc:
            return ActionResult(success=False, error=f"tool {tool.name} returned a malformed result: {_first(exc)}")
        if not isinstance(answer, types.CallToolResult):
            return ActionResult(success=False, error=f"tool {tool.name} returned {type(answer).__name__}, not a result")
        result = results.action_result(tool.name, answer)
        result.data["arguments"] = filled.arguments
        return result

    async def _call_tool(self, name: str, arguments: dict[str, Any]) -> Any:
        """tools/call as the session's own request: one round trip, the result checked against
        the protocol's types, not Client.call_tool's layers (input-required rounds, which the
        bridge cannot answer, and extension claims, which it has none of) nor its check of the
        structured content against the tool's output schema: a jsonschema pass a call that
        guards nothing here (the host passes structured content on as data, trusting no shape).
        A call the server refuses as made against a stale listing (HEADER_MISMATCH, 2026-07-28;
        not run) goes again through Client.call_tool, which lists the tools and resends once."""
        request = types.CallToolRequest(params=types.CallToolRequestParams(name=name, arguments=arguments))
        try:
            return await self.client.session.send_request(
                request, types.CallToolResult, request_read_timeout_seconds=self.config.timeout
            )
        except MCPError as exc:
            if exc.code != HEADER_MISMATCH:
                raise
        return await self.client.call_tool(name, arguments, read_timeout_seconds=self.config.timeout)

    async def read(self, resource: types.Resource) -> ProviderResult:
        """A static resource's contents as the provider's text; a failure raises (the run skips it)."""
        try:
            answer = await self.client.read_resource(str(resource.uri))
        except MCPError as exc:
            raise RuntimeError(self._failed(f"resources/read {resource.uri}", exc)) from None
        except ValidationError as exc:
            raise RuntimeError(f"resource {resource.uri} came back malformed: {_first(exc)}") from None
        if not isinstance(answer, types.ReadResourceResult):
            raise RuntimeError(f"resource {resource.uri} came back as {type(answer).__name__}")
        return ProviderResult(text=results.resource_text(answer), data={"uri": str(resource.uri)})

    def _failed(self, what: str, exc: MCPError) -> str:
        """The error of a request that failed; a closed connection means the server is gone."""
        if exc.code == CONNECTION_CLOSED:
            self.gone(f"MCP server {self.config.name!r} exited or closed its connection during {what}")
            return f"MCP server {self.config.name!r} exited or closed its connection during {what}; it is restarted"
        return f"MCP server {self.config.name!r} failed {what}: {exc.message}"

    def gone(self, why: str, code: int = EXIT_SERVER_GONE) -> None:
        """End the bridge (after the answer in hand is sent): the host restarts it and its server."""
        if not self.stop.is_set():
            log.error("%s; the bridge exits so the host restarts it", why)
            self.exit_code = code
            asyncio.get_running_loop().call_later(0.2, self.stop.set)

    async def on_message(self, message: Any) -> None:
        """The server's notifications: a changed tool list is listed again (_refresh)."""
        if isinstance(message, types.ToolListChangedNotification):
            # Listed from a task of its own: this handler runs in the session's receive loop.
            self._refreshing = asyncio.create_task(self._refresh())
        elif isinstance(message, Exception):
            log.warning("MCP server %s sent something unreadable: %s", self.config.name, message)

    async def _refresh(self) -> None:
        """List the tools again; when they changed, serve them as the actions and have the host
        read the manifest again; when that fails, exit so that the host's restart reads it."""
        listed = {component_name(self.config.name, t.name): t for t in await self._tools()}
        if _signature(listed) == _signature(self.tools):
            return
        try:
            await self._take_tools(listed)
        except Exception as exc:
            why = f"MCP server {self.config.name!r} changed its tools and the host could not take them ({exc})"
            self.gone(why, EXIT_TOOLS_CHANGED)
            return
        log.info("MCP server %s changed its tools: %s", self.config.name, ", ".join(sorted(listed)) or "none")

    async def _take_tools(self, listed: dict[str, types.Tool]) -> None:
        plugin, servicer = self.served, self.servicer
        if plugin is None or servicer is None or servicer.host is None:
            raise RuntimeError("the bridge is not initialised yet")
        self.tools = listed
        plugin.actions.clear()  # the plugin's actions are the tools alone; a call in flight keeps its tool
        self._add_actions(plugin)
        servicer.components_changed()
        await servicer.host.emit_event(MANIFEST_CHANGED, {"plugin": plugin.name})

    async def follow_changes(self) -> None:
        """Watch for tools/list_changed: on a 2026-07-28 connection through subscriptions/listen;
        on an older one the server's notification reaches on_message instead."""
        tools = self.client.server_capabilities.tools
        if tools is None or not tools.list_changed:
            return
        try:
            async with self.client.listen(tools_list_changed=True) as events:
                async for _ in events:
                    await self._refresh()
        except ListenNotSupportedError:
            return
        except Exception as exc:  # the connection's end is the pings' and the calls' to see
            log.debug("listening to %s for changes ended: %s", self.config.name, exc)

    async def watch(self) -> None:
        """Ping the server while idle: one that died between calls is seen within PING_INTERVAL."""
        while not self.stop.is_set():
            await asyncio.sleep(PING_INTERVAL)
            try:
                await self.client.send_ping()
            except MCPError as exc:
                if exc.code == CONNECTION_CLOSED:
                    self.gone(f"MCP server {self.config.name!r} exited or closed its connection")
                    return
            except Exception as exc:  # a server that does not answer pings is not down
                log.debug("ping of %s failed: %s", self.config.name, exc)


class BridgeServicer(PluginServicer):
    """The plugin's servicer, whose Describe follows the plugin's components as they change."""

    def components_changed(self) -> None:
        """Describe answers with the plugin's components as they are now."""
        self._manifest = self.plugin.manifest()

    @property
    def host(self) -> GrpcHostClient | None:
        """The host's RuntimeService client (after Init)."""
        return self._host


async def _pages(fetch: Callable[[str | None], Awaitable[Any]], field: str) -> list[Any]:
    """Every page of one listing."""
    found: list[Any] = []
    cursor: str | None = None
    for _ in range(100):
        page = await fetch(cursor)
        found.extend(getattr(page, field))
        cursor = page.next_cursor
        if cursor is None:
            break
    return found


def _signature(tools: dict[str, types.Tool]) -> dict[str, tuple[str | None, dict[str, Any]]]:
    return {name: (tool.description, tool.input_schema) for name, tool in tools.items()}


def _described(name: str, description: str | None) -> str:
    return f"{name} ({description})" if description else name


def _first(exc: ValidationError) -> str:
    errors = exc.errors()
    if not errors:
        return str(exc).splitlines()[0]
    where = ".".join(str(p) for p in errors[0]["loc"])
    return f"{where}: {errors[0]['msg']}" if where else str(errors[0]["msg"])


async def _serve(bridge: Bridge, app_version: int) -> None:
    """Connect, read the listings (within the start timeout), serve until stopped."""
    config = bridge.config
    loop = asyncio.get_running_loop()
    # The SDK's connect holds anyio scopes that must be left in this task: the start timeout is
    # a watchdog, not a cancellation. Before the handshake, an exit is the host's start error.
    watchdog = loop.call_later(
        config.start_timeout,
        _give_up,
        config,
        f"MCP server {config.name!r} did not answer initialize within {config.start_timeout:g} s",
    )
    try:
        async with bridge.client:
            await bridge.read_listings()
            watchdog.cancel()
            plugin = bridge.plugin()
            servicer = BridgeServicer(plugin)
            bridge.served, bridge.servicer = plugin, servicer
            tracing.configure(f"agenthost-plugin-{plugin.name}")
            server = grpc.aio.server(interceptors=tracing.server_interceptors())
            plugin_pb2_grpc.add_PluginServiceServicer_to_server(servicer, server)
            service_name = plugin_pb2.DESCRIPTOR.services_by_name["PluginService"].full_name
            watching = [asyncio.create_task(bridge.watch()), asyncio.create_task(bridge.follow_changes())]
            try:
                await serve_until_stopped(
                    plugin.name, app_version, server, (service_name,), bridge.stop, servicer.close
                )
            finally:
                for task in watching:
                    task.cancel()
                await asyncio.gather(*watching, return_exceptions=True)
    except MCPError as exc:
        watchdog.cancel()
        if bridge.stop.is_set():
            return
        fail(config.plugin, f"MCP server {config.name!r} failed at start: {exc.message}")
    except OSError as exc:
        watchdog.cancel()
        fail(config.plugin, f"MCP server {config.name!r} cannot be reached: {exc}")


def _give_up(config: BridgeConfig, why: str) -> None:
    print(f"agenthost plugin {config.plugin}: {why}", file=sys.stderr, flush=True)
    os._exit(1)  # the server dies with us (die_with_parent.py); an HTTP server is not ours


def main() -> NoReturn:
    """Run the bridge for the server in $AGENTHOST_MCP_SERVER; exits 0 when stopped, 3 when the
    server is gone, 4 when its tools changed, 1 (one line on stderr) when it could not start."""
    try:
        config = from_environment()
    except ValueError as exc:
        fail("mcp", str(exc))
    app_version = start_checks(config.plugin)
    bridge: Bridge

    async def run() -> None:
        nonlocal bridge
        bridge = Bridge(config, make_client(config, lambda m: _on_message(bridge, m)))
        await _serve(bridge, app_version)

    try:
        asyncio.run(run())
    except HandshakeError as exc:
        fail(config.plugin, str(exc))
    sys.exit(bridge.exit_code)


async def _on_message(bridge: Bridge, message: Any) -> None:
    await bridge.on_message(message)
