"""MCP results as the host's types: a tool's CallToolResult as an ActionResult (its text, its
structured content, its resource links), a resource's contents as a provider's text."""

from __future__ import annotations

import json
from typing import Any

import mcp_types as types

from ..types import ActionResult

PROVIDER_CHARS = 4000
"""The most of a resource's text a provider puts in the prompt."""


def action_result(tool: str, result: types.CallToolResult) -> ActionResult:
    """The tool's answer: text blocks joined (the reply says them), resource links listed in text
    and in data, structured content in values and data; is_error makes it a failure."""
    texts: list[str] = []
    links: list[dict[str, Any]] = []
    for block in result.content:
        if isinstance(block, types.TextContent):
            texts.append(block.text)
        elif isinstance(block, types.ResourceLink):
            links.append({"uri": str(block.uri), "name": block.name, "description": block.description or ""})
            texts.append(f"{block.name}: {block.uri}")
        elif isinstance(block, types.EmbeddedResource):
            texts.append(_contents_text(block.resource))
        else:  # images, audio: named, not inlined
            texts.append(f"[{block.type} {getattr(block, 'mime_type', '') or ''}]".replace(" ]", "]"))
    structured = result.structured_content
    if not texts and structured is not None:
        texts.append(json.dumps(structured, separators=(",", ":")))
    text = "\n".join(t for t in texts if t)
    data: dict[str, Any] = {"tool": tool}
    if structured is not None:
        data["structured"] = structured
    if links:
        data["resource_links"] = links
    values = dict(structured) if isinstance(structured, dict) else {}
    if result.is_error:
        return ActionResult(success=False, text="", error=f"tool {tool} failed: {text or 'no reason given'}", data=data)
    return ActionResult(success=True, text=text, values=values, data=data)


def resource_text(result: types.ReadResourceResult) -> str:
    """A resource's contents as prompt text, cut at PROVIDER_CHARS."""
    text = "\n".join(_contents_text(c) for c in result.contents)
    return text if len(text) <= PROVIDER_CHARS else text[:PROVIDER_CHARS] + "..."


def _contents_text(contents: Any) -> str:
    if isinstance(contents, types.TextResourceContents):
        return contents.text
    blob = getattr(contents, "blob", "")
    return f"[{contents.mime_type or 'binary'} resource {contents.uri}, {len(blob) * 3 // 4} bytes]"
