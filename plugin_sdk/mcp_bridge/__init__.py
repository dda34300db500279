"""An MCP server as an agenthost plugin: a plugin process (built with this SDK) that starts or
dials one MCP server with the official `mcp` SDK's client, offers its tools as actions and its
static resources as providers, and exits when the server is gone, so the host restarts both.

Run by the host as `python -m plugin_sdk.mcp_bridge`, the server's configuration in
$AGENTHOST_MCP_SERVER (see config.py); host/mcp/servers.py writes it.
"""
