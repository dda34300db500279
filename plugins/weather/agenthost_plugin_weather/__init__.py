"""agenthost example plugin: weather."""
