"""Knowledge: documents an agent knows, read to text, split into fragments and searched by meaning.

A document is a `documents` memory (its source, digest, sizes, fragment count in metadata) and
its `fragments` memories (text, with the document's id, source and position); the embedding
queue gives fragments their vectors, and a search finds the best fragments among those. Stored
once: a document's id comes from its agent and source, so adding the same source again with the
same bytes changes nothing, and with other bytes replaces its fragments. The document's own
memory is written last, so one that is listed is whole.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from dataclasses import dataclass
from typing import Any

from plugin_sdk.types import Content, Memory

from ..agent.documents import DocumentError, read_document
from ..agent.media import DOCUMENTS, sniff
from ..store import DuplicateMemory, Store
from .embedding_queue import EmbeddingQueue
from .fragments import split_fragments

DOCUMENTS_TABLE, FRAGMENTS_TABLE = "documents", "fragments"
_NAMESPACE = uuid.UUID("6f1c7b0e-3c1a-4e7a-9a51-5d2b8e0c4a11")  # knowledge ids: uuid5 under this


class KnowledgeError(ValueError):
    """A document that cannot be added (not a document kind, unreadable, no text); the message says which."""


@dataclass(frozen=True)
class KnowledgeDocument:
    """A document as listed: where it came from and what it became."""

    id: str
    source: str
    sha256: str
    size: int
    kind: str
    fragments: int
    pages: int
    added_at_ms: int
    note: str = ""

    @classmethod
    def from_memory(cls, memory: Memory) -> "KnowledgeDocument":
        m = memory.metadata
        return cls(
            id=memory.id,
            source=str(m.get("source", "")),
            sha256=str(m.get("sha256", "")),
            size=int(m.get("size", 0)),
            kind=str(m.get("kind", "")),
            fragments=int(m.get("fragments", 0)),
            pages=int(m.get("pages", 0)),
            added_at_ms=memory.created_at_ms,
            note=str(m.get("note", "")),
        )


@dataclass(frozen=True)
class KnowledgeHit:
    """A fragment found by a search, with its similarity to the query and where it comes from."""

    fragment_id: str
    document_id: str
    source: str
    position: int
    text: str
    score: float


class Knowledge:
    """One agent's knowledge in the store; fragments are embedded by `queue`."""

    def __init__(
        self, store: Store, queue: EmbeddingQueue, agent_id: str, fragment_chars: int = 1000, overlap_chars: int = 150
    ) -> None:
        self.store, self.queue, self.agent_id = store, queue, agent_id
        self.fragment_chars, self.overlap_chars = fragment_chars, overlap_chars

    def document_id(self, source: str) -> str:
        return str(uuid.uuid5(_NAMESPACE, f"{self.agent_id}\x00{source}"))

    async def add(self, source: str, data: bytes, content_type: str = "") -> tuple[KnowledgeDocument, str]:
        """Add the document read from `data` under `source` (a path or a name); the document and
        what happened: "added", "unchanged" or "replaced". KnowledgeError when it cannot be read."""
        if not source:
            raise KnowledgeError("a document needs a source (its path or a name)")
        digest = hashlib.sha256(data).hexdigest()
        doc_id = self.document_id(source)
        old = await self.store.get_memory(self.agent_id, doc_id)
        if old is not None and old.metadata.get("sha256") == digest:
            return KnowledgeDocument.from_memory(old), "unchanged"
        media = sniff(data, content_type, source)
        if media.kind not in DOCUMENTS:
            raise KnowledgeError(f"{source} is {media.mime}, not a document (text, Markdown, HTML or PDF)")
        try:
            read = await asyncio.to_thread(read_document, data, media.kind, media.charset)
        except DocumentError as exc:
            raise KnowledgeError(f"{source}: {exc}") from None
        pieces = split_fragments(read.text, self.fragment_chars, self.overlap_chars)
        if not pieces:
            raise KnowledgeError(f"{source} has no text to learn from")
        if old is not None:
            await self._delete(old)
        for position, text in enumerate(pieces):
            where = {"document_id": doc_id, "source": source, "position": position}
            await self._create(self._fragment_id(doc_id, position), FRAGMENTS_TABLE, text, where)
        meta: dict[str, Any] = {
            "source": source,
            "sha256": digest,
            "size": len(data),
            "kind": media.kind,
            "fragments": len(pieces),
            "pages": read.pages,
            "note": read.note,
        }
        # No text of its own: its fragments hold it (and the queue spends no model call on it).
        stored = await self._create(doc_id, DOCUMENTS_TABLE, "", meta)
        self.queue.notify()
        return KnowledgeDocument.from_memory(stored), "replaced" if old is not None else "added"

    async def documents(self, count: int = 1000) -> list[KnowledgeDocument]:
        """The documents, newest first."""
        found = await self.store.find_memories(self.agent_id, DOCUMENTS_TABLE, count, room_id=self.agent_id)
        return [KnowledgeDocument.from_memory(m) for m in found]

    async def remove(self, ref: str) -> KnowledgeDocument | None:
        """Remove the document with id or source `ref`, with its fragments; None when there is none."""
        found = await self.store.get_memory(self.agent_id, ref)
        if found is None or found.table_name != DOCUMENTS_TABLE:
            found = await self.store.get_memory(self.agent_id, self.document_id(ref))
        if found is None or found.table_name != DOCUMENTS_TABLE:
            return None
        await self._delete(found)
        return KnowledgeDocument.from_memory(found)

    async def search(self, query: str, limit: int = 5, threshold: float = -1.0) -> list[KnowledgeHit]:
        """The fragments most similar to `query`, best first (embedded fragments only)."""
        model, vector = await self.queue.embed_query(query)
        found = await self.store.search_memories(
            self.agent_id, vector, model, table_name=FRAGMENTS_TABLE, threshold=threshold, limit=limit
        )
        return [
            KnowledgeHit(
                fragment_id=s.memory.id,
                document_id=str(s.memory.metadata.get("document_id", "")),
                source=str(s.memory.metadata.get("source", "")),
                position=int(s.memory.metadata.get("position", 0)),
                text=s.memory.content.text,
                score=s.score,
            )
            for s in found
        ]

    async def _create(self, memory_id: str, table: str, text: str, metadata: dict[str, Any]) -> Memory:
        memory = Memory(
            id=memory_id,
            agent_id=self.agent_id,
            room_id=self.agent_id,  # knowledge is the agent's own, in no conversation
            entity_id=self.agent_id,
            table_name=table,
            content=Content(text=text, source="knowledge"),
            metadata=metadata,
        )
        try:
            return await self.store.create_memory(memory)
        except DuplicateMemory:  # left by an add that stopped half-way: replace it
            await self.store.delete_memory(self.agent_id, memory_id)
            return await self.store.create_memory(memory)

    async def _delete(self, document: Memory) -> None:
        """The document first (so it is no longer listed as whole), then its fragments."""
        await self.store.delete_memory(self.agent_id, document.id)
        for position in range(int(document.metadata.get("fragments", 0))):
            await self.store.delete_memory(self.agent_id, self._fragment_id(document.id, position))

    @staticmethod
    def _fragment_id(document_id: str, position: int) -> str:
        return str(uuid.uuid5(_NAMESPACE, f"{document_id}\x00{position}"))
