"""An agent's memory beyond storage: the background embedding queue, and knowledge (documents
split into fragments, embedded, searched). May import `host.store`, `host.agent`'s documents, media,
models and character, and `plugin_sdk`'s public modules."""

from .embedding_queue import EmbeddingQueue, ModelNotReady, QueueStatus
from .knowledge import Knowledge, KnowledgeDocument, KnowledgeError, KnowledgeHit

__all__ = [
    "EmbeddingQueue",
    "Knowledge",
    "KnowledgeDocument",
    "KnowledgeError",
    "KnowledgeHit",
    "ModelNotReady",
    "QueueStatus",
]
