"""What the host imports to learn how to start this plugin; nothing else."""

from plugin_sdk import PluginSpec, hookimpl

from . import __version__


@hookimpl
def agenthost_plugin_spec() -> PluginSpec:
    return PluginSpec(name="bootstrap", version=__version__, module="agenthost_plugin_bootstrap")
