"""The host's actions that take parameters, as MCP tools of the in-process server: today the
MCP-bridged tools (their plugin's action description ends with the tool's input JSON schema,
plugin_sdk.mcp_bridge). Called with Components.invoke_action and the caller's arguments, which
the bridge checks against the schema and passes on without asking a model."""

from __future__ import annotations

import json
from typing import Any

from mcp.types import CallToolResult, TextContent
from mcp.types import Tool as MCPTool

from plugin_sdk.types import ActionResult, Content, Memory

SCHEMA_MARK = "; parameters (JSON schema): "


def _schema(description: str) -> tuple[str, dict[str, Any]] | None:
    """(the description before the schema, the schema), when the description carries a whole one."""
    head, mark, tail = description.partition(SCHEMA_MARK)
    if not mark:
        return None
    try:
        schema = json.loads(tail)
    except ValueError:  # cut short in the description: not offered
        return None
    return (head, schema) if isinstance(schema, dict) else None


class ActionTools:
    """The host's actions with parameters, listed and called as MCP tools."""

    def __init__(self, host: Any) -> None:
        self._host = host

    def _actions(self) -> dict[str, tuple[str, dict[str, Any]]]:
        found: dict[str, tuple[str, dict[str, Any]]] = {}
        for manifest in self._host.plugins.registry.manifests.values():
            for action in manifest.actions:
                described = _schema(action.description)
                if described is not None:
                    found[action.name] = described
        return found

    def tools(self) -> list[MCPTool]:
        return [
            MCPTool(name=name, description=f"The host's action {name}: {text}", input_schema=schema)
            for name, (text, schema) in sorted(self._actions().items())
        ]

    def has(self, name: str) -> bool:
        return name in self._actions()

    async def call(self, name: str, arguments: dict[str, Any]) -> CallToolResult:
        """Run the action with `arguments`; its result as the tool's (a failure is an error result)."""
        message = Memory(content=Content(text=json.dumps(arguments), source="mcp"))
        result: ActionResult | None = None
        try:
            async for event in self._host.components.invoke_action(name, message, options={"arguments": arguments}):
                if isinstance(event, ActionResult):
                    result = event
        except Exception as exc:  # the plugin refused or is down: said, not raised
            return _error(f"action {name} failed: {exc}")
        if result is None:
            return _error(f"action {name} gave no result")
        if not result.success:
            return _error(result.error or f"action {name} failed")
        structured = {"text": result.text, "values": result.values}
        return CallToolResult(content=[TextContent(type="text", text=result.text)], structured_content=structured)


def _error(text: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=text)], is_error=True)
