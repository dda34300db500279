"""agenthost host: runs an agent and its out-of-process plugins."""

import os

# The host forks plugin processes while gRPC threads run; gRPC's fork handlers
# cannot help there (they only log a warning per fork), and the child execs at once.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")
# gRPC's C core logs to stderr on its own; every such error also reaches Python as an
# exception or status, which the host reports in its own log or as a one-line CLI error.
os.environ.setdefault("GRPC_VERBOSITY", "NONE")

__version__ = "0.1.0"
