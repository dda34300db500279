"""Plugin processes: discovery (pluggy entry points), starting and stopping processes,
the handshake, connections, supervision and restarts, loading and reloading, the
registry of components, and calling those components.

The router process is started and supervised here too (`router_link`). May import
`plugin_sdk`'s public modules, the contracts, `host.config` and `host.logs`; never
`host.agent`, `host.api` or `host.store`.
"""
