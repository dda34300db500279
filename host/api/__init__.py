"""The host's gRPC services: AgentService (clients), RuntimeService (plugins' callbacks)
and RouterService forwarded to the router. The edge where protos become domain types.

May import every other part of the host; only `host.host` (which serves it) and `host.cli`
(status as the wire shows it) import `host.api`.
"""
