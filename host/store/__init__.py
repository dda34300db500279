"""Where the host keeps the agent's memories and entities: one `Store` interface and
its backends, and the data directory's files. May import `plugin_sdk`'s public modules only.
"""

from .base import DuplicateMemory, Store
from .sqlite import SQLiteStore

__all__ = ["DuplicateMemory", "SQLiteStore", "Store"]
