"""MCP servers as plugins: the configured servers (`[mcp.servers.NAME]`, a character's
`settings.mcp`) and the plugin spec that runs each behind plugin_sdk.mcp_bridge, so the host
supervises it as it does every plugin."""
