"""`agenthost knowledge add|list|remove|search`: an agent's documents, through the running host."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any, Iterator

from agenthost.v1 import agent_pb2, agent_pb2_grpc

from plugin_sdk.protocol import AUTH_METADATA_KEY, AUTH_SCHEME

from ..agent.media import DOCUMENT_SUFFIXES
from .client import add_client_options, call, channel, fail, host_token
from .output import dumps

CHUNK_BYTES = 1024 * 1024
ADD_TIMEOUT_S = 600.0  # reading a long PDF takes a while


def _stub(address: str) -> agent_pb2_grpc.AgentServiceStub:
    # The token goes as metadata on each call: the shared channel's interceptor covers unary and
    # server-streaming calls, and AddKnowledge is client-streaming.
    return agent_pb2_grpc.AgentServiceStub(channel(address, ""))


def _metadata() -> list[tuple[str, str]]:
    token = host_token()
    return [(AUTH_METADATA_KEY, AUTH_SCHEME + token)] if token else []


def _call(address: str, fn: Any) -> Any:
    unreachable = f"cannot reach the host at {address} (is `agenthost serve` running? set --host or AGENTHOST_ADDR)"
    return call(_stub(address), fn, unreachable)


def _document_doc(d: agent_pb2.KnowledgeDocument) -> dict[str, Any]:
    return {
        "id": d.id,
        "source": d.source,
        "kind": d.kind,
        "size_bytes": d.size_bytes,
        "fragments": d.fragments,
        "pages": d.pages,
        "sha256": d.sha256,
        "added_at_ms": d.added_at_ms,
        "note": d.note,
    }


def _files(paths: list[str]) -> Iterator[Path]:
    """Each file named, and the document files under each directory named (sorted); a path
    that is neither ends the command."""
    for name in paths:
        path = Path(name).expanduser()
        if path.is_dir():
            for root, dirs, files in os.walk(path):
                dirs.sort()
                for file in sorted(files):
                    if Path(file).suffix.lower() in DOCUMENT_SUFFIXES:
                        yield Path(root, file).resolve()
        elif path.is_file():
            yield path.resolve()
        else:
            fail(f"{name}: no such file or directory", 2)


def _requests(agent: str, source: Path, data: bytes) -> Iterator[agent_pb2.AddKnowledgeRequest]:
    yield agent_pb2.AddKnowledgeRequest(agent_id=agent, source=str(source), data=data[:CHUNK_BYTES])
    for start in range(CHUNK_BYTES, len(data), CHUNK_BYTES):
        yield agent_pb2.AddKnowledgeRequest(data=data[start : start + CHUNK_BYTES])


def cmd_add(args: argparse.Namespace) -> None:
    files = list(_files(args.paths))
    if not files:
        fail("no documents found (files ending in " + ", ".join(sorted(DOCUMENT_SUFFIXES)) + ")", 2)
    added = []
    for path in files:
        try:
            data = path.read_bytes()
        except OSError as exc:
            fail(f"cannot read {path}: {exc.strerror}", 2)
        reply = _call(
            args.host,
            lambda s: s.AddKnowledge(_requests(args.agent, path, data), timeout=ADD_TIMEOUT_S, metadata=_metadata()),
        )
        doc = {**_document_doc(reply.document), "outcome": reply.outcome}
        added.append(doc)
        if not args.json:
            print(f"{reply.outcome} {doc['source']} ({doc['fragments']} fragments, {doc['kind']})", flush=True)
    if args.json:
        print(dumps({"documents": added}))


def cmd_list(args: argparse.Namespace) -> None:
    request = agent_pb2.ListKnowledgeRequest(agent_id=args.agent)
    reply = _call(args.host, lambda s: s.ListKnowledge(request, timeout=30, metadata=_metadata()))
    docs = [_document_doc(d) for d in reply.documents]
    if args.json:
        print(dumps({"documents": docs}))
    elif not docs:
        print("no documents (add some with `agenthost knowledge add PATH`)")
    else:
        print(f"{'ID':36}  {'KIND':8}  {'FRAGMENTS':>9}  {'BYTES':>10}  SOURCE")
        for d in docs:
            print(f"{d['id']:36}  {d['kind']:8}  {d['fragments']:9}  {d['size_bytes']:10}  {d['source']}")


def cmd_remove(args: argparse.Namespace) -> None:
    removed = []
    for ref in args.documents:
        # A path as typed: the host knows the document by the absolute path it was added from.
        named = str(Path(ref).expanduser().resolve()) if Path(ref).expanduser().exists() else ref
        request = agent_pb2.RemoveKnowledgeRequest(agent_id=args.agent, document=named)
        reply = _call(args.host, lambda s: s.RemoveKnowledge(request, timeout=60, metadata=_metadata()))
        removed.append(_document_doc(reply.document))
        if not args.json:
            print(f"removed {reply.document.source} ({reply.document.fragments} fragments)")
    if args.json:
        print(dumps({"removed": removed}))


def cmd_search(args: argparse.Namespace) -> None:
    request = agent_pb2.SearchKnowledgeRequest(agent_id=args.agent, query=args.query, limit=args.limit)
    if args.threshold is not None:
        request.threshold = args.threshold
    reply = _call(args.host, lambda s: s.SearchKnowledge(request, timeout=60, metadata=_metadata()))
    hits = [
        {
            "score": round(f.score, 4),
            "source": f.source,
            "position": f.position,
            "document_id": f.document_id,
            "fragment_id": f.fragment_id,
            "text": f.text,
        }
        for f in reply.fragments
    ]
    if args.json:
        print(dumps({"model": reply.model, "fragments": hits}))
        return
    if not hits:
        print("nothing found (documents are searchable once embedded; see `agenthost knowledge list`)")
    for rank, hit in enumerate(hits, 1):
        text = " ".join(hit["text"].split())
        print(f"{rank}. {hit['score']:.3f}  {hit['source']} #{hit['position']}\n   {text[:300]}")


def add_knowledge_commands(sub: Any) -> None:
    """`knowledge add|list|remove|search` under the `agenthost` command's subparsers."""
    knowledge = sub.add_parser("knowledge", help="documents the agent knows: add, list, remove, search")
    actions = knowledge.add_subparsers(dest="action", required=True)

    def command(name: str, text: str) -> argparse.ArgumentParser:
        parser = add_client_options(actions.add_parser(name, help=text))
        parser.add_argument("--agent", default="", help="the agent (default: the host's)")
        return parser

    add = command("add", "add files or directories (text, Markdown, HTML, PDF); a changed file is replaced")
    add.add_argument("paths", nargs="+", metavar="PATH")
    add.set_defaults(func=cmd_add)
    command("list", "the documents, newest first").set_defaults(func=cmd_list)
    remove = command("remove", "remove documents by id, source or path")
    remove.add_argument("documents", nargs="+", metavar="DOCUMENT")
    remove.set_defaults(func=cmd_remove)
    search = command("search", "the fragments closest in meaning to QUERY, with scores and sources")
    search.add_argument("query")
    search.add_argument("--limit", type=int, default=5, help="at most this many fragments (default 5, at most 100)")
    search.add_argument("--threshold", type=float, help="only fragments at least this similar (-1 to 1)")
    search.set_defaults(func=cmd_search)
