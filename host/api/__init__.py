"""The host's gRPC services: AgentService (clients), RuntimeService (plugins' callbacks)
and RouterService forwarded to the router. The edge where protos become domain types.

May import every other part of the host; nothing in the host imports `host.api` but
`host.host`, which serves it.
"""
