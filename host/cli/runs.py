"""`agenthost send`, `agenthost runs` and `agenthost run ID`: one message, and the runs it made."""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from typing import Any

import grpc
from agenthost.v1 import agent_pb2, types_pb2

from plugin_sdk.wire import struct_to_dict

from .agents import UNREACHABLE
from .chat import show_event
from .client import add_client_options, agent_stub, call, details, fail, unreachable
from .output import dumps

DEFAULT_USER = "cli-user"


def cmd_send(args: argparse.Namespace) -> None:
    """Send one message, print the reply (or every event as a JSON line) and exit: 0, or 1 when the run failed."""
    if not args.text.strip():
        fail("nothing to send: TEXT is empty", 2)
    request = agent_pb2.SendMessageRequest(
        agent_id=args.agent,
        room_id=args.room or f"cli-{uuid.uuid4()}",
        room_type=args.room_type,
        entity_id=args.user,
        content=types_pb2.Content(text=args.text, actions=args.action or []),
    )
    failed = False
    try:
        for event in agent_stub(args.host).SendMessage(request, timeout=args.timeout):
            failed |= show_event(event, args.json)
    except grpc.RpcError as exc:
        fail(UNREACHABLE.format(args.host) if unreachable(exc, lambda t: "not ready" in t) else details(exc))
    except KeyboardInterrupt:
        sys.exit(130)
    sys.exit(1 if failed else 0)


def run_doc(run: agent_pb2.RunInfo) -> dict[str, Any]:
    timings = dict(run.timings)
    return {
        "id": run.id,
        "agent_id": run.agent_id,
        "room_id": run.room_id,
        "message_id": run.message_id,
        "status": run.status,
        "started_at_ms": run.started_at_ms,
        "ended_at_ms": run.ended_at_ms,
        "duration_ms": timings.get("total", run.ended_at_ms - run.started_at_ms if run.ended_at_ms else None),
        "error": run.error,
        "timings": timings,
    }


def _when(ms: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ms / 1000)) if ms else "-"


def _duration(doc: dict[str, Any]) -> str:
    return "-" if doc["duration_ms"] is None else f"{doc['duration_ms']:.0f} ms"


def runs_table(runs: list[dict[str, Any]]) -> str:
    if not runs:
        return "no runs"
    rows = [("RUN", "ROOM", "STATUS", "STARTED", "DURATION", "ERROR")]
    rows += [(r["id"], r["room_id"], r["status"], _when(r["started_at_ms"]), _duration(r), r["error"]) for r in runs]
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r[:5], widths)) + "  " + r[5] for r in rows).rstrip()


def cmd_runs(args: argparse.Namespace) -> None:
    request = agent_pb2.ListRunsRequest(agent_id=args.agent, room_id=args.room, limit=args.limit)
    reply = call(agent_stub(args.host), lambda s: s.ListRuns(request, timeout=10), UNREACHABLE.format(args.host))
    docs = [run_doc(r) for r in reply.runs]
    print(dumps({"runs": docs}) if args.json else runs_table(docs))


def event_doc(event: agent_pb2.SendMessageResponse) -> dict[str, Any]:
    extra = struct_to_dict(event.content.extra)
    return {
        "event": event.event_type,
        "text": event.content.text,
        "actions": list(event.content.actions),
        **({"thought": event.content.thought} if event.content.thought else {}),
        **({"extra": extra} if extra else {}),
    }


def cmd_run(args: argparse.Namespace) -> None:
    request = agent_pb2.GetRunRequest(run_id=args.run_id, agent_id=args.agent)
    reply = call(agent_stub(args.host), lambda s: s.GetRun(request, timeout=10), UNREACHABLE.format(args.host))
    doc = {**run_doc(reply.run), "events": [event_doc(e) for e in reply.events]}
    if args.json:
        print(dumps(doc))
        return
    lines = [
        f"run {doc['id']}  agent {doc['agent_id']}  room {doc['room_id']}",
        f"status {doc['status']}  started {_when(doc['started_at_ms'])}  duration {_duration(doc)}",
    ]
    if doc["error"]:
        lines.append(f"error: {doc['error']}")
    lines += [f"  {e['event']}: {e['text'] or ','.join(e['actions']) or e.get('extra', '')}" for e in doc["events"]]
    if not doc["events"]:
        lines.append("  (no events kept for this run)")
    print("\n".join(lines))


def add_run_commands(sub: Any) -> None:
    """`send`, `runs` and `run`."""
    send = add_client_options(sub.add_parser("send", help="send one message and print the reply"))
    send.add_argument("text", metavar="TEXT")
    send.add_argument("--agent", default="", help="the agent's id or name (needed when the host runs several)")
    send.add_argument("--room", default="", help="conversation id (default: a new room)")
    send.add_argument("--room-type", default="", choices=["", "dm", "group", "api"], help="for a new room (api)")
    send.add_argument("--user", default=DEFAULT_USER, help=f"your entity id (default: {DEFAULT_USER})")
    send.add_argument("--action", action="append", metavar="NAME", help="an action to ask for (repeatable)")
    send.add_argument("--timeout", type=float, default=300.0)
    send.set_defaults(func=cmd_send)
    runs = add_client_options(sub.add_parser("runs", help="recent runs with status and timings"))
    runs.add_argument("--agent", default="", help="the agent's id or name (default: every agent)")
    runs.add_argument("--room", default="", help="only runs of this room")
    runs.add_argument("--limit", type=int, default=50)
    runs.set_defaults(func=cmd_runs)
    run = add_client_options(sub.add_parser("run", help="one run with its events"))
    run.add_argument("run_id", metavar="ID")
    run.add_argument("--agent", default="", help="the agent's id or name (default: whichever has the run)")
    run.set_defaults(func=cmd_run)
