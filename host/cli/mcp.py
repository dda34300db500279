"""`agenthost mcp serve`: the host's agents as an MCP server on stdio, for desktop MCP clients."""

from __future__ import annotations

import argparse

from .client import add_client_options, host_token


def cmd_mcp_serve(args: argparse.Namespace) -> None:
    """Serve MCP on stdin/stdout, answering from the host at --host (the server lives in host.mcp_server)."""
    from ..mcp_server.stdio import run  # only here: the mcp SDK is slow to import

    run(args.host, host_token(), args.agent)


def add_mcp_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """The `mcp` command group."""
    mcp = sub.add_parser("mcp", help="the host's agents as an MCP server").add_subparsers(dest="action", required=True)
    serve = add_client_options(
        mcp.add_parser("serve", help="serve MCP on stdin/stdout (for desktop MCP clients), answering from the host"),
        json_flag=False,
    )
    serve.add_argument("--agent", default="", help="the agent the tools talk to when a call names none")
    serve.set_defaults(func=cmd_mcp_serve)
