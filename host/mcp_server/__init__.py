"""Agents as MCP servers (issue 14): an agent's `send_message`, its knowledge search and its
knowledge documents served over MCP, on stdio (`agenthost mcp serve`, over the host's gRPC API)
or Streamable HTTP (`/mcp` in the host's HTTP face, in-process)."""
