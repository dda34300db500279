"""The `agenthost` command line: `serve` runs the host; every other command is a gRPC client.

Owns argument parsing, one-line errors, and printing (tables or one JSON document).
May import the contracts, `host.config` and `host.logs`; the host itself (`host.host`)
only inside `serve`, so client commands start fast.
"""

from .commands import main

__all__ = ["main"]
