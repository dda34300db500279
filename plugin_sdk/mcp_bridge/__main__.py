"""Entry point: `python -m plugin_sdk.mcp_bridge` (the host starts it; see bridge.main)."""

from .bridge import main

main()
