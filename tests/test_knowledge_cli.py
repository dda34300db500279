"""Knowledge end to end: a real host embedding through a real plugin process (a TEXT_EMBEDDING
handler), and the `agenthost knowledge` commands run as a user runs them. Messages the pipeline
stores are embedded in the background too."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from agenthost.v1 import agent_pb2, agent_pb2_grpc, types_pb2
from agents_support import run_cli as cli
from pdf_fixture import make_pdf
from support import api_channel

from plugin_sdk import PluginSpec

AGENTHOST = str(Path(sys.executable).with_name("agenthost"))
EMBEDDER = PluginSpec(
    name="embedder",
    version="1.0.0",
    command=(sys.executable, str(Path(__file__).with_name("embedding_plugin.py"))),
)


async def test_add_list_search_remove_through_the_cli(start_host: Any, tmp_path: Path) -> None:
    host = await start_host(EMBEDDER)
    docs = tmp_path / "docs"
    (docs / "sub").mkdir(parents=True)
    (docs / "garden.md").write_text("# Garden\n\nThe tomatoes are watered every evening at seven.\n")
    (docs / "sub" / "report.pdf").write_bytes(make_pdf(["The warehouse inventory is counted each january."]))
    (docs / "sub" / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n")  # not a document suffix: skipped
    code, out, err = await cli(host, "knowledge", "add", str(docs))
    assert code == 0, err
    assert out.splitlines() == [
        f"added {docs / 'garden.md'} (1 fragments, markdown)",
        f"added {docs / 'sub' / 'report.pdf'} (1 fragments, pdf)",
    ]
    code, out, _ = await cli(host, "knowledge", "add", str(docs / "garden.md"), "--json")
    assert json.loads(out)["documents"][0]["outcome"] == "unchanged"
    assert host.embeddings is not None and await host.embeddings.drained(30)
    assert host.embeddings.status.model == "embedder" and host.embeddings.status.dimension == 128

    code, out, _ = await cli(host, "knowledge", "search", "when are the tomatoes watered", "--json")
    found = json.loads(out)
    assert code == 0 and found["model"] == "embedder"
    assert found["fragments"][0]["source"] == str(docs / "garden.md") and found["fragments"][0]["score"] > 0.3
    code, out, _ = await cli(host, "knowledge", "search", "warehouse inventory")
    assert out.startswith("1. ") and "report.pdf #0" in out.splitlines()[0]

    code, out, _ = await cli(host, "knowledge", "list", "--json")
    assert sorted(d["kind"] for d in json.loads(out)["documents"]) == ["markdown", "pdf"]
    code, out, _ = await cli(host, "knowledge", "remove", str(docs / "garden.md"))
    assert code == 0 and out.startswith(f"removed {docs / 'garden.md'}")
    code, out, _ = await cli(host, "knowledge", "list")
    assert "garden.md" not in out and "report.pdf" in out


async def test_cli_errors_are_one_line(start_host: Any, tmp_path: Path) -> None:
    host = await start_host(EMBEDDER)
    (tmp_path / "cat.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(16))
    for args, expected in [
        (("knowledge", "add", str(tmp_path / "missing.md")), "no such file or directory"),
        (("knowledge", "add", str(tmp_path / "cat.png")), "not a document"),
        (("knowledge", "remove", "nothing-like-this"), "no document"),
        (("knowledge", "search", "  "), "query is empty"),
        (("knowledge", "search", "x", "--limit", "1000"), "limit must be"),
        (("knowledge", "list", "--agent", "someone-else"), "no agent"),
    ]:
        code, out, err = await cli(host, *args)
        assert code != 0 and err.startswith("agenthost: ") and expected in err, (args, err)
        assert err.count("\n") == 1 and "Traceback" not in err


async def test_stored_messages_are_embedded_in_the_background(start_host: Any) -> None:
    host = await start_host(EMBEDDER)
    async with api_channel(host) as channel:
        stub = agent_pb2_grpc.AgentServiceStub(channel)
        request = agent_pb2.SendMessageRequest(
            room_id="room-1", entity_id="u1", content=types_pb2.Content(text="my cat is called whiskers")
        )
        events = [e async for e in stub.SendMessage(request, timeout=30)]
    assert events[0].event_type == "RUN_STARTED"
    assert host.embeddings is not None and await host.embeddings.drained(30)
    model, vector = await host.embeddings.embed_query("what is the cat called")
    found = await host.store.search_memories(host.agent_id, vector, model, table_name="messages", limit=1)
    assert found and found[0].memory.content.text == "my cat is called whiskers"


async def test_a_characters_knowledge_is_learned_when_its_agent_starts(start_host: Any, tmp_path: Path) -> None:
    (tmp_path / "facts.md").write_text("# Facts\n\nThe lighthouse keeper feeds the cat at dawn.\n")
    (tmp_path / "more").mkdir()
    (tmp_path / "more" / "boats.txt").write_text("The ferry to the island leaves at noon on Sundays.\n")
    (tmp_path / "more" / "skip.json").write_text("{}")  # not a document suffix
    character = tmp_path / "keeper.json"
    knowledge = ["The keeper's name is Morwenna.", {"path": "facts.md"}, {"directory": "more"}]
    character.write_text(json.dumps({"name": "Keeper", "bio": "Keeps the light.", "knowledge": knowledge}))
    host = await start_host(EMBEDDER, character=character)
    for _ in range(200):
        code, out, _ = await cli(host, "knowledge", "list", "--json")
        if code == 0 and len(json.loads(out)["documents"]) == 3:
            break
        await asyncio.sleep(0.1)
    sources = sorted(d["source"] for d in json.loads(out)["documents"])
    assert sources[:2] == [str(tmp_path / "facts.md"), str(tmp_path / "more" / "boats.txt")]
    assert sources[2].startswith("character text ")
    assert host.embeddings is not None and await host.embeddings.drained(30)
    code, out, _ = await cli(host, "knowledge", "search", "when does the ferry leave", "--json")
    assert json.loads(out)["fragments"][0]["source"] == str(tmp_path / "more" / "boats.txt")
