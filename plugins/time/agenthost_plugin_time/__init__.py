"""agenthost example plugin: time."""
