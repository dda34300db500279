"""What the host imports to learn how to start this plugin: `node` running main.js."""

import json
from pathlib import Path

from plugin_sdk import PluginSpec, hookimpl

NODE = Path(__file__).resolve().parent / "node"
#: Absolute, because the host runs a command in its own working directory; `node` itself is
#: looked up on the PATH the host passes on.
MAIN = NODE / "main.js"


@hookimpl
def agenthost_plugin_spec() -> PluginSpec:
    # package.json is where main.js reads its manifest version: one place for both.
    version = json.loads((NODE / "package.json").read_text())["version"]
    return PluginSpec(name="nodeecho", version=version, command=("node", str(MAIN)))
