"""What the host imports to learn how to start this plugin; nothing else."""

from plugin_sdk import PluginSpec, hookimpl


@hookimpl
def agenthost_plugin_spec() -> PluginSpec:
    return PluginSpec(name="time", version="1.0.0", module="agenthost_plugin_time")
