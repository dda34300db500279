"""What the host imports to learn how to start this plugin: `node` running main.js."""

from pathlib import Path

from plugin_sdk import PluginSpec, hookimpl

from . import __version__

#: Absolute, because the host runs a command in its own working directory; `node` itself is
#: looked up on the PATH the host passes on.
MAIN = Path(__file__).resolve().parent / "node" / "main.js"


@hookimpl
def agenthost_plugin_spec() -> PluginSpec:
    return PluginSpec(name="nodeecho", version=__version__, command=("node", str(MAIN)))
