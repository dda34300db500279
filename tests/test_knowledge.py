"""Knowledge on a real store (SQLite, and PostgreSQL when configured) with the deterministic
hashed-words model: documents of each kind become fragments with overlap, are embedded by the
queue and found with their source; stored once, replaced when changed, removed whole."""

from __future__ import annotations

from pathlib import Path
from typing import AsyncIterator

import pytest
from embedding_model import HashedWords
from pdf_fixture import make_pdf
from store_backends import Database, database_fixture, store_fixture  # noqa: F401  (fixtures)

from host.memory import EmbeddingQueue, Knowledge, KnowledgeError
from host.memory.fragments import split_fragments
from host.store.sql_store import SqlStore

A = "agent-a"
HANDBOOK = """# Office handbook

The office opens at eight in the morning. Visitors sign in at the front desk.

## Kitchen

The coffee machine on the second floor is descaled every friday. Oat milk is in the left fridge.

## Parking

Bicycles go in the courtyard racks; cars park in the underground garage on level minus two.
"""


@pytest.fixture(name="knowledge")
async def knowledge_fixture(store: SqlStore) -> AsyncIterator[Knowledge]:
    queue = EmbeddingQueue(store, HashedWords(dimension=256), A, idle_s=0.05)
    queue.start()
    try:
        yield Knowledge(store, queue, A, fragment_chars=120, overlap_chars=40)
    finally:
        await queue.stop()


async def test_a_document_is_split_embedded_and_found_with_its_source(knowledge: Knowledge) -> None:
    doc, what = await knowledge.add("docs/handbook.md", HANDBOOK.encode())
    assert what == "added" and doc.kind == "markdown" and doc.fragments >= 3
    assert await knowledge.queue.drained(10)
    hits = await knowledge.search("where is the oat milk kept", limit=3)
    assert hits[0].source == "docs/handbook.md" and "Oat milk" in hits[0].text
    assert hits[0].document_id == doc.id and hits[0].score > hits[-1].score
    bikes = await knowledge.search("bicycles courtyard", limit=1)
    assert "courtyard" in bikes[0].text


async def test_stored_once_replaced_when_changed_removed_whole(knowledge: Knowledge) -> None:
    first, _ = await knowledge.add("handbook.md", HANDBOOK.encode())
    again, what = await knowledge.add("handbook.md", HANDBOOK.encode())
    assert what == "unchanged" and again == first
    assert [d.id for d in await knowledge.documents()] == [first.id]
    changed = HANDBOOK.replace("eight in the morning", "nine sharp") + "\nThe roof terrace closes at dusk.\n"
    replaced, what = await knowledge.add("handbook.md", changed.encode())
    assert what == "replaced" and replaced.id == first.id and replaced.sha256 != first.sha256
    assert await knowledge.queue.drained(10)
    assert await knowledge.store.count_memories(A, "fragments") == replaced.fragments
    texts = " ".join(h.text for h in await knowledge.search("office opens", limit=10))
    assert "nine sharp" in texts and "eight in the morning" not in texts
    other, _ = await knowledge.add("notes.txt", b"The wifi password is on the whiteboard.")
    assert {d.source for d in await knowledge.documents()} == {"handbook.md", "notes.txt"}
    removed = await knowledge.remove("handbook.md")  # by source
    assert removed is not None and removed.id == first.id
    assert await knowledge.remove(other.id) is not None  # by id
    assert await knowledge.remove("handbook.md") is None
    assert await knowledge.documents() == []
    assert await knowledge.store.count_memories(A, "fragments") == 0


async def test_html_and_pdf(knowledge: Knowledge, tmp_path: Path) -> None:
    page = b"<html><head><style>p{}</style></head><body><p>The server room key hangs by the door.</p></body></html>"
    html, _ = await knowledge.add("key.html", page)
    pdf, _ = await knowledge.add("report.pdf", make_pdf(["Quarterly revenue grew by twelve percent."]))
    assert (html.kind, pdf.kind, pdf.pages) == ("html", "pdf", 1)
    assert await knowledge.queue.drained(10)
    assert (await knowledge.search("server room key", limit=1))[0].source == "key.html"
    assert (await knowledge.search("quarterly revenue", limit=1))[0].source == "report.pdf"


async def test_what_cannot_be_added(knowledge: Knowledge) -> None:
    with pytest.raises(KnowledgeError, match="image/png, not a document"):
        await knowledge.add("cat.png", b"\x89PNG\r\n\x1a\n" + bytes(20))
    with pytest.raises(KnowledgeError, match="no text"):
        await knowledge.add("empty.txt", b"   \n\n ")
    with pytest.raises(KnowledgeError, match="needs a source"):
        await knowledge.add("", b"text")
    assert await knowledge.documents() == []


def test_fragments_overlap_and_keep_every_sentence() -> None:
    sentences = [f"Sentence number {i} says something." for i in range(40)]
    fragments = split_fragments(" ".join(sentences), size=200, overlap=60)
    assert all(len(f) <= 200 for f in fragments) and len(fragments) > 5
    assert all(s in " ".join(fragments) for s in sentences)
    for before, after in zip(fragments, fragments[1:]):
        assert after.split(". ")[0] in before  # each starts with the end of the one before
    assert split_fragments("word " * 100, size=50, overlap=0)[0] == ("word " * 10).strip()[:49].strip()
    with pytest.raises(ValueError, match="overlap"):
        split_fragments("x", size=10, overlap=10)
