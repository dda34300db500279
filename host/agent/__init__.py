"""The agent: its character, the message pipeline, the reply format, and model calls.

May import `host.plugins` (to call components), `host.store` and `plugin_sdk`'s public
modules; never `host.api` or `host.cli`.
"""
