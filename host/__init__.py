"""agenthost host: runs an agent and its out-of-process plugins."""

import os

# The host forks plugin processes while gRPC threads run; gRPC's fork handlers
# cannot help there (they only log a warning per fork), and the child execs at once.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")

__version__ = "0.1.0"
