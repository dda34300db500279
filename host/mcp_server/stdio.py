"""`agenthost mcp serve`: an MCP server on stdin/stdout for desktop MCP clients, answering from a
running host over its gRPC API. Only MCP's JSON-RPC goes to stdout; everything else to stderr."""

from __future__ import annotations

import logging
import os
import sys

import anyio
import grpc

from .calls import GrpcCalls
from .server import AgentMcpServer

TLS_CA_ENV = "AGENTHOST_TLS_CA"


def _channel(address: str) -> grpc.aio.Channel:
    ca = os.environ.get(TLS_CA_ENV, "")
    if ca:
        with open(ca, "rb") as file:
            return grpc.aio.secure_channel(address, grpc.ssl_channel_credentials(file.read()))
    return grpc.aio.insecure_channel(address)


async def serve_stdio(address: str, token: str, agent: str = "") -> None:
    """Serve MCP on stdio until the client closes stdin, calling the host at `address`."""
    async with _channel(address) as channel:
        await AgentMcpServer(GrpcCalls(channel, token), agent).run_stdio_async()


def run(address: str, token: str, agent: str = "") -> None:
    """The command's body: logs to stderr, the server on stdio."""
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="agenthost mcp: %(message)s")
    anyio.run(serve_stdio, address, token, agent)
