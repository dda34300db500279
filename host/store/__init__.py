"""Where the host keeps the agent's memories and entities: one `Store` interface and
its backends. May import `plugin_sdk`'s public types only.
"""

from .base import DuplicateMemory, Store
from .sqlite import SQLiteStore

__all__ = ["DuplicateMemory", "SQLiteStore", "Store"]
