"""agenthost bootstrap plugin: providers, room actions and the reflection evaluator."""

from importlib.metadata import version

#: The installed distribution's version: pyproject.toml is the one place it is written.
__version__ = version("agenthost-plugin-bootstrap")
