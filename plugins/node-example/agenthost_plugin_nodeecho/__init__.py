"""agenthost example plugin in Node.js: nodeecho. Python holds only the discovery stub (spec.py)."""
