"""The adaptive LLM router: registry, policy, budget, ledger, provider calls, gRPC service."""
