"""The adaptive LLM router: registry, policy, budget, ledger, provider calls, gRPC service."""

import os

# litellm reads this once, when it is first imported, and downloads its model price map from
# GitHub unless it is set: the router uses the copy litellm ships. It is the only litellm setting
# that cannot wait for router.litellm_setup.configure() (called when a router is built), so it is
# set here, before any router module can import litellm.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
