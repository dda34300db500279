"""An MCP server written with the `mcp` SDK, for tests/test_mcp_servers.py: `add` (checked
arguments), `slow` (sleeps: killed mid-call by the tests), a static resource and a template, a
prompt. `python mcp_calc_server.py [stdio | http PORT | sse PORT]`; it writes its pid to $MCP_PID_FILE, and
with $MCP_STUBBORN set it stays after its stdin closes, ignoring SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time

from mcp.server import MCPServer
from mcp.server.mcpserver import Context

server = MCPServer("calc")


@server.tool()
def add(a: int, b: int) -> int:
    """Add two whole numbers."""
    with open(os.environ.get("MCP_CALLS_FILE", os.devnull), "a") as calls:
        calls.write(f"add {a} {b}\n")  # what reached the server
    return a + b


@server.tool()
async def slow(seconds: float) -> str:
    """Wait, then say so."""
    try:
        await asyncio.sleep(seconds)
    except asyncio.CancelledError:
        with open(os.environ.get("MCP_CALLS_FILE", os.devnull), "a") as calls:
            calls.write("slow cancelled\n")
        raise
    return f"waited {seconds}"


@server.tool()
def getenv(name: str) -> str:
    """The value of one of this server's environment variables, or "unset"."""
    return os.environ.get(name, "unset")


def double(n: int) -> int:
    """Double a whole number."""
    return 2 * n


@server.tool()
async def grow(ctx: Context) -> str:
    """Offer one more tool, double (kept in $MCP_TOOLS_FILE, so a restarted server has it too)."""
    with open(os.environ["MCP_TOOLS_FILE"], "w") as tools:
        tools.write("double\n")
    server.add_tool(double)
    await ctx.notify_tools_changed()
    return "grown"


if os.environ.get("MCP_TOOLS_FILE") and os.path.exists(os.environ["MCP_TOOLS_FILE"]):
    server.add_tool(double)


@server.resource("note://today")
def today() -> str:
    """Today's note."""
    return "The note of the day: buy oat milk."


@server.resource("greeting://{name}")
def greeting(name: str) -> str:
    """A greeting by name."""
    return f"Hello, {name}!"


@server.prompt()
def summarise(topic: str) -> str:
    """Summarise a topic."""
    return f"Summarise {topic}."


if __name__ == "__main__":
    if os.environ.get("MCP_PID_FILE"):
        with open(os.environ["MCP_PID_FILE"], "w") as out:
            out.write(str(os.getpid()))
    if len(sys.argv) > 2 and sys.argv[1] == "http":
        server.run(transport="streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    elif len(sys.argv) > 2 and sys.argv[1] == "sse":
        server.run(transport="sse", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        server.run(transport="stdio")
    if os.environ.get("MCP_STUBBORN"):  # outlives its stdin and SIGTERM: only a SIGKILL ends it
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        time.sleep(600)
