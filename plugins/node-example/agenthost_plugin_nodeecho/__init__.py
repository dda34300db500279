"""agenthost example plugin in Node.js: nodeecho. Python holds only the discovery stub."""

from importlib.metadata import version

#: The installed distribution's version: pyproject.toml is the one place it is written.
__version__ = version("agenthost-plugin-nodeecho")
